// Token file round trip and the dataloader: samples against hand-computed values, shuffle
// determinism, save/restore of the position, sharding (disjoint, covering). C only: token files
// are written with the writer API from known ids (the tokenizer is tested elsewhere).
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "minimind/atomic_file.h"
#include "minimind/dataloader.h"
#include "minimind/error.h"
#include "minimind/tokfile.h"
#include "test_util.h"

// Document d of the synthetic corpus: <s>, then (d % 37) + 1 ids (3 + (d*7 + k) % 100), then </s>.
static size_t mm_synth_doc(uint64_t d, int32_t *ids) {
    size_t n = 0;
    ids[n++] = 1;
    for (size_t k = 0; k < (d % 37) + 1; k++) ids[n++] = (int32_t)(3 + (d * 7 + k) % 100);
    ids[n++] = 2;
    return n;
}

static char *mm_write_synth(const char *dir, const char *name, uint64_t n_docs, uint32_t max_seq_len) {
    char *path = mm_test_path(dir, name);
    mm_tokfile_writer *w;
    cr_assert_eq(mm_tokfile_writer_open(&w, path, 6400, MM_TOKFILE_FLAG_BOS_EOS, max_seq_len), 0, "%s",
                 mm_error_message());
    int32_t ids[64];
    for (uint64_t d = 0; d < n_docs; d++) {
        size_t n = mm_synth_doc(d, ids);
        cr_assert_eq(mm_tokfile_writer_add(w, ids, n), 0, "%s", mm_error_message());
    }
    cr_assert_eq(mm_tokfile_writer_commit(w), 0, "%s", mm_error_message());
    return path;
}

Test(tokfile, round_trip_many_docs_spills_offsets) {
    char *dir = mm_test_tmpdir("tokfile");
    // 20000 documents: more than one 8192-offset block goes through the side file.
    char *path = mm_write_synth(dir, "c.tok", 20000, 40);
    cr_assert_eq(mm_test_dir_count(dir), 1, "only the token file, no temporaries");
    mm_tokfile tf;
    cr_assert_eq(mm_tokfile_open(&tf, path), 0, "%s", mm_error_message());
    cr_assert_eq(tf.h.n_docs, 20000);
    cr_assert_eq(tf.h.vocab_size, 6400);
    cr_assert_eq(tf.h.max_seq_len, 40);
    cr_assert_eq(tf.h.flags, MM_TOKFILE_FLAG_BOS_EOS);
    uint64_t total = 0;
    int32_t ids[64];
    for (uint64_t d = 0; d < 20000; d++) {
        size_t n = mm_synth_doc(d, ids), len;
        const uint16_t *t = mm_tokfile_doc(&tf, d, &len);
        cr_assert_eq(len, n, "doc %llu", (unsigned long long)d);
        for (size_t k = 0; k < n; k++) cr_assert_eq(t[k], ids[k]);
        total += n;
    }
    cr_assert_eq(tf.h.n_tokens, total);
    mm_tokfile_close(&tf);
    mm_test_rmtree(dir);
    free(path);
    free(dir);
}

Test(tokfile, rejects_out_of_vocab_and_corrupt_files) {
    char *dir = mm_test_tmpdir("tokbad");
    char *path = mm_test_path(dir, "x.tok");
    mm_tokfile_writer *w;
    cr_assert_eq(mm_tokfile_writer_open(&w, path, 100, 0, 8), 0);
    int32_t bad[3] = {1, 100, 2};
    cr_assert_eq(mm_tokfile_writer_add(w, bad, 3), -1);
    cr_assert(strstr(mm_error_message(), "token id 100 outside the vocabulary") != NULL, "%s", mm_error_message());
    mm_tokfile_writer_abort(w);
    cr_assert_eq(mm_test_dir_count(dir), 0, "abort leaves nothing behind");
    cr_assert_eq(mm_tokfile_writer_open(&w, path, 70000, 0, 8), -1, "vocab > 65536 cannot be u16");

    free(path);
    path = mm_write_synth(dir, "y.tok", 10, 16);
    size_t len;
    char *data = mm_read_file(path, &len);
    mm_tokfile tf;
    mm_test_write_file(path, data, len - 8);  // truncated: the last offset is missing
    cr_assert_eq(mm_tokfile_open(&tf, path), -1);
    cr_assert(strstr(mm_error_message(), path) && strstr(mm_error_message(), "truncated or corrupt"), "%s",
              mm_error_message());
    data[0] = 'X';  // bad magic
    mm_test_write_file(path, data, len);
    cr_assert_eq(mm_tokfile_open(&tf, path), -1);
    cr_assert(strstr(mm_error_message(), "not a token file") != NULL, "%s", mm_error_message());
    data[0] = 'M';
    uint64_t off_pos;
    memcpy(&off_pos, data + 48, 8);
    uint64_t big = 1u << 20;
    memcpy(data + off_pos + 8 * 3, &big, 8);  // offsets[3] jumps past the tokens: not monotonic after
    mm_test_write_file(path, data, len);
    cr_assert_eq(mm_tokfile_open(&tf, path), -1);
    cr_assert(strstr(mm_error_message(), "offsets not increasing at document 3") != NULL, "%s",
              mm_error_message());
    free(data);
    mm_test_rmtree(dir);
    free(path);
    free(dir);
}

// Hand-computed samples (L = 6, T = 5) of the PretrainDataset rule.
Test(dataloader, samples_truncate_pad_and_mask) {
    char *dir = mm_test_tmpdir("dlsample");
    char *path = mm_test_path(dir, "s.tok");
    mm_tokfile_writer *w;
    cr_assert_eq(mm_tokfile_writer_open(&w, path, 6400, MM_TOKFILE_FLAG_BOS_EOS, 6), 0);
    int32_t d0[] = {1, 50, 60, 2};                  // shorter than L: padded
    int32_t d1[] = {1, 10, 11, 12, 13, 14, 15, 2};  // longer than L: truncated, no </s>
    int32_t d2[] = {1, 7, 0, 8, 9, 2};              // exactly L; a literal <unk> (0) in Y is masked
    cr_assert_eq(mm_tokfile_writer_add(w, d0, 4), 0);
    cr_assert_eq(mm_tokfile_writer_add(w, d1, 8), 0);
    cr_assert_eq(mm_tokfile_writer_add(w, d2, 6), 0);
    cr_assert_eq(mm_tokfile_writer_commit(w), 0);
    mm_dataloader_opts o;
    mm_dataloader_opts_default(&o);
    o.shuffle = 0;
    o.batch_size = 2;
    mm_dataloader *dl;
    cr_assert_eq(mm_dataloader_open(&dl, path, &o), 0, "%s", mm_error_message());
    static const int32_t X[3][5] = {{1, 50, 60, 2, 0}, {1, 10, 11, 12, 13}, {1, 7, 0, 8, 9}};
    static const int32_t Y[3][5] = {{50, 60, 2, 0, 0}, {10, 11, 12, 13, 14}, {7, 0, 8, 9, 2}};
    static const float M[3][5] = {{1, 1, 1, 0, 0}, {1, 1, 1, 1, 1}, {1, 0, 1, 1, 1}};
    mm_batch b;
    cr_assert_eq(mm_batch_alloc(&b, dl), 0);
    cr_assert_eq(b.T, 5);
    cr_assert_eq(mm_dataloader_batches_per_epoch(dl), 2);
    for (int batch = 0; batch < 2; batch++) {
        cr_assert_eq(mm_dataloader_next(dl, &b), 1);
        cr_assert_eq(b.rows, batch == 0 ? 2 : 1);
        for (int r = 0; r < b.rows; r++) {
            int d = batch * 2 + r;
            cr_assert_eq(b.doc[r], (uint64_t)d);
            for (int t = 0; t < 5; t++) {
                cr_assert_eq(b.x[r * 5 + t], X[d][t], "doc %d t %d", d, t);
                cr_assert_eq(b.y[r * 5 + t], Y[d][t], "doc %d t %d", d, t);
                cr_assert_eq(b.loss_mask[r * 5 + t], M[d][t], "doc %d t %d", d, t);
            }
        }
    }
    for (int t = 0; t < 5; t++) cr_assert_eq(b.loss_mask[5 + t], 0.0f, "padding row of the partial batch");
    cr_assert_eq(mm_dataloader_next(dl, &b), 0, "end of epoch");
    mm_data_pos p;
    mm_dataloader_get_pos(dl, &p);
    cr_assert_eq(p.epoch, 1);
    cr_assert_eq(p.index, 0);
    mm_batch_free(&b);
    mm_dataloader_close(dl);
    // max_seq_len override: L = 3 -> X = ids[0..2), Y = ids[1..3)
    o.max_seq_len = 3;
    cr_assert_eq(mm_dataloader_open(&dl, path, &o), 0);
    int32_t x[2], y[2];
    float m[2];
    cr_assert_eq(mm_dataloader_sample(dl, 1, x, y, m), 0);
    cr_assert(x[0] == 1 && x[1] == 10 && y[0] == 10 && y[1] == 11);
    mm_dataloader_close(dl);
    mm_test_rmtree(dir);
    free(path);
    free(dir);
}

// Collects one epoch's document order.
static uint64_t mm_epoch_docs(mm_dataloader *dl, mm_batch *b, uint64_t *out) {
    uint64_t n = 0;
    while (mm_dataloader_next(dl, b) == 1)
        for (int r = 0; r < b->rows; r++) out[n++] = b->doc[r];
    return n;
}

Test(dataloader, shuffle_is_a_deterministic_permutation_per_epoch) {
    char *dir = mm_test_tmpdir("dlshuf");
    char *path = mm_write_synth(dir, "c.tok", 1000, 32);
    mm_dataloader_opts o;
    mm_dataloader_opts_default(&o);
    o.batch_size = 7;
    o.seed = 1234;
    mm_dataloader *a, *c;
    cr_assert_eq(mm_dataloader_open(&a, path, &o), 0);
    cr_assert_eq(mm_dataloader_open(&c, path, &o), 0);
    mm_batch b;
    mm_batch_alloc(&b, a);
    uint64_t e0[1000], e1[1000], again[1000];
    cr_assert_eq(mm_epoch_docs(a, &b, e0), 1000);
    cr_assert_eq(mm_epoch_docs(a, &b, e1), 1000);
    cr_assert_eq(mm_epoch_docs(c, &b, again), 1000);
    cr_assert_eq(memcmp(e0, again, sizeof e0), 0, "same seed, same epoch: same order");
    cr_assert_neq(memcmp(e0, e1, sizeof e0), 0, "epochs differ");
    int seen[1000] = {0}, in_order = 0;
    for (int i = 0; i < 1000; i++) {
        cr_assert_lt(e1[i], 1000);
        seen[e1[i]]++;
        in_order += e0[i] == (uint64_t)i;
    }
    for (int i = 0; i < 1000; i++) cr_assert_eq(seen[i], 1, "epoch is a permutation");
    cr_assert_lt(in_order, 20, "shuffled (%d of 1000 in place)", in_order);
    mm_dataloader_close(c);
    o.seed = 1235;
    cr_assert_eq(mm_dataloader_open(&c, path, &o), 0);
    cr_assert_eq(mm_epoch_docs(c, &b, again), 1000);
    cr_assert_neq(memcmp(e0, again, sizeof e0), 0, "another seed, another order");
    mm_dataloader_close(c);
    mm_batch_free(&b);
    mm_dataloader_close(a);
    mm_test_rmtree(dir);
    free(path);
    free(dir);
}

Test(dataloader, save_restore_resumes_exactly) {
    char *dir = mm_test_tmpdir("dlresume");
    char *path = mm_write_synth(dir, "c.tok", 103, 24);
    mm_dataloader_opts o;
    mm_dataloader_opts_default(&o);
    o.batch_size = 10;
    o.seed = 7;
    mm_dataloader *a, *c;
    cr_assert_eq(mm_dataloader_open(&a, path, &o), 0);
    mm_batch ba, bc;
    mm_batch_alloc(&ba, a);
    mm_batch_alloc(&bc, a);
    // Stop in the middle of epoch 1 (epoch 0 has 11 batches, the last of 3 rows).
    int steps = 0;
    for (; steps < 15;) {
        int rc = mm_dataloader_next(a, &ba);
        cr_assert_geq(rc, 0);
        steps += rc;
    }
    mm_data_pos p, q;
    mm_dataloader_get_pos(a, &p);
    cr_assert_eq(p.epoch, 1);
    cr_assert_eq(p.index, 40);
    json_t *j = mm_data_pos_to_json(&p);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    json_error_t err;
    j = json_loads(s, 0, &err);
    cr_assert_eq(mm_data_pos_from_json(j, "resume.json", &q), 0, "%s", mm_error_message());
    json_decref(j);
    free(s);
    cr_assert_eq(mm_dataloader_open(&c, path, &o), 0);
    cr_assert_eq(mm_dataloader_set_pos(c, &q), 0, "%s", mm_error_message());
    // The next 20 steps (crossing into epoch 2) are identical.
    for (int k = 0; k < 20; k++) {
        int ra = mm_dataloader_next(a, &ba), rc = mm_dataloader_next(c, &bc);
        cr_assert_eq(ra, rc);
        if (ra == 0) continue;
        cr_assert_eq(ba.rows, bc.rows);
        cr_assert_eq(memcmp(ba.doc, bc.doc, sizeof(uint64_t) * (size_t)ba.rows), 0, "step %d", k);
        cr_assert_eq(memcmp(ba.x, bc.x, sizeof(int32_t) * (size_t)(ba.B * ba.T)), 0);
        cr_assert_eq(memcmp(ba.y, bc.y, sizeof(int32_t) * (size_t)(ba.B * ba.T)), 0);
    }
    mm_dataloader_close(c);
    // A position from another seed is refused with a message, as is a broken JSON field.
    o.seed = 8;
    cr_assert_eq(mm_dataloader_open(&c, path, &o), 0);
    cr_assert_eq(mm_dataloader_set_pos(c, &q), -1);
    cr_assert(strstr(mm_error_message(), "seed 7") != NULL, "%s", mm_error_message());
    j = json_pack("{s:I, s:s}", "epoch", (json_int_t)1, "index", "x");
    cr_assert_eq(mm_data_pos_from_json(j, "resume.json", &q), -1);
    cr_assert(strstr(mm_error_message(), "resume.json: field 'index'") != NULL, "%s", mm_error_message());
    json_decref(j);
    mm_dataloader_close(c);
    mm_batch_free(&ba);
    mm_batch_free(&bc);
    mm_dataloader_close(a);
    mm_test_rmtree(dir);
    free(path);
    free(dir);
}

static void mm_check_shards(const char *path, int world, uint64_t n_docs) {
    mm_dataloader_opts o;
    mm_dataloader_opts_default(&o);
    o.batch_size = 4;
    o.world_size = world;
    int *owner = malloc(sizeof(int) * n_docs);
    for (int epoch = 0; epoch < 2; epoch++) {
        for (uint64_t d = 0; d < n_docs; d++) owner[d] = -1;
        uint64_t covered = 0;
        for (int r = 0; r < world; r++) {
            o.rank = r;
            mm_dataloader *dl;
            cr_assert_eq(mm_dataloader_open(&dl, path, &o), 0, "%s", mm_error_message());
            cr_assert_eq(mm_dataloader_samples_per_epoch(dl), n_docs / (uint64_t)world);
            mm_data_pos p;
            mm_dataloader_get_pos(dl, &p);
            p.epoch = (uint64_t)epoch;
            cr_assert_eq(mm_dataloader_set_pos(dl, &p), 0);
            mm_batch b;
            mm_batch_alloc(&b, dl);
            uint64_t *docs = malloc(sizeof(uint64_t) * n_docs);
            uint64_t n = mm_epoch_docs(dl, &b, docs);
            cr_assert_eq(n, n_docs / (uint64_t)world);
            for (uint64_t i = 0; i < n; i++) {
                cr_assert_eq(owner[docs[i]], -1, "doc %llu seen by rank %d and %d in epoch %d",
                             (unsigned long long)docs[i], owner[docs[i]], r, epoch);
                owner[docs[i]] = r;
                covered++;
            }
            free(docs);
            mm_batch_free(&b);
            mm_dataloader_close(dl);
        }
        cr_assert_eq(covered, n_docs - n_docs % (uint64_t)world, "ranks together cover the epoch");
    }
    free(owner);
}

Test(dataloader, shards_are_disjoint_and_cover) {
    char *dir = mm_test_tmpdir("dlshard");
    char *p12 = mm_write_synth(dir, "a.tok", 120, 16);
    char *p10 = mm_write_synth(dir, "b.tok", 100, 16);
    mm_check_shards(p12, 3, 120);  // divisible: every document exactly once
    mm_check_shards(p10, 3, 100);  // 1 left out per epoch
    mm_check_shards(p10, 1, 100);
    mm_dataloader_opts o;
    mm_dataloader_opts_default(&o);
    o.rank = 3;
    o.world_size = 3;
    mm_dataloader *dl;
    cr_assert_eq(mm_dataloader_open(&dl, p10, &o), -1);
    cr_assert(strstr(mm_error_message(), "rank 3 outside world size 3") != NULL, "%s", mm_error_message());
    mm_test_rmtree(dir);
    free(p12);
    free(p10);
    free(dir);
}
