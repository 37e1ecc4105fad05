// SPDX-License-Identifier: Apache-2.0
/* sweep_plan: which processes of a node belong to a container that becomes
 * a target, and their session roots. (Marking them in the kernel is
 * tested on the real kernel by tests/bpf/test_escape.sh.) */
#include <stdbool.h>
#include <stdlib.h>

#include "unit.h"
#include "../../node-agent/sweep.h"

/* A node: 1 init; 50 shim -> 100 container init -> 101 shell -> 102
 * escaped (other namespaces) -> 103 its child; 50 -> 60 runc-exec'd into
 * the container -> 104 its child; 70 host daemon -> 71 its child. */
static struct sweep_proc node[] = {
	{ .pid = 1, .ppid = 0, .start = 1 },
	{ .pid = 50, .ppid = 1, .start = 10 },
	{ .pid = 60, .ppid = 50, .start = 40, .direct = true },
	{ .pid = 70, .ppid = 1, .start = 5 },
	{ .pid = 71, .ppid = 70, .start = 6 },
	{ .pid = 100, .ppid = 50, .start = 20, .direct = true },
	{ .pid = 101, .ppid = 100, .start = 21, .direct = true },
	{ .pid = 102, .ppid = 101, .start = 22 },
	{ .pid = 103, .ppid = 102, .start = 23 },
	{ .pid = 104, .ppid = 60, .start = 41 },
};

static struct sweep_proc *at(pid_t pid)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(node); i++)
		if (node[i].pid == pid)
			return &node[i];
	abort();
}

static void test_sweep_follows_descendants_wherever_they_went(void)
{
	UNIT_CHECK(sweep_plan(node, ARRAY_SIZE(node), 100) == 6);
	UNIT_CHECK(at(100)->member == 1 && at(101)->member == 1);
	/* Left the container's namespace (unshare -Urm): still its own. */
	UNIT_CHECK(at(102)->member == 1 && at(103)->member == 1);
	UNIT_CHECK(at(60)->member == 1 && at(104)->member == 1);
	/* The runtime and the host are not. */
	UNIT_CHECK(at(1)->member == 0 && at(50)->member == 0);
	UNIT_CHECK(at(70)->member == 0 && at(71)->member == 0);
}

static void test_sweep_session_roots(void)
{
	sweep_plan(node, ARRAY_SIZE(node), 100);
	/* The init's tree is the container's own. */
	UNIT_CHECK(at(100)->root == 0 && at(101)->root == 0 && at(103)->root == 0);
	/* Entered from outside (runc exec, nsenter): its own root, which its
	 * descendants carry, with its start time. */
	UNIT_CHECK(at(60)->root == 60 && at(60)->root_start == 40);
	UNIT_CHECK(at(104)->root == 60 && at(104)->root_start == 40);
}

/* A parent loop (a /proc read mid-change) must end, not recurse forever. */
static void test_sweep_survives_a_parent_loop(void)
{
	struct sweep_proc loop[] = {
		{ .pid = 5, .ppid = 6, .start = 1 },
		{ .pid = 6, .ppid = 5, .start = 1 },
		{ .pid = 7, .ppid = 7, .start = 1, .direct = true },
	};

	UNIT_CHECK(sweep_plan(loop, ARRAY_SIZE(loop), 7) == 1);
	UNIT_CHECK(loop[0].member == 0 && loop[1].member == 0 && loop[2].member == 1);
}

UNIT_MAIN(UNIT_TEST(test_sweep_follows_descendants_wherever_they_went),
	  UNIT_TEST(test_sweep_session_roots), UNIT_TEST(test_sweep_survives_a_parent_loop))
