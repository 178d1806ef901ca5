// TEMPORARY scaffold: implementations of gates.h, report.h, runstate.h, git_snapshot.h so the
// tree links while they are written. Each real module replaces its part of this file.
#include "gates.h"
#include "git_snapshot.h"
#include "minimind/error.h"
#include "report.h"
#include "runstate.h"

int ex_gates_prerun(const ex_project *p, const char *v, ex_gate_list *o) { (void)p; (void)v; (void)o; return mm_errorf("gates: not built yet"); }
int ex_gates_all(const ex_project *p, const char *v, ex_gate_list *o) { (void)p; (void)v; (void)o; return mm_errorf("gates: not built yet"); }
int ex_gates_passed(const ex_gate_list *g) { (void)g; return 0; }
void ex_gates_print(const ex_gate_list *g) { (void)g; }
int ex_report_experiment(const ex_project *p, const char *v) { (void)p; (void)v; return mm_errorf("report: not built yet"); }
int ex_report_index(const ex_project *p) { (void)p; return mm_errorf("report: not built yet"); }
const char *ex_state_name(ex_state s) { (void)s; return "unknown"; }
int ex_status_get(const ex_project *p, const char *v, ex_status *o) { (void)p; (void)v; (void)o; return mm_errorf("runstate: not built yet"); }
int ex_git_snapshot(const ex_project *p, const char *d, const char *b) { (void)p; (void)d; (void)b; return mm_errorf("git snapshot: not built yet"); }
