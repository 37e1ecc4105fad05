// SPDX-License-Identifier: Apache-2.0
/* elfbench FILE...: the wall time of elfsym_find(readline) on each file,
 * the best of BENCH_ELF_RUNS (3) runs, as "<ms>\t<result>\t<file>". Built by
 * tests/bench/elf.sh twice, against this tree's elfsym.c and the one
 * before the per-file bounds, for a side-by-side figure. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../arg.h"
#include "elfsym.h"

static double bench_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	const char *env = getenv("BENCH_ELF_RUNS");
	long runs = env ? arg_long(env, "BENCH_ELF_RUNS") : 3;
	int i, r, fd, err = 0;
	struct elfsym s;
	double best, t0, t;

	for (i = 1; i < argc; i++) {
		fd = open(argv[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			perror(argv[i]);
			return 1;
		}
		best = -1;
		for (r = 0; r < (runs > 0 ? runs : 1); r++) {
			t0 = bench_now_ms();
			err = elfsym_find(fd, "readline", &s, NULL);
			t = bench_now_ms() - t0;
			if (best < 0 || t < best)
				best = t;
		}
		printf("%.3f\t%s\t%s\n", best, err ? strerror(-err) : "found", argv[i]);
		close(fd);
	}
	return 0;
}
