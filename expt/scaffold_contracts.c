// TEMPORARY scaffold: implementations of gates.h, report.h, runstate.h, git_snapshot.h so the
// tree links while they are written. Each real module replaces its part of this file.
#include "git_snapshot.h"
#include "minimind/error.h"
#include "runstate.h"

const char *ex_state_name(ex_state s) { (void)s; return "unknown"; }
int ex_status_get(const ex_project *p, const char *v, ex_status *o) { (void)p; (void)v; (void)o; return mm_errorf("runstate: not built yet"); }
int ex_git_snapshot(const ex_project *p, const char *d, const char *b) { (void)p; (void)d; (void)b; return mm_errorf("git snapshot: not built yet"); }
