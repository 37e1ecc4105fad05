// SPDX-License-Identifier: Apache-2.0
/* ptyflood: a terminal of its own read one byte per read(2), as fast as the
 * syscall goes: opens a pty pair (the master on fd 3 when it is open
 * there, /dev/ptmx otherwise: a container may have no /dev; the slave by
 * TIOCGPTPEER), and a child writes N bytes (rounded up to whole lines:
 * a canonical read waits for the newline) of lines ("p0000001\n", ...)
 * into the master while it drains the echo; the parent reads them from
 * the slave (canonical mode, echo on: what a user's terminal is) one byte
 * per read, then writes "B bytes read". What a user in a container can do
 * to make terminal records without typing anything. Built static, so that
 * a test can drop it into a container's root.
 *
 *   ptyflood N */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../arg.h"

#define LINE 9 /* "p0000001\n" */

/* The child: N bytes of lines into master m, its echo drained, until the
 * parent closes the pair. */
static void writer(int m, long n)
{
	char out[LINE * 512 + 1], sink[4096];
	long sent = 0, line = 0, len = 0, off = 0, k;
	struct pollfd p = { .fd = m };

	for (;;) {
		if (off == len && sent < n) {
			for (len = 0, off = 0;
			     len + LINE <= (long)sizeof(out) - 1 && sent + len < n;)
				len += snprintf(out + len, sizeof(out) - (size_t)len, "p%07ld\n",
						++line % 10000000);
		}
		p.events = POLLIN | (off < len ? POLLOUT : 0);
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			_exit(1);
		if (p.revents & POLLIN) {
			if (read(m, sink, sizeof(sink)) <= 0)
				_exit(0);
		} else if (p.revents & (POLLHUP | POLLERR)) {
			_exit(0);
		}
		if ((p.revents & POLLOUT) && off < len) {
			k = write(m, out + off, (size_t)(len - off));
			if (k < 0 && errno != EAGAIN && errno != EINTR)
				_exit(1);
			if (k > 0) {
				off += k;
				sent += k;
			}
		}
	}
}

int main(int argc, char **argv)
{
	long n, got = 0;
	int m, s, unlock = 0, status;
	pid_t child;
	char c;

	if (argc != 2) {
		fprintf(stderr, "usage: ptyflood N\n");
		return 2;
	}
	n = (arg_long(argv[1], "N") + LINE - 1) / LINE * LINE;
	m = fcntl(3, F_GETFD) == 0 ? 3 : open("/dev/ptmx", O_RDWR | O_NOCTTY);
	if (m < 0 || ioctl(m, TIOCSPTLCK, &unlock) < 0 ||
	    (s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY)) < 0) {
		perror("ptyflood: pty pair");
		return 1;
	}
	child = fork();
	if (child < 0) {
		perror("ptyflood: fork");
		return 1;
	}
	if (child == 0) {
		close(s);
		(void)fcntl(m, F_SETFL, O_NONBLOCK);
		writer(m, n);
	}
	close(m);
	while (got < n) {
		long k = read(s, &c, 1);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			perror("ptyflood: read");
			break;
		}
		got += k;
	}
	close(s);
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	printf("%ld bytes read\n", got);
	return got == n ? 0 : 1;
}
