// SPDX-License-Identifier: Apache-2.0
/* sink_spool: capture entries into the spool as AuditRecord entries:
 * redacted, escaped, bounded, kept once across a crash; and the entry that
 * ends a container's chain when auditing stops while it runs. */
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sink_spool.h"
#include "unit.h"
#include "util.h"

static char dir[64];
static struct sink_spool_target target;

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
	target = (struct sink_spool_target){ id, rs, true, true, true };
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
	struct sink_entry l2 = l1, pw = l1, rl = l1;
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
	snprintf(sub, sizeof(sub), "%s/terminal", dir);
	target = (struct sink_spool_target){ id, NULL, false, true, true };
	UNIT_CHECK(spool_open(&so, &sp) == 0);
	UNIT_CHECK(sink_spool_open(sp, lookup, NULL, &sink) == 0);
	UNIT_CHECK(sink_write(sink, &l1) == 0);
	UNIT_CHECK(sink_write(sink, &l2) == 0);
	UNIT_CHECK(sink_write(sink, &pw) == 0);
	/* readline: false keeps readline's lines out, not the terminal's. */
	UNIT_CHECK(sink_write(sink, &rl) == 0);
	/* terminal: false keeps them out. */
	target.terminal = false;
	UNIT_CHECK(sink_write(sink, &l1) == 0);
	all = records(sp);
	UNIT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(
			   cJSON_GetObjectItem(cJSON_GetArrayItem(all, 0), "spec"), "entries")) ==
		   3);
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
	target = (struct sink_spool_target){ id, NULL, true, true, true };
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
	target = (struct sink_spool_target){ id, NULL, true, true, true };
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
	target = (struct sink_spool_target){ id, NULL, true, true, true };
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
	struct sink_entry off = { .kind = SINK_OFF, .container = "containerd://c1", .ts = 900,
				  .since = 500, .reason = "target-added", .text = "auditing starts",
				  .text_len = 15 };
	struct spool *sp;
	struct sink *sink;
	const cJSON *e, *list;
	cJSON *all;

	snprintf(sub, sizeof(sub), "%s/ns", dir);
	/* Neither lines nor execs: the namespace entry is kept all the same. */
	target = (struct sink_spool_target){ id, NULL, false, false, false };
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

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT_TEST(test_sink_spool_redacts_escapes_and_filters),
		UNIT_TEST(test_sink_spool_terminal_lines),
		UNIT_TEST(test_sink_spool_bounds_long_lines),
		UNIT_TEST(test_sink_spool_event_met_again_after_restart_is_kept_once),
		UNIT_TEST(test_sink_spool_stopped_is_the_chain_last_entry),
		UNIT_TEST(test_sink_spool_namespace_and_off_entries),
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
