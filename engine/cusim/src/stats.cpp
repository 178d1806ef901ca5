// cusim: what the backend asks of the device, counted — kernel launches by kernel, cuBLAS calls
// by function, copies by direction, synchronisations. On a GPU each launch costs the host a few
// microseconds whatever the kernel does, and each call that makes the host wait for the device
// (a device-to-host copy, a pageable host-to-device copy, cudaDeviceSynchronize, cudaFree) drains
// the queue; for a small model these two decide how close a step gets to the kernels' own time.
// The counts are exact here even though the simulator cannot time anything.
//
// MM_CUSIM_STATS=FILE writes the table to FILE when the process exits ("-": stderr), one line per
// (kind, name): "kind<TAB>name<TAB>calls". Kinds: launch, cublas, copy, wait (host waits for
// the device); per kernel, ldmatrix (8 x 8 matrices read) and ldmatrix_conflict (the shared-memory
// wavefronts they took beyond one each: bank conflicts, threads.cpp). Unset: nothing is counted.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <map>
#include <string>
#include <utility>

#include "cusim_internal.h"

namespace {

struct stats {
    bool decided = false;
    const char *path = nullptr;  // null: not counting
    std::map<std::pair<std::string, std::string>, unsigned long> calls;
};

stats g_stats;

void write_stats(void) {
    FILE *f = strcmp(g_stats.path, "-") == 0 ? stderr : fopen(g_stats.path, "w");
    if (!f) {
        fprintf(stderr, "cusim: MM_CUSIM_STATS: cannot write %s\n", g_stats.path);
        return;
    }
    for (const auto &kv : g_stats.calls)
        fprintf(f, "%s\t%s\t%lu\n", kv.first.first.c_str(), kv.first.second.c_str(), kv.second);
    if (f != stderr && fclose(f) != 0) fprintf(stderr, "cusim: MM_CUSIM_STATS: cannot write %s\n", g_stats.path);
}

bool counting(void) {
    if (!g_stats.decided) {
        g_stats.decided = true;
        const char *p = getenv("MM_CUSIM_STATS");
        if (p && *p) {
            g_stats.path = p;
            atexit(write_stats);
        }
    }
    return g_stats.path != nullptr;
}

}  // namespace

void cusim_count_n(const char *kind, const char *name, unsigned long n) {
    if (counting()) g_stats.calls[{kind, name}] += n;
}

void cusim_count(const char *kind, const char *name) { cusim_count_n(kind, name, 1); }
