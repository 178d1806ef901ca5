// Records: the splice keeps every byte outside the markers (randomly generated human text with
// CJK, CRLF, a BOM and marker look-alikes in code blocks), missing markers are re-inserted after
// their heading, duplicated/unbalanced markers are errors naming the lines, fields and
// placeholders.
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"
#include "record.h"
#include "strbuf.h"
#include "test_util.h"

// ---------------------------------------------------------------------------------------------
// A seeded generator of Markdown records

typedef struct rng {
    uint64_t s;
} rng;

static uint32_t rnd(rng *r) {  // xorshift64*
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (uint32_t)((r->s * 2685821657736338717ULL) >> 32);
}
static int rnd_n(rng *r, int n) { return (int)(rnd(r) % (uint32_t)n); }

static const char *const words[] = {
    "loss", "训练", "模型", "知识库", "the", "memory", "层", "假设", "perplexity", "🧠", "émigré", "a|b", "`code`",
    "*em*", "<b>", "&amp;", "[link](x)", "_under_", "数据集", "1.0.0", "-->", "<!--", "expt:git:begin", "\\", "#tag",
};

// Words for a line; the first one is always plain (a line starting with `<!--` or `<b>` would
// open an HTML block and change what the rest of the document means).
static void gen_words(rng *r, ex_buf *b, int n) {
    for (int i = 0; i < n; i++) {
        if (i) ex_buf_puts(b, " ");
        ex_buf_puts(b, words[rnd_n(r, i == 0 ? 10 : (int)(sizeof words / sizeof words[0]))]);
    }
}

static const char *const names[] = {"git", "config", "execution", "training", "evaluation"};
static const char *const headings[] = {"## 📝 Git变更记录", "## ⚙️ 配置参数", "## 🚀 执行记录", "## 📊 训练结果",
                                       "## 🔍 推理评估"};

// One human block (closed: never leaves a fence open), ending with eol.
static void gen_block(rng *r, ex_buf *b, const char *eol) {
    const char *name = names[rnd_n(r, 5)];
    switch (rnd_n(r, 10)) {
    case 0:  // heading
        ex_buf_printf(b, "%.*s ", 1 + rnd_n(r, 4), "######");
        gen_words(r, b, 1 + rnd_n(r, 4));
        ex_buf_puts(b, eol);
        break;
    case 1:  // backquote fence with marker look-alikes
        ex_buf_printf(b, "```text%s<!-- expt:%s:begin -->%s", eol, name, eol);
        gen_words(r, b, 3);
        ex_buf_printf(b, "%s<!-- expt:%s:end -->%s```%s", eol, name, eol, eol);
        break;
    case 2:  // tilde fence, longer fence, look-alike end first
        ex_buf_printf(b, "~~~~%s<!-- expt:%s:end -->%s```%s<!-- expt:%s:begin -->%s~~~~%s", eol, name, eol, eol, name,
                      eol, eol);
        break;
    case 3:  // indented code block (needs the blank line before it)
        ex_buf_printf(b, "%s    <!-- expt:%s:begin -->%s    <!-- expt:%s:end -->%s%s", eol, name, eol, name, eol, eol);
        break;
    case 4:  // block quote and list item holding marker text
        ex_buf_printf(b, "> <!-- expt:%s:begin -->%s> quoted%s%s- <!-- expt:%s:end -->%s%s", name, eol, eol, eol, name,
                      eol, eol);
        break;
    case 5:  // inline comment in a paragraph
        gen_words(r, b, 2);
        ex_buf_printf(b, " <!-- expt:%s:begin --> ", name);
        gen_words(r, b, 2);
        ex_buf_puts(b, eol);
        break;
    case 6:
        ex_buf_puts(b, eol);
        break;
    case 7:  // an ordinary HTML comment block
        ex_buf_printf(b, "<!-- a note%sover lines -->%s", eol, eol);
        break;
    default:  // paragraph
        gen_words(r, b, 1 + rnd_n(r, 12));
        ex_buf_puts(b, eol);
        if (rnd_n(r, 2)) {
            gen_words(r, b, 1 + rnd_n(r, 6));
            ex_buf_puts(b, eol);
        }
    }
}

static void gen_region_content(rng *r, ex_buf *b, const char *eol) {
    int lines = rnd_n(r, 4);
    for (int i = 0; i < lines; i++) {
        if (rnd_n(r, 4) == 0) {
            ex_buf_printf(b, "```%s<!-- expt:git:end -->%s```%s", eol, eol, eol);
        } else {
            ex_buf_puts(b, "| ");
            gen_words(r, b, 1 + rnd_n(r, 5));
            ex_buf_puts(b, " |");
            ex_buf_puts(b, eol);
        }
    }
}

typedef struct gen_doc {
    char *text;
    size_t len;
    // Expected text once every region's content is replaced by new_content[i] (in eol form).
    char *expected;
    size_t expected_len;
    char *new_content[5];  // '\n' form handed to ex_record_set_region
    const char *eol;
    int bom;
} gen_doc;

static void gen_document(uint64_t seed, gen_doc *d) {
    rng r = {seed * 0x9E3779B97F4A7C15ULL + 1};
    memset(d, 0, sizeof *d);
    d->eol = rnd_n(&r, 2) ? "\r\n" : "\n";
    d->bom = rnd_n(&r, 3) == 0;
    ex_buf a = {0}, e = {0};  // actual and expected
    if (d->bom) {
        ex_buf_puts(&a, "\xEF\xBB\xBF");
        ex_buf_puts(&e, "\xEF\xBB\xBF");
    }
    int order[5] = {0, 1, 2, 3, 4};
    for (int i = 4; i > 0; i--) {
        int j = rnd_n(&r, i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int k = 0; k < 5; k++) {
        int i = order[k];
        ex_buf human = {0};
        int blocks = rnd_n(&r, 5);
        for (int j = 0; j < blocks; j++) gen_block(&r, &human, d->eol);
        ex_buf_printf(&human, "%s%s", headings[i], d->eol);
        if (rnd_n(&r, 2)) ex_buf_puts(&human, d->eol);
        ex_buf_printf(&human, "<!-- expt:%s:begin -->%s", names[i], d->eol);
        ex_buf_append(&a, human.data, human.len);
        ex_buf_append(&e, human.data, human.len);
        ex_buf_free(&human);
        ex_buf old = {0}, neu = {0};
        gen_region_content(&r, &old, d->eol);
        gen_region_content(&r, &neu, "\n");
        ex_buf_append(&a, old.data ? old.data : "", old.len);
        for (size_t c = 0; c < neu.len; c++) {
            if (neu.data[c] == '\n') ex_buf_puts(&e, d->eol);
            else ex_buf_append(&e, neu.data + c, 1);
        }
        d->new_content[i] = ex_buf_take(&neu);
        ex_buf_free(&old);
        ex_buf tail = {0};
        ex_buf_printf(&tail, "%s<!-- expt:%s:end -->%s", rnd_n(&r, 4) ? "" : "   ", names[i], d->eol);
        ex_buf_append(&a, tail.data, tail.len);
        ex_buf_append(&e, tail.data, tail.len);
        ex_buf_free(&tail);
    }
    ex_buf human = {0};
    int blocks = rnd_n(&r, 5);
    for (int j = 0; j < blocks; j++) gen_block(&r, &human, d->eol);
    if (rnd_n(&r, 2)) ex_buf_puts(&human, "no final line ending 结尾");
    ex_buf_append(&a, human.data ? human.data : "", human.len);
    ex_buf_append(&e, human.data ? human.data : "", human.len);
    ex_buf_free(&human);
    d->len = a.len;
    d->text = ex_buf_take(&a);
    d->expected_len = e.len;
    d->expected = ex_buf_take(&e);
}

static void gen_free(gen_doc *d) {
    free(d->text);
    free(d->expected);
    for (int i = 0; i < 5; i++) free(d->new_content[i]);
}

static size_t first_diff(const char *a, size_t an, const char *b, size_t bn) {
    size_t i = 0;
    while (i < an && i < bn && a[i] == b[i]) i++;
    return i;
}

Test(record, splice_keeps_every_byte_outside_markers_on_random_documents) {
    int with_bom = 0, with_crlf = 0;
    for (uint64_t seed = 1; seed <= 300; seed++) {
        gen_doc d;
        gen_document(seed, &d);
        with_bom += d.bom;
        with_crlf += !strcmp(d.eol, "\r\n");
        ex_record r;
        cr_assert_eq(ex_record_parse(&r, "gen.md", d.text, d.len), 0, "seed %llu: %s", (unsigned long long)seed,
                     mm_error_message());
        cr_assert_eq(r.n_regions, 5, "seed %llu: %d regions (look-alikes must not count)", (unsigned long long)seed,
                     r.n_regions);
        cr_assert_eq(r.bom, d.bom ? 3u : 0u);
        cr_assert_str_eq(r.eol, d.eol);
        for (int i = 0; i < 5; i++)
            cr_assert_eq(ex_record_set_region(&r, names[i], d.new_content[i]), 0, "seed %llu region %s: %s",
                         (unsigned long long)seed, names[i], mm_error_message());
        size_t at = first_diff(r.text, r.len, d.expected, d.expected_len);
        cr_assert(r.len == d.expected_len && at == r.len,
                  "seed %llu: bytes differ at offset %zu (got %zu bytes, expected %zu)\n--- got:\n%.80s\n--- expected:\n%.80s",
                  (unsigned long long)seed, at, r.len, d.expected_len, r.text + (at > 20 ? at - 20 : 0),
                  d.expected + (at > 20 ? at - 20 : 0));
        // Replacing again with the same content changes nothing.
        for (int i = 0; i < 5; i++) cr_assert_eq(ex_record_set_region(&r, names[i], d.new_content[i]), 0);
        cr_assert_eq(r.len, d.expected_len);
        cr_assert_eq(memcmp(r.text, d.expected, r.len), 0, "seed %llu: second splice changed bytes", (unsigned long long)seed);
        ex_record_free(&r);
        gen_free(&d);
    }
    cr_assert(with_bom > 30 && with_crlf > 100, "the generator must cover BOM (%d) and CRLF (%d)", with_bom, with_crlf);
}

Test(record, region_offsets_and_lines) {
    const char *t = "# t\r\n\r\n## 📝 Git变更记录\r\n<!-- expt:git:begin -->\r\nold\r\n<!-- expt:git:end -->\r\ntail";
    ex_record r;
    cr_assert_eq(ex_record_parse(&r, "x.md", t, strlen(t)), 0, "%s", mm_error_message());
    const ex_region *g = ex_record_region(&r, "git");
    cr_assert_not_null(g);
    cr_assert_eq(g->begin_line, 4);
    cr_assert_eq(g->end_line, 6);
    cr_assert_eq(g->content_end - g->content_start, 5u);
    cr_assert_eq(memcmp(r.text + g->content_start, "old\r\n", 5), 0);
    cr_assert_eq(ex_record_set_region(&r, "git", "a\nb"), 0);
    const char *want = "# t\r\n\r\n## 📝 Git变更记录\r\n<!-- expt:git:begin -->\r\na\r\nb\r\n<!-- expt:git:end -->\r\ntail";
    cr_assert_str_eq(r.text, want);
    cr_assert_eq(ex_record_set_region(&r, "git", ""), 0);
    cr_assert_str_eq(r.text, "# t\r\n\r\n## 📝 Git变更记录\r\n<!-- expt:git:begin -->\r\n<!-- expt:git:end -->\r\ntail");
    ex_record_free(&r);
}

Test(record, missing_markers_reinserted_after_heading) {
    const char *t = "\xEF\xBB\xBF# r\n\n## 📝 Git变更记录\n\nhuman text\n\n## 🚀 执行记录\nmore\n";
    ex_record r;
    cr_assert_eq(ex_record_parse(&r, "x.md", t, strlen(t)), 0);
    cr_assert_eq(ex_record_set_region(&r, "git", "filled\n"), 0, "%s", mm_error_message());
    const char *want = "\xEF\xBB\xBF# r\n\n## 📝 Git变更记录\n\n<!-- expt:git:begin -->\nfilled\n<!-- expt:git:end -->\n"
                       "\nhuman text\n\n## 🚀 执行记录\nmore\n";
    cr_assert_str_eq(r.text, want);
    // Every other missing region: after its heading if there is one, else appended with its heading.
    cr_assert_eq(ex_record_ensure_regions(&r), 4);
    const ex_section *ex = ex_record_section(&r, "🚀");
    const ex_region *eg = ex_record_region(&r, "execution");
    cr_assert_not_null(eg);
    cr_assert_eq(eg->begin_line, ex->line + 2, "right after the heading (one blank line)");
    cr_assert_not_null(ex_record_section(&r, "📊"), "a missing heading is appended");
    cr_assert_not_null(ex_record_region(&r, "training"));
    cr_assert_not_null(strstr(r.text, "\nmore\n"), "human text kept");
    cr_assert_eq(ex_record_ensure_regions(&r), 0, "idempotent");
    ex_record_free(&r);
}

Test(record, missing_markers_crlf_heading_at_end_of_file) {
    const char *t = "x\r\n## 🔍 推理评估";
    ex_record r;
    cr_assert_eq(ex_record_parse(&r, "x.md", t, strlen(t)), 0);
    cr_assert_eq(ex_record_set_region(&r, "evaluation", "e"), 0, "%s", mm_error_message());
    cr_assert_str_eq(r.text, "x\r\n## 🔍 推理评估\r\n\r\n<!-- expt:evaluation:begin -->\r\ne\r\n<!-- expt:evaluation:end -->\r\n");
    ex_record_free(&r);
}

static void expect_error(const char *text, const char *want) {
    ex_record r;
    cr_assert_eq(ex_record_parse(&r, "experiment_1.0.0.md", text, strlen(text)), -1, "must fail: %s", want);
    cr_assert_str_eq(mm_error_message(), want);
}

Test(record, duplicate_and_unbalanced_markers_name_the_lines) {
    expect_error("a\n<!-- expt:git:begin -->\n<!-- expt:git:end -->\nb\n<!-- expt:git:begin -->\n<!-- expt:git:end -->\n",
                 "experiment_1.0.0.md:5: duplicate begin marker 'git' (first at line 2)");
    expect_error("<!-- expt:git:begin -->\nx\n", "experiment_1.0.0.md:1: begin marker 'git' has no end marker");
    expect_error("x\n\n<!-- expt:config:end -->\n", "experiment_1.0.0.md:3: end marker 'config' without a begin marker");
    expect_error("<!-- expt:git:begin -->\n<!-- expt:git:end -->\n<!-- expt:git:end -->\n",
                 "experiment_1.0.0.md:3: duplicate end marker 'git' (first at line 2)");
    expect_error("<!-- expt:git:begin -->\n<!-- expt:git:begin -->\n<!-- expt:git:end -->\n",
                 "experiment_1.0.0.md:2: duplicate begin marker 'git' (first at line 1, which has no end marker)");
    expect_error("<!-- expt:git:begin -->\n<!-- expt:config:begin -->\n",
                 "experiment_1.0.0.md:2: begin marker 'config' inside region 'git' (begun at line 1, not ended)");
    expect_error("<!-- expt:git:begin -->\r\n\r\n<!-- expt:config:end -->\r\n",
                 "experiment_1.0.0.md:3: end marker 'config' while region 'git' (begun at line 1) is open");
    // A look-alike in a fence is text: this is balanced.
    const char *ok = "<!-- expt:git:begin -->\n```\n<!-- expt:git:begin -->\n```\n<!-- expt:git:end -->\n";
    ex_record r;
    cr_assert_eq(ex_record_parse(&r, "x.md", ok, strlen(ok)), 0, "%s", mm_error_message());
    cr_assert_eq(r.n_regions, 1);
    ex_record_free(&r);
}

Test(record, fields_and_placeholders) {
    const char *t = "## 📋 实验基本信息\n\n### 实验目的\n\n[人类填写] 写目的\n\n### 研究假设\n\n记忆层能降低 loss。\n第二行\n\n"
                    "### 预期结果\n\n<!-- only a hint -->\n\n### 基于实验\n\n## 🎯 Conclusion\n\n### Next steps\n\nTry 1.1.0.\n";
    ex_record r;
    cr_assert_eq(ex_record_parse(&r, "x.md", t, strlen(t)), 0);
    ex_field_value v;
    cr_assert_eq(ex_record_field(&r, EX_FIELD_GOAL, &v), 0);
    cr_assert(v.found && !v.filled, "placeholder = not filled");
    cr_assert_eq(v.line, 3);
    ex_field_value_free(&v);
    cr_assert_eq(ex_record_field(&r, EX_FIELD_HYPOTHESIS, &v), 0);
    cr_assert(v.found && v.filled);
    cr_assert_str_eq(v.text, "记忆层能降低 loss。\n第二行");
    char *first = ex_field_first_line(&v);
    cr_assert_str_eq(first, "记忆层能降低 loss。");
    free(first);
    ex_field_value_free(&v);
    cr_assert_eq(ex_record_field(&r, EX_FIELD_EXPECTED, &v), 0);
    cr_assert(v.found && !v.filled, "a comment alone is not content");
    ex_field_value_free(&v);
    cr_assert_eq(ex_record_field(&r, EX_FIELD_BASED_ON, &v), 0);
    cr_assert(v.found && !v.filled, "empty");
    ex_field_value_free(&v);
    cr_assert_eq(ex_record_field(&r, EX_FIELD_NEXT_STEPS, &v), 0);
    cr_assert(v.found && v.filled, "English label");
    ex_field_value_free(&v);
    cr_assert_eq(ex_record_field(&r, EX_FIELD_ANALYSIS, &v), 0);
    cr_assert(!v.found && !v.filled);
    ex_field_value_free(&v);
    // Setting a field keeps the rest.
    cr_assert_eq(ex_record_set_field(&r, EX_FIELD_BASED_ON, "1.0.0"), 0);
    cr_assert_not_null(strstr(r.text, "### 基于实验\n\n1.0.0\n\n## 🎯 Conclusion"), "%s", r.text);
    cr_assert_eq(ex_record_set_field(&r, EX_FIELD_GOAL, "目的"), 0);
    cr_assert_not_null(strstr(r.text, "### 实验目的\n\n目的\n\n### 研究假设\n"), "%s", r.text);
    cr_assert_eq(ex_record_set_field(&r, EX_FIELD_CONCLUSION, "x"), -1, "no such heading");
    ex_record_free(&r);
    cr_assert(ex_has_placeholder("a [AI fills] b", 14));
    cr_assert(!ex_has_placeholder("a [AI] b", 8));
}
