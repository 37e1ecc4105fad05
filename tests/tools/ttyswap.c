// SPDX-License-Identifier: Apache-2.0
/* ttyswap: reads one line from its terminal (or its stdin, a pipe) as a
 * reader that wants to hide it from a read hook would, and writes it to
 * stdout:
 *   ttyswap --dup2   read(2) on a second fd of its terminal (a dup of its
 *                    stdin, which stays open); while it blocks,
 *                    another thread points that fd at /dev/null (dup2):
 *                    the read goes on on the terminal, but the fd names
 *                    /dev/null when the read returns;
 *   ttyswap --iov    readv(2) of that fd into one buffer; while it blocks,
 *                    another thread points the iovec at a buffer of
 *                    newlines: the kernel fills the first buffer, the
 *                    iovec names the second when the read returns;
 *   ttyswap --splice, --sendfile
 *                    no read(2) of the terminal at all: splice(2) or
 *                    sendfile(2) moves the line from that fd into a pipe,
 *                    read from there;
 *   ttyswap --splice-dup2, --sendfile-dup2
 *                    the same, and the fd swapped as with --dup2.
 * The other thread acts 200 ms after the read began: type the line later.
 * Built static, so that a test can drop it into a container's root. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

static int fd = -1;
static struct iovec iov;
static char real[4096], decoy[4096];
static int by_iov, swap_fd, by_move;

static void *swap(void *arg)
{
	int null;

	(void)arg;
	usleep(200000);
	if (!swap_fd) {
		memset(decoy, '\n', sizeof(decoy));
		iov.iov_base = decoy;
		return NULL;
	}
	null = open("/dev/null", O_RDONLY);
	if (null >= 0) {
		dup2(null, fd);
		close(null);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "--dup2",	   "--iov",	    "--splice",
					     "--sendfile", "--splice-dup2", "--sendfile-dup2" };
	int mode = -1, p[2], i;
	pthread_t t;
	ssize_t n;

	for (i = 0; argc == 2 && i < (int)(sizeof(modes) / sizeof(modes[0])); i++)
		if (!strcmp(argv[1], modes[i]))
			mode = i;
	if (mode < 0) {
		fprintf(stderr, "usage: ttyswap --dup2|--iov|--splice|--sendfile|--splice-dup2|"
				"--sendfile-dup2\n");
		return 2;
	}
	by_iov = mode == 1;
	by_move = mode == 2 || mode == 4 ? 1 : mode == 3 || mode == 5 ? 2 : 0;
	swap_fd = mode == 0 || mode >= 4;
	if (by_move && pipe(p) < 0) {
		perror("ttyswap: pipe");
		return 1;
	}
	/* Its stdin stays open: the terminal's file outlives the swap. */
	if ((fd = dup(0)) < 0) {
		fprintf(stderr, "ttyswap: no stdin\n");
		return 1;
	}
	if (pthread_create(&t, NULL, swap, NULL)) {
		fprintf(stderr, "ttyswap: cannot start a thread\n");
		return 1;
	}
	iov.iov_base = real;
	iov.iov_len = sizeof(real);
	if (by_move == 1)
		n = splice(fd, NULL, p[1], NULL, sizeof(real), 0);
	else if (by_move == 2)
		n = sendfile(p[1], fd, NULL, sizeof(real));
	else
		n = by_iov ? readv(fd, &iov, 1) : read(fd, real, sizeof(real));
	pthread_join(t, NULL);
	if (by_move && n > 0)
		n = read(p[0], real, (size_t)n);
	if (n > 0 && write(1, real, (size_t)n) != n)
		return 1;
	return n < 0;
}
