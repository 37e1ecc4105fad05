/* SPDX-License-Identifier: Apache-2.0 */
/* A bare io_uring for the test tools: raw syscalls, no liburing (the tools
 * are built static and copied into containers' roots). */
#ifndef SHELLAUDIT_TOOLS_URING_H
#define SHELLAUDIT_TOOLS_URING_H

#include <linux/io_uring.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct uring {
	int fd;
	unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static inline void *uring_map(int fd, size_t len, off_t what)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, what);

	return p == MAP_FAILED ? NULL : p;
}

/* A ring of `entries` requests into *u: 0, or -1 with errno set. */
static inline int uring_open(unsigned entries, struct uring *u)
{
	struct io_uring_params p;
	char *sq, *cq;

	memset(&p, 0, sizeof(p));
	if ((u->fd = (int)syscall(__NR_io_uring_setup, entries, &p)) < 0)
		return -1;
	sq = uring_map(u->fd, p.sq_off.array + p.sq_entries * sizeof(unsigned), IORING_OFF_SQ_RING);
	cq = uring_map(u->fd, p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe),
		       IORING_OFF_CQ_RING);
	u->sqes = uring_map(u->fd, p.sq_entries * sizeof(struct io_uring_sqe), IORING_OFF_SQES);
	if (!sq || !cq || !u->sqes)
		return -1;
	u->sq_tail = (unsigned *)(sq + p.sq_off.tail);
	u->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	u->sq_array = (unsigned *)(sq + p.sq_off.array);
	u->cq_head = (unsigned *)(cq + p.cq_off.head);
	u->cq_tail = (unsigned *)(cq + p.cq_off.tail);
	u->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	u->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	return 0;
}

/* The n-th request after the submitted ones, zeroed and in the array. */
static inline struct io_uring_sqe *uring_sqe(struct uring *u, unsigned n)
{
	unsigned at = (*u->sq_tail + n) & *u->sq_mask;

	memset(&u->sqes[at], 0, sizeof(u->sqes[at]));
	u->sq_array[at] = at;
	return &u->sqes[at];
}

/* Submits the n requests made with uring_sqe. */
static inline void uring_push(struct uring *u, unsigned n)
{
	__atomic_store_n(u->sq_tail, *u->sq_tail + n, __ATOMIC_RELEASE);
}

#endif
