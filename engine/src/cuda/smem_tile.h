// The 16-bit tiles the tensor-core kernels (attention_flash.cu) keep in shared memory: rows x cols
// values (cols 16, 32 or 64), row-major and unpadded, in 16-byte chunks of 8 values. Within each
// row the chunks are XOR-swizzled by the row's 128-byte line (64 values): chunk q of a row in line
// L is stored at chunk q ^ (L % (cols / 8)) of that row. The tile starts 128-byte aligned.
//   Why: shared memory has 32 banks of 4 bytes, so a 128-byte line touches each bank once. An
//   ldmatrix matrix reads 8 rows' 16-byte chunks at one column, a cp.async phase writes 8
//   consecutive chunks, an 8-byte store phase 16 consecutive 8-byte pieces: each must fall in 8
//   distinct chunk slots (byte offset / 16 mod 8) to take one shared-memory wavefront. Unswizzled,
//   a column of rows of 64 values is one slot 8 times (8-way conflicts); padding every row by 8
//   values avoids that at 1/8 more memory (36.9 instead of 32.8 KB for the forward's four 64 x 64
//   tiles, which on an RTX 4090 — 100 KB per SM — fits 2 blocks per SM instead of 3). The swizzle
//   keeps the chunks whole and in their row, so it permutes each row; the pattern repeats every 8
//   rows and XORs only the chunk index, so for r0 % 8 == 0 and c0 % 16 == 0 (c0 < cols), c < 16:
//     at(r0 + r, c0 + c) = r0 * cols + (at(r, c) ^ c0)
//   — a lane computes its at(r, c) once and every ldmatrix adds a constant and XORs one
//   (mm_tile_addr_step). tests/engine/test_cuda_host.c checks the permutation, the identity and every
//   access pattern's slots; the kernels' parity tests check the addressing.
// Plain C (MM_HD): the host test includes it.
#ifndef MM_CUDA_SMEM_TILE_H
#define MM_CUDA_SMEM_TILE_H

#include <stdint.h>

#include "ops_math.h"

// Offset (in values) of row r, column c in a tile of `cols` columns.
MM_HD int mm_tile_at(int cols, int r, int c) {
    const int e = r * cols + c;
    return e ^ (((e >> 6) & (cols / 8 - 1)) << 3);
}

// The byte address of value (r0 + r, c0 + c) of a tile that starts 128-byte aligned, from that of
// (r, c) (r0 % 8 == 0, c0 % 16 == 0, c0 < cols, c < 16): the identity above, with the column's XOR
// on the address itself — it flips bits 5 and 6 only, which the tile's start and the rows above
// (multiples of 256 bytes) leave alone — so a lane's row address is one register and each step an
// add and an XOR with constants.
MM_HD uintptr_t mm_tile_addr_step(uintptr_t lane_addr, int cols, int r0, int c0) {
    return (lane_addr + (uintptr_t)(2 * r0 * cols)) ^ (uintptr_t)(2 * c0);
}

#endif
