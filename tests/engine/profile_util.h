// The timed backend's totals of one op by name (minimind/profile.h), for the suites that profile.
#ifndef MM_TEST_PROFILE_UTIL_H
#define MM_TEST_PROFILE_UTIL_H

#include <criterion/criterion.h>
#include <string.h>

#include "minimind/profile.h"

static inline const mm_profile_op *find_op(const char *name) {
    int n;
    const mm_profile_op *ops = mm_profile_ops(&n);
    for (int i = 0; i < n; i++)
        if (!strcmp(ops[i].name, name)) return &ops[i];
    cr_assert_fail("no op %s in the profile", name);
    return NULL;
}

#endif
