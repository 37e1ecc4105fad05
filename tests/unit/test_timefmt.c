// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timefmt.h"
#include "unit.h"

static void test_timefmt_micro_and_rfc3339(void)
{
	struct timespec ts = { 1795625696, 890123456 };
	char buf[40];

	timefmt_micro(&ts, buf, sizeof(buf));
	UNIT_CHECK_STR(buf, "2026-11-25T16:54:56.890123Z");
	timefmt_rfc3339(&ts, buf, sizeof(buf));
	UNIT_CHECK_STR(buf, "2026-11-25T16:54:56Z");
}

/* timefmt_micro writes what gmtime_r and strftime would: across leap
 * years, century days, before 1970, and the years where it hands over to
 * them; a short buffer gets what snprintf leaves. */
static void test_timefmt_micro_as_strftime(void)
{
	static const time_t edges[] = {
		0,	    -1,		 86399,	       86400,	     951782400,	   951868799,
		4107542400, -2208988800, -62135596800, 253402300799, 253402300800, -62135596801
	};
	unsigned seed = 11;
	int bad = 0;

	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]) + 200000; i++) {
		struct timespec ts = { 0, 0 };
		char got[64], want[64], base[32];
		struct tm tm;

		if (i < sizeof(edges) / sizeof(edges[0]))
			ts.tv_sec = edges[i];
		else
			ts.tv_sec =
				(time_t)(((uint64_t)rand_r(&seed) << 16 ^ (uint64_t)rand_r(&seed)) %
					 (253402300800ull + 62135596800ull)) -
				62135596800;
		ts.tv_nsec = (long)(((unsigned)rand_r(&seed) << 1) % 1000000000u);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(want, sizeof(want), "%s.%06ldZ", base, ts.tv_nsec / 1000);
		timefmt_micro(&ts, got, sizeof(got));
		if (strcmp(got, want) && bad++ < 5)
			UNIT_CHECK_STR(got, want);
	}
	UNIT_CHECK(bad == 0);
	{
		struct timespec ts = { 1795625696, 890123456 };
		char small[12];

		timefmt_micro(&ts, small, sizeof(small));
		UNIT_CHECK_STR(small, "2026-11-25T");
	}
}

static void test_timefmt_parse_forms(void)
{
	struct timespec ts;

	UNIT_CHECK(timefmt_parse("2026-11-25T16:54:56Z", &ts) == 0 && ts.tv_sec == 1795625696 &&
		   ts.tv_nsec == 0);
	UNIT_CHECK(timefmt_parse("2026-11-25T16:54:56.890123Z", &ts) == 0 &&
		   ts.tv_nsec == 890123000);
	UNIT_CHECK(timefmt_parse("2026-11-25T18:54:56+02:00", &ts) == 0 && ts.tv_sec == 1795625696);
	UNIT_CHECK(timefmt_parse("2026-11-25T16:54:56", &ts) == -EINVAL);
	UNIT_CHECK(timefmt_parse("yesterday", &ts) == -EINVAL);
	UNIT_CHECK(timefmt_parse("2026-11-25T16:54:56Zjunk", &ts) == -EINVAL);
}

/* What strptime and timegm make of "s" + "Z" (timefmt_parse's own way
 * for any form other than the fixed one): 0 and *t, or -1. */
static int reference(const char *s, time_t *t)
{
	struct tm tm = { 0 };
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);

	if (!p || *p)
		return -1;
	*t = timegm(&tm);
	return 0;
}

static void test_timefmt_parse_fixed_form_as_strptime(void)
{
	static const char *const edges[] = {
		"1970-01-01T00:00:00", "1969-12-31T23:59:59", "2000-02-29T12:00:00",
		"1900-02-29T00:00:00", "2024-02-30T00:00:00", "2026-02-31T23:59:60",
		"2026-12-31T23:59:61", "0000-01-01T00:00:00", "9999-12-31T23:59:59",
		"2026-00-10T00:00:00", "2026-13-10T00:00:00", "2026-01-00T00:00:00",
		"2026-01-32T00:00:00", "2026-01-01T24:00:00", "2026-01-01T00:60:00",
		"2026-01-01T00:00:62", "2026-1-5T1:2:3",      "2026-01-01 00:00:00",
	};
	unsigned seed = 7;
	size_t i;
	int bad = 0;

	for (i = 0; i < ARRAY_SIZE(edges) + 20000; i++) {
		char s[40], z[44];
		struct timespec ts;
		time_t want;
		int ret;

		if (i < ARRAY_SIZE(edges)) {
			snprintf(s, sizeof(s), "%s", edges[i]);
		} else {
			seed = seed * 1103515245u + 12345u;
			snprintf(s, sizeof(s), "%04u-%02u-%02uT%02u:%02u:%02u", (seed >> 4) % 10000,
				 (seed >> 8) % 14, (seed >> 12) % 33, (seed >> 16) % 25,
				 (seed >> 20) % 61, (seed >> 24) % 63);
		}
		snprintf(z, sizeof(z), "%sZ", s);
		ret = timefmt_parse(z, &ts);
		if (reference(s, &want) < 0 ? ret != -EINVAL : ret != 0 || ts.tv_sec != want) {
			fprintf(stderr, "    %s: %d %lld\n", z, ret, (long long)ts.tv_sec);
			bad++;
		}
	}
	UNIT_CHECK(bad == 0);
}

static void test_timefmt_duration_matches_crd(void)
{
	long long s;

	UNIT_CHECK(timefmt_duration("720h", &s) == 0 && s == 720 * 3600);
	UNIT_CHECK(timefmt_duration("1h30m", &s) == 0 && s == 5400);
	UNIT_CHECK(timefmt_duration("90s", &s) == 0 && s == 90);
	UNIT_CHECK(timefmt_duration("1h2m3s", &s) == 0 && s == 3723);
	UNIT_CHECK(timefmt_duration("", &s) == -EINVAL);
	UNIT_CHECK(timefmt_duration("7d", &s) == -EINVAL);
	UNIT_CHECK(timefmt_duration("30m1h", &s) == -EINVAL);
	UNIT_CHECK(timefmt_duration("1h1h", &s) == -EINVAL);
	UNIT_CHECK(timefmt_duration("1.5h", &s) == -EINVAL);
	UNIT_CHECK(timefmt_duration("h", &s) == -EINVAL);
	UNIT_CHECK(timefmt_duration("12345678h", &s) == -EINVAL);
	UNIT_CHECK(timefmt_duration("999999h", &s) == -EINVAL);
}

UNIT_MAIN(UNIT_TEST(test_timefmt_micro_and_rfc3339), UNIT_TEST(test_timefmt_micro_as_strftime),
	  UNIT_TEST(test_timefmt_parse_forms), UNIT_TEST(test_timefmt_parse_fixed_form_as_strptime),
	  UNIT_TEST(test_timefmt_duration_matches_crd))
