// The toolkit's template files and workflow guide, embedded at build time
// (expt/embed_templates.cmake), so `expt init` and `expt new` work in any repository.
#ifndef EXPT_TEMPLATES_H
#define EXPT_TEMPLATES_H

#include <stddef.h>

typedef struct ex_template_file {
    const char *name;           // path relative to a project root: "templates/EXPERIMENT_TEMPLATE.md"
    const unsigned char *data;  // the bytes (NUL-terminated)
    size_t len;
} ex_template_file;

// Terminated by an entry with name == NULL.
extern const ex_template_file ex_templates[];

// The embedded file with that relative name, or NULL.
const ex_template_file *ex_template_find(const char *name);

// The bytes of a template for a project: ROOT/NAME when that file exists (the project's own,
// possibly edited, copy), else the embedded one. malloc'd; NULL with the message set.
char *ex_template_load(const char *root, const char *name, size_t *len);

#endif
