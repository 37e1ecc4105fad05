// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static void test_journal_corrupt_payload_ends_the_readable_part(void)
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
		UNIT_TEST(test_journal_corrupt_payload_ends_the_readable_part),
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
