// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"
#include "unit.h"
#include "util.h"

static char base[64];

static void sh(const char *fmt, const char *a, const char *b)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), fmt, a, b);
	if (system(cmd) != 0)
		fprintf(stderr, "failed: %s\n", cmd);
}

static cJSON *id;

static void add(struct spool *s, int i)
{
	char text[32];
	cJSON *e = cJSON_CreateObject(), *sess = cJSON_CreateObject();

	snprintf(text, sizeof(text), "cmd-%d", i);
	cJSON_AddStringToObject(e, "time", "2026-11-25T00:00:00.000001Z");
	cJSON_AddStringToObject(e, "kind", "line");
	cJSON_AddStringToObject(e, "text", text);
	cJSON_AddStringToObject(sess, "id", i % 3 ? "a" : "b");
	spool_add(s, "containerd://c1", i % 3 ? "a" : "b", id, sess, e);
	cJSON_Delete(e);
	cJSON_Delete(sess);
}

/* Publishes everything (as accepted) and returns the records' digests, in
 * order, and the number of records. */
static int drain(struct spool *s, char digests[][80], int max, long *max_seq)
{
	cJSON *rec;
	uint64_t pos;
	int n = 0;

	spool_tick(s);
	while (spool_next_record(s, &rec, &pos) == 0) {
		const cJSON *spec = cJSON_GetObjectItem(rec, "spec");
		long seq = (long)cJSON_GetNumberValue(cJSON_GetObjectItem(spec, "sequence"));

		if (n < max)
			snprintf(digests[n++], 80, "%ld %s", seq,
				 cJSON_GetStringValue(cJSON_GetObjectItem(spec, "digest")));
		if (seq > *max_seq)
			*max_seq = seq;
		cJSON_Delete(rec);
		spool_record_done(s, pos);
	}
	spool_tick(s);
	return n;
}

static void test_spool_replay_from_a_crash_forms_the_same_records(void)
{
	struct spool_opts o = { .batch_entries = 4, .batch_age_ms = 3600000, .checkpoint_ms = 1 };
	char a_dir[128], b_dir[128], da[64][80], db[64][80];
	struct spool *a, *b;
	long amax = -1, bmax = -1;
	int i, na = 0, nb, j, k, same = 1;

	snprintf(a_dir, sizeof(a_dir), "%s/a", base);
	snprintf(b_dir, sizeof(b_dir), "%s/b", base);
	o.dir = a_dir;
	UNIT_CHECK(spool_open(&o, &a) == 0);
	for (i = 0; i < 23; i++) {
		add(a, i);
		if (i % 5 == 4)
			na += drain(a, da + na, 64 - na, &amax);
	}
	/* the crash: a copy of the spool as it is on disk now */
	sh("cp -a '%s' '%s'", a_dir, b_dir);
	for (; i < 50; i++)
		add(a, i);
	spool_end_session(a, "containerd://c1", "a");
	spool_end_session(a, "containerd://c1", "b");
	na += drain(a, da + na, 64 - na, &amax);
	spool_close(a);

	o.dir = b_dir;
	UNIT_CHECK(spool_open(&o, &b) == 0);
	for (i = 23; i < 50; i++)
		add(b, i);
	spool_end_session(b, "containerd://c1", "a");
	spool_end_session(b, "containerd://c1", "b");
	nb = drain(b, db, 64, &bmax);
	spool_close(b);

	UNIT_CHECK(na > 10 && nb > 0);
	UNIT_CHECK(amax == bmax);
	/* every record the replay produced is one the first run produced */
	for (j = 0; j < nb; j++) {
		int found = 0;

		for (k = 0; k < na; k++)
			found |= !strcmp(db[j], da[k]);
		if (!found) {
			fprintf(stderr, "    replay produced a different record: %s\n", db[j]);
			same = 0;
		}
	}
	UNIT_CHECK(same);
}

static void test_spool_full_is_counted(void)
{
	struct spool_opts o = { .max_bytes = 2048 };
	char dir[128];
	struct spool *s;
	struct spool_stats st;
	int i, full = 0;

	snprintf(dir, sizeof(dir), "%s/full", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	for (i = 0; i < 50; i++) {
		char text[32];
		cJSON *e = cJSON_CreateObject();

		snprintf(text, sizeof(text), "cmd-%d", i);
		cJSON_AddStringToObject(e, "kind", "line");
		cJSON_AddStringToObject(e, "text", text);
		if (spool_add(s, "c", "", id, NULL, e) == -ENOSPC)
			full++;
		cJSON_Delete(e);
	}
	spool_get_stats(s, &st);
	UNIT_CHECK(full > 0 && st.rejected_full == (uint64_t)full);
	spool_close(s);
}

/* An entry of session sk of cid: awaiting root's attribution, or
 * settled with attr (NULL: none). */
static void add_attr(struct spool *s, const char *cid, const char *sk, const char *text,
		     const char *root, const cJSON *attr)
{
	cJSON *e = cJSON_CreateObject(), *sess = cJSON_CreateObject();

	cJSON_AddStringToObject(e, "time", "2026-11-25T00:00:00.000001Z");
	cJSON_AddStringToObject(e, "kind", "line");
	cJSON_AddStringToObject(e, "text", text);
	cJSON_AddStringToObject(sess, "id", sk);
	if (attr)
		cJSON_AddItemToObject(sess, "attribution", cJSON_Duplicate(attr, 1));
	UNIT_CHECK(spool_add_awaiting(s, cid, sk, id, sess, e, NULL, root) == 0);
	cJSON_Delete(e);
	cJSON_Delete(sess);
}

/* Every record published now: "container text,text user" lines. */
static void drain_users(struct spool *s, char *out, size_t cap)
{
	cJSON *rec;
	uint64_t pos;
	size_t used = 0;

	out[0] = '\0';
	spool_tick(s);
	while (spool_next_record(s, &rec, &pos) == 0) {
		const cJSON *spec = cJSON_GetObjectItem(rec, "spec"), *e;
		const char *user = cJSON_GetStringValue(cJSON_GetObjectItem(
			cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "attribution"), "user"),
			"username"));

		used += (size_t)snprintf(
			out + used, cap - used, "%s ",
			cJSON_GetStringValue(cJSON_GetObjectItem(spec, "containerID")));
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(spec, "entries"))
			used += (size_t)snprintf(
				out + used, cap - used, "%s,",
				cJSON_GetStringValue(cJSON_GetObjectItem(e, "text")));
		used += (size_t)snprintf(out + used, cap - used, " %s\n", user ? user : "-");
		cJSON_Delete(rec);
		spool_record_done(s, pos);
	}
	spool_tick(s);
}

/* The Events to make now: "text user" lines, "opened user" for a decision. */
static void drain_events(struct spool *s, char *out, size_t cap)
{
	cJSON *it;
	uint64_t pos;
	size_t used = 0;

	out[0] = '\0';
	while (spool_next_event(s, &it, &pos) == 0) {
		const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(it, "t"));
		const char *user = cJSON_GetStringValue(cJSON_GetObjectItem(
			cJSON_GetObjectItem(cJSON_GetObjectItem(it, "attr"), "user"), "username"));
		const char *text = cJSON_GetStringValue(
			cJSON_GetObjectItem(cJSON_GetObjectItem(it, "e"), "text"));

		used += (size_t)snprintf(out + used, cap - used, "%s %s\n",
					 !strcmp(t, "a") ? "opened" : text, user ? user : "-");
		cJSON_Delete(it);
		spool_event_done(s, pos);
	}
}

static cJSON *alice(void)
{
	return cJSON_Parse("{\"status\":\"Matched\",\"method\":\"AdmissionTuple\","
			   "\"sessionID\":\"s-1\",\"user\":{\"username\":\"alice\"}}");
}

static void test_spool_records_wait_for_the_attribution_and_all_say_it(void)
{
	struct spool_opts o = { .batch_entries = 2, .batch_age_ms = 3600000 };
	char dir[128], out[2048];
	cJSON *attr = alice();
	struct spool *s;

	snprintf(dir, sizeof(dir), "%s/attr", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	add_attr(s, "containerd://c1", "7", "one", "7-100", NULL);
	add_attr(s, "containerd://c1", "7", "two", "7-100", NULL);
	add_attr(s, "containerd://c1", "7", "three", "7-100", NULL);
	/* Another container, no attribution: waits all the same (one order). */
	add_attr(s, "containerd://c2", "9", "other", NULL, NULL);
	drain_users(s, out, sizeof(out));
	UNIT_CHECK_STR(out, "");
	drain_events(s, out, sizeof(out));
	UNIT_CHECK_STR(out, "");
	UNIT_CHECK(!spool_idle(s));
	/* The decision; the entries after it carry it from the start. */
	UNIT_CHECK(spool_attribute(s, "containerd://c1", "7-100", id, attr) == 0);
	UNIT_CHECK(spool_attribute(s, "containerd://c1", "7-100", id, attr) == 0); /* once */
	add_attr(s, "containerd://c1", "7", "four", NULL, attr);
	spool_end_session(s, "containerd://c1", "7");
	spool_end_session(s, "containerd://c2", "9");
	drain_users(s, out, sizeof(out));
	UNIT_CHECK_STR(out, "containerd://c1 one,two, alice\n"
			    "containerd://c1 three,four, alice\n"
			    "containerd://c2 other, -\n");
	drain_events(s, out, sizeof(out));
	UNIT_CHECK_STR(out,
		       "one alice\ntwo alice\nthree alice\nother -\nopened alice\nfour alice\n");
	UNIT_CHECK(spool_idle(s));
	cJSON_Delete(attr);
	spool_close(s);
}

static void count_undecided(const char *cid, const char *root, const cJSON *ident, void *arg)
{
	(void)cid;
	(void)ident;
	if (!strcmp(root, "7-100"))
		(*(int *)arg)++;
}

static void test_spool_an_awaited_attribution_survives_a_crash(void)
{
	struct spool_opts o = { .batch_entries = 100, .batch_age_ms = 3600000, .checkpoint_ms = 1 };
	char dir[128], before[128], after[128], out[2048];
	cJSON *attr = alice();
	struct spool *s;
	int undecided = 0;

	snprintf(dir, sizeof(dir), "%s/crash", base);
	snprintf(before, sizeof(before), "%s/crash-before", base);
	snprintf(after, sizeof(after), "%s/crash-after", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	add_attr(s, "containerd://c1", "7", "one", "7-100", NULL);
	spool_tick(s);
	sh("cp -a '%s' '%s'", dir, before); /* crashed before the decision */
	UNIT_CHECK(spool_attribute(s, "containerd://c1", "7-100", id, attr) == 0);
	spool_end_session(s, "containerd://c1", "7");
	sh("cp -a '%s' '%s'", dir, after); /* crashed after it, nothing published */
	spool_close(s);

	/* After the decision: the next agent forms the same, attributed. */
	o.dir = after;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	spool_undecided(s, count_undecided, &undecided);
	UNIT_CHECK(undecided == 0);
	drain_users(s, out, sizeof(out));
	UNIT_CHECK_STR(out, "containerd://c1 one, alice\n");
	drain_events(s, out, sizeof(out));
	UNIT_CHECK_STR(out, "one alice\nopened alice\n");
	spool_close(s);

	/* Before it: the next agent is told, and its decision goes through. */
	o.dir = before;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	spool_undecided(s, count_undecided, &undecided);
	UNIT_CHECK(undecided == 1);
	UNIT_CHECK(spool_attribute(s, "containerd://c1", "7-100", id, attr) == 0);
	spool_end_session(s, "containerd://c1", "7");
	drain_users(s, out, sizeof(out));
	UNIT_CHECK_STR(out, "containerd://c1 one, alice\n");
	cJSON_Delete(attr);
	spool_close(s);
}

static void test_spool_gives_up_waiting_for_an_attribution(void)
{
	struct spool_opts o = { .batch_entries = 100, .batch_age_ms = 3600000, .await_max_ms = 50 };
	char dir[128], out[2048];
	struct spool *s;
	cJSON *rec;
	uint64_t pos;

	snprintf(dir, sizeof(dir), "%s/giveup", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	add_attr(s, "containerd://c1", "7", "one", "7-100", NULL);
	spool_tick(s);
	usleep(100 * 1000);
	spool_end_session(s, "containerd://c1", "7");
	spool_tick(s);
	UNIT_CHECK(spool_next_record(s, &rec, &pos) == 0);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
			       cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "spec"), "attribution"),
			       "status")),
		       "Unattributed");
	cJSON_Delete(rec);
	spool_record_done(s, pos);
	drain_events(s, out, sizeof(out));
	UNIT_CHECK_STR(out, "one -\nopened -\n");
	spool_close(s);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT_TEST(test_spool_replay_from_a_crash_forms_the_same_records),
		UNIT_TEST(test_spool_full_is_counted),
		UNIT_TEST(test_spool_records_wait_for_the_attribution_and_all_say_it),
		UNIT_TEST(test_spool_an_awaited_attribution_survives_a_crash),
		UNIT_TEST(test_spool_gives_up_waiting_for_an_attribution),
	};
	int ret;

	id = cJSON_Parse("{\"ns\":\"n\",\"pod\":\"p\",\"podUID\":\"u\",\"container\":\"c\","
			 "\"containerID\":\"containerd://c1\",\"node\":\"x\",\"retention\":\"1h\"}");
	snprintf(base, sizeof(base), "/tmp/test_spool.%d", (int)getpid());
	sh("rm -rf '%s' && mkdir -p '%s'", base, base);
	ret = unit_main(tests, ARRAY_SIZE(tests));
	sh("rm -rf '%s'%s", base, "");
	cJSON_Delete(id);
	return ret;
}
