// The mandatory evaluation of a run: the `minimind eval` command line built from the run's
// configuration, and whether the run already produced a fresh eval.json.
//
//   MINIMIND eval --model_path OUT/pretrain_{dim}.safetensors   ([model] dim, default 512; the
//                               newest OUT/pretrain_*.safetensors when that file does not exist)
//                 [--model_type T]      [model] model_type
//                 [--data D]            [data] eval_data_path, else [data] data_path
//                 [--KEY VALUE ...]     every key of [eval], in file order ([eval] data wins)
//                 --json OUT/eval.json
#ifndef EXPT_EVALUATE_H
#define EXPT_EVALUATE_H

#include "proc.h"
#include "project.h"

// Fills argv (empty on entry). Errors: the configuration does not parse (FILE:LINE), no checkpoint.
int ex_eval_argv(const ex_project *p, const char *version, ex_strv *argv);
// 1 when OUT/eval.json exists and was written at or after `since` (epoch seconds), else 0.
int ex_eval_fresh(const ex_project *p, const char *version, double since);

#endif
