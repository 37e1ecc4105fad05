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

/* y-m-d of the day z days from 1970-01-01; H. Hinnant's civil_from_days. */
static void timefmt_civil(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* v's last n decimal digits at p. */
static void timefmt_digits(char *p, unsigned long v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

#define TIMEFMT_MICRO_LEN 27 /* "2026-11-25T16:41:36.890123Z" */

void timefmt_micro(const struct timespec *ts, char *buf, size_t cap)
{
	int64_t days = ts->tv_sec / 86400, secs = ts->tv_sec % 86400, y;
	unsigned m, d;
	char base[32];
	struct tm tm;

	if (secs < 0) {
		secs += 86400;
		days--;
	}
	timefmt_civil(days, &y, &m, &d);
	/* Digit by digit: strftime was most of an exec entry's time stamp,
	 * which every entry has. Other years (glibc pads none below 1000),
	 * nanoseconds out of range or a short buffer take the C library's
	 * way. */
	if (y >= 1000 && y <= 9999 && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000 &&
	    cap > TIMEFMT_MICRO_LEN) {
		memcpy(buf, "0000-00-00T00:00:00.000000Z", TIMEFMT_MICRO_LEN + 1);
		timefmt_digits(buf, (unsigned long)y, 4);
		timefmt_digits(buf + 5, m, 2);
		timefmt_digits(buf + 8, d, 2);
		timefmt_digits(buf + 11, (unsigned long)(secs / 3600), 2);
		timefmt_digits(buf + 14, (unsigned long)(secs / 60 % 60), 2);
		timefmt_digits(buf + 17, (unsigned long)(secs % 60), 2);
		timefmt_digits(buf + 20, (unsigned long)(ts->tv_nsec / 1000), 6);
		return;
	}
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
