// SPDX-License-Identifier: Apache-2.0
/* journal: append, read, acknowledge, reopen; faults that end in a counted
 * loss and never in a wedge: a torn tail, a corrupt item in any segment, a
 * segment file gone, a damaged cursor, a failed fdatasync (whose data is
 * written again), a full journal. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "journal.h"
#include "unit.h"
#include "util.h"

static char dir[64];

static void fresh(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", dir, dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot reset %s\n", dir);
}

/* Reads every item from the cursor; returns how many and their concatenation. */
static int read_all(struct journal *j, char *out, size_t cap)
{
	uint64_t pos = journal_acked(j), next;
	size_t len, used = 0;
	void *data;
	int n = 0;

	out[0] = '\0';
	while (journal_read(j, pos, &data, &len, &next) == 0) {
		used += (size_t)snprintf(out + used, cap - used, "%s%.*s", n ? "," : "", (int)len,
					 (char *)data);
		free(data);
		pos = next;
		n++;
	}
	return n;
}

static void test_journal_append_read_reopen(void)
{
	struct journal_opts o = { .dir = dir };
	struct journal *j;
	char all[256];

	fresh();
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(journal_append(j, "one", 3, NULL) == 0);
	UNIT_CHECK(journal_append(j, "two", 3, NULL) == 0);
	UNIT_CHECK(journal_sync(j) == 0);
	UNIT_CHECK(read_all(j, all, sizeof(all)) == 2);
	UNIT_CHECK_STR(all, "one,two");
	journal_close(j);
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(read_all(j, all, sizeof(all)) == 2);
	UNIT_CHECK(journal_append(j, "three", 5, NULL) == 0);
	UNIT_CHECK(read_all(j, all, sizeof(all)) == 3);
	UNIT_CHECK_STR(all, "one,two,three");
	journal_close(j);
}

/* Items around the size read with the header at once, and longer ones,
 * come back whole, each as it was. */
static void test_journal_items_of_every_length_read_back(void)
{
	static const size_t lens[] = { 1, 2035, 2036, 2047, 2048, 2049, 2060, 5000, 70000 };
	struct journal_opts o = { .dir = dir };
	char *want = malloc(70000);
	uint64_t pos = 0, next;
	struct journal *j;
	size_t i, k, len;
	void *data;

	fresh();
	UNIT_CHECK(journal_open(&o, &j) == 0);
	for (i = 0; i < ARRAY_SIZE(lens); i++) {
		for (k = 0; k < lens[i]; k++)
			want[k] = (char)('a' + (i + k) % 26);
		UNIT_CHECK(journal_append(j, want, lens[i], NULL) == 0);
	}
	UNIT_CHECK(journal_sync(j) == 0);
	for (i = 0; i < ARRAY_SIZE(lens); i++, pos = next) {
		for (k = 0; k < lens[i]; k++)
			want[k] = (char)('a' + (i + k) % 26);
		UNIT_CHECK(journal_read(j, pos, &data, &len, &next) == 0);
		UNIT_CHECK(len == lens[i] && !memcmp(data, want, len) && !((char *)data)[len]);
		free(data);
	}
	UNIT_CHECK(journal_read(j, pos, &data, &len, &next) == -ENODATA);
	journal_close(j);
	free(want);
}

static void test_journal_ack_replays_only_the_rest(void)
{
	struct journal_opts o = { .dir = dir, .segment_bytes = 64 };
	struct journal *j;
	uint64_t pos[10];
	char item[32], all[512];
	struct journal_stats st;
	int i;

	fresh();
	journal_open(&o, &j);
	for (i = 0; i < 10; i++) {
		snprintf(item, sizeof(item), "item-%02d-padding-padding", i);
		journal_append(j, item, strlen(item), &pos[i]);
	}
	UNIT_CHECK(journal_ack(j, pos[6]) == 0);
	journal_get_stats(j, &st);
	UNIT_CHECK(st.segments_removed > 0);
	journal_close(j);
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(journal_acked(j) == pos[6]);
	UNIT_CHECK(read_all(j, all, sizeof(all)) == 4);
	UNIT_CHECK(!strncmp(all, "item-06", 7));
	journal_close(j);
}

static void test_journal_torn_tail_is_cut_and_counted(void)
{
	struct journal_opts o = { .dir = dir };
	struct journal *j;
	struct journal_stats st;
	char path[128], all[256];
	int fd;

	fresh();
	journal_open(&o, &j);
	journal_append(j, "whole", 5, NULL);
	journal_close(j);
	/* a crash mid-write: half a header and some bytes */
	snprintf(path, sizeof(path), "%s/%016x.seg", dir, 0);
	fd = open(path, O_WRONLY | O_APPEND);
	UNIT_CHECK(fd >= 0 && write(fd, "\x31\x4a\x41\x53\xff\x00", 6) == 6);
	close(fd);
	UNIT_CHECK(journal_open(&o, &j) == 0);
	journal_get_stats(j, &st);
	UNIT_CHECK(st.torn_bytes == 6);
	UNIT_CHECK(read_all(j, all, sizeof(all)) == 1);
	UNIT_CHECK(journal_append(j, "after", 5, NULL) == 0);
	UNIT_CHECK(read_all(j, all, sizeof(all)) == 2);
	UNIT_CHECK_STR(all, "whole,after");
	journal_close(j);
}

static void test_journal_corrupt_last_item_is_a_torn_tail(void)
{
	struct journal_opts o = { .dir = dir };
	struct journal *j;
	char path[128], all[256];
	int fd;

	fresh();
	journal_open(&o, &j);
	journal_append(j, "good", 4, NULL);
	journal_append(j, "flipped", 7, NULL);
	journal_close(j);
	snprintf(path, sizeof(path), "%s/%016x.seg", dir, 0);
	fd = open(path, O_WRONLY);
	UNIT_CHECK(fd >= 0 && pwrite(fd, "X", 1, 12 + 4 + 12 + 2) == 1);
	close(fd);
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(read_all(j, all, sizeof(all)) == 1);
	UNIT_CHECK_STR(all, "good");
	journal_close(j);
}

/* Reads every item from the cursor, past corrupt ones; returns how many
 * were read, *bad how many corrupt regions were skipped. */
static int read_skipping(struct journal *j, char *out, size_t cap, int *bad)
{
	uint64_t pos = journal_acked(j), next;
	size_t len, used = 0;
	void *data;
	int n = 0, ret;

	out[0] = '\0';
	*bad = 0;
	while ((ret = journal_read(j, pos, &data, &len, &next)) == 0 || ret == -EBADMSG) {
		if (ret == 0) {
			used += (size_t)snprintf(out + used, cap - used, "%s%.*s", n ? "," : "",
						 (int)len, (char *)data);
			n++;
		} else {
			(*bad)++;
		}
		free(data);
		UNIT_CHECK(next > pos);
		pos = next;
	}
	UNIT_CHECK(ret == -ENODATA);
	return n;
}

static void flip(const char *path, long off)
{
	int fd = open(path, O_RDWR);
	char c;

	UNIT_CHECK(fd >= 0 && pread(fd, &c, 1, off) == 1);
	if (fd < 0)
		return;
	c ^= 0x20;
	UNIT_CHECK(pwrite(fd, &c, 1, off) == 1);
	close(fd);
}

/* An item appended with the CRC of its first bytes given is the item
 * journal_append writes; a wrong one makes it a corrupt item, lost alone. */
static void test_journal_append_crc_continues_the_given_crc(void)
{
	struct journal_opts o = { .dir = dir };
	struct journal *j;
	char path[128], all[256], want[17] = "", got[17] = "";
	int bad = 0, fd;

	fresh();
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(journal_append(j, "alpha", 5, NULL) == 0);
	journal_close(j);
	snprintf(path, sizeof(path), "%s/%016x.seg", dir, 0);
	fd = open(path, O_RDONLY);
	UNIT_CHECK(fd >= 0 && pread(fd, want, sizeof(want), 0) == sizeof(want));
	close(fd);
	fresh();
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(journal_append_crc(j, "alpha", 5, 2, (uint32_t)crc32(0L, (const Bytef *)"al", 2),
				      NULL) == 0);
	UNIT_CHECK(journal_append_crc(j, "beta", 4, 4,
				      (uint32_t)crc32(0L, (const Bytef *)"beta", 4), NULL) == 0);
	UNIT_CHECK(journal_append_crc(j, "gamma", 5, 2, (uint32_t)crc32(0L, (const Bytef *)"xx", 2),
				      NULL) == 0);
	UNIT_CHECK(journal_append_crc(j, "delta", 5, 0, 0, NULL) == 0);
	UNIT_CHECK(journal_append_crc(j, "x", 1, 2, 0, NULL) == -EINVAL);
	journal_close(j);
	fd = open(path, O_RDONLY);
	UNIT_CHECK(fd >= 0 && pread(fd, got, sizeof(got), 0) == sizeof(got));
	close(fd);
	UNIT_CHECK(memcmp(want, got, sizeof(want)) == 0);
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(read_skipping(j, all, sizeof(all), &bad) == 3);
	UNIT_CHECK_STR(all, "alpha,beta,delta");
	UNIT_CHECK(bad == 1);
	journal_close(j);
}

/* The review's M7: one flipped byte in the first of several segments cut
 * the valid items after it, and reads stopped at that segment's end. */
static void test_journal_corrupt_item_in_a_middle_segment_loses_only_it(void)
{
	struct journal_opts o = { .dir = dir, .segment_bytes = 100 };
	struct journal *j;
	struct journal_stats st;
	char path[128], all[1024], item[32];
	void *data;
	size_t len;
	uint64_t next;
	int i, bad;

	fresh();
	UNIT_CHECK(journal_open(&o, &j) == 0);
	for (i = 0; i < 12; i++) {
		snprintf(item, sizeof(item), "item-%02d-xxxxxxxxxxx", i);
		UNIT_CHECK(journal_append(j, item, strlen(item), NULL) == 0);
	}
	UNIT_CHECK(journal_sync(j) == 0);
	journal_close(j);
	/* items are 12 + 19 bytes: item-01 starts at 31, its payload at 43 */
	snprintf(path, sizeof(path), "%s/%016x.seg", dir, 0);
	flip(path, 43 + 5);
	UNIT_CHECK(journal_open(&o, &j) == 0);
	journal_get_stats(j, &st);
	UNIT_CHECK(st.torn_bytes == 0);
	UNIT_CHECK(read_skipping(j, all, sizeof(all), &bad) == 11 && bad == 1);
	UNIT_CHECK(!strncmp(all, "item-00-xxxxxxxxxxx,item-02-", 28));
	UNIT_CHECK(strstr(all, "item-11") != NULL);
	/* the damaged bytes come with the skip, for whoever can still read them */
	UNIT_CHECK(journal_read(j, 31, &data, &len, &next) == -EBADMSG && next == 62);
	UNIT_CHECK(data && len == 19 && !memcmp(data, "item-", 5));
	free(data);
	/* nothing was cut: appending goes on after the last item */
	UNIT_CHECK(journal_append(j, "after", 5, NULL) == 0);
	UNIT_CHECK(read_skipping(j, all, sizeof(all), &bad) == 12 && bad == 1);
	journal_close(j);
}

/* An item in the memory copy is read in place, as journal_read reads it;
 * one only in the file, or none, is -ENOENT. */
static void test_journal_peek_reads_memory_items_in_place(void)
{
	struct journal_opts o = { .dir = dir, .read_recent = true };
	struct journal *j;
	char item[1100];
	const void *mem;
	uint64_t next, rnext;
	size_t len, rlen;
	void *data;
	int i;

	fresh();
	UNIT_CHECK(journal_open(&o, &j) == 0);
	for (i = 0; i < 80; i++) {
		snprintf(item, sizeof(item), "item-%02d-%01000d", i, 0);
		UNIT_CHECK(journal_append(j, item, strlen(item), NULL) == 0);
	}
	UNIT_CHECK(journal_sync(j) == 0);
	UNIT_CHECK(journal_trim(j) > 0);
	UNIT_CHECK(journal_peek(j, 79L * 1020, &mem, &len, &next) == 0);
	UNIT_CHECK(journal_read(j, 79L * 1020, &data, &rlen, &rnext) == 0);
	UNIT_CHECK(mem && data && len == rlen && next == rnext && next == 80L * 1020 &&
		   !memcmp(mem, data, len) && !memcmp(mem, "item-79-", 8));
	free(data);
	UNIT_CHECK(journal_peek(j, 1L * 1020, &mem, &len, &next) == -ENOENT && !mem);
	UNIT_CHECK(journal_peek(j, 80L * 1020, &mem, &len, &next) == -ENOENT);
	UNIT_CHECK(journal_append(j, "unsynced", 8, NULL) == 0);
	UNIT_CHECK(journal_peek(j, 80L * 1020, &mem, &len, &next) == 0 && len == 8 &&
		   !memcmp(mem, "unsynced", 8) && next == 80L * 1020 + 20);
	journal_close(j);
}

/* Items still in memory (not yet synced, among the last JOURNAL_MEM_KEEP
 * bytes synced, or made durable by the last sync) are read from it,
 * without a read of the file: what rots on disk meanwhile shows after a
 * restart, where it is skipped as any corrupt item. Older items (here,
 * after a trim) are read from the file, their check with them. */
static void test_journal_recent_items_are_read_from_memory(void)
{
	struct journal_opts o = { .dir = dir, .read_recent = true };
	struct journal *j;
	char path[128], item[1100], *all = malloc(1 << 17);
	int i, bad;

	fresh();
	UNIT_CHECK(all != NULL);
	if (!all)
		return;
	UNIT_CHECK(journal_open(&o, &j) == 0);
	/* 80 items of 12 + 1,008 bytes: the first ones beyond the kept copy */
	for (i = 0; i < 80; i++) {
		snprintf(item, sizeof(item), "item-%02d-%01000d", i, 0);
		UNIT_CHECK(journal_append(j, item, strlen(item), NULL) == 0);
	}
	UNIT_CHECK(journal_sync(j) == 0);
	UNIT_CHECK(journal_append(j, "unsynced-one", 12, NULL) == 0);
	UNIT_CHECK(journal_append(j, "unsynced-two", 12, NULL) == 0);
	snprintf(path, sizeof(path), "%s/%016x.seg", dir, 0);
	flip(path, 79L * 1020 + 12 + 10); /* the last synced item, kept */
	flip(path, 80L * 1020 + 12 + 3);  /* the first unsynced one */
	flip(path, 1L * 1020 + 12 + 10);  /* item-01: past JOURNAL_MEM_KEEP */
	/* The last sync's 80 items are all kept: a reader of what is durable
	 * (the Events) reads them next. */
	UNIT_CHECK(read_skipping(j, all, 1 << 17, &bad) == 82 && bad == 0);
	UNIT_CHECK(strstr(all, "item-01-") != NULL);
	/* A trim leaves JOURNAL_MEM_KEEP of them: item-01 comes from the file. */
	UNIT_CHECK(journal_trim(j) > 0);
	UNIT_CHECK(read_skipping(j, all, 1 << 17, &bad) == 81 && bad == 1);
	UNIT_CHECK(strstr(all, "item-01-") == NULL && strstr(all, "item-79-") != NULL);
	UNIT_CHECK(strstr(all, ",unsynced-one,unsynced-two") != NULL);
	UNIT_CHECK(journal_sync(j) == 0);
	journal_close(j);
	/* After a restart all comes from the disk: the rot shows. */
	UNIT_CHECK(journal_open(&o, &j) == 0);
	/* two regions: item-01, and item-79 with the item after it */
	UNIT_CHECK(read_skipping(j, all, 1 << 17, &bad) == 79 && bad == 2);
	UNIT_CHECK(strstr(all, "item-79-") == NULL && strstr(all, "unsynced-one") == NULL);
	UNIT_CHECK(strstr(all, "item-78-") != NULL && strstr(all, "unsynced-two") != NULL);
	UNIT_CHECK(journal_append(j, "new", 3, NULL) == 0);
	journal_close(j);
	/* Without read_recent, the rot shows at once. */
	o.read_recent = false;
	UNIT_CHECK(journal_open(&o, &j) == 0);
	flip(path, 78L * 1020 + 12 + 10);
	UNIT_CHECK(journal_append(j, "newer", 5, NULL) == 0);
	flip(path, 80L * 1020 + 2 * 24 + 12 + 1); /* "new" */
	UNIT_CHECK(read_skipping(j, all, 1 << 17, &bad) == 79 && bad == 3);
	UNIT_CHECK(strstr(all, "item-78-") == NULL && strstr(all, ",new,") == NULL);
	UNIT_CHECK(strstr(all, ",unsynced-two,newer") != NULL);
	journal_close(j);
	free(all);
}

/* journal_trim gives back what a burst grew the copy to, and keeps what
 * it keeps: the last synced items and the unsynced ones are still read
 * from memory (a byte rotten on disk does not show), and the journal goes
 * on. Without read_recent the copy goes whole once synced. */
/* A flood that fills the copy again between syncs keeps it across them
 * (cut and given back at each sync, it was allocated and faulted in again
 * at once); the first sync of much less gives it back. */
static void test_journal_flood_keeps_its_copy_until_a_quiet_sync(void)
{
	struct journal_opts o = { .dir = dir, .read_recent = true };
	struct journal *j;
	char item[1100];
	int i, round;

	fresh();
	UNIT_CHECK(journal_open(&o, &j) == 0);
	for (round = 0; round < 3; round++) {
		for (i = 0; i < 400; i++) {
			snprintf(item, sizeof(item), "item-%03d-%01000d", i, 0);
			UNIT_CHECK(journal_append(j, item, strlen(item), NULL) == 0);
		}
		UNIT_CHECK(journal_sync(j) == 0);
	}
	/* What the floods made durable is kept (up to the cap), and room for
	 * the next one beside it. */
	UNIT_CHECK(journal_trim(j) >= 400u * 1020);
	for (i = 0; i < 400; i++) {
		snprintf(item, sizeof(item), "item-%03d-%01000d", i, 0);
		UNIT_CHECK(journal_append(j, item, strlen(item), NULL) == 0);
	}
	UNIT_CHECK(journal_sync(j) == 0);
	UNIT_CHECK(journal_append(j, "quiet", 5, NULL) == 0);
	UNIT_CHECK(journal_sync(j) == 0);
	UNIT_CHECK(journal_trim(j) == 0);
	journal_close(j);
}

/* 150 items "item-NNN-000...": 12 + 1,009 bytes each, a copy of about
 * 150 kB. */
static void append_burst(struct journal *j)
{
	char item[1100];

	for (int i = 0; i < 150; i++) {
		snprintf(item, sizeof(item), "item-%03d-%01000d", i, 0);
		UNIT_CHECK(journal_append(j, item, strlen(item), NULL) == 0);
	}
}

static void test_journal_trim_gives_back_a_burst_and_keeps_recent_items(void)
{
	struct journal_opts o = { .dir = dir, .read_recent = true };
	struct journal *j;
	char path[128], *all = malloc(1 << 18);
	int bad;

	fresh();
	UNIT_CHECK(all != NULL);
	if (!all)
		return;
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(journal_trim(j) == 0);
	append_burst(j);
	UNIT_CHECK(journal_sync(j) == 0);
	UNIT_CHECK(journal_append(j, "unsynced-one", 12, NULL) == 0);
	UNIT_CHECK(journal_trim(j) >= 150u * 1020 - JOURNAL_MEM_KEEP);
	UNIT_CHECK(journal_trim(j) == 0);
	snprintf(path, sizeof(path), "%s/%016x.seg", dir, 0);
	flip(path, 149L * 1021 + 12 + 10); /* the last synced item, kept */
	flip(path, 150L * 1021 + 12 + 3);  /* the unsynced one */
	UNIT_CHECK(read_skipping(j, all, 1 << 18, &bad) == 151 && bad == 0);
	UNIT_CHECK(strstr(all, "item-149-") != NULL && strstr(all, ",unsynced-one") != NULL);
	/* It grows again, and syncs what it keeps. */
	UNIT_CHECK(journal_append(j, "after-trim", 10, NULL) == 0);
	UNIT_CHECK(journal_sync(j) == 0);
	UNIT_CHECK(read_skipping(j, all, 1 << 18, &bad) == 152 && bad == 0);
	UNIT_CHECK(strstr(all, ",unsynced-one,after-trim") != NULL);
	journal_close(j);
	o.read_recent = false;
	fresh();
	UNIT_CHECK(journal_open(&o, &j) == 0);
	append_burst(j);
	UNIT_CHECK(journal_sync(j) == 0);
	UNIT_CHECK(journal_trim(j) >= 150u * 1020);
	UNIT_CHECK(journal_append(j, "after-trim", 10, NULL) == 0);
	UNIT_CHECK(journal_sync(j) == 0);
	UNIT_CHECK(read_skipping(j, all, 1 << 18, &bad) == 151 && bad == 0);
	UNIT_CHECK(strstr(all, "item-149-") != NULL && strstr(all, ",after-trim") != NULL);
	journal_close(j);
	free(all);
}

/* Limits the size of the files this process writes to bytes (SIGXFSZ
 * ignored: writes past it fail); *old gets the limit to put back with
 * file_size_unlimit(). */
static void file_size_limit(rlim_t bytes, struct rlimit *old)
{
	struct rlimit lim;

	UNIT_CHECK(getrlimit(RLIMIT_FSIZE, old) == 0);
	lim = *old;
	lim.rlim_cur = bytes;
	signal(SIGXFSZ, SIG_IGN);
	UNIT_CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
}

static void file_size_unlimit(const struct rlimit *old)
{
	UNIT_CHECK(setrlimit(RLIMIT_FSIZE, old) == 0);
	signal(SIGXFSZ, SIG_DFL);
}

/* A write cut short (the file size limit) leaves no item behind: the
 * journal takes its bytes back, in the file and in its copy, and the
 * items after it read back whole, from memory and after a reopen. */
static void test_journal_short_write_leaves_no_item(void)
{
	struct journal_opts o = { .dir = dir };
	struct rlimit old;
	struct journal *j;
	char all[512], big[400];
	int bad;

	fresh();
	memset(big, 'b', sizeof(big));
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(journal_append(j, "before", 6, NULL) == 0);
	file_size_limit(18 + 100, &old); /* "before" and 100 bytes of the next */
	UNIT_CHECK(journal_append(j, big, sizeof(big), NULL) < 0);
	file_size_unlimit(&old);
	UNIT_CHECK(journal_append(j, "after", 5, NULL) == 0);
	UNIT_CHECK(read_skipping(j, all, sizeof(all), &bad) == 2 && bad == 0);
	UNIT_CHECK_STR(all, "before,after");
	UNIT_CHECK(journal_sync(j) == 0);
	journal_close(j);
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(read_skipping(j, all, sizeof(all), &bad) == 2 && bad == 0);
	UNIT_CHECK_STR(all, "before,after");
	journal_close(j);
}

/* Bytes of the journal's segment files in dir. */
static long segment_bytes(void)
{
	char cmd[256], out[64] = "";
	FILE *f;

	snprintf(cmd, sizeof(cmd), "cat '%s'/*.seg 2>/dev/null | wc -c", dir);
	if (!(f = popen(cmd, "r")))
		return -1;
	if (!fgets(out, sizeof(out), f))
		out[0] = '\0';
	pclose(f);
	return strtol(out, NULL, 10);
}

static void test_journal_gathered_items_are_written_at_once(void)
{
	struct journal_opts o = { .dir = dir };
	struct journal *j;
	char all[512];
	long was;
	int bad, status;
	pid_t pid;

	fresh();
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(journal_append(j, "first", 5, NULL) == 0);
	was = segment_bytes();
	UNIT_CHECK(was == 12 + 5);
	UNIT_CHECK(journal_gather(j, true) == 0);
	UNIT_CHECK(journal_append(j, "second", 6, NULL) == 0);
	UNIT_CHECK(journal_append(j, "third", 5, NULL) == 0);
	/* Not in the file yet, read all the same (from memory, though this
	 * journal reads nothing recent from there otherwise). */
	UNIT_CHECK(segment_bytes() == was);
	UNIT_CHECK(read_skipping(j, all, sizeof(all), &bad) == 3 && bad == 0);
	UNIT_CHECK_STR(all, "first,second,third");
	UNIT_CHECK(journal_flush(j) == 0);
	UNIT_CHECK(segment_bytes() == was + 12 + 6 + 12 + 5);
	/* Still gathering after a flush; its end writes the rest. */
	UNIT_CHECK(journal_append(j, "fourth", 6, NULL) == 0);
	UNIT_CHECK(segment_bytes() == was + 35);
	UNIT_CHECK(journal_gather(j, false) == 0);
	UNIT_CHECK(segment_bytes() == was + 35 + 18);
	UNIT_CHECK(journal_append(j, "fifth", 5, NULL) == 0);
	UNIT_CHECK(segment_bytes() == was + 35 + 18 + 17);
	/* A sync writes what is gathered. */
	UNIT_CHECK(journal_gather(j, true) == 0);
	UNIT_CHECK(journal_append(j, "sixth", 5, NULL) == 0);
	UNIT_CHECK(journal_sync(j) == 0 && journal_synced(j) == journal_end(j));
	UNIT_CHECK(segment_bytes() == was + 35 + 18 + 17 + 17);
	UNIT_CHECK(journal_gather(j, false) == 0);
	journal_close(j);
	/* A process that dies while gathering: what it flushed is in the
	 * file, what it gathered since is gone, and nothing torn. */
	fflush(NULL);
	if ((pid = fork()) == 0) {
		struct journal *c;

		if (journal_open(&o, &c) || journal_gather(c, true) ||
		    journal_append(c, "flushed", 7, NULL) || journal_flush(c) ||
		    journal_append(c, "gathered", 8, NULL))
			_exit(2);
		_exit(0);
	}
	UNIT_CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		   WEXITSTATUS(status) == 0);
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(read_skipping(j, all, sizeof(all), &bad) == 7 && bad == 0);
	UNIT_CHECK_STR(all, "first,second,third,fourth,fifth,sixth,flushed");
	journal_close(j);
}

static void test_journal_gathered_items_a_failed_write_keeps(void)
{
	struct journal_opts o = { .dir = dir };
	struct rlimit old;
	struct journal *j;
	char all[512], big[400];
	int bad;

	fresh();
	memset(big, 'b', sizeof(big));
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(journal_append(j, "before", 6, NULL) == 0);
	UNIT_CHECK(journal_gather(j, true) == 0);
	UNIT_CHECK(journal_append(j, big, sizeof(big), NULL) == 0);
	UNIT_CHECK(journal_append(j, "gathered", 8, NULL) == 0);
	file_size_limit(18 + 100, &old); /* "before" and 100 bytes of the next */
	UNIT_CHECK(journal_gather(j, false) < 0);
	/* Not gathering, a write still waits: a new item goes after it. */
	UNIT_CHECK(journal_append(j, "after", 5, NULL) == 0);
	UNIT_CHECK(journal_sync(j) < 0);
	file_size_unlimit(&old);
	UNIT_CHECK(read_skipping(j, all, sizeof(all), &bad) == 4 && bad == 0);
	UNIT_CHECK(journal_sync(j) == 0 && journal_synced(j) == journal_end(j));
	journal_close(j);
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(read_skipping(j, all, sizeof(all), &bad) == 4 && bad == 0);
	UNIT_CHECK(strncmp(all, "before,bbb", 10) == 0 && strstr(all, ",gathered,after"));
	journal_close(j);
}

static void test_journal_segment_gone_is_skipped(void)
{
	struct journal_opts o = { .dir = dir, .segment_bytes = 60 };
	struct journal *j;
	char path[128], all[1024], item[32];
	uint64_t pos[9];
	int i, bad;

	fresh();
	UNIT_CHECK(journal_open(&o, &j) == 0);
	for (i = 0; i < 9; i++) {
		snprintf(item, sizeof(item), "item-%02d-xxxxxxxxxxx", i);
		UNIT_CHECK(journal_append(j, item, strlen(item), &pos[i]) == 0);
	}
	journal_sync(j);
	journal_close(j);
	/* the second segment (items 2 and 3) is gone */
	snprintf(path, sizeof(path), "%s/%016llx.seg", dir, (unsigned long long)pos[2]);
	UNIT_CHECK(unlink(path) == 0);
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(read_skipping(j, all, sizeof(all), &bad) == 7 && bad == 1);
	UNIT_CHECK(strstr(all, "item-01") && !strstr(all, "item-02") && strstr(all, "item-04"));
	journal_close(j);
}

static void test_journal_damaged_cursor_replays_from_the_oldest(void)
{
	static const char *const cursors[] = { "garbage\n", "12", "99999999999999999999999\n",
					       "35\n" /* inside an item */ };
	struct journal_opts o = { .dir = dir };
	struct journal *j;
	struct journal_stats st;
	char path[128], all[256];
	uint64_t pos;
	size_t i;
	int fd, bad;

	for (i = 0; i < ARRAY_SIZE(cursors); i++) {
		fresh();
		UNIT_CHECK(journal_open(&o, &j) == 0);
		journal_append(j, "one-one-one", 11, NULL);
		journal_append(j, "two-two-two", 11, &pos);
		journal_append(j, "three", 5, NULL);
		UNIT_CHECK(journal_ack(j, pos) == 0);
		journal_close(j);
		snprintf(path, sizeof(path), "%s/cursor", dir);
		fd = open(path, O_WRONLY | O_TRUNC);
		UNIT_CHECK(fd >= 0 && write(fd, cursors[i], strlen(cursors[i])) > 0);
		close(fd);
		UNIT_CHECK(journal_open(&o, &j) == 0);
		journal_get_stats(j, &st);
		UNIT_CHECK(st.cursor_reset && journal_acked(j) == 0);
		UNIT_CHECK(read_skipping(j, all, sizeof(all), &bad) == 3);
		journal_close(j);
	}
	/* a sound cursor is kept */
	fresh();
	journal_open(&o, &j);
	journal_append(j, "one-one-one", 11, NULL);
	journal_append(j, "two-two-two", 11, &pos);
	journal_ack(j, pos);
	journal_close(j);
	UNIT_CHECK(journal_open(&o, &j) == 0);
	journal_get_stats(j, &st);
	UNIT_CHECK(!st.cursor_reset && journal_acked(j) == pos);
	journal_close(j);
}

/* fdatasync that fails as a dying disk's does: the kernel reports the
 * error once and may have dropped the pages (here: overwritten). */
static int datasync_failures;

static int failing_datasync(int fd)
{
	struct stat st;
	char zero[64] = { 0 };

	if (datasync_failures <= 0)
		return fdatasync(fd);
	datasync_failures--;
	if (fstat(fd, &st) == 0 && st.st_size >= (off_t)sizeof(zero))
		UNIT_CHECK(pwrite(fd, zero, sizeof(zero), st.st_size - (off_t)sizeof(zero)) ==
			   (ssize_t)sizeof(zero));
	errno = EIO;
	return -1;
}

static void test_journal_failed_datasync_writes_again(void)
{
	struct journal_opts o = { .dir = dir, .datasync = failing_datasync };
	struct journal *j;
	struct journal_stats st;
	char all[512], item[48];
	uint64_t synced;
	int i, bad;

	fresh();
	UNIT_CHECK(journal_open(&o, &j) == 0);
	for (i = 0; i < 4; i++) {
		snprintf(item, sizeof(item), "durable-%d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i);
		journal_append(j, item, strlen(item), NULL);
	}
	UNIT_CHECK(journal_sync(j) == 0 && journal_synced(j) == journal_end(j));
	synced = journal_synced(j);
	for (i = 0; i < 4; i++) {
		snprintf(item, sizeof(item), "pending-%d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i);
		journal_append(j, item, strlen(item), NULL);
	}
	UNIT_CHECK(journal_synced(j) == synced); /* appended, not yet synced */
	/* One failure: the data is written again and synced; success. */
	datasync_failures = 1;
	UNIT_CHECK(journal_sync(j) == 0 && journal_synced(j) > synced);
	journal_get_stats(j, &st);
	UNIT_CHECK(st.sync_failures == 1 && st.sync_rewrites == 1);
	UNIT_CHECK(journal_synced(j) == journal_end(j));
	UNIT_CHECK(read_skipping(j, all, sizeof(all), &bad) == 8 && bad == 0);
	/* Failing for good: never success, nothing new counts as durable. */
	synced = journal_synced(j);
	journal_append(j, "lost-for-now-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 62,
		       NULL);
	datasync_failures = 1000;
	UNIT_CHECK(journal_sync(j) == -EIO);
	UNIT_CHECK(journal_sync(j) == -EIO);
	UNIT_CHECK(journal_synced(j) == synced);
	/* The disk heals: the kept copy goes in, then success. */
	datasync_failures = 0;
	UNIT_CHECK(journal_sync(j) == 0 && journal_synced(j) == journal_end(j));
	journal_close(j);
	o.datasync = NULL;
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(read_skipping(j, all, sizeof(all), &bad) == 9 && bad == 0);
	UNIT_CHECK(strstr(all, "lost-for-now") != NULL);
	journal_close(j);
}

static int datasync_calls;

static int counting_datasync(int fd)
{
	datasync_calls++;
	return fdatasync(fd);
}

/* A sync with nothing written since the last good one costs no fdatasync
 * (the records journal is synced on every tick); the first one after an
 * open does (what a crash left is made durable), and so does one after a
 * failed one. */
static void test_journal_sync_of_nothing_new_is_free(void)
{
	struct journal_opts o = { .dir = dir, .datasync = counting_datasync };
	struct journal *j;

	fresh();
	datasync_calls = 0;
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(datasync_calls == 1);
	UNIT_CHECK(journal_sync(j) == 0 && journal_sync(j) == 0);
	UNIT_CHECK(datasync_calls == 1);
	UNIT_CHECK(journal_append(j, "one", 3, NULL) == 0);
	UNIT_CHECK(journal_sync(j) == 0 && journal_sync(j) == 0);
	UNIT_CHECK(datasync_calls == 2);
	UNIT_CHECK(journal_synced(j) == journal_end(j));
	journal_close(j);

	/* Failed, then nothing new: it must try again. */
	o.datasync = failing_datasync;
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(journal_append(
			   j, "two-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
			   67, NULL) == 0);
	datasync_failures = 1000;
	UNIT_CHECK(journal_sync(j) == -EIO);
	UNIT_CHECK(journal_sync(j) == -EIO);
	datasync_failures = 0;
	UNIT_CHECK(journal_sync(j) == 0 && journal_synced(j) == journal_end(j));
	journal_close(j);
}

static void test_journal_new_segment_syncs_its_directory(void)
{
	struct journal_opts o = { .dir = dir, .segment_bytes = 40 };
	struct journal *j;
	struct journal_stats a, b;
	int i;

	fresh();
	UNIT_CHECK(journal_open(&o, &j) == 0);
	journal_get_stats(j, &a);
	UNIT_CHECK(journal_append(j, "0123456789012345678901234567890", 31, NULL) == 0);
	UNIT_CHECK(journal_sync(j) == 0);
	journal_get_stats(j, &b);
	UNIT_CHECK(b.dir_syncs == a.dir_syncs); /* same segment: nothing to do */
	for (i = 0; i < 3; i++)
		UNIT_CHECK(journal_append(j, "0123456789012345678901234567890", 31, NULL) == 0);
	UNIT_CHECK(journal_sync(j) == 0);
	journal_get_stats(j, &b);
	UNIT_CHECK(b.dir_syncs == a.dir_syncs + 1);
	journal_close(j);
}

static void test_journal_full_is_refused_and_counted(void)
{
	struct journal_opts o = { .dir = dir, .max_bytes = 110 };
	struct journal *j;
	struct journal_stats st;
	char item[40];
	uint64_t pos;

	fresh();
	journal_open(&o, &j);
	memset(item, 'x', sizeof(item));
	UNIT_CHECK(journal_append(j, item, 40, &pos) == 0);
	UNIT_CHECK(journal_append(j, item, 40, NULL) == 0);
	UNIT_CHECK(journal_append(j, item, 40, NULL) == -ENOSPC);
	journal_get_stats(j, &st);
	UNIT_CHECK(st.rejected_full == 1);
	/* acknowledging makes room again */
	journal_ack(j, pos + 12 + 40);
	UNIT_CHECK(journal_append(j, item, 40, NULL) == 0);
	UNIT_CHECK(journal_append(j, item, JOURNAL_ITEM_MAX + 1, NULL) == -E2BIG);
	journal_close(j);
}
static void test_journal_last_survives_ack_and_reopen(void)
{
	struct journal_opts o = { .dir = dir };
	struct journal *j;
	uint64_t pos;
	size_t len;
	void *data;

	fresh();
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(journal_last(j, &data, &len) == -ENOENT);
	UNIT_CHECK(journal_append(j, "one", 3, NULL) == 0);
	UNIT_CHECK(journal_append(j, "two", 3, &pos) == 0);
	UNIT_CHECK(journal_last(j, &data, &len) == 0 && len == 3 && !memcmp(data, "two", 3));
	free(data);
	/* Acknowledged: replays skip it, but it is still the last one. */
	UNIT_CHECK(journal_ack(j, pos + 15) == 0);
	journal_close(j);
	UNIT_CHECK(journal_open(&o, &j) == 0);
	UNIT_CHECK(journal_last(j, &data, &len) == 0 && len == 3 && !memcmp(data, "two", 3));
	free(data);
	UNIT_CHECK(journal_append(j, "three", 5, NULL) == 0);
	UNIT_CHECK(journal_last(j, &data, &len) == 0 && len == 5 && !memcmp(data, "three", 5));
	free(data);
	journal_close(j);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT_TEST(test_journal_append_read_reopen),
		UNIT_TEST(test_journal_ack_replays_only_the_rest),
		UNIT_TEST(test_journal_torn_tail_is_cut_and_counted),
		UNIT_TEST(test_journal_corrupt_last_item_is_a_torn_tail),
		UNIT_TEST(test_journal_corrupt_item_in_a_middle_segment_loses_only_it),
		UNIT_TEST(test_journal_append_crc_continues_the_given_crc),
		UNIT_TEST(test_journal_recent_items_are_read_from_memory),
		UNIT_TEST(test_journal_peek_reads_memory_items_in_place),
		UNIT_TEST(test_journal_trim_gives_back_a_burst_and_keeps_recent_items),
		UNIT_TEST(test_journal_flood_keeps_its_copy_until_a_quiet_sync),
		UNIT_TEST(test_journal_short_write_leaves_no_item),
		UNIT_TEST(test_journal_gathered_items_are_written_at_once),
		UNIT_TEST(test_journal_gathered_items_a_failed_write_keeps),
		UNIT_TEST(test_journal_segment_gone_is_skipped),
		UNIT_TEST(test_journal_damaged_cursor_replays_from_the_oldest),
		UNIT_TEST(test_journal_items_of_every_length_read_back),
		UNIT_TEST(test_journal_failed_datasync_writes_again),
		UNIT_TEST(test_journal_sync_of_nothing_new_is_free),
		UNIT_TEST(test_journal_new_segment_syncs_its_directory),
		UNIT_TEST(test_journal_full_is_refused_and_counted),
		UNIT_TEST(test_journal_last_survives_ack_and_reopen),
	};
	char cmd[256];
	int ret;

	snprintf(dir, sizeof(dir), "/tmp/test_journal.%d", (int)getpid());
	ret = unit_main(tests, ARRAY_SIZE(tests));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return ret;
}
