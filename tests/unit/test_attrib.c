// SPDX-License-Identifier: Apache-2.0
/* attrib: a session root awaits its decision until its window has closed,
 * is then Matched to the admitted exec (the attribution names the user,
 * the session, the root's argv, terminal and stdin) and journaled once; a
 * session whose ShellAuditSession expects the audit log waits for it (and
 * carries it), or says it never came; two people's alike execs leave both
 * roots Ambiguous with both candidates; the container's own processes are
 * Workload (not journaled) or the kubectl debug container's opener; a root
 * the module was not told of is decided without its exec; a journal that
 * fails is tried again; flush decides everything; forget drops a
 * container's roots; a restarted agent takes over the decisions of roots
 * that still run, and only those. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "attrib.h"
#include "container.h"
#include "unit.h"

#define S 1000000000ull
#define MS 1000000ull

static cJSON *journaled[8];
static char journaled_key[8][64];
static int njournaled, fail_journal;

static int journal(void *arg, const char *cid, const char *root_key, const cJSON *id,
		   const cJSON *attr)
{
	(void)arg;
	(void)cid;
	(void)id;
	if (fail_journal) {
		fail_journal--;
		return -EIO;
	}
	if (njournaled < 8) {
		snprintf(journaled_key[njournaled], sizeof(journaled_key[0]), "%s", root_key);
		journaled[njournaled++] = cJSON_Duplicate(attr, 1);
	}
	return 0;
}

static void reset(void)
{
	int i;

	for (i = 0; i < njournaled; i++)
		cJSON_Delete(journaled[i]);
	njournaled = 0;
	fail_journal = 0;
}

static cJSON *ident;

static cJSON *session(const char *name, const char *user, const char *kind, const char *container,
		      const char *cmd, bool tty, bool audit_expected, bool audited)
{
	char buf[1024];

	snprintf(
		buf, sizeof(buf),
		"{\"metadata\":{\"name\":\"%s\"},\"spec\":{\"kind\":\"%s\",\"node\":\"n\","
		"\"namespace\":\"default\",\"pod\":\"demo\",\"podUID\":\"u1\",\"container\":\"%s\","
		"\"command\":[\"%s\"],\"tty\":%s,\"stdin\":true,\"image\":\"busybox\","
		"\"user\":{\"username\":\"%s\",\"uid\":\"%s-uid\",\"groups\":[\"devs\"]},"
		"\"admittedAt\":\"2026-12-01T20:00:00.000001Z\","
		"\"expiresAt\":\"2026-12-01T20:01:00Z\""
		"%s}%s}",
		name, kind, container, cmd, tty ? "true" : "false", user, user,
		audit_expected ? ",\"auditExpected\":true" : "",
		audited ?
			",\"status\":{\"audit\":{\"auditID\":\"a-1\",\"sourceIPs\":[\"10.0.0.7\"],"
			"\"userAgent\":\"kubectl\",\"user\":{\"username\":\"alice\"}}}" :
			"");
	return cJSON_Parse(buf);
}

static void add(struct pending_set **ps, cJSON *obj, uint64_t at)
{
	UNIT_CHECK(pending_add_object(ps, obj, at) == 0);
	cJSON_Delete(obj);
}

static void exec_event(struct attrib *a, uint32_t root, const char *argv, size_t len, int tty,
		       uint64_t ts)
{
	struct attrib_event ev = { .cid = "containerd://c1",
				   .id = ident,
				   .root = root,
				   .root_start = 42,
				   .ts = ts,
				   .exec = true,
				   .argv = argv,
				   .argv_len = len,
				   .argc = 1,
				   .tty = tty,
				   .in = tty ? MATCH_STDIN_TTY : MATCH_STDIN_PIPE,
				   .in_recorded = true };

	attrib_observe(a, &ev);
}

static const char *sget(const cJSON *o, const char *a, const char *b)
{
	const cJSON *x = cJSON_GetObjectItem(o, a);

	return cJSON_GetStringValue(b ? cJSON_GetObjectItem(x, b) : x);
}

static void test_attrib_a_root_waits_then_is_matched_once(void)
{
	struct attrib_opts o = { .before_ns = 10 * S, .delay_ns = S };
	struct pending_set *ps = NULL;
	struct attrib *a;
	const cJSON *at;
	char rk[64];

	reset();
	add(&ps, session("s-alice", "alice", "Exec", "shell", "bash", true, false, false), 99 * S);
	UNIT_CHECK(attrib_new(&o, ps, journal, NULL, &a) == 0);
	exec_event(a, 500, "bash", 5, 1, 100 * S);
	UNIT_CHECK(attrib_lookup(a, "containerd://c1", ident, 500, 42, 100 * S, rk, sizeof(rk)) ==
		   ATTRIB_AWAIT);
	UNIT_CHECK_STR(rk, "500-42");
	UNIT_CHECK(attrib_wait_ms(a, 100 * S) == 1000);
	UNIT_CHECK(attrib_tick(a, 100 * S + 500 * MS) == 0 && njournaled == 0);
	UNIT_CHECK(attrib_tick(a, 101 * S) == 1);
	UNIT_CHECK(njournaled == 1);
	UNIT_CHECK_STR(journaled_key[0], "500-42");
	UNIT_CHECK_STR(sget(journaled[0], "status", NULL), "Matched");
	UNIT_CHECK_STR(sget(journaled[0], "method", NULL), "AdmissionTuple");
	UNIT_CHECK_STR(sget(journaled[0], "sessionID", NULL), "s-alice");
	UNIT_CHECK_STR(sget(journaled[0], "user", "username"), "alice");
	UNIT_CHECK_STR(sget(journaled[0], "kind", NULL), "Exec");
	UNIT_CHECK_STR(
		cJSON_GetStringValue(cJSON_GetArrayItem(
			cJSON_GetObjectItem(cJSON_GetObjectItem(journaled[0], "root"), "argv"), 0)),
		"bash");
	UNIT_CHECK(cJSON_IsTrue(
		cJSON_GetObjectItem(cJSON_GetObjectItem(journaled[0], "root"), "tty")));
	UNIT_CHECK_STR(sget(journaled[0], "root", "stdin"), "tty");
	/* Recorded stdin is said of a pipe only. */
	UNIT_CHECK(
		!cJSON_GetObjectItem(cJSON_GetObjectItem(journaled[0], "root"), "stdinRecorded"));
	at = attrib_lookup(a, "containerd://c1", ident, 500, 42, 102 * S, rk, sizeof(rk));
	UNIT_CHECK(at != ATTRIB_AWAIT && at != NULL);
	UNIT_CHECK_STR(sget(at, "user", "username"), "alice");
	UNIT_CHECK(attrib_tick(a, 103 * S) == 0 && njournaled == 1);
	UNIT_CHECK(attrib_wait_ms(a, 103 * S) == -1);
	attrib_free(a);
	pending_stop(ps);
	reset();
}

static void test_attrib_waits_for_the_audit_log_when_it_is_expected(void)
{
	struct attrib_opts o = { .before_ns = 10 * S, .delay_ns = S, .audit_wait_ns = 5 * S };
	struct pending_set *ps = NULL;
	struct attrib *a;

	reset();
	add(&ps, session("s-1", "alice", "Exec", "shell", "bash", true, true, false), 99 * S);
	add(&ps, session("s-2", "bob", "Exec", "shell", "sh", true, true, false), 99 * S);
	UNIT_CHECK(attrib_new(&o, ps, journal, NULL, &a) == 0);
	exec_event(a, 500, "bash", 5, 1, 100 * S);
	exec_event(a, 600, "sh", 3, 1, 100 * S);
	UNIT_CHECK(attrib_tick(a, 101 * S) == 0 && njournaled == 0);
	UNIT_CHECK(attrib_wait_ms(a, 101 * S) == 100);
	/* The audit log of alice's session comes. */
	add(&ps, session("s-1", "alice", "Exec", "shell", "bash", true, true, true), 102 * S);
	UNIT_CHECK(attrib_tick(a, 102 * S) == 1 && njournaled == 1);
	UNIT_CHECK_STR(sget(journaled[0], "audit", "auditID"), "a-1");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(
			       cJSON_GetObjectItem(cJSON_GetObjectItem(journaled[0], "audit"),
						   "sourceIPs"),
			       0)),
		       "10.0.0.7");
	UNIT_CHECK(sget(journaled[0], "reason", NULL) == NULL);
	/* bob's never comes: decided at exec + 5 s, saying so. */
	UNIT_CHECK(attrib_tick(a, 104 * S) == 0);
	UNIT_CHECK(attrib_tick(a, 105 * S) == 1 && njournaled == 2);
	UNIT_CHECK_STR(sget(journaled[1], "user", "username"), "bob");
	UNIT_CHECK(strstr(sget(journaled[1], "reason", NULL), "did not confirm") != NULL);
	attrib_free(a);
	pending_stop(ps);
	reset();
}

static void test_attrib_two_people_leave_both_roots_ambiguous(void)
{
	struct attrib_opts o = { .before_ns = 10 * S, .delay_ns = S };
	struct pending_set *ps = NULL;
	struct attrib *a;

	reset();
	add(&ps, session("s-a", "alice", "Exec", "shell", "ls", false, false, false), 100 * S);
	add(&ps, session("s-b", "bob", "Exec", "shell", "ls", false, false, false),
	    100 * S + 300 * MS);
	UNIT_CHECK(attrib_new(&o, ps, journal, NULL, &a) == 0);
	exec_event(a, 500, "ls", 3, 0, 100 * S + 200 * MS);
	exec_event(a, 600, "ls", 3, 0, 100 * S + 500 * MS);
	UNIT_CHECK(attrib_tick(a, 102 * S) == 2 && njournaled == 2);
	UNIT_CHECK_STR(sget(journaled[0], "status", NULL), "Ambiguous");
	UNIT_CHECK_STR(sget(journaled[1], "status", NULL), "Ambiguous");
	UNIT_CHECK_STR(sget(journaled[0], "root", "stdin"), "pipe");
	UNIT_CHECK(cJSON_IsTrue(
		cJSON_GetObjectItem(cJSON_GetObjectItem(journaled[0], "root"), "stdinRecorded")));
	UNIT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(journaled[0], "candidates")) == 2);
	UNIT_CHECK_STR(sget(cJSON_GetArrayItem(cJSON_GetObjectItem(journaled[1], "candidates"), 0),
			    "username", NULL),
		       "alice");
	UNIT_CHECK(sget(journaled[0], "user", "username") == NULL);
	attrib_free(a);
	pending_stop(ps);
	reset();
}

static void test_attrib_own_processes_and_debug_containers(void)
{
	struct attrib_opts o = { .before_ns = 10 * S, .delay_ns = S };
	struct pending_set *ps = NULL;
	struct attrib *a;
	cJSON *dbg = cJSON_Parse("{\"ns\":\"default\",\"pod\":\"demo\",\"podUID\":\"u1\","
				 "\"container\":\"debugger\"}");
	const cJSON *at;
	char rk[64];

	reset();
	add(&ps,
	    session("s-d", "alice", "EphemeralContainer", "debugger", "bash", true, false, false),
	    50 * S);
	UNIT_CHECK(attrib_new(&o, ps, journal, NULL, &a) == 0);
	/* The pod's own container: Workload (journaled: entries await it). */
	UNIT_CHECK(attrib_lookup(a, "containerd://c1", ident, 0, 0, 100 * S, rk, sizeof(rk)) ==
		   ATTRIB_AWAIT);
	UNIT_CHECK_STR(rk, "own");
	UNIT_CHECK(attrib_lookup(a, "containerd://dbg", dbg, 0, 0, 100 * S, rk, sizeof(rk)) ==
		   ATTRIB_AWAIT);
	UNIT_CHECK(attrib_tick(a, 101 * S) == 2);
	at = attrib_lookup(a, "containerd://c1", ident, 0, 0, 101 * S, rk, sizeof(rk));
	UNIT_CHECK_STR(sget(at, "status", NULL), "Workload");
	/* The ephemeral container: alice's; each said once. */
	UNIT_CHECK(njournaled == 2);
	at = !strcmp(sget(journaled[0], "status", NULL), "Workload") ? journaled[1] : journaled[0];
	UNIT_CHECK_STR(sget(at, "method", NULL), "EphemeralContainer");
	UNIT_CHECK_STR(sget(at, "user", "username"), "alice");
	UNIT_CHECK(strstr(sget(at, "reason", NULL), "image busybox") != NULL);
	UNIT_CHECK(cJSON_GetObjectItem(at, "root") == NULL);
	attrib_tick(a, 102 * S);
	UNIT_CHECK(njournaled == 2);
	cJSON_Delete(dbg);
	attrib_free(a);
	pending_stop(ps);
	reset();
}

static void test_attrib_unknown_root_failed_journal_flush_and_forget(void)
{
	struct attrib_opts o = { .before_ns = 10 * S, .delay_ns = S };
	struct attrib *a;
	const cJSON *at;
	char rk[64];

	reset();
	UNIT_CHECK(attrib_new(&o, NULL, journal, NULL, &a) == 0);
	/* Told of nothing: seen now, its exec unseen. */
	UNIT_CHECK(attrib_lookup(a, "containerd://c1", ident, 700, 1, 100 * S, rk, sizeof(rk)) ==
		   ATTRIB_AWAIT);
	fail_journal = 1;
	UNIT_CHECK(attrib_tick(a, 101 * S) == 1 && njournaled == 0);
	UNIT_CHECK(attrib_wait_ms(a, 101 * S) == 0); /* the journal is tried again */
	attrib_tick(a, 101 * S);
	UNIT_CHECK(njournaled == 1);
	UNIT_CHECK_STR(sget(journaled[0], "status", NULL), "Unattributed");
	UNIT_CHECK(strstr(sget(journaled[0], "reason", NULL), "not seen") != NULL);
	/* Flush decides a root whose window is still open. */
	exec_event(a, 800, "bash", 5, 1, 200 * S);
	attrib_flush(a, 200 * S);
	at = attrib_lookup(a, "containerd://c1", ident, 800, 42, 200 * S, rk, sizeof(rk));
	UNIT_CHECK(at != ATTRIB_AWAIT && njournaled == 2);
	UNIT_CHECK(attrib_count(a) == 2);
	/* A container that ends before its root's window closed: decided as
	 * it goes (its entries await it). */
	exec_event(a, 900, "bash", 5, 1, 300 * S);
	attrib_forget(a, "containerd://c1");
	UNIT_CHECK(attrib_count(a) == 0);
	UNIT_CHECK(njournaled == 3);
	UNIT_CHECK_STR(journaled_key[2], "900-42");
	attrib_free(a);
	reset();
}

/* Entries of one root follow each other (the root found last is kept at
 * hand): another start, another container, a root removed (forgotten or
 * evicted) are each a root of their own. */
static void test_attrib_the_root_at_hand_is_the_one_asked(void)
{
	struct attrib_opts o = { .before_ns = 10 * S, .delay_ns = S, .max_roots = 2 };
	struct attrib *a;
	char rk[64];

	reset();
	UNIT_CHECK(attrib_new(&o, NULL, journal, NULL, &a) == 0);
	UNIT_CHECK(attrib_lookup(a, "containerd://c1", ident, 700, 1, 100 * S, rk, sizeof(rk)) ==
		   ATTRIB_AWAIT);
	UNIT_CHECK(attrib_lookup(a, "containerd://c1", ident, 700, 1, 100 * S, rk, sizeof(rk)) ==
		   ATTRIB_AWAIT);
	UNIT_CHECK_STR(rk, "700-1");
	UNIT_CHECK(attrib_count(a) == 1);
	attrib_lookup(a, "containerd://c1", ident, 700, 2, 100 * S, rk, sizeof(rk));
	UNIT_CHECK_STR(rk, "700-2");
	UNIT_CHECK(attrib_count(a) == 2);
	/* Two shells' entries in turn: each its own root. */
	attrib_lookup(a, "containerd://c1", ident, 700, 1, 100 * S, rk, sizeof(rk));
	UNIT_CHECK_STR(rk, "700-1");
	attrib_lookup(a, "containerd://c1", ident, 700, 2, 100 * S, rk, sizeof(rk));
	UNIT_CHECK_STR(rk, "700-2");
	attrib_lookup(a, "containerd://c1", ident, 700, 1, 100 * S, rk, sizeof(rk));
	UNIT_CHECK_STR(rk, "700-1");
	UNIT_CHECK(attrib_count(a) == 2);
	attrib_lookup(a, "containerd://c1", ident, 0, 9, 100 * S, rk, sizeof(rk));
	attrib_lookup(a, "containerd://c1", ident, 0, 5, 100 * S, rk, sizeof(rk));
	UNIT_CHECK_STR(rk, "own");
	attrib_forget(a, "containerd://c1");
	UNIT_CHECK(attrib_count(a) == 0);
	/* Forgotten while at hand: made again, waiting again. */
	UNIT_CHECK(attrib_lookup(a, "containerd://c1", ident, 0, 5, 200 * S, rk, sizeof(rk)) ==
		   ATTRIB_AWAIT);
	UNIT_CHECK(attrib_count(a) == 1);
	attrib_lookup(a, "containerd://c2", ident, 0, 5, 200 * S, rk, sizeof(rk));
	UNIT_CHECK(attrib_count(a) == 2);
	/* Decided, then evicted by a third root while at hand (its exec
	 * seen last, its entries longest ago). */
	attrib_flush(a, 201 * S);
	attrib_lookup(a, "containerd://c2", ident, 0, 5, 202 * S, rk, sizeof(rk));
	exec_event(a, 0, "bash", 5, 1, 203 * S);
	attrib_lookup(a, "containerd://c3", ident, 0, 5, 204 * S, rk, sizeof(rk));
	UNIT_CHECK(attrib_count(a) == 2);
	UNIT_CHECK(attrib_lookup(a, "containerd://c1", ident, 0, 5, 205 * S, rk, sizeof(rk)) ==
		   ATTRIB_AWAIT);
	attrib_free(a);
	reset();
}

static void test_attrib_a_restarted_agent_keeps_what_was_decided(void)
{
	struct attrib_opts o = { .before_ns = 10 * S, .delay_ns = S };
	struct container_stat st;
	struct attrib *a, *b;
	char path[64], rk[64];
	const cJSON *at;
	uint32_t me = (uint32_t)getpid();

	reset();
	snprintf(path, sizeof(path), "/tmp/test_attrib.%d", (int)getpid());
	unlink(path);
	UNIT_CHECK(container_proc_stat((pid_t)me, &st) == 0);
	UNIT_CHECK(attrib_new(&o, NULL, journal, NULL, &a) == 0);
	UNIT_CHECK(attrib_persist(a, path) == 0);
	/* This process stands for a root that still runs; pid 1 with a start
	 * it never had for one that ended. */
	attrib_lookup(a, "containerd://c1", ident, me, st.start, 100 * S, rk, sizeof(rk));
	attrib_lookup(a, "containerd://c1", ident, 1, 123456789, 100 * S, rk, sizeof(rk));
	attrib_tick(a, 102 * S);
	UNIT_CHECK(njournaled == 2);
	attrib_free(a);

	UNIT_CHECK(attrib_new(&o, NULL, journal, NULL, &b) == 0);
	UNIT_CHECK(attrib_persist(b, path) == 0);
	UNIT_CHECK(attrib_count(b) == 1);
	at = attrib_lookup(b, "containerd://c1", ident, me, st.start, 200 * S, rk, sizeof(rk));
	UNIT_CHECK(at != ATTRIB_AWAIT && at != NULL);
	UNIT_CHECK_STR(sget(at, "status", NULL), "Unattributed");
	UNIT_CHECK(attrib_lookup(b, "containerd://c1", ident, 1, 123456789, 200 * S, rk,
				 sizeof(rk)) == ATTRIB_AWAIT);
	/* Not journaled again: the spool has it. */
	attrib_tick(b, 200 * S);
	UNIT_CHECK(njournaled == 2);
	attrib_free(b);
	unlink(path);
	reset();
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT_TEST(test_attrib_a_root_waits_then_is_matched_once),
		UNIT_TEST(test_attrib_waits_for_the_audit_log_when_it_is_expected),
		UNIT_TEST(test_attrib_two_people_leave_both_roots_ambiguous),
		UNIT_TEST(test_attrib_own_processes_and_debug_containers),
		UNIT_TEST(test_attrib_unknown_root_failed_journal_flush_and_forget),
		UNIT_TEST(test_attrib_the_root_at_hand_is_the_one_asked),
		UNIT_TEST(test_attrib_a_restarted_agent_keeps_what_was_decided),
	};
	int ret;

	ident = cJSON_Parse(
		"{\"ns\":\"default\",\"pod\":\"demo\",\"podUID\":\"u1\",\"container\":\"shell\"}");
	ret = unit_main(tests, ARRAY_SIZE(tests));
	cJSON_Delete(ident);
	return ret;
}
