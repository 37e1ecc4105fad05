/* SPDX-License-Identifier: Apache-2.0 */
/* The checks of the C integration programs: one line per check and the
 * "N passed, N failed" line tests/run.sh reads, printed by check_summary. */
#ifndef SHELLAUDIT_CHECK_H
#define SHELLAUDIT_CHECK_H

#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(name, cond)                                                                  \
	do {                                                                               \
		if (cond) {                                                                \
			check_passed++;                                                    \
			printf("  ok   %s\n", name);                                       \
		} else {                                                                   \
			check_failed++;                                                    \
			printf("  FAIL %s (%s:%d: %s)\n", name, __FILE__, __LINE__, #cond); \
		}                                                                          \
	} while (0)

/* Prints the summary; returns the program's exit status. */
static inline int check_summary(void)
{
	printf("%d passed, %d failed\n", check_passed, check_failed);
	return check_failed ? 1 : 0;
}

#endif
