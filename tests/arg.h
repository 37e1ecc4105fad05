/* SPDX-License-Identifier: Apache-2.0 */
/* The numeric arguments the test scripts pass to the C test programs and
 * tools: a number that is not one is the script's mistake, said as such,
 * rather than a 0 that would make a check pass or fail for another reason. */
#ifndef SHELLAUDIT_ARG_H
#define SHELLAUDIT_ARG_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* The decimal number s, all of it, the argument named what; or exits 2
 * with a message saying which argument was bad. */
static inline long arg_long(const char *s, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end) {
		fprintf(stderr, "%s must be a number, not '%s'\n", what, s);
		exit(2);
	}
	return v;
}

#endif
