// SPDX-License-Identifier: Apache-2.0
/* match: a session root is Matched to the one admitted exec of its pod,
 * container, argv, terminal and stdin received just before it (the
 * earliest, taken, when one person opened several alike), Ambiguous with
 * every candidate when different people did, Unattributed with a reason
 * when none did (nothing admitted, another command, terminal or stdin,
 * outside the window, another pod of the same name, already taken, or its
 * exec unseen); the container's own processes are the opener of the
 * ephemeral container or node-debug pod they run in, else Workload; argv
 * cut by either side matches as far as both go. */
#include <string.h>

#include "match.h"
#include "unit.h"

#define S 1000000000ull
#define MS 1000000ull

static const char *const bash[] = { "bash" };
static const char *const ls[] = { "ls", "-la" };
static const struct match_window win = { 10 * S, 1 * S };

static struct match_pending exec_of(const char *user, const char *const *argv, size_t argc,
				    bool tty, uint64_t received)
{
	struct match_pending p = { .name = user,
				   .kind = MATCH_EXEC,
				   .ns = "default",
				   .pod = "demo",
				   .pod_uid = "u1",
				   .container = "shell",
				   .argv = argv,
				   .argc = argc,
				   .tty = tty,
				   .stdin = true,
				   .username = user,
				   .uid = user,
				   .received_ns = received };
	return p;
}

static struct match_root root_of(const char *const *argv, size_t argc, int tty, uint64_t exec)
{
	struct match_root r = { .ns = "default",
				.pod = "demo",
				.pod_uid = "u1",
				.container = "shell",
				.have_argv = true,
				.argv = argv,
				.argc = argc,
				.tty = tty,
				.in = tty == 1 ? MATCH_STDIN_TTY : MATCH_STDIN_PIPE,
				.exec_ns = exec };
	return r;
}

static void test_match_one_person_matches_and_is_taken(void)
{
	struct match_pending p[1] = { exec_of("alice", bash, 1, true, 100 * S) };
	struct match_root r = root_of(bash, 1, 1, 100 * S + 200 * MS);
	struct match_result m;

	match_decide(&r, p, 1, &win, &m);
	UNIT_CHECK(m.status == MATCH_MATCHED && m.method == MATCH_BY_TUPLE && m.chosen == 0);
	UNIT_CHECK(p[0].consumed);
	UNIT_CHECK_STR(match_method_name(m.method), "AdmissionTuple");
	/* A second alike session: one more began than were admitted. */
	r.exec_ns += 100 * MS;
	match_decide(&r, p, 1, &win, &m);
	UNIT_CHECK(m.status == MATCH_UNATTRIBUTED && m.chosen == -1);
	UNIT_CHECK(strstr(m.reason, "matched to other sessions") != NULL);
	UNIT_CHECK(strstr(m.reason, "admission webhook did not see it") != NULL);
}

static void test_match_two_people_alike_are_ambiguous_both_ways(void)
{
	struct match_pending p[2] = { exec_of("bob", ls, 2, false, 100 * S + 300 * MS),
				      exec_of("alice", ls, 2, false, 100 * S) };
	struct match_root r1 = root_of(ls, 2, 0, 100 * S + 200 * MS);
	struct match_root r2 = root_of(ls, 2, 0, 100 * S + 500 * MS);
	struct match_result m;

	match_decide(&r1, p, 2, &win, &m);
	UNIT_CHECK(m.status == MATCH_AMBIGUOUS && m.ncand == 2);
	/* Earliest received first: alice, then bob. */
	UNIT_CHECK(m.cand[0] == 1 && m.cand[1] == 0);
	UNIT_CHECK(!p[0].consumed && !p[1].consumed);
	match_decide(&r2, p, 2, &win, &m);
	UNIT_CHECK(m.status == MATCH_AMBIGUOUS && m.ncand == 2);
	UNIT_CHECK(strstr(m.reason, "different people") != NULL);
}

static void test_match_tells_apart_what_differs(void)
{
	struct match_pending p[2] = { exec_of("alice", ls, 2, false, 100 * S),
				      exec_of("bob", bash, 1, true, 100 * S + 10 * MS) };
	struct match_root rb = root_of(bash, 1, 1, 100 * S + 300 * MS);
	struct match_root ra = root_of(ls, 2, 0, 100 * S + 310 * MS);
	struct match_result m;

	match_decide(&rb, p, 2, &win, &m);
	UNIT_CHECK(m.status == MATCH_MATCHED && m.chosen == 1);
	match_decide(&ra, p, 2, &win, &m);
	UNIT_CHECK(m.status == MATCH_MATCHED && m.chosen == 0);
}

static void test_match_one_person_twice_is_taken_in_order(void)
{
	struct match_pending p[2] = { exec_of("alice", bash, 1, true, 100 * S + 50 * MS),
				      exec_of("alice", bash, 1, true, 100 * S) };
	struct match_root r = root_of(bash, 1, 1, 100 * S + 200 * MS);
	struct match_result m;

	match_decide(&r, p, 2, &win, &m);
	UNIT_CHECK(m.status == MATCH_MATCHED && m.chosen == 1);
	UNIT_CHECK(strstr(m.reason, "earliest") != NULL);
	match_decide(&r, p, 2, &win, &m);
	UNIT_CHECK(m.status == MATCH_MATCHED && m.chosen == 0);
}

static void test_match_terminal_and_stdin_must_agree(void)
{
	struct match_pending p[1] = { exec_of("alice", ls, 2, false, 100 * S) };
	struct match_root r = root_of(ls, 2, 1, 100 * S + 100 * MS);
	struct match_result m;

	match_decide(&r, p, 1, &win, &m);
	UNIT_CHECK(m.status == MATCH_UNATTRIBUTED);
	UNIT_CHECK(strstr(m.reason,
			  "differ in command, terminal or stdin (the first: ls by alice)") != NULL);
	/* No terminal: an exec that asked for stdin has a pipe, not /dev/null. */
	r = root_of(ls, 2, 0, 100 * S + 100 * MS);
	r.in = MATCH_STDIN_NONE;
	match_decide(&r, p, 1, &win, &m);
	UNIT_CHECK(m.status == MATCH_UNATTRIBUTED);
	p[0].stdin = false;
	match_decide(&r, p, 1, &win, &m);
	UNIT_CHECK(m.status == MATCH_MATCHED);
}

static void test_match_window_and_pod_bound_the_candidates(void)
{
	struct match_pending p[2] = { exec_of("alice", bash, 1, true, 100 * S),
				      exec_of("bob", bash, 1, true, 112 * S) };
	struct match_root r = root_of(bash, 1, 1, 110 * S + 1);
	struct match_result m;

	/* alice 10 s and a bit before, bob 2 s after: neither. */
	match_decide(&r, p, 2, &win, &m);
	UNIT_CHECK(m.status == MATCH_UNATTRIBUTED);
	UNIT_CHECK(strstr(m.reason, "came earlier or later") != NULL);
	/* The same pod name, another pod. */
	r = root_of(bash, 1, 1, 100 * S + 1);
	r.pod_uid = "u2";
	match_decide(&r, p, 2, &win, &m);
	UNIT_CHECK(m.status == MATCH_UNATTRIBUTED);
	UNIT_CHECK(strstr(m.reason, "admission webhook did not see it") != NULL);
	/* Nothing at all. */
	match_decide(&r, p, 0, &win, &m);
	UNIT_CHECK(m.status == MATCH_UNATTRIBUTED);
	/* Its exec unseen. */
	r = root_of(bash, 1, 1, 100 * S + 1);
	r.have_argv = false;
	match_decide(&r, p, 2, &win, &m);
	UNIT_CHECK(m.status == MATCH_UNATTRIBUTED && strstr(m.reason, "not seen") != NULL);
}

static void test_match_own_processes_of_debug_containers_and_pods(void)
{
	struct match_pending p[3] = {
		exec_of("bob", bash, 1, true, 1),
		{ .name = "e",
		  .kind = MATCH_EPHEMERAL,
		  .ns = "default",
		  .pod = "demo",
		  .pod_uid = "u1",
		  .container = "debugger",
		  .username = "alice",
		  .received_ns = 1 },
		{ .name = "n",
		  .kind = MATCH_DEBUGPOD,
		  .ns = "default",
		  .pod = "node-debugger-x",
		  .container = "debugger",
		  .username = "carol",
		  .received_ns = 1 },
	};
	struct match_root r = { .ns = "default",
				.pod = "demo",
				.pod_uid = "u1",
				.container = "debugger",
				.own = true,
				.tty = -1,
				.exec_ns = 900 * S };
	struct match_result m;

	/* No window: the debug container started long after it was asked for. */
	match_decide(&r, p, 3, &win, &m);
	UNIT_CHECK(m.status == MATCH_MATCHED && m.method == MATCH_BY_EPHEMERAL && m.chosen == 1);
	UNIT_CHECK(!p[1].consumed); /* each of its sessions is alice's */
	r.pod = "node-debugger-x";
	r.pod_uid = "u9";
	match_decide(&r, p, 3, &win, &m);
	UNIT_CHECK(m.status == MATCH_MATCHED && m.method == MATCH_BY_DEBUGPOD && m.chosen == 2);
	r.pod = "demo";
	r.pod_uid = "u1";
	r.container = "shell";
	match_decide(&r, p, 3, &win, &m);
	UNIT_CHECK(m.status == MATCH_WORKLOAD && m.chosen == -1);
}

/* Two openers claim one debug container: a pending session any pod can
 * forge where the webhook answers any peer (no --webhook-client-ca), sent
 * before the real `kubectl debug`, and the real one. The first in the list
 * must not simply win: Ambiguous, both listed. One with the pod's UID beats
 * one that names none. */
static void test_match_own_two_openers_of_one_debug_container_are_ambiguous(void)
{
	struct match_pending p[2] = {
		{ .name = "forged",
		  .kind = MATCH_EPHEMERAL,
		  .ns = "default",
		  .pod = "demo",
		  .container = "debugger",
		  .username = "alice",
		  .uid = "alice",
		  .received_ns = 1 },
		{ .name = "real",
		  .kind = MATCH_EPHEMERAL,
		  .ns = "default",
		  .pod = "demo",
		  .pod_uid = "u1",
		  .container = "debugger",
		  .username = "bob",
		  .uid = "bob",
		  .received_ns = 2 },
	};
	struct match_root r = { .ns = "default",
				.pod = "demo",
				.pod_uid = "u1",
				.container = "debugger",
				.own = true,
				.tty = -1,
				.exec_ns = 900 * S };
	struct match_result m;

	/* The forged one names no pod UID: the real one, which names the
	 * pod's, is the opener. */
	match_decide(&r, p, 2, &win, &m);
	UNIT_CHECK(m.status == MATCH_MATCHED && m.method == MATCH_BY_EPHEMERAL && m.chosen == 1);
	/* Both name the pod's UID (a forger can read it): neither is taken. */
	p[0].pod_uid = "u1";
	match_decide(&r, p, 2, &win, &m);
	UNIT_CHECK(m.status == MATCH_AMBIGUOUS && m.method == MATCH_BY_EPHEMERAL);
	UNIT_CHECK(m.ncand == 2 && m.chosen == -1);
	/* The same person twice (a retried kubectl debug): Matched. */
	p[0].username = p[0].uid = "bob";
	match_decide(&r, p, 2, &win, &m);
	UNIT_CHECK(m.status == MATCH_MATCHED && m.method == MATCH_BY_EPHEMERAL);
}

static void test_match_cut_argv_matches_as_far_as_both_go(void)
{
	static const char *const full[] = { "sh", "-c", "echo aaaaaaaaaaaaaaaaaaaaa" };
	static const char *const cut[] = { "sh", "-c", "echo aaaa" };
	static const char *const other[] = { "sh", "-c", "echo bbbb" };
	struct match_pending p[1] = { exec_of("alice", full, 3, false, 100 * S) };
	struct match_root r = root_of(cut, 3, 0, 100 * S + 1);
	struct match_result m;

	match_decide(&r, p, 1, &win, &m);
	UNIT_CHECK(m.status == MATCH_UNATTRIBUTED); /* not cut: a different command */
	r.argv_truncated = true;
	match_decide(&r, p, 1, &win, &m);
	UNIT_CHECK(m.status == MATCH_MATCHED);
	p[0].consumed = false;
	r.argv = other;
	match_decide(&r, p, 1, &win, &m);
	UNIT_CHECK(m.status == MATCH_UNATTRIBUTED);
}

UNIT_MAIN(UNIT_TEST(test_match_one_person_matches_and_is_taken),
	  UNIT_TEST(test_match_two_people_alike_are_ambiguous_both_ways),
	  UNIT_TEST(test_match_tells_apart_what_differs),
	  UNIT_TEST(test_match_one_person_twice_is_taken_in_order),
	  UNIT_TEST(test_match_terminal_and_stdin_must_agree),
	  UNIT_TEST(test_match_window_and_pod_bound_the_candidates),
	  UNIT_TEST(test_match_own_processes_of_debug_containers_and_pods),
	  UNIT_TEST(test_match_own_two_openers_of_one_debug_container_are_ambiguous),
	  UNIT_TEST(test_match_cut_argv_matches_as_far_as_both_go))
