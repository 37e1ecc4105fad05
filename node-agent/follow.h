/* SPDX-License-Identifier: Apache-2.0 */
/* Following a target's container in the kernel: its entry in the target
 * map (how its tasks are first recognised) and the marks of the processes
 * it already has (sweep.h). */
#ifndef SHELLAUDIT_FOLLOW_H
#define SHELLAUDIT_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "sweep.h"
#include "target.h"

struct capture;

struct follow_start {
	struct sweep_stats sweep;
};

/* Puts t (resolved) into the kernel's target map and marks the processes
 * its container already has; `found` is told of those already in other
 * namespaces than its init. Returns 0 or a negative errno (the map). */
int follow_target(struct capture *c, const struct target *t, sweep_found_fn found, void *arg,
		  struct follow_start *out);

#endif
