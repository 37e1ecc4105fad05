// SPDX-License-Identifier: Apache-2.0
/* uringread: reads one chunk of its stdin (a terminal or a pipe) through
 * io_uring, with no read(2) of it at all, and writes it to stdout:
 *   uringread                 IORING_OP_READ of fd 0;
 *   uringread --fixed         the same of a registered (fixed) file: a dup
 *                             of fd 0, closed before the read;
 *   uringread --splice        IORING_OP_SPLICE of fd 0 into a pipe, then a
 *                             read of the pipe;
 *   uringread --splice-fixed  the same from a registered dup of fd 0;
 *   uringread --tee           IORING_OP_TEE of fd 0 (a pipe) into a pipe:
 *                             a copy, what fd 0 holds stays;
 *   uringread --splice-dup2   --splice of a dup of fd 0 that another thread
 *                             points at /dev/null 200 ms after the request
 *                             went in (type the line later): by its
 *                             completion the fd names another file;
 *   uringread --skip          IORING_OP_READ of fd 0 with
 *                             IOSQE_CQE_SKIP_SUCCESS, linked to a NOP whose
 *                             completion is the only one posted.
 * Raw syscalls, no liburing. Built static, so that a test can drop it into
 * a container's root. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>

#include "uring.h"

static char buf[4096];
static int swapped = -1;

/* --splice-dup2: the request's input fd now names /dev/null. */
static void *swap(void *arg)
{
	int null;

	(void)arg;
	usleep(200000);
	null = open("/dev/null", O_RDONLY);
	if (null < 0 || dup2(null, swapped) < 0)
		perror("uringread: dup2");
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc == 2 ? argv[1] : "";
	int fixed = !strcmp(mode, "--fixed") || !strcmp(mode, "--splice-fixed");
	int moved = !strcmp(mode, "--splice-dup2");
	int splice = !strcmp(mode, "--splice") || !strcmp(mode, "--splice-fixed") || moved;
	int skip = !strcmp(mode, "--skip");
	int tee = !strcmp(mode, "--tee"), fd = 0, dup0, res, pfd[2];
	struct io_uring_sqe *sqe;
	struct uring u;
	unsigned head;
	pthread_t t;

	if (argc > 2 || (argc == 2 && !fixed && !splice && !tee && !skip)) {
		fprintf(stderr, "usage: uringread [--fixed|--splice|--splice-fixed|--tee|"
				"--splice-dup2|--skip]\n");
		return 2;
	}
	if ((splice || tee) && pipe(pfd) < 0) {
		perror("uringread: pipe");
		return 1;
	}
	if (uring_open(4, &u) < 0) {
		perror("uringread: io_uring");
		return 1;
	}
	if (fixed) {
		dup0 = dup(0);
		if (dup0 < 0 ||
		    syscall(__NR_io_uring_register, u.fd, IORING_REGISTER_FILES, &dup0, 1) < 0) {
			perror("uringread: io_uring_register");
			return 1;
		}
		close(dup0);
	}
	if (moved && (fd = swapped = dup(0)) < 0) {
		perror("uringread: dup");
		return 1;
	}
	sqe = uring_sqe(&u, 0);
	if (splice || tee) {
		/* Into the pipe's end (the request's file); from fd 0, or
		 * from registered file 0. */
		sqe->opcode = splice ? IORING_OP_SPLICE : IORING_OP_TEE;
		sqe->fd = pfd[1];
		sqe->splice_fd_in = fd;
		sqe->splice_flags = fixed ? SPLICE_F_FD_IN_FIXED : 0;
		/* No offsets: -1 for a splice, 0 for a tee (pipes only). */
		sqe->splice_off_in = splice ? (__u64)-1 : 0;
		sqe->off = splice ? (__u64)-1 : 0;
		sqe->len = sizeof(buf);
	} else {
		sqe->opcode = IORING_OP_READ;
		sqe->fd = fd;
		sqe->flags = fixed ? IOSQE_FIXED_FILE : 0;
		sqe->addr = (unsigned long)buf;
		sqe->len = sizeof(buf);
		sqe->off = (__u64)-1; /* the file's position: a terminal or a pipe has none */
	}
	if (skip) {
		/* No completion of the read if it succeeds: the NOP's says
		 * it is done. */
		sqe->flags |= IOSQE_CQE_SKIP_SUCCESS | IOSQE_IO_LINK;
		uring_sqe(&u, 1)->opcode = IORING_OP_NOP;
	}
	uring_push(&u, 1 + skip);
	if (moved && pthread_create(&t, NULL, swap, NULL)) {
		fprintf(stderr, "uringread: cannot start a thread\n");
		return 1;
	}
	for (res = (int)syscall(__NR_io_uring_enter, u.fd, 1 + skip, 1, IORING_ENTER_GETEVENTS,
				NULL, 0);
	     res >= 0 && (head = __atomic_load_n(u.cq_head, __ATOMIC_ACQUIRE)) ==
				 __atomic_load_n(u.cq_tail, __ATOMIC_ACQUIRE);
	     res = (int)syscall(__NR_io_uring_enter, u.fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0))
		;
	if (res < 0) {
		perror("uringread: io_uring_enter");
		return 1;
	}
	res = u.cqes[head & *u.cq_mask].res;
	__atomic_store_n(u.cq_head, head + 1, __ATOMIC_RELEASE);
	if (res < 0) {
		fprintf(stderr, "uringread: %s: %s\n",
			splice ? "splice" :
			tee    ? "tee" :
				 "read",
			strerror(-res));
		return 1;
	}
	/* The NOP's completion: what the read took ends at its first NUL. */
	if (skip)
		res = (int)strnlen(buf, sizeof(buf));
	/* What went into the pipe: a read of the pipe, not of fd 0. */
	if ((splice || tee) && (res = (int)read(pfd[0], buf, sizeof(buf))) < 0) {
		perror("uringread: read of the pipe");
		return 1;
	}
	return write(1, buf, (size_t)res) == res ? 0 : 1;
}
