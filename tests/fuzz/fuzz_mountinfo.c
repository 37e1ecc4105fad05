// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: /proc/PID/mountinfo as realfile reads it, overlay
 * options included. The input is one line for realfile_parse_mountinfo(),
 * then, as a stream, for realfile_read_mount() looking for the mount id
 * the first bytes name. Besides what ASan and UBSan catch: a parsed line
 * has absolute root, mount point and layers, no more layers than the
 * bound, and points into the line it was given. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "realfile.h"

#define FUZZ_CHECK(c) ((c) ? (void)0 : __builtin_trap())

static char line[REALFILE_LINE_MAX];

static bool fuzz_inside(const char *p, const char *buf, size_t cap)
{
	return p >= buf && p < buf + cap;
}

static void fuzz_check_mount(const struct realfile_mount *m, const char *buf, size_t cap)
{
	size_t i;

	FUZZ_CHECK(fuzz_inside(m->root, buf, cap) && m->root[0] == '/');
	FUZZ_CHECK(fuzz_inside(m->mountpoint, buf, cap) && m->mountpoint[0] == '/');
	FUZZ_CHECK(fuzz_inside(m->fstype, buf, cap));
	FUZZ_CHECK(m->nlower <= REALFILE_LOWER_MAX);
	if (strcmp(m->fstype, "overlay")) {
		FUZZ_CHECK(!m->upper && m->nlower == 0);
		return;
	}
	FUZZ_CHECK(m->nlower > 0);
	FUZZ_CHECK(!m->upper || (fuzz_inside(m->upper, buf, cap) && m->upper[0] == '/' &&
				 !strchr(m->upper, '\\')));
	for (i = 0; i < m->nlower; i++)
		FUZZ_CHECK(fuzz_inside(m->lower[i], buf, cap) && m->lower[i][0] == '/');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct realfile_mount m;
	char num[24], *copy;
	unsigned long id;
	FILE *f;
	int err;

	if (size >= sizeof(line))
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	err = realfile_parse_mountinfo(line, &m);
	FUZZ_CHECK(err == 0 || err == -EINVAL || err == -ENOTSUP);
	if (!err)
		fuzz_check_mount(&m, line, sizeof(line));

	/* The same bytes as a whole mountinfo file: the id of its first
	 * line is looked for, through a buffer smaller than some lines. */
	if (size == 0 || !(copy = malloc(size)))
		return 0;
	memcpy(copy, data, size);
	snprintf(num, sizeof(num), "%.*s", (int)(size < 20 ? size : 20), (const char *)data);
	id = strtoul(num, NULL, 10);
	f = fmemopen(copy, size, "r");
	if (f) {
		err = realfile_read_mount(f, id, line, 512, &m);
		FUZZ_CHECK(err == 0 || err == -EINVAL || err == -ENOTSUP || err == -ENOENT ||
			   err == -E2BIG);
		if (!err)
			fuzz_check_mount(&m, line, 512);
		fclose(f);
	}
	free(copy);
	return 0;
}
