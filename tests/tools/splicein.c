// SPDX-License-Identifier: Apache-2.0
/* splicein: moves its stdin into a pipe of its own with splice(2) and reads
 * that pipe, so that its stdin is never read(2) (what a reader that wants
 * to hide a session's input from a read hook does); prints the bytes moved
 * on stdout. Built static, so that a test can drop it into a container's
 * root. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	unsigned long long total = 0;
	char buf[65536];
	int p[2];
	ssize_t n;

	if (pipe(p) < 0) {
		perror("splicein: pipe");
		return 1;
	}
	for (;;) {
		n = splice(0, NULL, p[1], NULL, sizeof(buf), 0);
		if (n < 0) {
			perror("splicein: splice");
			return 1;
		}
		if (n == 0)
			break;
		total += (unsigned long long)n;
		/* Drain what was moved: the pipe holds 64 KiB. */
		while (n > 0) {
			ssize_t r =
				read(p[0], buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf));

			if (r <= 0) {
				perror("splicein: read");
				return 1;
			}
			n -= r;
		}
	}
	printf("%llu\n", total);
	return 0;
}
