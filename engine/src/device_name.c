// Device-name syntax (minimind/device_name.h): in mm_util, so `expt` checks [train] device with
// the engine's own rule.
#include "minimind/device_name.h"

#include <stdlib.h>
#include <string.h>

#include "minimind/error.h"

int mm_device_parse(const char *device, int *kind, int *index) {
    *index = 0;
    if (!device || !*device || !strcmp(device, "auto")) {
        *kind = MM_DEVICE_AUTO;
        return 0;
    }
    if (!strcmp(device, "cpu")) {
        *kind = MM_DEVICE_CPU;
        return 0;
    }
    if (!strcmp(device, "cpu-staged")) {
        *kind = MM_DEVICE_CPU_STAGED;
        return 0;
    }
    *kind = MM_DEVICE_CUDA;
    if (!strcmp(device, "cuda")) return 0;
    if (!strncmp(device, "cuda:", 5) && device[5] >= '0' && device[5] <= '9') {
        char *end;
        long v = strtol(device + 5, &end, 10);
        if (*end == '\0' && v < 1024) {
            *index = (int)v;
            return 0;
        }
    }
    return mm_errorf("device '%s': expected auto, cpu, cuda or cuda:N (or cpu-staged)", device);
}
