// SPDX-License-Identifier: Apache-2.0
/* aioread: reads one chunk of its stdin (a terminal) through Linux AIO
 * (io_submit(2)), with no read(2), and writes it to stdout. Raw syscalls,
 * no libaio. Built static, so that a test can drop it into a container's
 * root.
 *
 *   aioread             one io_submit of the read alone;
 *   aioread --many N    one io_submit of N iocbs (4,096 at most): N - 1
 *                       one-byte reads of a pipe, then the read of stdin;
 *   aioread --flood N   N io_submit calls of one read of stdin each, made
 *                       non-blocking (O_NONBLOCK, put back after): as fast
 *                       as the syscall goes when nothing is typed (each
 *                       read fails with EAGAIN or reads nothing at end of
 *                       input); writes "N calls, B bytes read". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../arg.h"

#define MANY_MAX 4096

static char buf[4096], small[MANY_MAX];
static struct iocb cb[MANY_MAX], *cbs[MANY_MAX];
static struct io_event ev[MANY_MAX];

/* --flood n (see the top). */
static int flood(long n)
{
	aio_context_t ctx = 0;
	long i, calls = 0, bytes = 0;
	int fl = fcntl(0, F_GETFL);

	if (fl < 0 || fcntl(0, F_SETFL, fl | O_NONBLOCK) < 0) {
		perror("aioread: fcntl");
		return 1;
	}
	if (syscall(__NR_io_setup, 1, &ctx) < 0) {
		perror("aioread: io_setup");
		return 1;
	}
	cbs[0] = &cb[0];
	cb[0].aio_lio_opcode = IOCB_CMD_PREAD;
	cb[0].aio_buf = (unsigned long)buf;
	cb[0].aio_nbytes = sizeof(buf);
	for (i = 0; i < n; i++) {
		if (syscall(__NR_io_submit, ctx, 1, cbs) != 1) {
			perror("aioread: io_submit");
			break;
		}
		calls++;
		if (syscall(__NR_io_getevents, ctx, 1, 1, ev, NULL) != 1) {
			perror("aioread: io_getevents");
			break;
		}
		if ((long long)ev[0].res > 0)
			bytes += (long)ev[0].res;
	}
	(void)fcntl(0, F_SETFL, fl);
	printf("%ld calls, %ld bytes read\n", calls, bytes);
	return calls == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	long n = 1, i, got = 0, k;
	aio_context_t ctx = 0;
	int pfd[2];

	if (argc == 3 && !strcmp(argv[1], "--flood"))
		return flood(arg_long(argv[2], "N"));
	if (argc == 3 && !strcmp(argv[1], "--many"))
		n = arg_long(argv[2], "N");
	if ((argc != 1 && argc != 3) || n < 1 || n > MANY_MAX) {
		fprintf(stderr, "usage: aioread [--many N | --flood N]\n");
		return 2;
	}
	if (pipe(pfd) < 0) {
		perror("aioread: pipe");
		return 1;
	}
	/* What the first N - 1 take: a byte each, there already. */
	if (write(pfd[1], small, (size_t)n - 1) != (ssize_t)n - 1) {
		perror("aioread: write to the pipe");
		return 1;
	}
	if (syscall(__NR_io_setup, n, &ctx) < 0) {
		perror("aioread: io_setup");
		return 1;
	}
	for (i = 0; i < n; i++) {
		cbs[i] = &cb[i];
		cb[i].aio_lio_opcode = IOCB_CMD_PREAD;
		cb[i].aio_data = (__u64)i;
		cb[i].aio_fildes = i == n - 1 ? 0 : (__u32)pfd[0];
		cb[i].aio_buf = i == n - 1 ? (unsigned long)buf : (unsigned long)&small[i];
		cb[i].aio_nbytes = i == n - 1 ? sizeof(buf) : 1;
	}
	if (syscall(__NR_io_submit, ctx, n, cbs) != n) {
		perror("aioread: io_submit");
		return 1;
	}
	while (got < n) {
		k = syscall(__NR_io_getevents, ctx, 1, n - got, ev + got, NULL);
		if (k < 0) {
			perror("aioread: io_getevents");
			return 1;
		}
		got += k;
	}
	for (i = 0; i < n; i++) {
		if (ev[i].data != (__u64)n - 1)
			continue;
		if ((long long)ev[i].res < 0) {
			fprintf(stderr, "aioread: read: %s\n",
				strerror((int)-(long long)ev[i].res));
			return 1;
		}
		return write(1, buf, (size_t)ev[i].res) == (ssize_t)ev[i].res ? 0 : 1;
	}
	fprintf(stderr, "aioread: no event of the read of stdin\n");
	return 1;
}
