/* SPDX-License-Identifier: Apache-2.0 */
/* The one monotonic clock of the programs, in nanoseconds. */
#ifndef SHELLAUDIT_CLOCK_H
#define SHELLAUDIT_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds: for deadlines and durations only. */
uint64_t clock_mono_ns(void);

#endif
