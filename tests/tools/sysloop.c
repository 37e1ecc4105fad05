// SPDX-License-Identifier: Apache-2.0
/* sysloop: N getppid() system calls, for make bench: what every syscall of
 * a process pays while a syscall hook is attached, read or not. Built
 * static, so that the bench can drop it into a container's root.
 *
 *   sysloop N */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../arg.h"

int main(int argc, char **argv)
{
	long n = argc == 2 ? arg_long(argv[1], "N") : 0, i;

	if (n <= 0) {
		fprintf(stderr, "usage: sysloop N\n");
		return 2;
	}
	for (i = 0; i < n; i++)
		syscall(SYS_getppid); /* not cached by libc, never short-cut */
	return 0;
}
