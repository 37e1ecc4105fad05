// SPDX-License-Identifier: Apache-2.0
/* refused: the table of refused ELF files by identity. Refusals from the
 * headers hold for good, refusals for time are retried after a doubling
 * delay; the table survives a close and open (an agent restart), is
 * bounded (the least recently seen entry goes), and a damaged or hostile
 * file gives an empty table or its good lines, never a crash. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "../../node-agent/refused.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char dir[64];

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test-refused.XXXXXX");
	if (!mkdtemp(dir))
		dir[0] = '\0';
}

static void remove_dir(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/" REFUSED_FILE, dir);
	unlink(path);
	rmdir(dir);
}

static void id_of(unsigned int n, char id[ELFSYM_ID_LEN])
{
	snprintf(id, ELFSYM_ID_LEN, "%u-" HEX64, n);
}

static void test_refused_header_refusal_holds_for_good(void)
{
	struct refused *r;
	const struct refused_entry *e;

	UNIT_CHECK(refused_open(NULL, &r) == 0);
	UNIT_CHECK(refused_add(r, "12-" HEX64, -EFBIG, "ELF file has too many sections", false,
			       1000) == 0);
	e = refused_find(r, "12-" HEX64, 1000 + 10 * REFUSED_RETRY_MAX_S);
	UNIT_CHECK(e != NULL);
	if (e) {
		UNIT_CHECK(e->err == -EFBIG);
		UNIT_CHECK_STR(e->why, "ELF file has too many sections");
	}
	UNIT_CHECK(refused_find(r, "13-" HEX64, 1000) == NULL);
	UNIT_CHECK(refused_add(r, "not an id", -EFBIG, "x", false, 1000) == -EINVAL);
	UNIT_CHECK(refused_add(r, "", -EFBIG, "x", false, 1000) == -EINVAL);
	refused_close(r);
}

static void test_refused_time_refusal_is_retried_after_a_doubling_delay(void)
{
	struct refused *r;
	const char *id = "99-" HEX64;

	UNIT_CHECK(refused_open(NULL, &r) == 0);
	refused_add(r, id, -ETIMEDOUT, "slow", true, 1000);
	UNIT_CHECK(refused_find(r, id, 1000 + REFUSED_RETRY_MIN_S - 1) != NULL);
	UNIT_CHECK(refused_find(r, id, 1000 + REFUSED_RETRY_MIN_S) == NULL);
	/* Slow again: twice as long. */
	refused_add(r, id, -ETIMEDOUT, "slow", true, 2000);
	UNIT_CHECK(refused_find(r, id, 2000 + 2 * REFUSED_RETRY_MIN_S - 1) != NULL);
	UNIT_CHECK(refused_find(r, id, 2000 + 2 * REFUSED_RETRY_MIN_S) == NULL);
	/* Read in time at last: forgotten. */
	refused_forget(r, id);
	UNIT_CHECK(refused_count(r) == 0);
	refused_close(r);
}

static void test_refused_table_survives_a_restart(void)
{
	struct refused *r;
	const struct refused_entry *e;

	make_dir();
	UNIT_CHECK(dir[0] != '\0');
	UNIT_CHECK(refused_open(dir, &r) == 0);
	UNIT_CHECK(refused_count(r) == 0);
	refused_add(r, "1-" HEX64, -ENOEXEC, "ELF sections overlap", false, 5000);
	refused_add(r, "2-" HEX64, -ETIMEDOUT, "reading the file took longer than the bound", true,
		    5000);
	UNIT_CHECK(refused_flush(r, 5000, false) == 1);
	UNIT_CHECK(refused_flush(r, 5000, false) == 0); /* nothing new */
	refused_add(r, "3-" HEX64, -EFBIG, "ELF symbol tables larger than the bound", false, 5001);
	UNIT_CHECK(refused_flush(r, 5001, false) == 0); /* too soon: at close */
	UNIT_CHECK(refused_close(r) == 0);

	UNIT_CHECK(refused_open(dir, &r) == 0);
	UNIT_CHECK(refused_count(r) == 3);
	e = refused_find(r, "1-" HEX64, 6000);
	UNIT_CHECK(e && e->err == -ENOEXEC && !strcmp(e->why, "ELF sections overlap"));
	UNIT_CHECK(refused_find(r, "3-" HEX64, 6000) != NULL);
	UNIT_CHECK(refused_find(r, "2-" HEX64, 5000 + REFUSED_RETRY_MIN_S - 1) != NULL);
	UNIT_CHECK(refused_find(r, "2-" HEX64, 5000 + REFUSED_RETRY_MIN_S) == NULL);
	refused_close(r);
	remove_dir();
}

static void test_refused_table_is_bounded_least_recently_seen_first(void)
{
	char id[ELFSYM_ID_LEN];
	struct refused *r;
	unsigned int i;

	UNIT_CHECK(refused_open(NULL, &r) == 0);
	for (i = 0; i < REFUSED_MAX; i++) {
		id_of(i, id);
		refused_add(r, id, -EFBIG, "x", false, 100 + i);
	}
	id_of(0, id);
	UNIT_CHECK(refused_find(r, id, 10000) != NULL); /* seen last now */
	id_of(REFUSED_MAX, id);
	refused_add(r, id, -EFBIG, "x", false, 20000);
	UNIT_CHECK(refused_count(r) == REFUSED_MAX);
	UNIT_CHECK(refused_find(r, id, 20000) != NULL);
	id_of(0, id);
	UNIT_CHECK(refused_find(r, id, 20000) != NULL);
	id_of(1, id); /* the least recently seen */
	UNIT_CHECK(refused_find(r, id, 20000) == NULL);
	refused_close(r);
}

static void test_refused_damaged_file_keeps_its_good_lines(void)
{
	char path[128], big[1024];
	struct refused *r;
	FILE *f;

	make_dir();
	snprintf(path, sizeof(path), "%s/" REFUSED_FILE, dir);
	f = fopen(path, "w");
	UNIT_CHECK(f != NULL);
	if (!f)
		return;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fprintf(f, "v1 5-" HEX64 " -27 0 0 100 ELF file has too many sections\n");
	fprintf(f, "garbage\n");
	fprintf(f, "v1 5-zz -27 0 0 100 not hex\n");
	fprintf(f, "v1 6-" HEX64 " 27 0 0 100 positive errno\n");
	fprintf(f, "v2 7-" HEX64 " -27 0 0 100 another version\n");
	fprintf(f, "%s\n", big);
	fprintf(f, "v1 8-" HEX64 " -8 0 0 100 bytes \x1b[31m escaped\n");
	fprintf(f, "v1 9-" HEX64 " -27 0 0 100 no newline at the end");
	fclose(f);
	UNIT_CHECK(refused_open(dir, &r) == 0);
	UNIT_CHECK(refused_count(r) == 3);
	UNIT_CHECK(refused_find(r, "5-" HEX64, 200) != NULL);
	UNIT_CHECK(refused_find(r, "9-" HEX64, 200) != NULL);
	if (refused_find(r, "8-" HEX64, 200))
		UNIT_CHECK_STR(refused_find(r, "8-" HEX64, 200)->why, "bytes ?[31m escaped");
	refused_close(r);
	/* Over the size bound: not read, the table starts empty. */
	UNIT_CHECK(truncate(path, REFUSED_FILE_MAX + 1) == 0);
	UNIT_CHECK(refused_open(dir, &r) == -EFBIG);
	UNIT_CHECK(r != NULL && refused_count(r) == 0);
	refused_close(r);
	remove_dir();
}

static void test_refused_parse_line_round_trips(void)
{
	struct refused_entry e;

	UNIT_CHECK(refused_parse_line("v1 1-" HEX64 " -110 1234 120 99 slow file\n", &e) == 0);
	UNIT_CHECK(e.err == -ETIMEDOUT && e.retry_at == 1234 && e.backoff_s == 120 && e.seen == 99);
	UNIT_CHECK_STR(e.why, "slow file");
	UNIT_CHECK(refused_parse_line("v1 1-" HEX64 " -110 -5 120 99 x\n", &e) == -EINVAL);
	UNIT_CHECK(refused_parse_line("v1 1-" HEX64 " -110 1 999999999 99 x\n", &e) == -EINVAL);
	UNIT_CHECK(refused_parse_line("v1 1-" HEX64 "\n", &e) == -EINVAL);
	UNIT_CHECK(refused_parse_line("", &e) == -EINVAL);
	/* A number that does not fit is refused, not wrapped: 2^32 - 110
	 * would be -110 in an int, 2^64 + 1 one more than 1 in a long long. */
	UNIT_CHECK(refused_parse_line("v1 1-" HEX64 " 4294967186 1 120 99 x\n", &e) == -EINVAL);
	UNIT_CHECK(refused_parse_line("v1 1-" HEX64 " -110 18446744073709551617 120 99 x\n", &e) ==
		   -EINVAL);
	UNIT_CHECK(refused_parse_line("v1 1-" HEX64 " -110 1 4294967416 99 x\n", &e) == -EINVAL);
	UNIT_CHECK(refused_parse_line("v1 1-" HEX64 " -110x 1 120 99\n", &e) == -EINVAL);
	UNIT_CHECK(refused_parse_line("v1 1-" HEX64 " -110 1 120 99", &e) == 0);
	UNIT_CHECK(e.seen == 99 && e.why[0] == '\0');
}

UNIT_MAIN(UNIT_TEST(test_refused_header_refusal_holds_for_good),
	  UNIT_TEST(test_refused_time_refusal_is_retried_after_a_doubling_delay),
	  UNIT_TEST(test_refused_table_survives_a_restart),
	  UNIT_TEST(test_refused_table_is_bounded_least_recently_seen_first),
	  UNIT_TEST(test_refused_damaged_file_keeps_its_good_lines),
	  UNIT_TEST(test_refused_parse_line_round_trips))
