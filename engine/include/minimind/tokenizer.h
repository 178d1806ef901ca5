// Byte-level BPE tokenizer compatible with Hugging Face `tokenizer.json` (GPT-2 pre-tokenizer
// regex, bytes<->unicode map, merges by rank, added tokens matched before pre-tokenization).
// Specials of the MiniMind layout: <unk>=0 (also padding), <s>=1, </s>=2.
#ifndef MINIMIND_TOKENIZER_H
#define MINIMIND_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#define MM_TOKEN_UNK 0
#define MM_TOKEN_BOS 1
#define MM_TOKEN_EOS 2

typedef struct mm_tokenizer mm_tokenizer;

// A growable array of token ids.
typedef struct mm_ids {
    int32_t *data;
    size_t len;
    size_t cap;
} mm_ids;

int mm_ids_push(mm_ids *ids, int32_t id);
void mm_ids_free(mm_ids *ids);

// Loads PATH (a tokenizer.json, or a directory holding one). Errors name the file and the field.
int mm_tokenizer_load(const char *path, mm_tokenizer **out);
void mm_tokenizer_free(mm_tokenizer *tok);

int mm_tokenizer_vocab_size(const mm_tokenizer *tok);

// Appends the ids of text[0..len) (any bytes, invalid UTF-8 included) to out. Added/special
// tokens written literally in the text are matched. Thread-safe on a shared tokenizer.
int mm_tokenizer_encode(const mm_tokenizer *tok, const char *text, size_t len, mm_ids *out);

// Decodes ids to a malloc'd NUL-terminated string (*len_out bytes, may hold NUL). Special tokens
// are written as their text. Unknown ids are an error.
char *mm_tokenizer_decode(const mm_tokenizer *tok, const int32_t *ids, size_t n, size_t *len_out);

// The text of one token as raw bytes (decoded from the byte-level alphabet), or NULL for an
// out-of-range id. *len_out receives its length.
const char *mm_tokenizer_token_bytes(const mm_tokenizer *tok, int32_t id, size_t *len_out);

// Training options for a new tokenizer (the original MiniMind layout).
typedef struct mm_tokenizer_train_opts {
    int vocab_size;        // default 6400
    int min_frequency;     // pairs seen fewer times are not merged (default 2)
    int threads;           // 0 = all cores
    long long max_bytes;   // read at most this much text (0 = all)
    const char *text_field; // jsonl field (default "text")
} mm_tokenizer_train_opts;

void mm_tokenizer_train_opts_default(mm_tokenizer_train_opts *o);

// Trains on jsonl files and writes OUT_DIR/tokenizer.json and OUT_DIR/tokenizer_config.json
// (loadable by Hugging Face `tokenizers`). Ids: <unk> <s> </s>, the 256 byte symbols, merges.
int mm_tokenizer_train(const char *const *jsonl_paths, int n_paths, const mm_tokenizer_train_opts *o,
                       const char *out_dir);

#endif
