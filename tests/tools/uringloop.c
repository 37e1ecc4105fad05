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
#include <linux/io_uring.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../arg.h"

#define BATCH 32

static char buf[BATCH][64];

static void *ring_map(int ring, size_t len, off_t what)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, what);

	return p == MAP_FAILED ? NULL : p;
}

int main(int argc, char **argv)
{
	long n = argc == 2 ? arg_long(argv[1], "N") : 0, done = 0;
	unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask, tail, head, i, k;
	struct io_uring_params p;
	struct io_uring_sqe *sqes, *sqe;
	struct io_uring_cqe *cqes;
	int ring, fd;
	char *sq, *cq;

	if (n <= 0) {
		fprintf(stderr, "usage: uringloop N\n");
		return 2;
	}
	if ((fd = open("/dev/zero", O_RDONLY)) < 0) {
		perror("uringloop: /dev/zero");
		return 1;
	}
	memset(&p, 0, sizeof(p));
	if ((ring = (int)syscall(__NR_io_uring_setup, BATCH, &p)) < 0) {
		perror("uringloop: io_uring_setup");
		return 1;
	}
	sq = ring_map(ring, p.sq_off.array + p.sq_entries * sizeof(unsigned), IORING_OFF_SQ_RING);
	cq = ring_map(ring, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe),
		      IORING_OFF_CQ_RING);
	sqes = ring_map(ring, p.sq_entries * sizeof(struct io_uring_sqe), IORING_OFF_SQES);
	if (!sq || !cq || !sqes) {
		perror("uringloop: mmap");
		return 1;
	}
	sq_tail = (unsigned *)(sq + p.sq_off.tail);
	sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	sq_array = (unsigned *)(sq + p.sq_off.array);
	cq_head = (unsigned *)(cq + p.cq_off.head);
	cq_tail = (unsigned *)(cq + p.cq_off.tail);
	cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	while (done < n) {
		k = n - done < BATCH ? (unsigned)(n - done) : BATCH;
		tail = *sq_tail;
		for (i = 0; i < k; i++) {
			sqe = &sqes[(tail + i) & *sq_mask];
			memset(sqe, 0, sizeof(*sqe));
			sqe->opcode = IORING_OP_READ;
			sqe->fd = fd;
			sqe->addr = (unsigned long)buf[i];
			sqe->len = sizeof(buf[i]);
			sq_array[(tail + i) & *sq_mask] = (tail + i) & *sq_mask;
		}
		__atomic_store_n(sq_tail, tail + k, __ATOMIC_RELEASE);
		if (syscall(__NR_io_uring_enter, ring, k, k, IORING_ENTER_GETEVENTS, NULL, 0) < 0) {
			perror("uringloop: io_uring_enter");
			return 1;
		}
		head = __atomic_load_n(cq_head, __ATOMIC_ACQUIRE);
		for (; head != __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE); head++, done++)
			if (cqes[head & *cq_mask].res != (int)sizeof(buf[0])) {
				fprintf(stderr, "uringloop: a read of /dev/zero gave %d\n",
					cqes[head & *cq_mask].res);
				return 1;
			}
		__atomic_store_n(cq_head, head, __ATOMIC_RELEASE);
	}
	return 0;
}
