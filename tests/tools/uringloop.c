// SPDX-License-Identifier: Apache-2.0
/* uringloop: N reads of 64 bytes of /dev/zero through io_uring, 32
 * requests per io_uring_enter, for make bench: what every io_uring request
 * of a node pays while the terminal hooks (io_uring's tracepoints among
 * them) are attached. Each read takes its file from the fd (not a fixed
 * one), as most programs' do. Raw syscalls, no liburing; built static, so
 * that the bench can drop it into a container's root.
 *
 *   uringloop N */
#include <fcntl.h>
#include <stdio.h>

#include "../arg.h"
#include "uring.h"

#define BATCH 32

static char buf[BATCH][64];

int main(int argc, char **argv)
{
	long n = argc == 2 ? arg_long(argv[1], "N") : 0, done = 0;
	struct io_uring_sqe *sqe;
	struct uring u;
	unsigned head, i, k;
	int fd;

	if (n <= 0) {
		fprintf(stderr, "usage: uringloop N\n");
		return 2;
	}
	if ((fd = open("/dev/zero", O_RDONLY)) < 0) {
		perror("uringloop: /dev/zero");
		return 1;
	}
	if (uring_open(BATCH, &u) < 0) {
		perror("uringloop: io_uring");
		return 1;
	}
	while (done < n) {
		k = n - done < BATCH ? (unsigned)(n - done) : BATCH;
		for (i = 0; i < k; i++) {
			sqe = uring_sqe(&u, i);
			sqe->opcode = IORING_OP_READ;
			sqe->fd = fd;
			sqe->addr = (unsigned long)buf[i];
			sqe->len = sizeof(buf[i]);
		}
		uring_push(&u, k);
		if (syscall(__NR_io_uring_enter, u.fd, k, k, IORING_ENTER_GETEVENTS, NULL, 0) < 0) {
			perror("uringloop: io_uring_enter");
			return 1;
		}
		head = __atomic_load_n(u.cq_head, __ATOMIC_ACQUIRE);
		for (; head != __atomic_load_n(u.cq_tail, __ATOMIC_ACQUIRE); head++, done++)
			if (u.cqes[head & *u.cq_mask].res != (int)sizeof(buf[0])) {
				fprintf(stderr, "uringloop: a read of /dev/zero gave %d\n",
					u.cqes[head & *u.cq_mask].res);
				return 1;
			}
		__atomic_store_n(u.cq_head, head, __ATOMIC_RELEASE);
	}
	return 0;
}
