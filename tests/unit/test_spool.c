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

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT_TEST(test_spool_replay_from_a_crash_forms_the_same_records),
		UNIT_TEST(test_spool_full_is_counted),
	};
	int ret;

	id = cJSON_Parse(
		"{\"ns\":\"n\",\"pod\":\"p\",\"podUID\":\"u\",\"container\":\"c\","
		"\"containerID\":\"containerd://c1\",\"node\":\"x\",\"retention\":\"1h\"}");
	snprintf(base, sizeof(base), "/tmp/test_spool.%d", (int)getpid());
	sh("rm -rf '%s' && mkdir -p '%s'", base, base);
	ret = unit_main(tests, ARRAY_SIZE(tests));
	sh("rm -rf '%s'%s", base, "");
	cJSON_Delete(id);
	return ret;
}
