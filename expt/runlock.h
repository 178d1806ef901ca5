// The run lock: OUT/run.lock, held with an exclusive flock(2) by the supervisor for its whole life.
// The kernel drops the lock when the holder dies (SIGKILL, crash, reboot), so a free lock means
// "nothing is running" — liveness never rests on a PID alone.
#ifndef EXPT_RUNLOCK_H
#define EXPT_RUNLOCK_H

// Takes the lock without waiting (creates the file). Returns the locked descriptor (O_CLOEXEC),
// -2 when another process holds it, -1 on error (message set).
int ex_runlock_acquire(const char *lock_path);
// 1 when some process holds the lock, 0 when it is free or the file does not exist, -1 on error.
int ex_runlock_held(const char *lock_path);

#endif
