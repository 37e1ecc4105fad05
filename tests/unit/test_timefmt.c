// SPDX-License-Identifier: Apache-2.0
#include <errno.h>

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

UNIT_MAIN(UNIT_TEST(test_timefmt_micro_and_rfc3339), UNIT_TEST(test_timefmt_parse_forms),
	  UNIT_TEST(test_timefmt_duration_matches_crd))
