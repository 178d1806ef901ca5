// INI files read with inih (expt/inifile.c): a run configuration, a resolved config.ini, expt.ini.
#ifndef EXPT_INIFILE_H
#define EXPT_INIFILE_H

// An INI file as (section, key, value) entries in file order.
typedef struct ex_ini_entry {
    char *section, *key, *value;
} ex_ini_entry;

typedef struct ex_ini {
    ex_ini_entry *e;
    int n, cap;
} ex_ini;

// Optional per-entry check: returns NULL when fine, else a static/thread-local reason; the load
// fails with "PATH:LINE: [section] key: reason".
typedef const char *(*ex_ini_check_fn)(const char *section, const char *key, const char *value);

// Every non-zero ini_parse result is an error ("PATH:LINE: ..."; inih cuts lines at 200 bytes).
// A key repeated in a section (or an indented continuation line) is an error too.
int ex_ini_load(const char *path, ex_ini_check_fn check, ex_ini *out);
const char *ex_ini_get(const ex_ini *c, const char *section, const char *key);
void ex_ini_free(ex_ini *c);

#endif
