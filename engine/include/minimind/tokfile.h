// The binary token file written by `minimind prep pretrain` and read by the dataloader
// (docs/formats.md, "Token file"). Little-endian throughout:
//
//   offset 0   header (64 bytes): magic "MMTOKENS", u32 version, u32 header_size, u32 vocab_size,
//              u32 flags, u32 max_seq_len, u32 reserved, u64 n_docs, u64 n_tokens,
//              u64 offsets_pos, 8 reserved bytes
//   offset 64  tokens: n_tokens × u16, the documents one after another in input order
//   padding    zero bytes up to a multiple of 8
//   offsets_pos  offsets: (n_docs + 1) × u64; document d is tokens[offsets[d] .. offsets[d+1])
//
// The writer streams: tokens go straight to the file, offsets are spilled to an anonymous side
// file in blocks and appended at the end, so memory stays bounded for any number of documents.
// The file appears under its final name only when complete (temp name + rename).
#ifndef MINIMIND_TOKFILE_H
#define MINIMIND_TOKFILE_H

#include <stddef.h>
#include <stdint.h>

#define MM_TOKFILE_MAGIC "MMTOKENS"
#define MM_TOKFILE_VERSION 1u
#define MM_TOKFILE_HEADER_SIZE 64u
// Flag: every document is stored as <s> + encode(text) + </s> (ids 1 ... 2).
#define MM_TOKFILE_FLAG_BOS_EOS 1u

typedef struct mm_tokfile_header {
    uint32_t version;
    uint32_t vocab_size;   // every token id is < vocab_size (<= 65536)
    uint32_t flags;        // MM_TOKFILE_FLAG_*
    uint32_t max_seq_len;  // the sequence length prep was run with (the dataloader's default)
    uint64_t n_docs;
    uint64_t n_tokens;
    uint64_t offsets_pos;  // byte position of the offsets array
} mm_tokfile_header;

// ---- writing ----
typedef struct mm_tokfile_writer mm_tokfile_writer;

// Creates PATH's temporary file. max_seq_len is only recorded. Returns 0 or -1 (error set).
int mm_tokfile_writer_open(mm_tokfile_writer **out, const char *path, uint32_t vocab_size,
                           uint32_t flags, uint32_t max_seq_len);
// Appends one document. Ids outside [0, vocab_size) are an error. Returns 0 or -1.
int mm_tokfile_writer_add(mm_tokfile_writer *w, const int32_t *ids, size_t n);
uint64_t mm_tokfile_writer_docs(const mm_tokfile_writer *w);
uint64_t mm_tokfile_writer_tokens(const mm_tokfile_writer *w);
// Appends the offsets, writes the header, fsyncs and renames into place. Always frees w.
int mm_tokfile_writer_commit(mm_tokfile_writer *w);
// Removes the temporary file and frees w. Safe on NULL.
void mm_tokfile_writer_abort(mm_tokfile_writer *w);

// ---- reading (mmap) ----
typedef struct mm_tokfile {
    mm_tokfile_header h;
    const uint16_t *tokens;   // (n_tokens,)
    const uint64_t *offsets;  // (n_docs + 1,)
    void *map;
    size_t map_len;
} mm_tokfile;

// Maps PATH and validates the header, the sizes and the offsets (monotonic, ending at n_tokens).
// Errors name the file and what is wrong. Returns 0 or -1.
int mm_tokfile_open(mm_tokfile *tf, const char *path);
void mm_tokfile_close(mm_tokfile *tf);

// Document d's tokens; *len receives its length. d must be < n_docs.
static inline const uint16_t *mm_tokfile_doc(const mm_tokfile *tf, uint64_t d, size_t *len) {
    *len = (size_t)(tf->offsets[d + 1] - tf->offsets[d]);
    return tf->tokens + tf->offsets[d];
}

#endif
