// The knowledge bank of the memory layer (KnowledgeDataset) and `minimind prep knowledge`
// (docs/formats.md, "Knowledge bank"). Little-endian:
//
//   offset 0   header (64 bytes): magic "MMKBANK\0", u32 version, u32 header_size,
//              u32 knowledge_num, u32 knowledge_length, u32 vocab_size, u32 flags,
//              u64 n_filled (rows holding a sentence; rows from n_filled on are all padding),
//              24 reserved bytes
//   offset 64  ids: knowledge_num × knowledge_length u16, row-major (num, length)
//
// Row i is encode(sentence i) WITHOUT <s>/</s>, truncated to knowledge_length or right-padded
// with 0 (<unk>, the pad id). A mapping file BANK.mapping.jsonl written next to the bank says
// which sentence each row holds: {"index", "uuid", "sentence", "subject", "predicate", "object",
// "n_tokens", "truncated"}.
#ifndef MINIMIND_KNOWLEDGE_H
#define MINIMIND_KNOWLEDGE_H

#include <stddef.h>
#include <stdint.h>

#include "minimind/tokenizer.h"

#define MM_KBANK_MAGIC "MMKBANK\0"
#define MM_KBANK_VERSION 1u
#define MM_KBANK_HEADER_SIZE 64u

// A bank mapped read-only.
typedef struct mm_kbank {
    uint32_t num;         // knowledge_num (rows)
    uint32_t length;      // knowledge_length (tokens per row)
    uint32_t vocab_size;
    uint64_t n_filled;
    const uint16_t *ids;  // (num, length)
    void *map;
    size_t map_len;
} mm_kbank;

// Maps PATH and validates header and size. Errors name the file. Returns 0 or -1.
int mm_kbank_open(mm_kbank *kb, const char *path);
void mm_kbank_close(mm_kbank *kb);

static inline const uint16_t *mm_kbank_row(const mm_kbank *kb, uint32_t i) {
    return kb->ids + (size_t)i * kb->length;
}

// The mapping file's name for a bank: "BANK.mapping.jsonl" (malloc'd).
char *mm_kbank_mapping_path(const char *bank_path);

typedef struct mm_knowledge_prep_opts {
    int knowledge_num;     // rows (default 1024*1024)
    int knowledge_length;  // tokens per row (default 32)
    int threads;           // 0 = all cores
    int progress;          // 1 = progress on stderr (default 1)
} mm_knowledge_prep_opts;

void mm_knowledge_prep_opts_default(mm_knowledge_prep_opts *o);

typedef struct mm_knowledge_prep_stats {
    int format_trex;      // 1 = sentence_trex_data.json (JSON list), 0 = JSON Lines {"text"}
    uint64_t sentences;   // sentences read
    uint64_t kept;        // rows filled (min(sentences, knowledge_num))
    uint64_t dropped;     // sentences past knowledge_num
    uint64_t truncated;   // kept sentences longer than knowledge_length
    double seconds;
} mm_knowledge_prep_stats;

// Reads IN (a JSON list of {"target": [{"sentence", "uuid", "subject", "predicate", "object"}]}
// items, or JSON Lines {"text"}; told apart by the first non-blank byte '[' / '{'), streaming,
// and writes BANK and BANK.mapping.jsonl atomically. Errors name IN:LINE:COL.
int mm_knowledge_prep(const mm_tokenizer *tok, const char *in_path, const char *bank_path,
                      const mm_knowledge_prep_opts *o, mm_knowledge_prep_stats *st);

#endif
