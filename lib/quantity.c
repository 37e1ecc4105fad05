// SPDX-License-Identifier: Apache-2.0
/* Byte quantities: parsing (flags, policy fields) and display. */
#include "quantity.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define QUANTITY_MAX (1LL << 62)

int quantity_bytes(const char *s, long long *out)
{
	static const struct {
		const char *suffix;
		long long mult;
	} units[] = { { "", 1 },
		      { "k", 1000LL },
		      { "M", 1000LL * 1000 },
		      { "G", 1000LL * 1000 * 1000 },
		      { "T", 1000LL * 1000 * 1000 * 1000 },
		      { "Ki", 1LL << 10 },
		      { "Mi", 1LL << 20 },
		      { "Gi", 1LL << 30 },
		      { "Ti", 1LL << 40 } };
	long long n = 0;
	size_t i;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (n > (QUANTITY_MAX - (*s - '0')) / 10)
			return -ERANGE;
		n = n * 10 + (*s - '0');
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s, units[i].suffix))
			continue;
		if (n > QUANTITY_MAX / units[i].mult)
			return -ERANGE;
		*out = n * units[i].mult;
		return 0;
	}
	return -EINVAL;
}

const char *quantity_format(long long bytes, char *buf, unsigned long cap)
{
	static const char *const units[] = { "Ki", "Mi", "Gi", "Ti" };
	double v = (double)bytes / 1024;
	int i = 0;

	if (bytes < 10240) {
		snprintf(buf, cap, "%lld", bytes);
		return buf;
	}
	while (i < 3 && v >= 1024) {
		v /= 1024;
		i++;
	}
	if (v == (double)(long long)v)
		snprintf(buf, cap, "%lld%s", (long long)v, units[i]);
	else
		snprintf(buf, cap, "%.1f%s", v, units[i]);
	return buf;
}
