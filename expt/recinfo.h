// Two human fields of an experiment's record, by version, for the run half: the based-on
// experiment (its version) and the first line of the goal. Read with the record API (record.h).
#ifndef EXPT_RECINFO_H
#define EXPT_RECINFO_H

#include <stddef.h>

#include "project.h"

// The first X.Y.Z in the "based on" field into out. Returns 1 when found, 0 when the field is
// absent, not filled, or names no version ("none", "无"), -1 when the record cannot be read.
int ex_recinfo_based_on(const ex_project *p, const char *version, char *out, size_t cap);
// The first non-blank line of the goal into out (truncated to cap). Returns 1 when filled, 0 when
// not, -1 on error.
int ex_recinfo_goal(const ex_project *p, const char *version, char *out, size_t cap);

#endif
