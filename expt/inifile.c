// INI files read with inih (see inifile.h).
#include "inifile.h"

#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"

typedef struct ex_ini_ctx {
    ex_ini *ini;
    ex_ini_check_fn check;
    char err[256];
    int oom;
} ex_ini_ctx;

static int ex_ini_handler(void *user, const char *section, const char *key, const char *value) {
    ex_ini_ctx *c = user;
    ex_ini *ini = c->ini;
    if (c->check) {
        const char *why = c->check(section, key, value);
        if (why) {
            if (!c->err[0]) snprintf(c->err, sizeof c->err, "[%s] %s: %s", section, key, why);
            return 0;
        }
    }
    if (ex_ini_get(ini, section, key)) {
        if (!c->err[0])
            snprintf(c->err, sizeof c->err, "[%s] %s: given twice (or an indented continuation line)",
                     section, key);
        return 0;
    }
    if (ini->n == ini->cap) {
        int cap = ini->cap ? ini->cap * 2 : 32;
        ex_ini_entry *e = mm_realloc(ini->e, (size_t)cap * sizeof *e);
        if (!e) {
            c->oom = 1;
            return 0;
        }
        ini->e = e;
        ini->cap = cap;
    }
    ex_ini_entry *e = &ini->e[ini->n];
    e->section = mm_strdup(section);
    e->key = mm_strdup(key);
    e->value = mm_strdup(value);
    if (!e->section || !e->key || !e->value) {
        free(e->section), free(e->key), free(e->value);
        c->oom = 1;
        return 0;
    }
    ini->n++;
    return 1;
}

int ex_ini_load(const char *path, ex_ini_check_fn check, ex_ini *out) {
    memset(out, 0, sizeof *out);
    ex_ini_ctx c = {.ini = out, .check = check};
    int r = ini_parse(path, ex_ini_handler, &c);
    if (r == 0) return 0;
    int rc;
    if (c.oom)
        rc = -1;
    else if (r < 0)
        rc = mm_errorf("%s: cannot read", path);
    else
        rc = mm_errorf("%s:%d: %s", path, r,
                       c.err[0] ? c.err : "not `key = value` (or a line longer than 200 bytes)");
    ex_ini_free(out);
    return rc;
}

const char *ex_ini_get(const ex_ini *c, const char *section, const char *key) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->e[i].section, section) && !strcmp(c->e[i].key, key)) return c->e[i].value;
    return NULL;
}

void ex_ini_free(ex_ini *c) {
    for (int i = 0; i < c->n; i++) free(c->e[i].section), free(c->e[i].key), free(c->e[i].value);
    free(c->e);
    memset(c, 0, sizeof *c);
}
