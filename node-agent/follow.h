/* SPDX-License-Identifier: Apache-2.0 */
/* Following a target's container in the kernel: its entry in the target
 * map (how its tasks are first recognised), the marks of the processes it
 * already has (sweep.h), and whether capture ran for it without a break
 * before this agent, which the agent must otherwise say in its chain. */
#ifndef SHELLAUDIT_FOLLOW_H
#define SHELLAUDIT_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "sweep.h"
#include "target.h"

struct capture;

struct follow_start {
	/* Capture ran for this very container (same target, same mount
	 * namespace id) in the pinned state this agent took over: nothing was
	 * missed. Otherwise the fields below say what. */
	bool continuous;
	/* Why capture was off: "target-added" (the container had no entry in
	 * the pinned map: it was not audited before), "no-capture-state"
	 * (nothing was pinned: first start, node restart, uninstall, or no
	 * BPF file system) or "capture-state-replaced" (another build's state
	 * was removed, with what it had not handed to an agent). */
	const char *reason;
	char text[320]; /* the same, for a person */
	uint64_t since; /* CLOCK_MONOTONIC ns the container started at (0 unknown) */
	struct sweep_stats sweep;
};

/* Puts t (resolved) into the kernel's target map and marks the processes
 * its container already has; `found` is told of those already in other
 * namespaces than its init. Returns 0 or a negative errno (the map). */
int follow_target(struct capture *c, const struct target *t, sweep_found_fn found, void *arg,
		  struct follow_start *out);

#endif
