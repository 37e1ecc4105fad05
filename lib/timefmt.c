// SPDX-License-Identifier: Apache-2.0
/* Time stamps and durations as the API server writes and validates them. */
#include "timefmt.h"

#include <ctype.h>
#include <errno.h>
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

int timefmt_parse(const char *s, struct timespec *out)
{
	struct tm tm = { 0 };
	const char *p;
	long frac = 0, scale = 100000000;
	int off = 0;
	time_t t;

	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
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
