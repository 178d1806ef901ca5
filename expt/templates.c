// Template lookup: the project's copy first, then the embedded one (templates.h).
#include "templates.h"

#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "minimind/atomic_file.h"
#include "minimind/error.h"
#include "project.h"

const ex_template_file *ex_template_find(const char *name) {
    for (const ex_template_file *t = ex_templates; t->name; t++)
        if (!strcmp(t->name, name)) return t;
    return NULL;
}

char *ex_template_load(const char *root, const char *name, size_t *len) {
    char *path = ex_path_join(root, name);
    if (!path) return NULL;
    char *data = NULL;
    if (ex_exists(path)) {
        data = mm_read_file(path, len);
    } else {
        const ex_template_file *t = ex_template_find(name);
        if (!t) {
            mm_errorf("%s: no such template (and none built in)", path);
        } else if ((data = mm_malloc(t->len + 1)) != NULL) {
            memcpy(data, t->data, t->len);
            data[t->len] = '\0';
            *len = t->len;
        }
    }
    free(path);
    return data;
}
