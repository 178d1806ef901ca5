// Little-endian fields and read-only memory maps for the engine's binary files (token files,
// knowledge banks).
#ifndef MINIMIND_BINFILE_H
#define MINIMIND_BINFILE_H

#include <stddef.h>
#include <stdint.h>

static inline void mm_put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static inline void mm_put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static inline uint32_t mm_get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static inline uint64_t mm_get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

// Maps PATH read-only. A file shorter than min_size is an error "PATH: not a WHAT (N bytes,
// shorter than the header)". Returns 0 with *map/*len set, or -1 with the error set.
int mm_map_readonly(const char *path, size_t min_size, const char *what, void **map, size_t *len);
// Unmaps (safe on NULL).
void mm_unmap(void *map, size_t len);

#endif
