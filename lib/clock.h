/* SPDX-License-Identifier: Apache-2.0 */
/* The one clock of the program, as redis has monotonic.h: CLOCK_MONOTONIC for
 * every deadline, timer, rate and backoff (it never jumps), and the wall
 * clock only to stamp what a person reads. */
#ifndef SHELLAUDIT_CLOCK_H
#define SHELLAUDIT_CLOCK_H

#include <stdint.h>

/* Monotonic time since an arbitrary start (boot, as the kernel's
 * bpf_ktime_get_ns() counts it), in nanoseconds and in milliseconds. */
uint64_t clock_now_ns(void);
long clock_now_ms(void);

/* Wall-clock nanoseconds since the epoch minus monotonic nanoseconds now:
 * add it to a monotonic stamp (a kernel event's) to get its wall time.
 * Take it at each use, not once: the wall clock is slewed and stepped
 * (NTP, a VM's host), the monotonic one is not, and an offset kept from
 * a daemon's start drifts away (5,000 ppm was seen on a test machine:
 * 0.3 s a minute, 7 minutes a day). */
int64_t clock_wall_offset_ns(void);

/* The monotonic stamp of a time given as clock ticks since boot (a
 * process's start in /proc/PID/stat), 0 when it is before the monotonic
 * clock's start (time the machine spent suspended is not in it). */
uint64_t clock_from_boot_ticks(uint64_t ticks);

#endif
