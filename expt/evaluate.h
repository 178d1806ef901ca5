// The mandatory evaluation of a run: the `minimind eval` command line built from the run's
// configuration (run_file/experiment_X.Y.Z.ini), and whether the run already produced a fresh
// eval.json. The flags are exactly those of `minimind eval`:
//
//   MINIMIND eval --model_path OUT/pretrain_{dim}.safetensors   ([model] dim, default 512; the
//                               newest OUT/pretrain_*.safetensors when that file does not exist)
//                 [--data P]              [data] eval_data_path (else the engine uses the one the
//                                         checkpoint records: the same file)
//                 [--num_samples N] [--prompt_tokens N] [--max_new_tokens N]     from [eval]
//                 [--sample --temperature T --top_p P --seed S]   only when [eval] sets temperature
//                                         or top_p (the engine samples only with --sample; S is
//                                         [train] seed); otherwise greedy and reproducible
//                 --json OUT/eval.json
// Model type and dimensions come from the checkpoint's metadata. Relative paths are relative to
// the repository root: run the command from there.
#ifndef EXPT_EVALUATE_H
#define EXPT_EVALUATE_H

#include "proc.h"
#include "project.h"

// Fills argv (empty on entry). Errors: the configuration does not parse (FILE:LINE; its keys are
// checked by the pre-run gate, runconfig.h), no checkpoint when need_checkpoint (else the name
// the run will write is used: `expt run --dry-run`).
int ex_eval_argv(const ex_project *p, const char *version, int need_checkpoint, ex_strv *argv);
// 1 when OUT/eval.json exists and was written at or after `since` (epoch seconds), else 0.
int ex_eval_fresh(const ex_project *p, const char *version, double since);

#endif
