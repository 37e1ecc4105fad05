// SPDX-License-Identifier: Apache-2.0
/* Time stamps and durations as the API server writes and validates them. */
#include "timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void timefmt_rfc3339(const struct timespec *ts, char *buf, size_t cap)
{
	struct tm tm;

	gmtime_r(&ts->tv_sec, &tm);
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void timefmt_micro(const struct timespec *ts, char *buf, size_t cap)
{
	char base[32];
	struct tm tm;

	gmtime_r(&ts->tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, cap, "%s.%06ldZ", base, ts->tv_nsec / 1000);
}

/* Days from 1970-01-01 to y-m-d, d past the month's end counting on into
 * the next (as timegm normalises it); H. Hinnant's days_from_civil. */
static int64_t timefmt_days(int64_t y, int m, int d)
{
	int64_t era, yoe, doy;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static int timefmt_2(const char *p)
{
	return (p[0] - '0') * 10 + (p[1] - '0');
}

/* "YYYY-MM-DDTHH:MM:SS" with every field in strptime's range, read without
 * it (strptime and timegm were a tenth of the batcher's time under an exec
 * flood): the seconds since the epoch in *t and true; false for any other
 * form, left to strptime. */
static bool timefmt_fixed(const char *s, time_t *t)
{
	static const char form[] = "dddd-dd-ddTdd:dd:dd";
	int i, mon, mday, hour, min, sec;

	for (i = 0; form[i]; i++)
		if (form[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != form[i])
			return false;
	mon = timefmt_2(s + 5);
	mday = timefmt_2(s + 8);
	hour = timefmt_2(s + 11);
	min = timefmt_2(s + 14);
	sec = timefmt_2(s + 17);
	if (mon < 1 || mon > 12 || mday < 1 || mday > 31 || hour > 23 || min > 59 || sec > 61)
		return false;
	*t = (time_t)(timefmt_days(timefmt_2(s) * 100 + timefmt_2(s + 2), mon, mday) * 86400 +
		      hour * 3600 + min * 60 + sec);
	return true;
}

int timefmt_parse(const char *s, struct timespec *out)
{
	struct tm tm = { 0 };
	const char *p;
	long frac = 0, scale = 100000000;
	int off = 0;
	time_t t = 0;
	bool fixed = timefmt_fixed(s, &t);

	p = fixed ? s + 19 : strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -EINVAL;
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++) {
			frac += (*p - '0') * scale;
			scale /= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
		   isdigit((unsigned char)p[2]) && p[3] == ':' && isdigit((unsigned char)p[4]) &&
		   isdigit((unsigned char)p[5])) {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
		      ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		if (*p == '+')
			off = -off;
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	if (!fixed)
		t = timegm(&tm);
	out->tv_sec = t + off;
	out->tv_nsec = frac;
	return 0;
}

int timefmt_duration(const char *s, long long *seconds)
{
	static const struct {
		char unit;
		long long mult;
	} units[] = { { 'h', 3600 }, { 'm', 60 }, { 's', 1 } };
	long long total = 0, v;
	size_t u = 0, digits;
	int any = 0;

	while (*s) {
		for (v = 0, digits = 0; isdigit((unsigned char)*s) && digits < 7; s++, digits++)
			v = v * 10 + (*s - '0');
		if (!digits || isdigit((unsigned char)*s))
			return -EINVAL;
		/* Units in order h, m, s, each at most once, as the CRD allows. */
		while (u < 3 && units[u].unit != *s)
			u++;
		if (u == 3)
			return -EINVAL;
		total += v * units[u].mult;
		u++;
		s++;
		any = 1;
	}
	if (!any || total > 100LL * 366 * 86400)
		return -EINVAL;
	*seconds = total;
	return 0;
}
