// `minimind train`: the training loop of the original MiniMind pretraining script, made
// resumable. Per micro-step: lr = get_lr(t, T, lr) (minimind/optim.h), loss / accumulation_steps
// backward; every accumulation_steps micro-steps: clip the global grad norm, AdamW step, zero grads.
//
// Output directory (DESIGN.md §3): config.ini (resolved), metrics.jsonl, progress.json,
// pretrain_{dim}.safetensors + its resume state. Checkpoints are written at optimizer-step
// boundaries — on the last boundary before save_interval micro-steps would have passed since the
// previous one, so a killed run loses fewer than save_interval steps — and at the end. A
// checkpoint is exact: --resume continues with bit-identical losses. A save writes both files
// under the staging name pretrain_{dim}.saving.safetensors (+ .state) and renames the state, then
// the weights, into place; --resume completes a save killed between the two renames. A NaN/Inf
// loss, gradient norm or weight stops the run before it can reach a checkpoint.
#ifndef MINIMIND_TRAINER_H
#define MINIMIND_TRAINER_H

// Exit statuses of `minimind train` (the expt supervisor relies on them).
#define MM_EXIT_OK 0
#define MM_EXIT_ERROR 1
#define MM_EXIT_USAGE 2
#define MM_EXIT_STOPPED 3  // SIGTERM/SIGINT: checkpoint saved, progress.json status "stopped"
#define MM_EXIT_NAN 4      // loss became NaN/Inf: stopped, the last good checkpoint kept

typedef struct mm_train_args {
    const char *config_path;       // INI file
    const char *out_dir;           // created if missing
    const char *const *overrides;  // "section.key=value" (--set), applied in order
    int n_overrides;
    int resume;                    // continue from OUT/pretrain_{dim}.safetensors
} mm_train_args;

// Runs the whole training. Returns one of the MM_EXIT_* statuses; on MM_EXIT_ERROR/MM_EXIT_NAN
// the message is in mm_error_message().
int mm_train(const mm_train_args *a);

#endif
