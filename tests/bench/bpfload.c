// SPDX-License-Identifier: Apache-2.0
/* bpfload [RUNS]: what loading the agent's BPF object costs, most of it
 * the kernel's verifier. Each program loaded alone, as
 * "<name>\t<instructions the verifier processed>\t<its verification ms>"
 * (its own statistics), then the whole object as an agent with terminal
 * capture by tracepoints and 32-bit reads loads it, the best of RUNS (3)
 * wall times, as "whole\t-\t<ms>". Built by tests/bench/verifier.sh twice,
 * against this tree's skeleton and an earlier one, for a side-by-side
 * figure. Root. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "../arg.h"
#include "shellaudit.skel.h"

#define BPFLOAD_PROGS 64

static char bpfload_log[1 << 16];

static double bpfload_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The skeleton opened and set as the agent sets it for terminal capture by
 * the syscall tracepoints, with the raw hooks beside them for 32-bit
 * reads; NULL when it cannot be opened. */
static struct shellaudit_bpf *bpfload_open(void)
{
	struct shellaudit_bpf *o = shellaudit_bpf__open();

	if (o)
		o->rodata->raw_beside_tp = true;
	return o;
}

/* Loads program name alone and prints its line; -1 when it cannot. */
static int bpfload_one(const char *name)
{
	struct shellaudit_bpf *o = bpfload_open();
	struct bpf_program *p;
	const char *insns, *verify;
	int err;

	if (!o)
		return -1;
	bpf_object__for_each_program(p, o->obj)
	{
		bool me = !strcmp(bpf_program__name(p), name);

		bpf_program__set_autoload(p, me);
		if (me) {
			bpf_program__set_log_level(p, 4); /* statistics only */
			bpf_program__set_log_buf(p, bpfload_log, sizeof(bpfload_log));
		}
	}
	bpfload_log[0] = '\0';
	err = shellaudit_bpf__load(o);
	insns = strstr(bpfload_log, "processed ");
	verify = strstr(bpfload_log, "verification time ");
	if (!err && insns && verify)
		printf("%s\t%ld\t%.1f\n", name, strtol(insns + strlen("processed "), NULL, 10),
		       strtol(verify + strlen("verification time "), NULL, 10) / 1e3);
	shellaudit_bpf__destroy(o);
	return err || !insns || !verify ? -1 : 0;
}

int main(int argc, char **argv)
{
	long runs = argc > 1 ? arg_long(argv[1], "RUNS") : 3;
	char *names[BPFLOAD_PROGS];
	struct shellaudit_bpf *o;
	struct bpf_program *p;
	double best = 0, t;
	int n = 0, i, err = 0;

	libbpf_set_print(NULL);
	o = bpfload_open();
	if (!o) {
		fprintf(stderr, "bpfload: cannot open the BPF object\n");
		return 1;
	}
	bpf_object__for_each_program(p, o->obj)
	{
		if (n < BPFLOAD_PROGS)
			names[n++] = strdup(bpf_program__name(p));
	}
	shellaudit_bpf__destroy(o);
	for (i = 0; i < n; i++) {
		if (names[i] && bpfload_one(names[i])) {
			fprintf(stderr, "bpfload: %s did not load alone\n", names[i]);
			err = 1;
		}
		free(names[i]);
	}
	for (i = 0; i < runs; i++) {
		o = bpfload_open();
		t = bpfload_now_ms();
		if (!o || shellaudit_bpf__load(o)) {
			fprintf(stderr, "bpfload: the whole object did not load\n");
			shellaudit_bpf__destroy(o);
			return 1;
		}
		t = bpfload_now_ms() - t;
		shellaudit_bpf__destroy(o);
		if (i == 0 || t < best)
			best = t;
	}
	printf("whole\t-\t%.1f\n", best);
	return err;
}
