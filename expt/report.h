// Fills the machine-owned regions of a record from the stored run files, and experiment/INDEX.md.
// Implemented in report.c; used by `expt report`, the supervisor (after a run) and `expt eval`.
#ifndef EXPT_REPORT_H
#define EXPT_REPORT_H

#include "project.h"

// Regenerates every machine-owned region of experiment/experiment_X.Y.Z.md (git record,
// configuration, execution record, training results + SVG assets, evaluation). Idempotent.
int ex_report_experiment(const ex_project *p, const char *version);
// Regenerates experiment/INDEX.md (one row per experiment).
int ex_report_index(const ex_project *p);

#endif
