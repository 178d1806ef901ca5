// Two human fields of a record that the run half needs before the record API is at hand: the
// based-on experiment ("### 基于实验" / "### Based on") and the first line of the goal
// ("### 实验目的" / "### Goal"). A field is the text after its heading up to the next heading
// or marker line; a placeholder ([人类填写], [human fills]) means "not filled".
#ifndef EXPT_RECINFO_H
#define EXPT_RECINFO_H

#include <stddef.h>

#include "project.h"

// Extracts the based-on version (the first X.Y.Z in the field) into out. Returns 1 when found,
// 0 when absent, not filled or "none"/"无", -1 when the record cannot be read.
int ex_recinfo_based_on(const ex_project *p, const char *version, char *out, size_t cap);
// The first non-blank line of the goal into out. Returns 1 when filled, 0 when not, -1 on error.
int ex_recinfo_goal(const ex_project *p, const char *version, char *out, size_t cap);
// The same from a record's text (for tests and callers that already read it).
int ex_recinfo_field(const char *text, const char *const labels[], char *out, size_t cap);

#endif
