/* SPDX-License-Identifier: Apache-2.0 */
/* Minimal unit-test harness: each test is a function, UNIT_CHECK records a
 * failure without aborting, unit_main prints "N passed, N failed" last. */
#ifndef SHELLAUDIT_UNIT_H
#define SHELLAUDIT_UNIT_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

struct unit_test {
	const char *name;
	void (*fn)(void);
};

static int unit_failures_in_test;

#define UNIT_CHECK(cond)                                                                   \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "    %s:%d: check failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                    \
			unit_failures_in_test++;                                           \
		}                                                                          \
	} while (0)

#define UNIT_CHECK_STR(actual, expected)                                                   \
	do {                                                                               \
		const char *a_ = (actual), *e_ = (expected);                               \
		if (!a_ || strcmp(a_, e_) != 0) {                                          \
			fprintf(stderr, "    %s:%d: expected \"%s\", got \"%s\"\n", __FILE__, \
				__LINE__, e_, a_ ? a_ : "(null)");                         \
			unit_failures_in_test++;                                           \
		}                                                                          \
	} while (0)

#define UNIT_TEST(fn) { #fn, fn }

/* Whether the path of the file open at fd has part in it (a datasync hook
 * that fails or notes only some files). */
static inline bool unit_fd_in(int fd, const char *part)
{
	char link[64], path[512];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = '\0';
	return strstr(path, part) != NULL;
}

static inline int unit_main(const struct unit_test *tests, size_t n)
{
	size_t i, passed = 0, failed = 0;

	for (i = 0; i < n; i++) {
		unit_failures_in_test = 0;
		tests[i].fn();
		if (unit_failures_in_test) {
			failed++;
			printf("  FAIL %s\n", tests[i].name);
		} else {
			passed++;
			printf("  ok   %s\n", tests[i].name);
		}
	}
	printf("%zu passed, %zu failed\n", passed, failed);
	return failed ? 1 : 0;
}

#define UNIT_MAIN(...)                                                                     \
	int main(void)                                                                     \
	{                                                                                  \
		static const struct unit_test tests_[] = { __VA_ARGS__ };                  \
		return unit_main(tests_, ARRAY_SIZE(tests_));              \
	}

#endif
