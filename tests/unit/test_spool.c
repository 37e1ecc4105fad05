// SPDX-License-Identifier: Apache-2.0
/* spool: a replay after a crash forms the same records; checkpoints hold
 * open batches by reference, so many big ones never make one too large;
 * faults end in gaps: a corrupt entry is a gap entry in its session, a
 * corrupt record is formed again, an unsynced entry is never handed out;
 * a chain the spool has not seen waits for where the API server's ends;
 * records cut by entries, bytes and age; records and Events of a session
 * wait for who opened it, all say it, across a crash, and a decision that
 * never comes is "Unattributed"; identical execs fold into one entry
 * alike when a restart rebuilds their open batch from the journal, marks
 * included; records waiting are counted; each chain has its own cursor;
 * an identity's text given beside it journals the same bytes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "aggregate.h"
#include "journal.h"
#include "jsontext.h"
#include "spool.h"
#include "timefmt.h"
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

/* spool_trim between turns gives memory back and changes nothing the
 * spool forms: a spool trimmed after each drain forms the records of one
 * never trimmed. */
static void test_spool_trim_changes_no_record(void)
{
	struct spool_opts o = { .batch_entries = 4, .batch_age_ms = 3600000, .checkpoint_ms = 1 };
	char a_dir[128], b_dir[128], da[64][80], db[64][80];
	struct spool *a, *b;
	long amax = -1, bmax = -1;
	size_t given = 0;
	int i, na = 0, nb = 0, same;

	snprintf(a_dir, sizeof(a_dir), "%s/trim-a", base);
	snprintf(b_dir, sizeof(b_dir), "%s/trim-b", base);
	o.dir = a_dir;
	UNIT_CHECK(spool_open(&o, &a) == 0);
	o.dir = b_dir;
	UNIT_CHECK(spool_open(&o, &b) == 0);
	for (i = 0; i < 50; i++) {
		add(a, i);
		add(b, i);
		if (i % 5 == 4) {
			na += drain(a, da + na, 64 - na, &amax);
			nb += drain(b, db + nb, 64 - nb, &bmax);
			given += spool_trim(b);
		}
	}
	spool_end_session(a, "containerd://c1", "a");
	spool_end_session(b, "containerd://c1", "a");
	na += drain(a, da + na, 64 - na, &amax);
	nb += drain(b, db + nb, 64 - nb, &bmax);
	UNIT_CHECK(given > 0);
	given = spool_trim(b);
	UNIT_CHECK(given > 0);
	UNIT_CHECK(spool_trim(b) == 0);
	same = na > 10 && na == nb && amax == bmax;
	for (i = 0; same && i < na; i++)
		same = !strcmp(da[i], db[i]);
	UNIT_CHECK(same);
	spool_close(a);
	spool_close(b);
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

/* --batch-bytes: a record is cut before its entries pass the bound, and
 * no entry is lost or reordered by the cuts. */
static void test_spool_batch_bytes_cuts_records(void)
{
	struct spool_opts o = { .batch_bytes = 1024, .batch_age_ms = 3600000 };
	char dir[128], text[400], want[16];
	struct spool *s;
	cJSON *rec;
	uint64_t pos;
	int i, records = 0, entries = 0, in_order = 1, within = 1;

	snprintf(dir, sizeof(dir), "%s/bytes", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	for (i = 0; i < 20; i++) {
		cJSON *e = cJSON_CreateObject(), *sess = cJSON_CreateObject();

		snprintf(text, sizeof(text), "%04d %0300d", i, 0);
		cJSON_AddStringToObject(e, "time", "2026-11-25T00:00:00.000001Z");
		cJSON_AddStringToObject(e, "kind", "line");
		cJSON_AddStringToObject(e, "text", text);
		cJSON_AddStringToObject(sess, "id", "a");
		UNIT_CHECK(spool_add(s, "containerd://c1", "a", id, sess, e) == 0);
		cJSON_Delete(e);
		cJSON_Delete(sess);
	}
	spool_end_session(s, "containerd://c1", "a");
	spool_tick(s);
	while (spool_next_record(s, &rec, &pos) == 0) {
		const cJSON *es = cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "spec"), "entries"),
			    *e;
		size_t bytes = 0;

		records++;
		cJSON_ArrayForEach(e, es) {
			char *j = cJSON_PrintUnformatted(e);

			bytes += j ? strlen(j) : 0;
			free(j);
			snprintf(want, sizeof(want), "%04d ", entries++);
			in_order &= !strncmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "text")),
					     want, 5);
		}
		/* a record of one entry may pass the bound; more may not */
		within &= cJSON_GetArraySize(es) == 1 || bytes <= 1024;
		cJSON_Delete(rec);
		spool_record_done(s, pos);
	}
	UNIT_CHECK(entries == 20 && in_order);
	UNIT_CHECK(records >= 20 * 300 / 1024 && within);
	spool_close(s);
}

/* The segment files of a journal, in order, into paths (at most max). */
static int segments(const char *dir, char paths[][512], int max)
{
	struct dirent **list;
	int n, i, k = 0;

	n = scandir(dir, &list, NULL, alphasort);
	for (i = 0; i < n; i++) {
		if (strstr(list[i]->d_name, ".seg") && k < max)
			snprintf(paths[k++], 512, "%.200s/%.200s", dir, list[i]->d_name);
		free(list[i]);
	}
	if (n >= 0)
		free(list);
	return k;
}

/* The size of file path, or -1. */
static off_t lseek_end(const char *path)
{
	int fd = open(path, O_RDONLY);
	off_t n = fd < 0 ? -1 : lseek(fd, 0, SEEK_END);

	if (fd >= 0)
		close(fd);
	return n;
}

/* Writes 'X' at byte skip of the value of the last `key` (a member's
 * name, its colon and the value's quote) before needle in file: 0 or -1. */
static int damage_value(const char *file, const char *needle, const char *key, size_t skip)
{
	char buf[8192], *end, *at = NULL, *p;
	int fd = open(file, O_RDWR), ret = -1;
	ssize_t n = fd < 0 ? -1 : pread(fd, buf, sizeof(buf), 0);

	end = n > 0 ? memmem(buf, (size_t)n, needle, strlen(needle)) : NULL;
	for (p = buf; end && (p = memmem(p, (size_t)(end - p), key, strlen(key))); p++)
		at = p;
	if (at && pwrite(fd, "X", 1, at - buf + (off_t)(strlen(key) + skip)) == 1)
		ret = 0;
	if (fd >= 0)
		close(fd);
	return ret;
}

/* Flips one byte of the first occurrence of needle in file. */
static int corrupt(const char *file, const char *needle, int delta)
{
	char buf[1 << 16];
	int fd = open(file, O_RDWR), ret = -1;
	ssize_t n;
	char *at;

	if (fd < 0)
		return -1;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n > 0) {
		buf[n] = '\0';
		at = memmem(buf, (size_t)n, needle, strlen(needle));
		if (at) {
			at[delta] ^= 0x01;
			ret = pwrite(fd, at + delta, 1, at - buf + delta) == 1 ? 0 : -1;
		}
	}
	close(fd);
	return ret;
}

/* A tick that checkpoints what changed: checkpoint_ms (1 in these tests)
 * has passed since the last one. */
static int tick_checkpointed(struct spool *s)
{
	struct timespec two_ms = { 0, 2 * 1000000L };

	nanosleep(&two_ms, NULL);
	return spool_tick(s);
}

static cJSON *all_records(struct spool *s)
{
	cJSON *all = cJSON_CreateArray(), *rec;
	uint64_t pos;

	spool_tick(s);
	while (spool_next_record(s, &rec, &pos) == 0) {
		cJSON_AddItemToArray(all, rec);
		spool_record_done(s, pos);
	}
	spool_tick(s);
	return all;
}

static const cJSON *spec_of(const cJSON *all, int i)
{
	return cJSON_GetObjectItem(cJSON_GetArrayItem(all, i), "spec");
}

static cJSON *line_entry(const char *text)
{
	cJSON *e = cJSON_CreateObject();

	cJSON_AddStringToObject(e, "time", "2026-11-25T00:00:00.000001Z");
	cJSON_AddStringToObject(e, "kind", "line");
	cJSON_AddStringToObject(e, "text", text);
	return e;
}

/* The text of the entry of a spool_next_event item (NULL for none). */
static const char *event_text(const cJSON *ev)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "e"), "text"));
}

static void add_to(struct spool *s, const char *cid, const cJSON *ident, const char *sk,
		   const char *text)
{
	cJSON *e = line_entry(text), *sess = cJSON_CreateObject();

	cJSON_AddStringToObject(sess, "id", sk);
	UNIT_CHECK(spool_add(s, cid, sk, ident, *sk ? sess : NULL, e) == 0);
	cJSON_Delete(e);
	cJSON_Delete(sess);
}

/* The review's M2: 60 sessions with big entries kept their open batches in
 * every checkpoint, which outgrew its record; sync and acknowledgement
 * stopped and the spool filled. Now batches are checkpointed by where they
 * start, and a replay still forms the same records. */
static void test_spool_big_open_batches_checkpoint_by_reference(void)
{
	struct spool_opts o = { .batch_age_ms = 3600000, .checkpoint_ms = 1,
				.max_bytes = 64u << 20 };
	char a_dir[128], b_dir[128], *big = malloc(40001), sk[16];
	cJSON *ra, *rb;
	struct spool *a, *b;
	struct spool_stats st;
	int round, i, same = 1, j;

	if (!big)
		return;
	memset(big, 'x', 40000);
	big[40000] = '\0';
	snprintf(a_dir, sizeof(a_dir), "%s/big-a", base);
	snprintf(b_dir, sizeof(b_dir), "%s/big-b", base);
	o.dir = a_dir;
	UNIT_CHECK(spool_open(&o, &a) == 0);
	for (round = 0; round < 8; round++) {
		for (i = 0; i < 60; i++) {
			snprintf(sk, sizeof(sk), "s%d", i);
			big[0] = (char)('a' + round);
			add_to(a, "containerd://c1", id, sk, big);
		}
		UNIT_CHECK(spool_tick(a) == 0);
		if (round == 4)
			sh("cp -a '%s' '%s'", a_dir, b_dir);
	}
	spool_get_stats(a, &st);
	UNIT_CHECK(st.checkpoint_failures == 0 && st.checkpoints >= 8 && st.rejected_full == 0);
	for (i = 0; i < 60; i++) {
		snprintf(sk, sizeof(sk), "s%d", i);
		spool_end_session(a, "containerd://c1", sk);
	}
	ra = all_records(a);
	spool_close(a);
	/* the crash copy, replayed with the same entries after it */
	o.dir = b_dir;
	UNIT_CHECK(spool_open(&o, &b) == 0);
	for (round = 5; round < 8; round++)
		for (i = 0; i < 60; i++) {
			snprintf(sk, sizeof(sk), "s%d", i);
			big[0] = (char)('a' + round);
			add_to(b, "containerd://c1", id, sk, big);
		}
	for (i = 0; i < 60; i++) {
		snprintf(sk, sizeof(sk), "s%d", i);
		spool_end_session(b, "containerd://c1", sk);
	}
	rb = all_records(b);
	spool_close(b);
	UNIT_CHECK(cJSON_GetArraySize(rb) > 0);
	for (j = 0; j < cJSON_GetArraySize(rb); j++) {
		int found = 0;

		for (i = 0; i < cJSON_GetArraySize(ra) && !found; i++)
			found = !strcmp(
				cJSON_GetStringValue(cJSON_GetObjectItem(spec_of(rb, j), "digest")),
				cJSON_GetStringValue(
					cJSON_GetObjectItem(spec_of(ra, i), "digest")));
		same &= found;
	}
	UNIT_CHECK(same);
	cJSON_Delete(ra);
	cJSON_Delete(rb);
	free(big);
}

static void test_spool_open_batches_are_bounded(void)
{
	struct spool_opts o = { .batch_age_ms = 3600000 };
	char dir[128], sk[16];
	struct spool *s;
	cJSON *all;
	int i;

	snprintf(dir, sizeof(dir), "%s/many", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	for (i = 0; i < 4096 + 10; i++) {
		snprintf(sk, sizeof(sk), "s%d", i);
		add_to(s, "containerd://c1", id, sk, "ls");
	}
	/* no session ended, no age: the 10 opened first were cut */
	all = all_records(s);
	UNIT_CHECK(cJSON_GetArraySize(all) == 10);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
			       cJSON_GetObjectItem(spec_of(all, 0), "session"), "id")),
		       "s0");
	cJSON_Delete(all);
	spool_close(s);
}

/* The review's M7 at the spool: a corrupt entry cost the rest of the
 * spool. Now it is a gap entry in its session's record. */
static void test_spool_corrupt_entry_is_a_gap_in_its_session(void)
{
	struct spool_opts o = { .batch_age_ms = 3600000 };
	char dir[128], sub[160], seg[4][512];
	struct spool_stats st;
	struct spool *s;
	cJSON *all;
	const cJSON *e;
	int n, gaps = 0, lines = 0;

	snprintf(dir, sizeof(dir), "%s/corrupt", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	add_to(s, "containerd://c1", id, "a", "first-of-a");
	add_to(s, "containerd://c1", id, "b", "first-of-b");
	add_to(s, "containerd://c1", id, "a", "second-of-a");
	add_to(s, "containerd://c1", id, "a", "third-of-a");
	snprintf(sub, sizeof(sub), "%s/entries", dir);
	n = segments(sub, seg, 4);
	spool_close(s); /* the running spool reads from memory; the disk rots */
	UNIT_CHECK(n == 1 && corrupt(seg[0], "second-of-a", 3) == 0);
	UNIT_CHECK(spool_open(&o, &s) == 0);
	spool_end_session(s, "containerd://c1", "a");
	spool_end_session(s, "containerd://c1", "b");
	all = all_records(s);
	UNIT_CHECK(cJSON_GetArraySize(all) == 2);
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(spec_of(all, 0), "entries")) {
		const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(e, "kind"));

		gaps += !strcmp(kind, "gap") &&
			cJSON_GetNumberValue(cJSON_GetObjectItem(e, "count")) == 1;
		lines += !strcmp(kind, "line");
	}
	UNIT_CHECK(gaps == 1 && lines == 2);
	UNIT_CHECK_STR(
		cJSON_GetStringValue(cJSON_GetObjectItem(
			cJSON_GetArrayItem(cJSON_GetObjectItem(spec_of(all, 0), "entries"), 2),
			"text")),
		"third-of-a");
	UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(spec_of(all, 1), "sequence")) == 1);
	spool_get_stats(s, &st);
	UNIT_CHECK(st.corrupt == 1 && st.corrupt_gaps == 1 && st.corrupt_unattributed == 0);
	cJSON_Delete(all);
	spool_close(s);
}

/* The entries journal's item, byte for byte as earlier agents wrote it
 * (an upgraded agent reads their spool): the head (the item without "e"),
 * then ,"e": and the entry, then ,"ic": the CRC-32 of the head's text and
 * of the entry's time with its NUL, in 8 hex digits. A large entry (past
 * the print buffer kept) and a small one after it alike. */
static void test_spool_entry_items_keep_their_form(void)
{
	struct spool_opts o = { .batch_age_ms = 3600000 };
	struct journal_opts jo = { 0 };
	char dir[128], sub[160], *big = malloc(100001), want[256];
	struct journal *j;
	struct spool *s;
	uint64_t pos = 0, next;
	size_t len;
	void *data;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/form", base);
	o.dir = dir;
	if (!big) {
		UNIT_CHECK(big);
		return;
	}
	UNIT_CHECK(spool_open(&o, &s) == 0);
	memset(big, 'x', 100000);
	big[100000] = '\0';
	add_to(s, "containerd://c1", id, "a", "a \"quoted\" line\t");
	add_to(s, "containerd://c1", id, "a", big);
	add_to(s, "containerd://c1", id, "", "no session");
	spool_close(s);
	snprintf(sub, sizeof(sub), "%s/entries", dir);
	jo.dir = sub;
	UNIT_CHECK(journal_open(&jo, &j) == 0);
	while (journal_read(j, pos, &data, &len, &next) == 0) {
		cJSON *item = cJSON_ParseWithLength(data, len), *e, *ic;
		char *head, *et;
		uLong crc;

		e = cJSON_DetachItemFromObjectCaseSensitive(item, "e");
		ic = cJSON_DetachItemFromObjectCaseSensitive(item, "ic");
		UNIT_CHECK(item && e && ic && cJSON_IsString(ic));
		if (!item || !e || !ic) {
			cJSON_Delete(item);
			cJSON_Delete(e);
			cJSON_Delete(ic);
			free(data);
			break;
		}
		head = cJSON_PrintUnformatted(item);
		et = cJSON_PrintUnformatted(e);
		crc = crc32(0L, (const Bytef *)head, (uInt)strlen(head));
		crc = crc32(crc,
			    (const Bytef *)cJSON_GetStringValue(cJSON_GetObjectItem(e, "time")),
			    (uInt)strlen(cJSON_GetStringValue(cJSON_GetObjectItem(e, "time"))) + 1);
		snprintf(want, sizeof(want), ",\"e\":");
		UNIT_CHECK(len == strlen(head) - 1 + 5 + strlen(et) + 17);
		UNIT_CHECK(!memcmp(data, head, strlen(head) - 1));
		UNIT_CHECK(!memcmp((char *)data + strlen(head) - 1, want, 5));
		UNIT_CHECK(!memcmp((char *)data + strlen(head) + 4, et, strlen(et)));
		snprintf(want, sizeof(want), ",\"ic\":\"%08lx\"}", (unsigned long)crc);
		UNIT_CHECK(!memcmp((char *)data + len - 17, want, 17));
		n++;
		cJSON_Delete(item);
		cJSON_Delete(e);
		cJSON_Delete(ic);
		free(head);
		free(et);
		free(data);
		pos = next;
	}
	UNIT_CHECK(n == 3);
	journal_close(j);
	free(big);
}

/* Field `field` of entry k of record i. */
static const char *entry_of(const cJSON *all, int i, int k, const char *field)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(
		cJSON_GetArrayItem(cJSON_GetObjectItem(spec_of(all, i), "entries"), k), field));
}

/* When the damaged bytes no longer say whose the entry was, nothing is
 * guessed: it is counted for the agent to report in every chain. */
static void test_spool_corrupt_entry_of_no_known_session_is_counted(void)
{
	struct spool_opts o = { .batch_age_ms = 3600000 };
	char dir[128], sub[160], seg[4][512];
	struct spool_stats st;
	struct spool *s;
	cJSON *all;

	snprintf(dir, sizeof(dir), "%s/unknown", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	add_to(s, "containerd://c1", id, "a", "first-of-a");
	add_to(s, "containerd://c1", id, "a", "second-of-a");
	/* after it: a damaged last item would be a torn tail, cut at open */
	add_to(s, "containerd://c1", id, "a", "third-of-a");
	snprintf(sub, sizeof(sub), "%s/entries", dir);
	UNIT_CHECK(segments(sub, seg, 4) == 1);
	/* in the second entry's container ID: "containerd://c1" becomes another */
	spool_close(s);
	UNIT_CHECK(damage_value(seg[0], "second-of-a", "\"cid\":\"", 1) == 0);
	UNIT_CHECK(spool_open(&o, &s) == 0);
	spool_end_session(s, "containerd://c1", "a");
	all = all_records(s);
	UNIT_CHECK(cJSON_GetArraySize(all) == 1);
	UNIT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(spec_of(all, 0), "entries")) == 2);
	UNIT_CHECK_STR(entry_of(all, 0, 1, "text"), "third-of-a");
	spool_get_stats(s, &st);
	UNIT_CHECK(st.corrupt == 1 && st.corrupt_unattributed == 1);
	cJSON_Delete(all);
	spool_close(s);
}

/* A corrupt entry whose session's batch was just cut (full), or whose
 * session it opens: its identity is intact (each entry carries a check of
 * it), so it is still a gap entry in its own session, where it was. */
static void test_spool_corrupt_entry_after_a_cut_is_a_gap_in_its_session(void)
{
	struct spool_opts o = { .batch_entries = 2, .batch_age_ms = 3600000 };
	char dir[128], sub[160], seg[4][512];
	struct spool_stats st;
	struct spool *s;
	cJSON *all;

	snprintf(dir, sizeof(dir), "%s/after-cut", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	add_to(s, "containerd://c1", id, "a", "one-of-a");
	add_to(s, "containerd://c1", id, "a", "two-of-a");
	add_to(s, "containerd://c1", id, "a", "three-of-a");
	add_to(s, "containerd://c1", id, "a", "four-of-a");
	add_to(s, "containerd://c1", id, "b", "one-of-b");
	add_to(s, "containerd://c1", id, "b", "two-of-b");
	snprintf(sub, sizeof(sub), "%s/entries", dir);
	spool_close(s);
	UNIT_CHECK(segments(sub, seg, 4) == 1 && corrupt(seg[0], "three-of-a", 3) == 0 &&
		   corrupt(seg[0], "one-of-b", 2) == 0);
	UNIT_CHECK(spool_open(&o, &s) == 0);
	spool_end_session(s, "containerd://c1", "a");
	spool_end_session(s, "containerd://c1", "b");
	all = all_records(s);
	UNIT_CHECK(cJSON_GetArraySize(all) == 3);
	UNIT_CHECK_STR(entry_of(all, 0, 1, "text"), "two-of-a");
	UNIT_CHECK_STR(entry_of(all, 1, 0, "kind"), "gap");
	UNIT_CHECK_STR(entry_of(all, 1, 1, "text"), "four-of-a");
	UNIT_CHECK_STR(entry_of(all, 2, 0, "kind"), "gap");
	UNIT_CHECK_STR(entry_of(all, 2, 1, "text"), "two-of-b");
	spool_get_stats(s, &st);
	UNIT_CHECK(st.corrupt == 2 && st.corrupt_gaps == 2 && st.corrupt_unattributed == 0);
	cJSON_Delete(all);
	spool_close(s);
}

/* Bytes damaged in the identity itself (here the pod's name) open no
 * batch: the identity check says so, nothing is guessed. */
static void test_spool_corrupt_identity_opens_no_batch(void)
{
	struct spool_opts o = { .batch_entries = 2, .batch_age_ms = 3600000 };
	char dir[128], sub[160], seg[4][512];
	struct spool_stats st;
	struct spool *s;
	cJSON *all;

	snprintf(dir, sizeof(dir), "%s/ident", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	add_to(s, "containerd://c1", id, "a", "one-of-a");
	add_to(s, "containerd://c1", id, "a", "two-of-a");
	add_to(s, "containerd://c1", id, "a", "three-of-a");
	add_to(s, "containerd://c1", id, "a", "four-of-a");
	snprintf(sub, sizeof(sub), "%s/entries", dir);
	UNIT_CHECK(segments(sub, seg, 4) == 1);
	/* the third entry's pod name, one byte off: still JSON */
	spool_close(s);
	UNIT_CHECK(damage_value(seg[0], "three-of-a", "\"pod\":\"", 0) == 0);
	UNIT_CHECK(spool_open(&o, &s) == 0);
	spool_end_session(s, "containerd://c1", "a");
	all = all_records(s);
	UNIT_CHECK(cJSON_GetArraySize(all) == 2);
	UNIT_CHECK_STR(entry_of(all, 1, 0, "text"), "four-of-a");
	spool_get_stats(s, &st);
	UNIT_CHECK(st.corrupt == 1 && st.corrupt_gaps == 0 && st.corrupt_unattributed == 1);
	cJSON_Delete(all);
	spool_close(s);
}

/* A batch's age counts from its first entry's capture, not from when the
 * batcher opened it (after its session's attribution came): an entry
 * captured 20 s ago is cut at once at a 10 s age. Back-dated at most by
 * await_max_ms: old clocks do not cut every batch at once. */
static void test_spool_batch_age_counts_from_capture(void)
{
	struct spool_opts o = { .batch_age_ms = 10000 };
	char dir[128], when[40];
	struct timespec now;
	struct spool *s;
	cJSON *all, *e;

	snprintf(dir, sizeof(dir), "%s/age", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	clock_gettime(CLOCK_REALTIME, &now);
	now.tv_sec -= 20;
	timefmt_micro(&now, when, sizeof(when));
	e = line_entry("captured-20-s-ago");
	cJSON_ReplaceItemInObject(e, "time", cJSON_CreateString(when));
	UNIT_CHECK(spool_add(s, "containerd://c1", "", id, NULL, e) == 0);
	cJSON_Delete(e);
	/* a tick journals the cut, the next forms the record */
	spool_tick(s);
	all = all_records(s);
	UNIT_CHECK(cJSON_GetArraySize(all) == 1);
	cJSON_Delete(all);
	spool_close(s);
	/* a week old (the other tests' clock) at a 60 s age: back-dated by
	 * 30 s (await_max_ms), not cut */
	snprintf(dir, sizeof(dir), "%s/age-bound", base);
	o.batch_age_ms = 60000;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	add_to(s, "containerd://c1", id, "", "a-week-old");
	spool_tick(s);
	all = all_records(s);
	UNIT_CHECK(cJSON_GetArraySize(all) == 0);
	cJSON_Delete(all);
	spool_close(s);
}

static int datasyncs;

/* Counts the fdatasyncs of the entries journal's segments. */
static int counting_datasync(int fd)
{
	char link[64], path[512];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = '\0';
	datasyncs += strstr(path, "/entries/") && strstr(path, ".seg");
	return fdatasync(fd);
}

/* With sync_gap_ms, entries that come within it of the last sync wait for
 * the next one (spool_sync_wait_ms says when): one fdatasync for a burst.
 * The first is due at once: the gap, longer than the machine has been up,
 * counts from no sync at all. */
static void test_spool_sync_gap_groups_the_syncs(void)
{
	struct spool_opts o = { .batch_age_ms = 3600000,
				.sync_gap_ms = 1L << 40,
				.datasync = counting_datasync };
	char dir[128];
	struct spool *s;
	cJSON *ev;
	uint64_t pos;
	int before;

	snprintf(dir, sizeof(dir), "%s/sync-gap", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	UNIT_CHECK(spool_sync_wait_ms(s) == -1);
	add_to(s, "containerd://c1", id, "", "first");
	UNIT_CHECK(spool_sync_wait_ms(s) == 0); /* none before: due now */
	spool_tick(s);
	UNIT_CHECK(spool_sync_wait_ms(s) == -1);
	before = datasyncs;
	UNIT_CHECK(before > 0);
	add_to(s, "containerd://c1", id, "", "second");
	add_to(s, "containerd://c1", id, "", "third");
	spool_tick(s);
	UNIT_CHECK(datasyncs == before);
	UNIT_CHECK(spool_sync_wait_ms(s) > 1000);
	UNIT_CHECK(spool_sync_due(s) == 0); /* nor between two ticks */
	UNIT_CHECK(datasyncs == before);
	/* what is not synced is not handed out */
	UNIT_CHECK(spool_next_event(s, &ev, &pos) == 0);
	UNIT_CHECK_STR(event_text(ev), "first");
	cJSON_Delete(ev);
	spool_event_done(s, pos);
	UNIT_CHECK(spool_next_event(s, &ev, &pos) == -ENODATA);
	spool_close(s);
}

/* spool_sync_due syncs what is due between two ticks (here each time:
 * no gap): what a publish step hands out meanwhile (the Events) does not
 * wait for the next tick. Not due, it syncs nothing (above). */
static void test_spool_sync_due_syncs_between_ticks(void)
{
	struct spool_opts o = { .batch_age_ms = 3600000, .datasync = counting_datasync };
	char dir[128];
	struct spool *s;
	cJSON *ev;
	uint64_t pos;
	int before, i;

	snprintf(dir, sizeof(dir), "%s/sync-due", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	UNIT_CHECK(spool_sync_due(s) == 0); /* nothing to sync */
	for (i = 0; i < 2; i++) {
		add_to(s, "containerd://c1", id, "", i ? "second" : "first");
		before = datasyncs;
		UNIT_CHECK(spool_sync_due(s) == 1);
		UNIT_CHECK(datasyncs > before);
		UNIT_CHECK(spool_next_event(s, &ev, &pos) == 0);
		UNIT_CHECK_STR(event_text(ev), i ? "second" : "first");
		cJSON_Delete(ev);
		spool_event_done(s, pos);
	}
	spool_close(s);
}

static bool execs_quiet(const cJSON *ident, const cJSON *entry);
static int add_loop_exec(struct spool *s, const cJSON *ident, long ms, int root, const char *arg,
			 int i);

/* Entries no Event is wanted for wait for sync_quiet_gap_ms, not
 * sync_gap_ms: an exec flood is synced at that pace. An entry an Event is
 * wanted for, or a decision, makes the sync due at sync_gap_ms again, for
 * them all; and a checkpoint (it names where the batcher goes on), or a
 * record formed of them, syncs them first, whatever the gap: nothing is
 * published before its entries are durable. */
static void test_spool_quiet_entries_wait_for_the_quiet_gap(void)
{
	struct spool_opts o = { .batch_age_ms = 3600000,
				.checkpoint_ms = 3600000,
				.sync_quiet_gap_ms = 1L << 40,
				.event_wanted = execs_quiet,
				.datasync = counting_datasync };
	char dir[128];
	struct spool *s;
	uint64_t pos;
	cJSON *rec;
	int before, k;

	for (k = 0; k < 3; k++) {
		snprintf(dir, sizeof(dir), "%s/sync-quiet%d", base, k);
		o.dir = dir;
		o.checkpoint_ms = k == 1 ? 1 : 3600000;
		UNIT_CHECK(spool_open(&o, &s) == 0);
		add_to(s, "containerd://c1", id, "", "first");
		spool_tick(s);
		UNIT_CHECK(spool_sync_wait_ms(s) == -1);
		before = datasyncs;
		UNIT_CHECK(add_loop_exec(s, id, 1, 0, "true", 1) == 0);
		UNIT_CHECK(add_loop_exec(s, id, 2, 0, "true", 2) == 0);
		if (k == 2) {
			/* A record of them: they are synced before it. */
			spool_tick(s);
			UNIT_CHECK(datasyncs == before);
			UNIT_CHECK(spool_sync_wait_ms(s) > 1000);
			UNIT_CHECK(spool_next_record(s, &rec, &pos) == -ENODATA);
			spool_end_session(s, "containerd://c1", "a");
			spool_tick(s);
			UNIT_CHECK(spool_sync_wait_ms(s) == -1);
			UNIT_CHECK(datasyncs > before);
			UNIT_CHECK(spool_next_record(s, &rec, &pos) == 0);
			cJSON_Delete(rec);
			spool_close(s);
			continue;
		}
		if (k) {
			/* A checkpoint is due: what it names is synced first. */
			UNIT_CHECK(tick_checkpointed(s) == 0);
			UNIT_CHECK(spool_sync_wait_ms(s) == -1);
			UNIT_CHECK(datasyncs > before);
			spool_close(s);
			continue;
		}
		spool_tick(s);
		UNIT_CHECK(datasyncs == before);
		UNIT_CHECK(spool_sync_wait_ms(s) > 1000);
		add_to(s, "containerd://c1", id, "", "loud");
		UNIT_CHECK(spool_sync_wait_ms(s) == 0);
		spool_tick(s);
		UNIT_CHECK(datasyncs > before);
		UNIT_CHECK(spool_sync_wait_ms(s) == -1);
		UNIT_CHECK(add_loop_exec(s, id, 3, 0, "true", 3) == 0);
		UNIT_CHECK(spool_sync_wait_ms(s) > 1000);
		UNIT_CHECK(spool_attribute(s, "containerd://c1", "10-1", id, id) == 0);
		UNIT_CHECK(spool_sync_wait_ms(s) == 0);
		spool_close(s);
	}
}

/* spool_event_done takes the item handed out last, once: an Event is made
 * once per entry, and the next entry is handed out after it. */
static void test_spool_event_done_only_what_was_handed_out(void)
{
	struct spool_opts o = { .batch_age_ms = 3600000 };
	char dir[128];
	struct spool *s;
	uint64_t pos, again;
	cJSON *ev;

	snprintf(dir, sizeof(dir), "%s/event-done", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	add_to(s, "containerd://c1", id, "", "first");
	add_to(s, "containerd://c1", id, "", "second");
	spool_tick(s);
	UNIT_CHECK(spool_event_done(s, 0) == -EINVAL); /* nothing handed out yet */
	UNIT_CHECK(spool_next_event(s, &ev, &pos) == 0);
	cJSON_Delete(ev);
	UNIT_CHECK(spool_event_done(s, pos + 1) == -EINVAL);
	/* asked again before done: the same entry */
	UNIT_CHECK(spool_next_event(s, &ev, &again) == 0);
	UNIT_CHECK(again == pos);
	cJSON_Delete(ev);
	UNIT_CHECK(spool_event_done(s, pos) == 0);
	UNIT_CHECK(spool_event_done(s, pos) == -EINVAL);
	UNIT_CHECK(spool_next_event(s, &ev, &again) == 0);
	UNIT_CHECK(again > pos);
	UNIT_CHECK_STR(event_text(ev), "second");
	cJSON_Delete(ev);
	UNIT_CHECK(spool_event_done(s, again) == 0);
	UNIT_CHECK(spool_next_event(s, &ev, &pos) == -ENODATA);
	spool_close(s);
}

/* Adds an entry for each of the n texts, syncs them, and hands their
 * Events out (each checked, each done): their positions into at. */
static void events_handed_out(struct spool *s, const char *const *texts, int n, uint64_t *at)
{
	cJSON *ev;

	for (int i = 0; i < n; i++)
		add_to(s, "containerd://c1", id, "", texts[i]);
	spool_tick(s);
	for (int i = 0; i < n; i++) {
		UNIT_CHECK(spool_next_event(s, &ev, &at[i]) == 0);
		UNIT_CHECK_STR(event_text(ev), texts[i]);
		cJSON_Delete(ev);
		UNIT_CHECK(spool_event_done(s, at[i]) == 0);
	}
}

/* Events handed out and done since the last tick can be handed out again
 * from any of them (several sent at once, one not delivered), and from
 * nowhere else. */
static void test_spool_event_rewind_goes_back_to_one_handed_out(void)
{
	struct spool_opts o = { .batch_age_ms = 3600000 };
	const char *texts[] = { "one", "two", "three" };
	uint64_t at[3], pos;
	char dir[128];
	struct spool *s;
	cJSON *ev;
	int i;

	snprintf(dir, sizeof(dir), "%s/event-rewind", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	events_handed_out(s, texts, 3, at);
	UNIT_CHECK(spool_next_event(s, &ev, &pos) == -ENODATA);
	UNIT_CHECK(spool_event_rewind(s, at[2] + 1000000) == -EINVAL); /* not reached */
	UNIT_CHECK(spool_event_rewind(s, at[1]) == 0);
	for (i = 1; i < 3; i++) {
		UNIT_CHECK(spool_next_event(s, &ev, &pos) == 0);
		UNIT_CHECK(pos == at[i]);
		UNIT_CHECK_STR(event_text(ev), texts[i]);
		cJSON_Delete(ev);
		UNIT_CHECK(spool_event_done(s, pos) == 0);
	}
	UNIT_CHECK(spool_next_event(s, &ev, &pos) == -ENODATA);
	spool_close(s);
}

/* Events on their way (spool_event_hold) are not acknowledged by a tick,
 * even once their records are published and checkpointed: one not
 * delivered can still be handed out again; released, they are. */
static void test_spool_event_hold_keeps_events_on_their_way(void)
{
	struct spool_opts o = { .batch_entries = 1, .batch_age_ms = 1, .checkpoint_ms = 1 };
	const char *texts[] = { "one", "two", "three" };
	uint64_t at[3], pos;
	char dir[128];
	struct spool *s;
	cJSON *ev, *rec;
	int i;

	snprintf(dir, sizeof(dir), "%s/event-hold", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	events_handed_out(s, texts, 3, at);
	spool_event_hold(s, at[1]);
	for (i = 0; i < 4; i++) {
		tick_checkpointed(s);
		while (spool_next_record(s, &rec, &pos) == 0) {
			cJSON_Delete(rec);
			spool_record_done(s, pos);
		}
	}
	UNIT_CHECK(!spool_idle(s));
	UNIT_CHECK(spool_event_rewind(s, at[1]) == 0);
	UNIT_CHECK(spool_next_event(s, &ev, &pos) == 0 && pos == at[1]);
	UNIT_CHECK_STR(event_text(ev), "two");
	cJSON_Delete(ev);
	UNIT_CHECK(spool_event_done(s, pos) == 0);
	UNIT_CHECK(spool_next_event(s, &ev, &pos) == 0 && pos == at[2]);
	cJSON_Delete(ev);
	UNIT_CHECK(spool_event_done(s, pos) == 0);
	spool_event_release(s);
	tick_checkpointed(s);
	tick_checkpointed(s);
	UNIT_CHECK(spool_idle(s));
	UNIT_CHECK(spool_event_rewind(s, at[1]) == -EINVAL); /* acknowledged now */
	spool_close(s);
}

/* Six entries of container c1, "cmd-I-of-record-R": three records of two
 * when batch_entries is 2. */
static void add_three_records(struct spool *s)
{
	for (int i = 0; i < 6; i++) {
		char text[32];

		snprintf(text, sizeof(text), "cmd-%d-of-record-%d", i, i / 2);
		add_to(s, "containerd://c1", id, "a", text);
	}
}

/* A record a corrupt records journal lost is formed again from the entries
 * (the batcher re-run from the checkpoint before it): the same record. */
static void test_spool_corrupt_record_is_formed_again(void)
{
	struct spool_opts o = { .batch_entries = 2, .batch_age_ms = 3600000, .checkpoint_ms = 1 };
	char dir[128], copy[160], sub[160], seg[4][512];
	struct spool_stats st;
	struct spool *s, *c;
	cJSON *all, *orig;
	int i, seqs = 0;

	snprintf(dir, sizeof(dir), "%s/records-corrupt", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	add_three_records(s);
	/* The first tick forms the records, after the spool's first
	 * checkpoint (the one they are formed again from); the second
	 * checkpoints after them. */
	spool_tick(s);
	tick_checkpointed(s);
	/* an untouched copy, for the record as it was formed */
	snprintf(copy, sizeof(copy), "%s-copy", dir);
	sh("cp -a '%s' '%s'", dir, copy);
	snprintf(sub, sizeof(sub), "%s/records", dir);
	/* live: the records journal is read from the file (read_recent) */
	UNIT_CHECK(segments(sub, seg, 4) == 1 && corrupt(seg[0], "cmd-3-of-record-1", 4) == 0);
	all = all_records(s);
	for (i = 0; i < cJSON_GetArraySize(all); i++)
		seqs |= 1 << (int)cJSON_GetNumberValue(
				cJSON_GetObjectItem(spec_of(all, i), "sequence"));
	UNIT_CHECK(seqs == 5); /* 0 and 2: 1 is being formed again */
	cJSON_Delete(all);
	all = all_records(s);
	UNIT_CHECK(cJSON_GetArraySize(all) == 1 &&
		   cJSON_GetNumberValue(cJSON_GetObjectItem(spec_of(all, 0), "sequence")) == 1);
	UNIT_CHECK_STR(
		cJSON_GetStringValue(cJSON_GetObjectItem(
			cJSON_GetArrayItem(cJSON_GetObjectItem(spec_of(all, 0), "entries"), 1),
			"text")),
		"cmd-3-of-record-1");
	o.dir = copy;
	UNIT_CHECK(spool_open(&o, &c) == 0);
	orig = all_records(c);
	UNIT_CHECK(cJSON_GetArraySize(orig) == 3);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(spec_of(all, 0), "digest")),
		       cJSON_GetStringValue(cJSON_GetObjectItem(spec_of(orig, 1), "digest")));
	cJSON_Delete(orig);
	spool_close(c);
	spool_get_stats(s, &st);
	UNIT_CHECK(st.records_regenerated == 1 && st.records_lost == 0);
	cJSON_Delete(all);
	spool_close(s);
}

/* A record damaged while no agent ran: the next start's batcher forms
 * again the records after the last checkpoint, the damaged one with them
 * (the others a second time: replays, published as AlreadyExists). When
 * the publisher then meets the damaged region, that record is there
 * already: it is not formed a third time, and nothing is counted lost
 * (the agent would log it as an error). */
static void test_spool_corrupt_record_after_restart_is_not_lost(void)
{
	struct spool_opts o = { .batch_entries = 2, .batch_age_ms = 3600000, .checkpoint_ms = 1 };
	char dir[128], sub[160], seg[4][512];
	struct spool_stats st;
	struct spool *s;
	cJSON *all;
	int i, times[3] = { 0 };

	snprintf(dir, sizeof(dir), "%s/records-corrupt-restart", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	add_three_records(s);
	/* formed after the spool's first checkpoint, none after them */
	spool_tick(s);
	spool_close(s);
	snprintf(sub, sizeof(sub), "%s/records", dir);
	UNIT_CHECK(segments(sub, seg, 4) == 1 && corrupt(seg[0], "cmd-3-of-record-1", 4) == 0);
	UNIT_CHECK(spool_open(&o, &s) == 0);
	for (int round = 0; round < 3; round++) {
		all = all_records(s);
		for (i = 0; i < cJSON_GetArraySize(all); i++) {
			int seq = (int)cJSON_GetNumberValue(
				cJSON_GetObjectItem(spec_of(all, i), "sequence"));

			UNIT_CHECK(seq >= 0 && seq < 3);
			if (seq >= 0 && seq < 3)
				times[seq]++;
		}
		cJSON_Delete(all);
	}
	UNIT_CHECK(times[0] >= 1 && times[1] == 1 && times[2] >= 1);
	spool_get_stats(s, &st);
	UNIT_CHECK(st.records_lost == 0);
	spool_close(s);
}

/* NULL, or the syncs of the files whose path has it fail ("/": all). */
static const char *sync_fails_in;

static int flaky_datasync(int fd)
{
	if (sync_fails_in && unit_fd_in(fd, sync_fails_in)) {
		errno = EIO;
		return -1;
	}
	return fdatasync(fd);
}

/* What may not be on disk is not handed out: no Event, no record. */
static void test_spool_hands_out_only_what_is_synced(void)
{
	struct spool_opts o = { .batch_entries = 1, .datasync = flaky_datasync };
	char dir[128];
	struct spool *s;
	cJSON *item;
	uint64_t pos;

	snprintf(dir, sizeof(dir), "%s/unsynced", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	sync_fails_in = "/";
	add_to(s, "containerd://c1", id, "a", "not-durable-yet");
	UNIT_CHECK(spool_tick(s) == -EIO);
	UNIT_CHECK(spool_next_event(s, &item, &pos) == -ENODATA);
	UNIT_CHECK(spool_next_record(s, &item, &pos) == -ENODATA);
	sync_fails_in = NULL;
	UNIT_CHECK(spool_tick(s) == 0);
	UNIT_CHECK(spool_next_event(s, &item, &pos) == 0);
	cJSON_Delete(item);
	UNIT_CHECK(spool_next_record(s, &item, &pos) == 0);
	cJSON_Delete(item);
	spool_close(s);
}

static bool loud_only(const cJSON *ident, const cJSON *entry)
{
	(void)ident;
	return strncmp(cJSON_GetStringValue(cJSON_GetObjectItem(entry, "text")), "quiet-", 6);
}

/* Entries no Event can come of (opts.event_wanted) are passed by the
 * Events' reader, unread; their record holds them all the same. */
static void test_spool_events_pass_entries_no_event_comes_of(void)
{
	struct spool_opts o = { .batch_entries = 4, .event_wanted = loud_only };
	const cJSON *entries;
	char dir[128];
	struct spool *s;
	cJSON *item;
	uint64_t pos;

	snprintf(dir, sizeof(dir), "%s/quiet", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	add_to(s, "containerd://c1", id, "a", "quiet-1");
	add_to(s, "containerd://c1", id, "a", "loud-2");
	add_to(s, "containerd://c1", id, "a", "quiet-3");
	add_to(s, "containerd://c1", id, "a", "loud-4");
	UNIT_CHECK(spool_tick(s) == 0);
	UNIT_CHECK(spool_next_event(s, &item, &pos) == 0);
	UNIT_CHECK_STR(event_text(item), "loud-2");
	cJSON_Delete(item);
	UNIT_CHECK(spool_event_done(s, pos) == 0);
	UNIT_CHECK(spool_next_event(s, &item, &pos) == 0);
	UNIT_CHECK_STR(event_text(item), "loud-4");
	cJSON_Delete(item);
	UNIT_CHECK(spool_event_done(s, pos) == 0);
	UNIT_CHECK(spool_next_event(s, &item, &pos) == -ENODATA);
	UNIT_CHECK(spool_next_record(s, &item, &pos) == 0);
	entries = cJSON_GetObjectItem(cJSON_GetObjectItem(item, "spec"), "entries");
	UNIT_CHECK(cJSON_GetArraySize(entries) == 4);
	UNIT_CHECK_STR(
		cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(entries, 0), "text")),
		"quiet-1");
	cJSON_Delete(item);
	spool_close(s);
}

/* A spool that holds no chain of a container (wiped, or a new container)
 * waits for where the API server's chain ends before forming a record of
 * it, and goes on from there; a replay forms the same. */
static void test_spool_resumed_chain_goes_on_after_the_api_head(void)
{
	static const char head[] =
		"sha256:1111111111111111111111111111111111111111111111111111111111111111";
	struct spool_opts o = { .batch_entries = 2, .batch_age_ms = 3600000, .checkpoint_ms = 1,
				.resume = true };
	struct spool_head h = { 41, head, "2026-12-25T00:00:00Z" };
	char dir[128], copy[128];
	const cJSON *wid;
	const char *cid;
	struct spool *s;
	cJSON *all, *again;

	snprintf(dir, sizeof(dir), "%s/resume", base);
	snprintf(copy, sizeof(copy), "%s/resume-copy", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	add_to(s, "containerd://c1", id, "a", "one");
	add_to(s, "containerd://c1", id, "a", "two");
	all = all_records(s);
	UNIT_CHECK(cJSON_GetArraySize(all) == 0);
	cJSON_Delete(all);
	UNIT_CHECK(spool_wanted_chain(s, &cid, &wid) == 1);
	UNIT_CHECK_STR(cid, "containerd://c1");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(wid, "pod")), "p");
	UNIT_CHECK(spool_seed_chain(s, cid, &h) == 0);
	UNIT_CHECK(spool_wanted_chain(s, &cid, &wid) == 0);
	sh("cp -a '%s' '%s'", dir, copy);
	all = all_records(s);
	UNIT_CHECK(cJSON_GetArraySize(all) == 1);
	UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(spec_of(all, 0), "sequence")) == 42);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(spec_of(all, 0), "previousDigest")),
		       head);
	UNIT_CHECK_STR(
		cJSON_GetStringValue(cJSON_GetObjectItem(spec_of(all, 0), "previousKeptUntil")),
		"2026-12-25T00:00:00Z");
	spool_close(s);
	/* the crash copy knows the chain's start from its checkpoint */
	o.dir = copy;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	again = all_records(s);
	UNIT_CHECK(spool_wanted_chain(s, &cid, &wid) == 0);
	UNIT_CHECK(cJSON_GetArraySize(again) == 1 &&
		   !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(spec_of(again, 0), "digest")),
			   cJSON_GetStringValue(cJSON_GetObjectItem(spec_of(all, 0), "digest"))));
	cJSON_Delete(all);
	cJSON_Delete(again);
	spool_close(s);
	/* a new container: no head, sequence 0 */
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	{
		cJSON *other = cJSON_Duplicate(id, 1);

		cJSON_ReplaceItemInObject(other, "containerID",
					  cJSON_CreateString("containerd://c2"));
		add_to(s, "containerd://c2", other, "", "x");
		add_to(s, "containerd://c2", other, "", "y");
		cJSON_Delete(other);
	}
	spool_tick(s);
	UNIT_CHECK(spool_wanted_chain(s, &cid, &wid) == 1 && !strcmp(cid, "containerd://c2"));
	UNIT_CHECK(spool_seed_chain(s, "containerd://c2", NULL) == 0);
	all = all_records(s);
	UNIT_CHECK(cJSON_GetArraySize(all) == 1 &&
		   cJSON_GetNumberValue(cJSON_GetObjectItem(spec_of(all, 0), "sequence")) == 0);
	cJSON_Delete(all);
	spool_close(s);
}

static int no_datasync(int fd)
{
	(void)fd;
	return 0;
}

/* Chains past the bound whose records are all published are forgotten;
 * one used again asks for its start again. */
static void test_spool_chains_are_bounded_when_they_resume(void)
{
	struct spool_opts o = { .batch_entries = 1, .checkpoint_ms = 1, .resume = true,
				.max_chains = 64, .datasync = no_datasync };
	char dir[128], cidbuf[64];
	const cJSON *wid;
	const char *cid;
	struct spool *s;
	cJSON *all, *ident = cJSON_Duplicate(id, 1);
	int i, asked = 0;

	snprintf(dir, sizeof(dir), "%s/chains", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	for (i = 0; i < 64 + 50; i++) {
		snprintf(cidbuf, sizeof(cidbuf), "containerd://%d", i);
		cJSON_ReplaceItemInObject(ident, "containerID", cJSON_CreateString(cidbuf));
		add_to(s, cidbuf, ident, "", "ls");
		spool_tick(s);
		if (spool_wanted_chain(s, &cid, &wid) == 1) {
			int r = spool_seed_chain(s, cid, NULL);

			if (r < 0)
				fprintf(stderr, "    seed %d: %s\n", i, strerror(-r));
			UNIT_CHECK(r == 0);
			spool_tick(s);
		}
		cJSON_Delete(all_records(s));
	}
	/* the first container again: forgotten, so its start is asked */
	cJSON_ReplaceItemInObject(ident, "containerID", cJSON_CreateString("containerd://0"));
	add_to(s, "containerd://0", ident, "", "ls");
	spool_tick(s);
	spool_tick(s);
	asked = spool_wanted_chain(s, &cid, &wid);
	UNIT_CHECK(asked == 1);
	all = all_records(s);
	UNIT_CHECK(cJSON_GetArraySize(all) == 0);
	cJSON_Delete(all);
	cJSON_Delete(ident);
	spool_close(s);
}

/* A restart restores open batches as they were checkpointed, whatever the
 * options are now: a corrupt entry after them still finds its batch. */
static void test_spool_restore_rebuilds_batches_as_they_were(void)
{
	struct spool_opts o = { .batch_entries = 100, .batch_age_ms = 3600000, .checkpoint_ms = 1 };
	char dir[128], sub[160], seg[4][512], text[32];
	struct spool_stats st;
	struct spool *s;
	cJSON *all;
	int i;

	snprintf(dir, sizeof(dir), "%s/restore", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	spool_tick(s); /* the first checkpoint */
	for (i = 1; i <= 6; i++) {
		snprintf(text, sizeof(text), "entry-number-%d", i);
		add_to(s, "containerd://c1", id, "a", text);
	}
	tick_checkpointed(s);
	spool_close(s);
	snprintf(sub, sizeof(sub), "%s/entries", dir);
	UNIT_CHECK(segments(sub, seg, 4) == 1 && corrupt(seg[0], "entry-number-5", 3) == 0);
	o.batch_entries = 4;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	spool_end_session(s, "containerd://c1", "a");
	all = all_records(s);
	spool_get_stats(s, &st);
	UNIT_CHECK(st.corrupt == 1 && st.corrupt_gaps == 1 && st.corrupt_unattributed == 0);
	UNIT_CHECK(cJSON_GetArraySize(all) == 1 &&
		   cJSON_GetArraySize(cJSON_GetObjectItem(spec_of(all, 0), "entries")) == 6);
	UNIT_CHECK_STR(
		cJSON_GetStringValue(cJSON_GetObjectItem(
			cJSON_GetArrayItem(cJSON_GetObjectItem(spec_of(all, 0), "entries"), 4),
			"kind")),
		"gap");
	cJSON_Delete(all);
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
	UNIT_CHECK(spool_add_awaiting(s, cid, sk, id, NULL, sess, e, NULL, root) == 0);
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
		const char *text = event_text(it);

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
	/* Entries whose caller did not know it yet: settled as they go in. */
	add_attr(s, "containerd://c1", "7", "five", "7-100", NULL);
	add_attr(s, "containerd://c1", "7", "six", "7-100", NULL);
	spool_end_session(s, "containerd://c1", "7");
	spool_end_session(s, "containerd://c2", "9");
	drain_users(s, out, sizeof(out));
	UNIT_CHECK_STR(out, "containerd://c1 one,two, alice\n"
			    "containerd://c1 three,four, alice\n"
			    "containerd://c1 five,six, alice\n"
			    "containerd://c2 other, -\n");
	drain_events(s, out, sizeof(out));
	UNIT_CHECK_STR(out, "one alice\ntwo alice\nthree alice\nother -\nopened alice\nfour "
			    "alice\nfive alice\nsix alice\n");
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

static void add_exec(struct spool *s, const char *time, const char *arg, bool escaped)
{
	cJSON *e = cJSON_CreateObject(), *argv = cJSON_CreateArray(), *sess = cJSON_CreateObject();

	cJSON_AddStringToObject(e, "time", time);
	cJSON_AddStringToObject(e, "kind", "exec");
	cJSON_AddStringToObject(e, "filename", "/bin/true");
	cJSON_AddItemToArray(argv, cJSON_CreateString("true"));
	cJSON_AddItemToArray(argv, cJSON_CreateString(arg));
	cJSON_AddItemToObject(e, "argv", argv);
	cJSON_AddStringToObject(e, "text", arg);
	if (escaped)
		cJSON_AddTrueToObject(e, "escaped");
	cJSON_AddNumberToObject(e, "pid", 100);
	cJSON_AddNumberToObject(e, "uid", 0);
	cJSON_AddStringToObject(sess, "id", "a");
	UNIT_CHECK(spool_add(s, "containerd://c1", "a", id, sess, e) == 0);
	cJSON_Delete(e);
	cJSON_Delete(sess);
}

/* A probe's repeats fold into one entry; the agent restarts with the
 * batch open (checkpointed by reference), the rebuilt batch folds the
 * same and the repeats after the restart join it. An exec stored escaped
 * is not the same as one stored as typed with the same text. */
static void test_spool_aggregation_survives_a_restart(void)
{
	struct spool_opts o = { .batch_age_ms = 3600000, .checkpoint_ms = 1 };
	char dir[128], t[40];
	struct spool_stats st;
	struct spool *s;
	const cJSON *entries, *first;
	cJSON *all;
	int i;

	snprintf(dir, sizeof(dir), "%s/aggregate", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	spool_tick(s);
	for (i = 0; i < 5; i++) {
		snprintf(t, sizeof(t), "2026-11-25T00:00:0%d.5Z", i);
		add_exec(s, t, "probe", false);
	}
	add_exec(s, "2026-11-25T00:00:05.5Z", "probe", true);
	UNIT_CHECK(tick_checkpointed(s) == 0);
	spool_close(s);
	UNIT_CHECK(spool_open(&o, &s) == 0);
	add_exec(s, "2026-11-25T00:00:06.5Z", "probe", false);
	add_exec(s, "2026-11-25T00:00:07.5Z", "probe", true);
	spool_end_session(s, "containerd://c1", "a");
	spool_tick(s);
	spool_get_stats(s, &st);
	UNIT_CHECK(st.records_waiting == 1);
	all = all_records(s);
	spool_get_stats(s, &st);
	UNIT_CHECK(st.records_waiting == 0);
	UNIT_CHECK(cJSON_GetArraySize(all) == 1);
	entries = cJSON_GetObjectItem(spec_of(all, 0), "entries");
	UNIT_CHECK(cJSON_GetArraySize(entries) == 2);
	first = cJSON_GetArrayItem(entries, 0);
	UNIT_CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(first, "count")) == 6);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(first, "last")),
		       "2026-11-25T00:00:06.5Z");
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(entries, 1), "escaped")));
	UNIT_CHECK(cJSON_GetNumberValue(
			   cJSON_GetObjectItem(cJSON_GetArrayItem(entries, 1), "count")) == 2);
	cJSON_Delete(all);
	spool_close(s);
}

/* Execs of a few kinds in random order, a typed line between them, times
 * a random 0 to 4 s apart (the window is 10 s), processes all different,
 * one restart midway: the records hold what folding the entries one by
 * one with aggregate_exec, in batches of 100, gives (the batcher folds an exec unparsed when
 * its text is the last one's but for time and process, and must never
 * fold otherwise). */
static void test_spool_folds_as_aggregate_exec_does(void)
{
	struct spool_opts o = { .batch_entries = 100, .batch_age_ms = 3600000, .checkpoint_ms = 1 };
	static const char *const args[] = { "probe", "probe", "probe", "other", "a\",\"pid\":1" };
	cJSON *model = cJSON_CreateArray(), *batch = cJSON_CreateArray(),
	      *got = cJSON_CreateArray();
	cJSON *all, *e, *sess;
	const cJSON *rec, *x;
	struct spool *s;
	char dir[128], t[40];
	long ms = 0;
	int i, k, n = 0;

	srand(12345);
	snprintf(dir, sizeof(dir), "%s/folds", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	spool_tick(s);
	for (i = 0; i < 400; i++) {
		ms += rand() % 4000;
		snprintf(t, sizeof(t), "2026-11-25T%02ld:%02ld:%02ld.%03ldZ", ms / 3600000,
			 ms / 60000 % 60, ms / 1000 % 60, ms % 1000);
		k = rand() % 7;
		e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "time", t);
		cJSON_AddStringToObject(e, "kind", k == 6 ? "line" : "exec");
		if (k < 5) {
			cJSON *argv = cJSON_AddArrayToObject(e, "argv");

			cJSON_AddItemToArray(argv, cJSON_CreateString("true"));
			cJSON_AddItemToArray(argv, cJSON_CreateString(args[k]));
			cJSON_AddStringToObject(e, "filename", "/bin/true");
		} else if (k == 5) {
			cJSON_AddStringToObject(e, "filename", "/bin/true");
			cJSON_AddTrueToObject(e, "escaped");
		}
		cJSON_AddStringToObject(e, "text", k < 5 ? args[k] : "typed");
		cJSON_AddNumberToObject(e, "pid", 1000 + i);
		cJSON_AddNumberToObject(e, "ppid", 1 + i % 3);
		cJSON_AddNumberToObject(e, "uid", 0);
		sess = cJSON_CreateObject();
		cJSON_AddStringToObject(sess, "id", "a");
		UNIT_CHECK(spool_add(s, "containerd://c1", "a", id, sess, e) == 0);
		cJSON_Delete(sess);
		/* A batch is cut at 100 entries: folding starts over. */
		if (aggregate_exec(batch, e, AGGREGATE_WINDOW_MS)) {
			cJSON_Delete(e);
		} else {
			cJSON_AddItemToArray(batch, e);
			if (++n == 100) {
				while (batch->child)
					cJSON_AddItemToArray(model, cJSON_DetachItemViaPointer(
									    batch, batch->child));
				n = 0;
			}
		}
		if (i % 50 == 49)
			spool_tick(s);
		if (i == 200) {
			UNIT_CHECK(tick_checkpointed(s) == 0);
			spool_close(s);
			UNIT_CHECK(spool_open(&o, &s) == 0);
		}
	}
	spool_end_session(s, "containerd://c1", "a");
	while (batch->child)
		cJSON_AddItemToArray(model, cJSON_DetachItemViaPointer(batch, batch->child));
	cJSON_Delete(batch);
	all = all_records(s);
	for (rec = all->child; rec; rec = rec->next) {
		x = cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "spec"), "entries");
		for (x = x ? x->child : NULL; x; x = x->next)
			cJSON_AddItemToArray(got, cJSON_Duplicate(x, 1));
	}
	UNIT_CHECK(cJSON_GetArraySize(got) < 300); /* some folded */
	UNIT_CHECK(cJSON_Compare(model, got, true));
	cJSON_Delete(all);
	cJSON_Delete(got);
	cJSON_Delete(model);
	spool_close(s);
}

static bool execs_quiet(const cJSON *ident, const cJSON *entry)
{
	(void)ident;
	return strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(entry, "kind")), "exec") != 0;
}

/* An exec of loop `root` (0 or 1) running `arg`, at ms, as the sink makes
 * it, added with its key. */
/* add_loop_exec awaiting the attribution of session root wait (NULL: none). */
static int add_loop_exec_awaiting(struct spool *s, const cJSON *ident, long ms, int root,
				  const char *arg, int i, const char *wait)
{
	cJSON *e = cJSON_CreateObject(), *sess = cJSON_CreateObject(), *argv;
	char t[96], key[32];
	int ret;

	snprintf(t, sizeof(t), "2026-11-25T%02ld:%02ld:%02ld.%06ldZ", ms / 3600000, ms / 60000 % 60,
		 ms / 1000 % 60, ms % 1000 * 1000 + i % 1000);
	snprintf(key, sizeof(key), "key-%d", i);
	cJSON_AddStringToObject(e, "time", t);
	cJSON_AddStringToObject(e, "kind", arg ? "exec" : "line");
	if (arg) {
		argv = cJSON_AddArrayToObject(e, "argv");
		cJSON_AddItemToArray(argv, cJSON_CreateString(arg));
		cJSON_AddStringToObject(e, "filename", "/bin/true");
	}
	cJSON_AddStringToObject(e, "text", arg ? arg : "typed");
	cJSON_AddNumberToObject(e, "pid", 1000 + i);
	cJSON_AddNumberToObject(e, "ppid", 10 + root);
	cJSON_AddNumberToObject(e, "uid", 0);
	cJSON_AddNumberToObject(e, "sessionRoot", 10 + root);
	cJSON_AddStringToObject(sess, "id", "a");
	ret = spool_add_awaiting(s, "containerd://c1", "a", ident, NULL, sess, e, key, wait);
	cJSON_Delete(e);
	cJSON_Delete(sess);
	return ret;
}

static int add_loop_exec(struct spool *s, const cJSON *ident, long ms, int root, const char *arg,
			 int i)
{
	return add_loop_exec_awaiting(s, ident, ms, root, arg, i, NULL);
}

/* What the records of s hold: execs per "root argv" (their counts
 * summed) into execs, typed lines in order into lines. Returns the
 * number of entries. */
/* Exec entry x's count into execs, per "root argv". */
static void tally_exec(const cJSON *x, int execs[2][3])
{
	static const char *const args[] = { "true", "date", "id" };
	const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(x, "text"));
	int root = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(x, "sessionRoot")) - 10, a;
	const cJSON *count = cJSON_GetObjectItem(x, "count");

	for (a = 0; a < 3 && text && strcmp(args[a], text); a++)
		;
	if (root >= 0 && root < 2 && a < 3)
		execs[root][a] += count ? (int)cJSON_GetNumberValue(count) : 1;
}

static int tally(struct spool *s, int execs[2][3], char *lines, size_t cap)
{
	cJSON *all = all_records(s);
	const cJSON *rec, *x;
	int n = 0;
	size_t len;

	for (rec = all->child; rec; rec = rec->next) {
		x = cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "spec"), "entries");
		for (x = x ? x->child : NULL; x; x = x->next, n++) {
			const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(x, "kind"));

			if (!strcmp(kind, "line")) {
				len = strlen(lines);
				snprintf(lines + len, cap - len, "%s,",
					 cJSON_GetStringValue(cJSON_GetObjectItem(x, "time")));
				continue;
			}
			tally_exec(x, execs);
		}
	}
	cJSON_Delete(all);
	return n;
}

/* Two loops of one session run three programs in turn, a line typed now
 * and then, while the agent gathers what it drains (spool_gather): the
 * execs of a gather are journaled as one item per exec and loop (fewer
 * than half the items here: a line writes the folds so far first), and
 * the records count every exec and hold the lines in order, as the same
 * entries added one by one (no gather) do; after a restart every key is
 * found (an event spooled is never spooled twice), the last one too.
 * Execs an Event is wanted for, and those of an identity that does not
 * fold, are journaled one by one. */
static void test_spool_gather_folds_execs_into_one_item(void)
{
	static const char *const args[] = { "true", "date", "id" };
	struct spool_opts o = { .batch_age_ms = 3600000,
				.checkpoint_ms = 1,
				.event_wanted = execs_quiet };
	int want[2][3] = { { 0 } }, got[2][3] = { { 0 } }, one[2][3] = { { 0 } }, i, k, n;
	static char lines[2][16384];
	char dir[2][128], key[32];
	const char *keys[600];
	static char keybuf[600][16];
	bool found[600];
	struct spool_stats st[2];
	struct spool *s[2];
	cJSON *nofold;
	long ms = 0;

	for (k = 0; k < 2; k++) {
		snprintf(dir[k], sizeof(dir[k]), "%s/gatherfold%d", base, k);
		o.dir = dir[k];
		UNIT_CHECK(spool_open(&o, &s[k]) == 0);
		spool_tick(s[k]);
	}
	spool_gather(s[0], true);
	srand(777);
	for (i = 0; i < 600; i++) {
		int a = (i / 2) % 3, root = i % 2;
		bool line = rand() % 40 == 0;

		ms += rand() % 50 + (rand() % 100 == 0 ? 6000 : 0);
		for (k = 0; k < 2; k++)
			UNIT_CHECK(add_loop_exec(s[k], id, ms, root, line ? NULL : args[a], i) ==
				   0);
		if (!line)
			want[root][a]++;
		/* A drain releases the ring buffer's records every so often. */
		if (i % 37 == 36)
			UNIT_CHECK(spool_write_gathered(s[0]) == 0);
		if (i % 100 == 99) {
			UNIT_CHECK(spool_gather(s[0], false) == 0);
			spool_tick(s[0]);
			spool_tick(s[1]);
			spool_gather(s[0], true);
		}
	}
	UNIT_CHECK(spool_gather(s[0], false) == 0);
	for (k = 0; k < 2; k++) {
		spool_get_stats(s[k], &st[k]);
		UNIT_CHECK(st[k].entries == 600);
	}
	UNIT_CHECK(st[1].ej.appended >= 600);
	UNIT_CHECK(st[0].ej.appended * 2 < st[1].ej.appended);
	/* A restart: every key is found, the last one is the last spooled. */
	spool_close(s[0]);
	o.dir = dir[0];
	UNIT_CHECK(spool_open(&o, &s[0]) == 0);
	for (i = 0; i < 600; i++) {
		snprintf(keybuf[i], sizeof(keybuf[i]), "key-%d", i);
		keys[i] = keybuf[i];
	}
	memset(found, 0, sizeof(found));
	spool_find_keys(s[0], keys, 600, found);
	for (i = 0, n = 0; i < 600; i++)
		n += found[i];
	UNIT_CHECK(n == 600);
	UNIT_CHECK(spool_is_last_key(s[0], "key-599"));
	memset(found, 0, sizeof(found));
	snprintf(key, sizeof(key), "key-600");
	keys[0] = key;
	spool_find_keys(s[0], keys, 1, found);
	UNIT_CHECK(!found[0]);
	for (k = 0; k < 2; k++) {
		spool_end_session(s[k], "containerd://c1", "a");
		lines[k][0] = '\0';
	}
	n = tally(s[0], got, lines[0], sizeof(lines[0]));
	tally(s[1], one, lines[1], sizeof(lines[1]));
	UNIT_CHECK(n > 0 && n < 200);
	UNIT_CHECK(memcmp(got, want, sizeof(want)) == 0);
	UNIT_CHECK(memcmp(one, want, sizeof(want)) == 0);
	UNIT_CHECK(lines[0][0] != '\0');
	UNIT_CHECK_STR(lines[0], lines[1]);
	for (k = 0; k < 2; k++)
		spool_close(s[k]);

	/* Each exec an item: Events are wanted for them, or the identity
	 * does not fold. */
	nofold = cJSON_Duplicate(id, 1);
	cJSON_AddFalseToObject(nofold, "aggregateExecs");
	for (k = 0; k < 2; k++) {
		snprintf(dir[k], sizeof(dir[k]), "%s/gathernofold%d", base, k);
		o.dir = dir[k];
		o.event_wanted = k ? execs_quiet : NULL;
		UNIT_CHECK(spool_open(&o, &s[k]) == 0);
		spool_gather(s[k], true);
		for (i = 0; i < 50; i++)
			UNIT_CHECK(add_loop_exec(s[k], k ? nofold : id, i, 0, "true", i) == 0);
		UNIT_CHECK(spool_gather(s[k], false) == 0);
		spool_get_stats(s[k], &st[k]);
		UNIT_CHECK(st[k].ej.appended == 50);
		spool_close(s[k]);
	}
	cJSON_Delete(nofold);
}

/* The execs the records of s count per "root argv" into execs (as
 * tally), and how many records do not name alice as their session's
 * opener. */
static int tally_alice(struct spool *s, int execs[2][3])
{
	cJSON *all = all_records(s);
	const cJSON *rec, *x, *spec;
	const char *user;
	int others = 0;

	for (rec = all->child; rec; rec = rec->next) {
		spec = cJSON_GetObjectItem(rec, "spec");
		user = cJSON_GetStringValue(cJSON_GetObjectItem(
			cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "attribution"), "user"),
			"username"));
		others += !user || strcmp(user, "alice");
		x = cJSON_GetObjectItem(spec, "entries");
		for (x = x ? x->child : NULL; x; x = x->next)
			tally_exec(x, execs);
	}
	cJSON_Delete(all);
	return others;
}

/* A flood of execs in a session whose opener is not decided yet (a shell
 * just opened, the webhook's word not in): they fold as other execs do,
 * each fold's item awaiting the decision, so that a flood costs as little
 * before it as after. Nothing is published before the decision; then
 * every record names the opener and counts every exec, as the same execs
 * added one by one do. Execs whose caller did not know of the decision
 * yet fold too, journaled settled. */
static void test_spool_gather_folds_execs_awaiting_their_attribution(void)
{
	static const char *const args[] = { "true", "date", "id" };
	struct spool_opts o = { .batch_age_ms = 3600000,
				.checkpoint_ms = 1,
				.event_wanted = execs_quiet };
	int want[2][3] = { { 0 } }, got[2][3] = { { 0 } }, one[2][3] = { { 0 } }, i, k;
	cJSON *attr = alice(), *rec;
	struct spool_stats st[2];
	struct spool *s[2];
	char dir[2][128];
	uint64_t pos;

	for (k = 0; k < 2; k++) {
		snprintf(dir[k], sizeof(dir[k]), "%s/gatherawait%d", base, k);
		o.dir = dir[k];
		UNIT_CHECK(spool_open(&o, &s[k]) == 0);
		spool_tick(s[k]);
	}
	spool_gather(s[0], true);
	for (i = 0; i < 400; i++) {
		int a = (i / 3) % 3, root = i % 2;

		if (i == 300)
			for (k = 0; k < 2; k++)
				UNIT_CHECK(spool_attribute(s[k], "containerd://c1", "a-root", id,
							   attr) == 0);
		for (k = 0; k < 2; k++)
			UNIT_CHECK(add_loop_exec_awaiting(s[k], id, i * 10, root, args[a], i,
							  "a-root") == 0);
		want[root][a]++;
		if (i % 37 == 36)
			UNIT_CHECK(spool_write_gathered(s[0]) == 0);
		if (i % 100 == 99) {
			UNIT_CHECK(spool_gather(s[0], false) == 0);
			for (k = 0; k < 2; k++) {
				spool_tick(s[k]);
				/* Undecided: nothing goes out. */
				if (i < 300)
					UNIT_CHECK(spool_next_record(s[k], &rec, &pos) == -ENODATA);
			}
			spool_gather(s[0], true);
		}
	}
	UNIT_CHECK(spool_gather(s[0], false) == 0);
	for (k = 0; k < 2; k++) {
		spool_get_stats(s[k], &st[k]);
		UNIT_CHECK(st[k].entries == 400);
		spool_end_session(s[k], "containerd://c1", "a");
	}
	/* One item per loop and program in turn, not one per exec. */
	UNIT_CHECK(st[1].ej.appended >= 400);
	UNIT_CHECK(st[0].ej.appended * 2 < st[1].ej.appended);
	UNIT_CHECK(tally_alice(s[0], got) == 0);
	UNIT_CHECK(tally_alice(s[1], one) == 0);
	UNIT_CHECK(memcmp(got, want, sizeof(want)) == 0);
	UNIT_CHECK(memcmp(one, want, sizeof(want)) == 0);
	for (k = 0; k < 2; k++)
		spool_close(s[k]);
	cJSON_Delete(attr);
}

/* An agent killed while it wrote a gather's folds (its write torn after
 * the first item): the keys the items that made it name are those of the
 * first execs that came, none after one that is missing, so that the
 * records the next agent skips as spooled (through the last key found,
 * capture_skip_handled) were all spooled. Two loops' execs interleave:
 * one fold each. Whole, every key is found. */
static void test_spool_gather_folds_torn_name_a_prefix(void)
{
	struct spool_opts o = { .batch_age_ms = 3600000, .event_wanted = execs_quiet };
	char dir[128], sub[160], seg[4][512], keybuf[6][16];
	const char *keys[6];
	bool found[6];
	struct spool *s;
	int i, torn, n;

	for (i = 0; i < 6; i++) {
		snprintf(keybuf[i], sizeof(keybuf[i]), "key-%d", i);
		keys[i] = keybuf[i];
	}
	for (torn = 0; torn < 2; torn++) {
		snprintf(dir, sizeof(dir), "%s/gathertorn%d", base, torn);
		o.dir = dir;
		UNIT_CHECK(spool_open(&o, &s) == 0);
		spool_tick(s);
		spool_gather(s, true);
		for (i = 0; i < 6; i++)
			UNIT_CHECK(add_loop_exec(s, id, i, i % 2, "true", i) == 0);
		UNIT_CHECK(spool_gather(s, false) == 0);
		spool_close(s);
		snprintf(sub, sizeof(sub), "%s/entries", dir);
		n = segments(sub, seg, 4);
		UNIT_CHECK(n >= 1);
		/* The last item's last bytes never written. */
		if (torn && n >= 1)
			UNIT_CHECK(truncate(seg[n - 1], lseek_end(seg[n - 1]) - 5) == 0);
		UNIT_CHECK(spool_open(&o, &s) == 0);
		memset(found, 0, sizeof(found));
		spool_find_keys(s, keys, 6, found);
		UNIT_CHECK(found[0]);
		for (i = 1; i < 6; i++)
			UNIT_CHECK(!found[i] || found[i - 1]);
		if (torn)
			UNIT_CHECK(!found[5]);
		else
			for (i = 0; i < 6; i++)
				UNIT_CHECK(found[i]);
		spool_close(s);
	}
}

/* A spool that fills while execs are folded: every exec is either taken
 * (and counted in a record) or refused (-ENOSPC, counted as refused);
 * a fold never loses what was taken for room it did not have. */
static void test_spool_gather_folds_never_lose_what_was_taken(void)
{
	struct spool_opts o = { .batch_age_ms = 3600000,
				.checkpoint_ms = 1,
				.event_wanted = execs_quiet,
				.max_bytes = 16 << 10,
				.segment_bytes = 8 << 10 };
	int got[2][3] = { { 0 } }, taken = 0, refused = 0, i, ret;
	char dir[128], lines[64] = "";
	struct spool_stats st;
	struct spool *s;

	snprintf(dir, sizeof(dir), "%s/gatherfull", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	spool_tick(s);
	spool_gather(s, true);
	for (i = 0; i < 3000; i++) {
		/* Folds of one exec end with the window: every 200th opens one. */
		ret = add_loop_exec(s, id, i / 200 * 11000, 0, "true", i);
		taken += ret == 0;
		refused += ret == -ENOSPC;
		if (i % 300 == 299)
			spool_write_gathered(s);
	}
	UNIT_CHECK(spool_gather(s, false) == 0);
	UNIT_CHECK(taken + refused == 3000);
	UNIT_CHECK(refused > 0);
	spool_get_stats(s, &st);
	UNIT_CHECK(st.rejected_full == (uint64_t)refused);
	spool_end_session(s, "containerd://c1", "a");
	tally(s, got, lines, sizeof(lines));
	UNIT_CHECK(got[0][0] == taken);
	spool_close(s);
}

/* The bytes of the entries journal's first segment under dir, in buf. */
static size_t entries_bytes(const char *dir, char *buf, size_t cap)
{
	char sub[200], seg[2][512];
	size_t n = 0;
	FILE *f;

	snprintf(sub, sizeof(sub), "%s/entries", dir);
	if (segments(sub, seg, 2) != 1 || !(f = fopen(seg[0], "rb")))
		return 0;
	n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

/* An identity's text given beside it (printed once for all of a target's
 * entries) journals the very bytes printing it per entry does: same
 * checks, same records, whichever way an agent wrote them. */
static void test_spool_identity_text_journals_the_same_bytes(void)
{
	static char a[1 << 16], b[1 << 16];
	struct spool_opts o = { .batch_age_ms = 3600000 };
	char dir[2][128], *text = jsontext_print(id, NULL);
	size_t na, nb;
	int k, i;

	for (k = 0; k < 2; k++) {
		struct spool *s;

		snprintf(dir[k], sizeof(dir[k]), "%s/idtext-%d", base, k);
		o.dir = dir[k];
		UNIT_CHECK(spool_open(&o, &s) == 0);
		for (i = 0; i < 20; i++) {
			cJSON *e = line_entry(i % 2 ? "ls -l" : "echo \"\\t\" \xe2\x80\xae"),
			      *sess = cJSON_CreateObject();

			cJSON_AddStringToObject(sess, "id", "s1");
			UNIT_CHECK(spool_add_awaiting(s, "containerd://c1", i % 3 ? "s1" : "", id,
						      k ? text : NULL, i % 3 ? sess : NULL, e, NULL,
						      i == 5 ? "1-2" : NULL) == 0);
			cJSON_Delete(sess);
			cJSON_Delete(e);
		}
		spool_close(s);
	}
	na = entries_bytes(dir[0], a, sizeof(a));
	nb = entries_bytes(dir[1], b, sizeof(b));
	UNIT_CHECK(na > 1000 && na == nb && !memcmp(a, b, na));
	free(text);
}

static bool waits_c1(const char *cid, void *arg)
{
	(*(int *)arg)++;
	return !strcmp(cid, "containerd://c1");
}

/* One pass: the records handed out (not yet done), as "cid-tail seq". */
static int pass_all(struct spool *s, spool_wait_fn wait, void *arg, char out[][32], uint64_t *pos,
		    int max)
{
	struct spool_pass pass;
	cJSON *rec;
	int n = 0;

	spool_pass_begin(s, &pass);
	while (n < max && spool_pass_next(s, &pass, wait, arg, &rec, &pos[n]) == 0) {
		const cJSON *spec = cJSON_GetObjectItem(rec, "spec");
		const char *cid = cJSON_GetStringValue(cJSON_GetObjectItem(spec, "containerID"));

		snprintf(out[n++], 32, "%s %d", cid ? cid + strlen(cid) - 2 : "?",
			 (int)cJSON_GetNumberValue(cJSON_GetObjectItem(spec, "sequence")));
		cJSON_Delete(rec);
	}
	return n;
}

/* Each chain has its own cursor: while c1 waits (held, backing off), c2's
 * records go out, in order, acknowledged ahead of c1's; the spool keeps
 * c1's and every record after the first of them until c1's are done, so a
 * crash then hands c2's out again (the API server answers AlreadyExists:
 * the same records under the same names). */
static void test_spool_chains_publish_apart(void)
{
	struct spool_opts o = { .batch_entries = 1, .checkpoint_ms = 1 };
	cJSON *id1 = cJSON_Duplicate(id, 1), *id2 = cJSON_Duplicate(id, 1);
	char dir[128], got[32][32], again[32][32], text[32];
	uint64_t pos[32];
	struct spool_stats st;
	struct spool *s;
	int i, n, calls = 0;

	/* Identities of their own: other tests change the shared one's. */
	cJSON_ReplaceItemInObject(id1, "containerID", cJSON_CreateString("containerd://c1"));
	cJSON_ReplaceItemInObject(id2, "containerID", cJSON_CreateString("containerd://c2"));
	snprintf(dir, sizeof(dir), "%s/apart", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	for (i = 0; i < 4; i++) {
		snprintf(text, sizeof(text), "one-%d", i);
		add_to(s, "containerd://c1", id1, "a", text);
		snprintf(text, sizeof(text), "two-%d", i);
		add_to(s, "containerd://c2", id2, "a", text);
	}
	UNIT_CHECK(spool_tick(s) == 0);
	n = pass_all(s, waits_c1, &calls, got, pos, 32);
	UNIT_CHECK(n == 4);
	UNIT_CHECK(calls >= 8);
	UNIT_CHECK_STR(got[0], "c2 0");
	UNIT_CHECK_STR(got[3], "c2 3");
	/* Done in any order. */
	for (i = 3; i >= 0; i--)
		UNIT_CHECK(spool_record_done(s, pos[i]) == 0);
	UNIT_CHECK(spool_record_done(s, pos[0]) == -EINVAL);
	spool_get_stats(s, &st);
	UNIT_CHECK(st.records_waiting == 4);
	/* The same pass again: c2 has nothing left. */
	UNIT_CHECK(pass_all(s, waits_c1, &calls, got, pos, 32) == 0);
	spool_close(s);

	/* A crash now: c2's records come out again with c1's (a replay may
	 * form some again too: the same records), each chain in order. */
	UNIT_CHECK(spool_open(&o, &s) == 0);
	UNIT_CHECK(spool_tick(s) == 0);
	n = pass_all(s, NULL, NULL, again, pos, 32);
	for (i = 0; i < 8; i++) {
		int k, first = -1, seen = 0;

		snprintf(text, sizeof(text), "c%d %d", 1 + i / 4, i % 4);
		for (k = 0; k < n; k++)
			if (!strcmp(again[k], text) && (seen++, first < 0))
				first = k;
		UNIT_CHECK(seen >= 1);
		/* After the chain's record before it. */
		if (i % 4) {
			char prev[32];
			int j, before = 0;

			snprintf(prev, sizeof(prev), "c%d %d", 1 + i / 4, i % 4 - 1);
			for (j = 0; j < first; j++)
				before |= !strcmp(again[j], prev);
			UNIT_CHECK(before);
		}
	}
	for (i = 0; i < n; i++)
		UNIT_CHECK(spool_record_done(s, pos[i]) == 0);
	UNIT_CHECK(spool_tick(s) == 0);
	UNIT_CHECK(pass_all(s, NULL, NULL, again, pos, 32) == 0);
	spool_get_stats(s, &st);
	UNIT_CHECK(st.records_waiting == 0);
	spool_close(s);
	cJSON_Delete(id1);
	cJSON_Delete(id2);
}

static off_t synced_entries;
/* fdatasync that notes the entries segment's size at each that worked:
 * what a node crash keeps of it. */
static int noting_datasync(int fd)
{
	struct stat st;
	int r = fdatasync(fd);

	if (r == 0 && unit_fd_in(fd, "/entries/") && unit_fd_in(fd, ".seg") && fstat(fd, &st) == 0)
		synced_entries = st.st_size;
	return r;
}

/* Seeding a chain writes a checkpoint, which names positions of the
 * entries journal: the entries are durable first. Else a node crash (the
 * entries segment cut back to its last sync) leaves a checkpoint past the
 * journal's end, and what comes after the restart is never batched. */
static void test_spool_seed_syncs_the_entries_first(void)
{
	struct spool_opts o = { .batch_age_ms = 3600000,
				.checkpoint_ms = 3600000,
				.sync_quiet_gap_ms = 1L << 40,
				.resume = true,
				.event_wanted = execs_quiet,
				.datasync = noting_datasync };
	char dir[128], copy[128], sub[200], seg[4][512];
	const cJSON *wid;
	const char *cid;
	struct spool *s;
	cJSON *other, *all, *x, *rec, *e;
	int i, n, found = 0;

	snprintf(dir, sizeof(dir), "%s/seed-sync", base);
	snprintf(copy, sizeof(copy), "%s/seed-sync-crash", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	spool_tick(s);
	add_to(s, "containerd://c1", id, "a", "first");
	spool_tick(s);
	UNIT_CHECK(spool_wanted_chain(s, &cid, &wid) == 1);
	UNIT_CHECK(spool_seed_chain(s, "containerd://c1", NULL) == 0);
	spool_tick(s);
	UNIT_CHECK(spool_sync_wait_ms(s) == -1);
	/* Quiet execs, left unsynced by the quiet gap, then a new chain. */
	for (i = 0; i < 3; i++)
		UNIT_CHECK(add_loop_exec(s, id, 1000 + i, 0, "true", i) == 0);
	other = cJSON_Duplicate(id, 1);
	cJSON_ReplaceItemInObject(other, "containerID", cJSON_CreateString("containerd://c2"));
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "time", "2026-11-25T00:00:05.000000Z");
	cJSON_AddStringToObject(e, "kind", "exec");
	cJSON_AddStringToObject(e, "text", "x");
	UNIT_CHECK(spool_add_keyed(s, "containerd://c2", "", other, NULL, e, "k2") == 0);
	cJSON_Delete(e);
	spool_tick(s);
	UNIT_CHECK(spool_wanted_chain(s, &cid, &wid) == 1 && !strcmp(cid, "containerd://c2"));
	UNIT_CHECK(spool_seed_chain(s, "containerd://c2", NULL) == 0);
	/* The node crashes now: what was not synced is gone. */
	sh("cp -a '%s' '%s'", dir, copy);
	spool_close(s);
	snprintf(sub, sizeof(sub), "%s/entries", copy);
	n = segments(sub, seg, 4);
	UNIT_CHECK(n >= 1 && truncate(seg[n - 1], synced_entries) == 0);
	o.dir = copy;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	add_to(s, "containerd://c1", id, "a", "after-the-crash");
	spool_tick(s);
	spool_end_session(s, "containerd://c1", "a");
	spool_tick(s);
	all = all_records(s);
	for (rec = all->child; rec; rec = rec->next)
		for (x = cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "spec"), "entries")->child; x;
		     x = x->next) {
			const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(x, "text"));

			found += t && !strcmp(t, "after-the-crash");
		}
	UNIT_CHECK(found == 1);
	cJSON_Delete(all);
	cJSON_Delete(other);
	spool_close(s);
}

/* No record is handed out while the entries it was formed of could not be
 * synced; once they are, it is. */
static void test_spool_no_record_while_its_entries_fail_to_sync(void)
{
	struct spool_opts o = { .batch_entries = 1, .datasync = flaky_datasync };
	char dir[128];
	struct spool *s;
	cJSON *item;
	uint64_t pos;

	snprintf(dir, sizeof(dir), "%s/entries-eio", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	spool_tick(s);
	sync_fails_in = "/entries/";
	add_to(s, "containerd://c1", id, "a", "not-durable-yet");
	UNIT_CHECK(spool_tick(s) == -EIO);
	UNIT_CHECK(spool_next_record(s, &item, &pos) == -ENODATA);
	sync_fails_in = NULL;
	UNIT_CHECK(spool_tick(s) == 0);
	UNIT_CHECK(spool_next_record(s, &item, &pos) == 0);
	cJSON_Delete(item);
	spool_close(s);
}

/* One damaged byte in the entry of a fold of ten execs: a gap of ten in
 * its chain, not of one. */
static void test_spool_damaged_fold_is_a_gap_of_its_count(void)
{
	struct spool_opts o = { .batch_age_ms = 3600000, .event_wanted = execs_quiet };
	char dir[128], sub[160], seg[4][512];
	int i, n, gaps = 0;
	struct spool *s;
	cJSON *all, *rec, *x;

	snprintf(dir, sizeof(dir), "%s/damaged-fold", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	spool_tick(s);
	spool_gather(s, true);
	for (i = 0; i < 10; i++)
		UNIT_CHECK(add_loop_exec(s, id, 1000 + i, 0, "true", i) == 0);
	UNIT_CHECK(spool_gather(s, false) == 0);
	add_to(s, "containerd://c1", id, "b", "after");
	snprintf(sub, sizeof(sub), "%s/entries", dir);
	n = segments(sub, seg, 4);
	spool_close(s);
	UNIT_CHECK(n == 1 && corrupt(seg[0], "/bin/true", 3) == 0);
	UNIT_CHECK(spool_open(&o, &s) == 0);
	spool_end_session(s, "containerd://c1", "a");
	spool_end_session(s, "containerd://c1", "b");
	all = all_records(s);
	for (rec = all->child; rec; rec = rec->next)
		for (x = cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "spec"), "entries")->child; x;
		     x = x->next)
			if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(x, "kind")), "gap"))
				gaps += (int)cJSON_GetNumberValue(cJSON_GetObjectItem(x, "count"));
	UNIT_CHECK(gaps == 10);
	cJSON_Delete(all);
	spool_close(s);
}

struct lost_seen {
	int calls;
	uint64_t count;
	char cid[64];
};

static void note_lost(void *arg, const char *cid, const char *sk, const cJSON *ident,
		      const cJSON *sess, const char *root, uint64_t count, const char *when)
{
	struct lost_seen *l = arg;

	(void)sk;
	(void)sess;
	(void)root;
	l->calls++;
	l->count += count;
	snprintf(l->cid, sizeof(l->cid), "%s", cid ? cid : "(none)");
	UNIT_CHECK(!cid || (ident && when && *when));
}

/* A disk that refuses to sync: once JOURNAL_UNSYNCED_MAX is unsynced, the
 * entries journal takes nothing more, and the folds of a gather cannot be
 * written. Their execs are handed over once, with their container and
 * count, for a gap in its chain; an exec that finds every fold in use
 * still opens one when they cannot be written. */
static void test_spool_folds_it_cannot_write_are_handed_over(void)
{
	struct spool_opts o = { .batch_age_ms = 3600000,
				.sync_quiet_gap_ms = 1L << 40,
				.event_wanted = execs_quiet,
				.datasync = flaky_datasync };
	static char text[64 * 1024 + 1];
	struct lost_seen l = { 0 };
	struct spool_stats st;
	struct spool *s;
	size_t len = sizeof(text) - 1;
	char dir[128];
	int i, ret;

	snprintf(dir, sizeof(dir), "%s/folds-lost", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	spool_tick(s);
	sync_fails_in = "/entries/";
	/* Entries of 64 KiB, then ever smaller, until not even one of a
	 * byte goes in. */
	for (i = 0; i < 2000 && len > 0; i++) {
		cJSON *e;

		memset(text, 'x', len);
		text[len] = '\0';
		e = line_entry(text);
		ret = spool_add(s, "containerd://c1", "", id, NULL, e);
		cJSON_Delete(e);
		if (ret == -EIO)
			len /= 2;
		else
			UNIT_CHECK(ret == 0);
	}
	UNIT_CHECK(len == 0);
	spool_gather(s, true);
	for (i = 0; i < 5; i++)
		UNIT_CHECK(add_loop_exec(s, id, 1000 + i, 0, "true", i) == 0);
	UNIT_CHECK(spool_gather(s, false) == -EIO);
	spool_get_stats(s, &st);
	UNIT_CHECK(st.folds_lost == 5);
	spool_take_lost_folds(s, note_lost, &l);
	UNIT_CHECK(l.calls == 1 && l.count == 5 && !strcmp(l.cid, "containerd://c1"));
	spool_take_lost_folds(s, note_lost, &l);
	UNIT_CHECK(l.calls == 1);
	/* Nine programs: the ninth finds no free fold, the eight go (and
	 * are lost), it opens the next; none of them is refused. */
	spool_gather(s, true);
	for (i = 0; i < 9; i++) {
		char arg[16];

		snprintf(arg, sizeof(arg), "prog%d", i);
		UNIT_CHECK(add_loop_exec(s, id, 2000 + i, 0, arg, 100 + i) == 0);
	}
	UNIT_CHECK(spool_gather(s, false) == -EIO);
	spool_take_lost_folds(s, note_lost, &l);
	UNIT_CHECK(l.calls == 1 + 9 && l.count == 5 + 9);
	sync_fails_in = NULL;
	spool_close(s);
}

/* After a restart a container holds what it held before, quiet entries
 * (no Event wanted: execs, folded or not) included: its share of the
 * spool is counted from them too. */
static void test_spool_restart_counts_quiet_entries_for_their_container(void)
{
	struct spool_opts o = { .batch_age_ms = 3600000, .event_wanted = execs_quiet };
	char dir[128];
	struct spool *s;
	uint64_t before;
	int i;

	snprintf(dir, sizeof(dir), "%s/quiet-use", base);
	o.dir = dir;
	UNIT_CHECK(spool_open(&o, &s) == 0);
	spool_tick(s);
	for (i = 0; i < 20; i++)
		UNIT_CHECK(add_loop_exec(s, id, 1000 + i, 0, i % 2 ? "true" : "date", i) == 0);
	spool_gather(s, true);
	for (i = 20; i < 40; i++)
		UNIT_CHECK(add_loop_exec(s, id, 1000 + i, 0, "true", i) == 0);
	UNIT_CHECK(spool_gather(s, false) == 0);
	before = spool_container_bytes(s, "containerd://c1");
	UNIT_CHECK(before > 0);
	spool_close(s);
	UNIT_CHECK(spool_open(&o, &s) == 0);
	UNIT_CHECK(spool_container_bytes(s, "containerd://c1") == before);
	spool_close(s);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT_TEST(test_spool_restart_counts_quiet_entries_for_their_container),
		UNIT_TEST(test_spool_folds_it_cannot_write_are_handed_over),
		UNIT_TEST(test_spool_damaged_fold_is_a_gap_of_its_count),
		UNIT_TEST(test_spool_seed_syncs_the_entries_first),
		UNIT_TEST(test_spool_no_record_while_its_entries_fail_to_sync),
		UNIT_TEST(test_spool_replay_from_a_crash_forms_the_same_records),
		UNIT_TEST(test_spool_trim_changes_no_record),
		UNIT_TEST(test_spool_full_is_counted),
		UNIT_TEST(test_spool_folds_as_aggregate_exec_does),
		UNIT_TEST(test_spool_gather_folds_execs_into_one_item),
		UNIT_TEST(test_spool_gather_folds_execs_awaiting_their_attribution),
		UNIT_TEST(test_spool_gather_folds_never_lose_what_was_taken),
		UNIT_TEST(test_spool_gather_folds_torn_name_a_prefix),
		UNIT_TEST(test_spool_batch_bytes_cuts_records),
		UNIT_TEST(test_spool_big_open_batches_checkpoint_by_reference),
		UNIT_TEST(test_spool_open_batches_are_bounded),
		UNIT_TEST(test_spool_entry_items_keep_their_form),
		UNIT_TEST(test_spool_corrupt_entry_is_a_gap_in_its_session),
		UNIT_TEST(test_spool_corrupt_entry_of_no_known_session_is_counted),
		UNIT_TEST(test_spool_corrupt_entry_after_a_cut_is_a_gap_in_its_session),
		UNIT_TEST(test_spool_corrupt_identity_opens_no_batch),
		UNIT_TEST(test_spool_batch_age_counts_from_capture),
		UNIT_TEST(test_spool_sync_gap_groups_the_syncs),
		UNIT_TEST(test_spool_sync_due_syncs_between_ticks),
		UNIT_TEST(test_spool_quiet_entries_wait_for_the_quiet_gap),
		UNIT_TEST(test_spool_event_done_only_what_was_handed_out),
		UNIT_TEST(test_spool_event_rewind_goes_back_to_one_handed_out),
		UNIT_TEST(test_spool_event_hold_keeps_events_on_their_way),
		UNIT_TEST(test_spool_corrupt_record_is_formed_again),
		UNIT_TEST(test_spool_corrupt_record_after_restart_is_not_lost),
		UNIT_TEST(test_spool_restore_rebuilds_batches_as_they_were),
		UNIT_TEST(test_spool_hands_out_only_what_is_synced),
		UNIT_TEST(test_spool_events_pass_entries_no_event_comes_of),
		UNIT_TEST(test_spool_resumed_chain_goes_on_after_the_api_head),
		UNIT_TEST(test_spool_chains_are_bounded_when_they_resume),
		UNIT_TEST(test_spool_records_wait_for_the_attribution_and_all_say_it),
		UNIT_TEST(test_spool_an_awaited_attribution_survives_a_crash),
		UNIT_TEST(test_spool_gives_up_waiting_for_an_attribution),
		UNIT_TEST(test_spool_aggregation_survives_a_restart),
		UNIT_TEST(test_spool_chains_publish_apart),
		UNIT_TEST(test_spool_identity_text_journals_the_same_bytes),
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
