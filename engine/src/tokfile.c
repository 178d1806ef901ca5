// Binary token file: streaming writer and mmap reader (see minimind/tokfile.h).
#include "minimind/tokfile.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "minimind/atomic_file.h"
#include "minimind/binfile.h"
#include "minimind/error.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the token file is little-endian and read by mmap: a big-endian host is not supported"
#endif

#define MM_OFFSET_BLOCK 8192  // offsets buffered before spilling to the side file
#define MM_TOKEN_BLOCK 65536  // u16 conversion buffer

struct mm_tokfile_writer {
    mm_atomic_file af;
    FILE *side;                      // anonymous file holding spilled offsets
    uint64_t offbuf[MM_OFFSET_BLOCK];
    size_t n_offbuf;
    uint16_t tokbuf[MM_TOKEN_BLOCK];
    mm_tokfile_header h;
};


int mm_tokfile_writer_open(mm_tokfile_writer **out, const char *path, uint32_t vocab_size,
                           uint32_t flags, uint32_t max_seq_len) {
    *out = NULL;
    if (vocab_size == 0 || vocab_size > 65536)
        return mm_errorf("%s: vocabulary size %u does not fit 16-bit token ids (1..65536)", path, vocab_size);
    mm_tokfile_writer *w = mm_calloc(1, sizeof *w);
    if (!w) return -1;
    if (mm_atomic_open(&w->af, path) != 0) {
        free(w);
        return -1;
    }
    size_t n = strlen(w->af.tmp_path) + 16;
    char *side_path = mm_malloc(n);
    if (!side_path) {
        mm_tokfile_writer_abort(w);
        return -1;
    }
    snprintf(side_path, n, "%s.offsets", w->af.tmp_path);
    w->side = fopen(side_path, "w+b");
    if (!w->side) {
        mm_errorf_errno("%s: cannot create", side_path);
        free(side_path);
        mm_tokfile_writer_abort(w);
        return -1;
    }
    unlink(side_path);  // anonymous from now on: gone when closed, also after a crash
    free(side_path);
    w->h.version = MM_TOKFILE_VERSION;
    w->h.vocab_size = vocab_size;
    w->h.flags = flags;
    w->h.max_seq_len = max_seq_len;
    unsigned char zero[MM_TOKFILE_HEADER_SIZE] = {0};  // placeholder until commit
    if (fwrite(zero, 1, sizeof zero, w->af.fp) != sizeof zero) {
        mm_errorf_errno("%s: write failed", path);
        mm_tokfile_writer_abort(w);
        return -1;
    }
    *out = w;
    return 0;
}

static int mm_spill_offsets(mm_tokfile_writer *w) {
    if (w->n_offbuf && fwrite(w->offbuf, sizeof(uint64_t), w->n_offbuf, w->side) != w->n_offbuf)
        return mm_errorf_errno("%s: writing the offsets side file failed", w->af.path);
    w->n_offbuf = 0;
    return 0;
}

int mm_tokfile_writer_add(mm_tokfile_writer *w, const int32_t *ids, size_t n) {
    if (w->n_offbuf == MM_OFFSET_BLOCK && mm_spill_offsets(w) != 0) return -1;
    w->offbuf[w->n_offbuf++] = w->h.n_tokens;
    for (size_t i = 0; i < n;) {
        size_t k = 0;
        for (; k < MM_TOKEN_BLOCK && i < n; k++, i++) {
            if (ids[i] < 0 || (uint32_t)ids[i] >= w->h.vocab_size)
                return mm_errorf("%s: document %llu: token id %d outside the vocabulary (size %u)",
                                 w->af.path, (unsigned long long)w->h.n_docs, ids[i], w->h.vocab_size);
            w->tokbuf[k] = (uint16_t)ids[i];
        }
        if (fwrite(w->tokbuf, sizeof(uint16_t), k, w->af.fp) != k)
            return mm_errorf_errno("%s: write failed", w->af.path);
    }
    w->h.n_tokens += n;
    w->h.n_docs++;
    return 0;
}

uint64_t mm_tokfile_writer_docs(const mm_tokfile_writer *w) { return w->h.n_docs; }
uint64_t mm_tokfile_writer_tokens(const mm_tokfile_writer *w) { return w->h.n_tokens; }

static void mm_encode_header(const mm_tokfile_header *h, unsigned char *b) {
    memset(b, 0, MM_TOKFILE_HEADER_SIZE);
    memcpy(b, MM_TOKFILE_MAGIC, 8);
    mm_put_u32(b + 8, h->version);
    mm_put_u32(b + 12, MM_TOKFILE_HEADER_SIZE);
    mm_put_u32(b + 16, h->vocab_size);
    mm_put_u32(b + 20, h->flags);
    mm_put_u32(b + 24, h->max_seq_len);
    mm_put_u64(b + 32, h->n_docs);
    mm_put_u64(b + 40, h->n_tokens);
    mm_put_u64(b + 48, h->offsets_pos);
}

// Pads to 8 bytes, copies the spilled offsets + the final one, and rewrites the header.
static int mm_finish_file(mm_tokfile_writer *w) {
    FILE *fp = w->af.fp;
    uint64_t pos = MM_TOKFILE_HEADER_SIZE + 2 * w->h.n_tokens;
    static const unsigned char pad[8] = {0};
    size_t npad = (size_t)((8 - pos % 8) % 8);
    if (npad && fwrite(pad, 1, npad, fp) != npad) return mm_errorf_errno("%s: write failed", w->af.path);
    w->h.offsets_pos = pos + npad;
    if (w->n_offbuf == MM_OFFSET_BLOCK && mm_spill_offsets(w) != 0) return -1;
    w->offbuf[w->n_offbuf++] = w->h.n_tokens;
    if (mm_spill_offsets(w) != 0) return -1;
    if (fflush(w->side) != 0 || fseek(w->side, 0, SEEK_SET) != 0)
        return mm_errorf_errno("%s: reading the offsets side file failed", w->af.path);
    size_t got;
    while ((got = fread(w->offbuf, sizeof(uint64_t), MM_OFFSET_BLOCK, w->side)) > 0) {
        if (fwrite(w->offbuf, sizeof(uint64_t), got, fp) != got)
            return mm_errorf_errno("%s: write failed", w->af.path);
    }
    if (ferror(w->side)) return mm_errorf_errno("%s: reading the offsets side file failed", w->af.path);
    unsigned char hdr[MM_TOKFILE_HEADER_SIZE];
    mm_encode_header(&w->h, hdr);
    if (fseek(fp, 0, SEEK_SET) != 0 || fwrite(hdr, 1, sizeof hdr, fp) != sizeof hdr)
        return mm_errorf_errno("%s: writing the header failed", w->af.path);
    return 0;
}

int mm_tokfile_writer_commit(mm_tokfile_writer *w) {
    if (mm_finish_file(w) != 0) {
        mm_tokfile_writer_abort(w);
        return -1;
    }
    fclose(w->side);
    int rc = mm_atomic_commit(&w->af);
    free(w);
    return rc;
}

void mm_tokfile_writer_abort(mm_tokfile_writer *w) {
    if (!w) return;
    if (w->side) fclose(w->side);
    mm_atomic_abort(&w->af);
    free(w);
}

// ---- reader ----

static int mm_tokfile_validate(mm_tokfile *tf, const char *path) {
    const unsigned char *b = tf->map;
    size_t size = tf->map_len;
    if (size < MM_TOKFILE_HEADER_SIZE || memcmp(b, MM_TOKFILE_MAGIC, 8) != 0)
        return mm_errorf("%s: not a token file (magic '%s' missing)", path, MM_TOKFILE_MAGIC);
    mm_tokfile_header *h = &tf->h;
    h->version = mm_get_u32(b + 8);
    uint32_t header_size = mm_get_u32(b + 12);
    h->vocab_size = mm_get_u32(b + 16);
    h->flags = mm_get_u32(b + 20);
    h->max_seq_len = mm_get_u32(b + 24);
    h->n_docs = mm_get_u64(b + 32);
    h->n_tokens = mm_get_u64(b + 40);
    h->offsets_pos = mm_get_u64(b + 48);
    if (h->version != MM_TOKFILE_VERSION)
        return mm_errorf("%s: token file version %u, this build reads version %u", path, h->version,
                         MM_TOKFILE_VERSION);
    if (header_size != MM_TOKFILE_HEADER_SIZE)
        return mm_errorf("%s: header size %u, expected %u", path, header_size, MM_TOKFILE_HEADER_SIZE);
    if (h->vocab_size == 0 || h->vocab_size > 65536)
        return mm_errorf("%s: header: vocab_size %u outside 1..65536", path, h->vocab_size);
    if (h->n_tokens > (size - MM_TOKFILE_HEADER_SIZE) / 2 ||
        h->offsets_pos < MM_TOKFILE_HEADER_SIZE + 2 * h->n_tokens || h->offsets_pos % 8 != 0 ||
        h->offsets_pos > size || (size - h->offsets_pos) % 8 != 0 || h->n_docs == UINT64_MAX ||
        (size - h->offsets_pos) / 8 != h->n_docs + 1)
        return mm_errorf("%s: header (n_docs %llu, n_tokens %llu, offsets at %llu) does not match the "
                         "file size %zu (truncated or corrupt)",
                         path, (unsigned long long)h->n_docs, (unsigned long long)h->n_tokens,
                         (unsigned long long)h->offsets_pos, size);
    tf->tokens = (const uint16_t *)(b + MM_TOKFILE_HEADER_SIZE);
    tf->offsets = (const uint64_t *)(b + h->offsets_pos);
    if (tf->offsets[0] != 0) return mm_errorf("%s: offsets[0] is %llu, expected 0", path,
                                              (unsigned long long)tf->offsets[0]);
    for (uint64_t d = 0; d < h->n_docs; d++)
        if (tf->offsets[d + 1] < tf->offsets[d])
            return mm_errorf("%s: offsets not increasing at document %llu", path, (unsigned long long)d);
    if (tf->offsets[h->n_docs] != h->n_tokens)
        return mm_errorf("%s: last offset %llu != n_tokens %llu", path,
                         (unsigned long long)tf->offsets[h->n_docs], (unsigned long long)h->n_tokens);
    return 0;
}

int mm_tokfile_open(mm_tokfile *tf, const char *path) {
    memset(tf, 0, sizeof *tf);
    void *map;
    if (mm_map_readonly(path, MM_TOKFILE_HEADER_SIZE, "token file", &map, &tf->map_len) != 0) return -1;
    tf->map = map;
    if (mm_tokfile_validate(tf, path) != 0) {
        mm_tokfile_close(tf);
        return -1;
    }
    return 0;
}

void mm_tokfile_close(mm_tokfile *tf) {
    if (tf->map) munmap(tf->map, tf->map_len);
    memset(tf, 0, sizeof *tf);
}
