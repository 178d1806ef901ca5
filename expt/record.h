// An experiment record (experiment/experiment_X.Y.Z.md): its sections, the machine-owned marker
// regions and the human/AI fields. cmark is used only to FIND headings and markers (walking the
// AST with source positions); every write splices bytes into the original text, so every byte
// outside the replaced region stays identical (CRLF line endings and a UTF-8 BOM included).
//
// A marker is a line `<!-- expt:NAME:begin -->` / `<!-- expt:NAME:end -->` (NAME: [a-z0-9_-]+,
// up to 3 leading spaces, trailing blanks allowed) that cmark parses as (part of) an HTML block;
// the same text inside a fenced or indented code block, a block quote, a list item or inline in a
// paragraph is text, not a marker.
#ifndef EXPT_RECORD_H
#define EXPT_RECORD_H

#include <stddef.h>

#define EX_REGION_NAME_MAX 32

// Machine-owned region between a marker pair. Offsets index ex_record.text.
typedef struct ex_region {
    char name[EX_REGION_NAME_MAX];
    int begin_line, end_line;  // 1-based line numbers of the two marker lines
    size_t content_start;      // first byte after the begin marker line (after its line ending)
    size_t content_end;        // first byte of the end marker line
} ex_region;

// A heading (ATX or setext) and the bytes up to the next heading of the same or a higher level.
typedef struct ex_section {
    int level;        // 1..6
    char *title;      // heading text (inline text and code concatenated, trimmed)
    int line;         // 1-based line of the heading
    size_t start;     // first byte of the heading line
    size_t body;      // first byte after the heading (after its last line ending)
    size_t end;       // first byte of the next heading of level <= this one, or the text length
} ex_section;

typedef struct ex_record {
    char *name;          // used in messages ("experiment/experiment_1.0.0.md")
    char *text;          // the raw bytes (NUL-terminated; may contain a BOM, CR, NUL)
    size_t len;
    size_t bom;          // 3 when the text starts with a UTF-8 BOM, else 0
    const char *eol;     // "\r\n" when the first line ending is CRLF, else "\n"
    ex_section *sections;
    int n_sections;
    ex_region *regions;
    int n_regions;
    size_t *line_start;  // line_start[i] = offset of line i+1 (after the BOM for line 1)
    int n_lines;
} ex_record;

// Parses text (copied). Errors (duplicate/unbalanced/nested markers) name the lines:
// "NAME:42: duplicate begin marker 'git' (first at line 12)". Returns 0 or -1 (message set).
int ex_record_parse(ex_record *r, const char *name, const char *text, size_t len);
// Reads and parses a file; `name` (NULL = path) is used in messages.
int ex_record_load(ex_record *r, const char *path, const char *name);
void ex_record_free(ex_record *r);
// Writes the text atomically (mm_atomic_*); does nothing when the file already holds these bytes.
int ex_record_save(const ex_record *r, const char *path);

const ex_region *ex_record_region(const ex_record *r, const char *name);
// The first section whose title contains `key` (an emoji such as "📝" or a title word), or NULL.
const ex_section *ex_record_section(const ex_record *r, const char *key);

// The section that owns a machine region (by its emoji): git 📝, config ⚙, execution 🚀,
// training 📊, evaluation 🔍. NULL for an unknown name.
const char *ex_region_home(const char *name);
// The machine regions in template order, NULL-terminated.
extern const char *const ex_region_names[];

// Replaces the bytes between the markers of region `name` with `content` ('\n' line endings,
// converted to the record's line ending; a final line ending is added when missing; "" empties
// the region). When the region is missing, its marker pair is first inserted right after the
// heading of its home section (or, without that heading, appended at the end with the heading).
// Re-parses the text. Returns 0 or -1.
int ex_record_set_region(ex_record *r, const char *name, const char *content);
// Inserts every missing machine region (ex_region_names). Returns the number inserted or -1.
int ex_record_ensure_regions(ex_record *r);

// Human/AI fields: a heading of level >= 3 whose title starts with one of the field's labels
// (zh or en), and the bytes after it up to the next heading or marker line.
typedef enum ex_field {
    EX_FIELD_BASED_ON,     // 基于实验 / Based on            [人类填写]
    EX_FIELD_GOAL,         // 实验目的 / Goal                [人类填写]
    EX_FIELD_HYPOTHESIS,   // 研究假设 / Hypothesis          [人类填写]
    EX_FIELD_EXPECTED,     // 预期结果 / Expected result     [人类填写]
    EX_FIELD_REASONING,    // 设计思路 / Design reasoning    [AI填写]
    EX_FIELD_CONFIG_CHOICE,// 配置选择 / Configuration choice [AI填写]
    EX_FIELD_ANALYSIS,     // 结果分析 / Result analysis     [AI填写]
    EX_FIELD_CONCLUSION,   // 结论 / Conclusion              [AI填写]
    EX_FIELD_NEXT_STEPS,   // 下一步 / Next steps            [AI填写]
    EX_FIELD_COUNT
} ex_field;

// "goal", "hypothesis", ... and the zh label ("实验目的").
const char *ex_field_key(ex_field f);
const char *ex_field_label(ex_field f);

typedef struct ex_field_value {
    int found;         // the field's heading exists
    int filled;        // found, non-blank and no placeholder left in it
    char *text;        // malloc'd content, leading/trailing blank lines and spaces trimmed ("" if none)
    int line;          // 1-based line of the heading (0 when not found)
    size_t start, end; // byte range of the content in r->text
} ex_field_value;

// Reads a field. A placeholder ([人类填写], [AI填写], [human fills], [AI fills]) anywhere in the
// content, or only blanks/HTML comments, means "not filled". Returns 0 (even when not found)
// or -1 on allocation failure. Free with ex_field_value_free.
int ex_record_field(const ex_record *r, ex_field f, ex_field_value *out);
void ex_field_value_free(ex_field_value *v);
// Replaces a field's content with `content` (one paragraph; record's line ending), keeping one
// blank line after the heading and before the next one. -1 when the field is not found.
int ex_record_set_field(ex_record *r, ex_field f, const char *content);
// The first non-blank line of a field's text (malloc'd; "" when none or not filled).
char *ex_field_first_line(const ex_field_value *v);

// 1 when s contains a placeholder.
int ex_has_placeholder(const char *s, size_t len);

#endif
