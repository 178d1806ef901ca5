// `expt fill X.Y.Z FILE.md`: fills human/AI fields of a record from a Markdown file whose `###`
// headings name the fields (the same headings as the record: 基于实验 / Based on, 实验目的 / Goal,
// ...). Only those fields' bytes change (record API); everything else in the record stays.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "fsutil.h"
#include "minimind/atomic_file.h"
#include "record.h"
#include "strbuf.h"

static const char ex_fill_usage[] =
    "usage: expt fill X.Y.Z FILE.md\n\n"
    "Fills fields of experiment/experiment_X.Y.Z.md from FILE.md, a Markdown file with one `###`\n"
    "heading per field (the record's own headings, Chinese or English: 基于实验/Based on,\n"
    "实验目的/Goal, 研究假设/Hypothesis, 预期结果/Expected result, 设计思路/Design reasoning,\n"
    "配置选择/Configuration choice, 结果分析/Result analysis, 结论/Conclusion, 下一步/Next steps),\n"
    "each followed by its text. Fields FILE.md does not name, or leaves empty, are kept as they are;\n"
    "so is every byte outside the filled fields. For prepared examples and for an assistant that\n"
    "writes its part of the record from a file.\n";

int ex_cmd_fill(int argc, char **argv) {
    const char *version = NULL, *file = NULL;
    mm_opt opts[] = {mm_opt_required(mm_opt_arg("X.Y.Z", &version)),
                     mm_opt_required(mm_opt_arg("FILE.md", &file))};
    int rc = ex_parse_args("fill", ex_fill_usage, argc, argv, opts, MM_NOPTS(opts));
    if (rc != EX_CONTINUE) return rc;
    ex_project p;
    if (ex_open_project(&p, version) != 0) return 1;
    char *path = ex_record_path(&p, version), *rel = path ? ex_relpath(path, p.root) : NULL;
    size_t len = 0;
    char *src_text = mm_read_file(file, &len);
    ex_record src = {0}, dst = {0};
    int have_src = 0, have_dst = 0, n = 0;
    ex_buf names = {0};
    if (!path || !rel || !src_text) goto fail;
    if (!ex_exists(path)) {
        mm_errorf("%s: no such record (create it with `expt new %s`)", rel, version);
        goto fail;
    }
    if (ex_record_parse(&src, file, src_text, len) != 0) goto fail;
    have_src = 1;
    if (ex_record_load(&dst, path, rel) != 0) goto fail;
    have_dst = 1;
    for (int f = 0; f < EX_FIELD_COUNT; f++) {
        ex_field_value v;
        if (ex_record_field(&src, (ex_field)f, &v) != 0) goto fail;
        int set = v.found && v.text[0];
        if (set && ex_record_set_field(&dst, (ex_field)f, v.text) != 0) {
            ex_field_value_free(&v);
            goto fail;
        }
        if (set) ex_buf_printf(&names, "%s%s", n++ ? ", " : "", ex_field_key((ex_field)f));
        ex_field_value_free(&v);
    }
    if (n == 0) {
        mm_errorf("%s: no field headings with text (expected e.g. `### 实验目的` or `### Goal`)", file);
        goto fail;
    }
    if (ex_record_save(&dst, path) != 0) goto fail;
    printf("%s: filled %s\n", rel, names.data);
    rc = 0;
    goto done;
fail:
    rc = ex_fail();
done:
    if (have_src) ex_record_free(&src);
    if (have_dst) ex_record_free(&dst);
    ex_buf_free(&names);
    free(src_text), free(path), free(rel);
    ex_project_close(&p);
    return rc;
}
