// JSON files of expt and the engine (run.json, exit.json, git.json, progress.json, eval.json):
// loading one object, writing one atomically, and typed field access with defaults (expt/jsonfile.c).
#ifndef EXPT_JSONFILE_H
#define EXPT_JSONFILE_H

#include <jansson.h>

// Reads a file holding one JSON object (json_decref it). NULL with *missing = 1 (missing may be
// NULL) when the file does not exist, or NULL with the error set ("PATH:LINE:COL: ...") when it
// cannot be parsed or is not an object.
json_t *ex_json_load(const char *path, int *missing);
// Writes obj (indented, keys in insertion order, trailing newline) atomically. 0 or -1.
int ex_json_save(const char *path, const json_t *obj);

// A JSON string of s, which need not be UTF-8 (a path, git output, a log line): invalid bytes
// become U+FFFD (minimind/json_text.h), where json_string would return NULL and the field, or a
// whole json_pack, would silently go missing. New reference; NULL only when out of memory.
json_t *ex_json_text(const char *s);

// Field access; obj may be NULL; a missing field or one of the wrong type gives the default.
long long ex_json_int(const json_t *obj, const char *key, long long def);  // reals are truncated
double ex_json_num(const json_t *obj, const char *key, double def);
const char *ex_json_str(const json_t *obj, const char *key);  // NULL when absent
int ex_json_bool(const json_t *obj, const char *key, int def);

#endif
