// SPDX-License-Identifier: Apache-2.0
/* aioread: reads one chunk of its stdin (a terminal) through Linux AIO
 * (io_submit(2)), with no read(2), and writes it to stdout. Raw syscalls,
 * no libaio. Built static, so that a test can drop it into a container's
 * root. */
#define _GNU_SOURCE
#include <linux/aio_abi.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static char buf[4096];

int main(void)
{
	aio_context_t ctx = 0;
	struct iocb cb, *cbs[1] = { &cb };
	struct io_event ev;
	long n;

	if (syscall(__NR_io_setup, 1, &ctx) < 0) {
		perror("aioread: io_setup");
		return 1;
	}
	memset(&cb, 0, sizeof(cb));
	cb.aio_lio_opcode = IOCB_CMD_PREAD;
	cb.aio_fildes = 0;
	cb.aio_buf = (unsigned long)buf;
	cb.aio_nbytes = sizeof(buf);
	if (syscall(__NR_io_submit, ctx, 1, cbs) != 1) {
		perror("aioread: io_submit");
		return 1;
	}
	do
		n = syscall(__NR_io_getevents, ctx, 1, 1, &ev, NULL);
	while (n == 0);
	if (n < 0) {
		perror("aioread: io_getevents");
		return 1;
	}
	if ((long long)ev.res < 0) {
		fprintf(stderr, "aioread: read: %s\n", strerror((int)-(long long)ev.res));
		return 1;
	}
	return write(1, buf, (size_t)ev.res) == (ssize_t)ev.res ? 0 : 1;
}
