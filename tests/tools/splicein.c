// SPDX-License-Identifier: Apache-2.0
/* splicein: takes its stdin (a pipe) without read(2), as a reader that
 * wants to hide a session's input from a read hook would:
 *   splicein             moves it into a pipe of its own with splice(2),
 *                        reads that, and prints the bytes moved;
 *   splicein --vmsplice  copies it out with vmsplice(2) from the pipe's
 *                        read end and writes it to stdout;
 *   splicein --tee       copies what its stdin holds into a pipe of its own
 *                        with tee(2), leaving it unread there, reads the
 *                        copy and prints how many bytes it had;
 *   splicein --thread-exec N PROG
 *                        a thread other than the first reads N bytes of it
 *                        one per read(2), then runs PROG (which takes the
 *                        first thread's pid);
 *   splicein --threads N
 *                        N threads read a byte of it each (one read(2) of
 *                        one byte) and wait, each holding part of a line;
 *                        then the first thread prints "held" and reads
 *                        the rest one byte per read(2), and all exit.
 * Built static, so that a test can drop it into a container's root. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

static char buf[65536];

static int by_vmsplice(void)
{
	struct iovec v = { .iov_base = buf, .iov_len = sizeof(buf) };
	ssize_t n, w;

	while ((n = vmsplice(0, &v, 1, 0)) > 0) {
		for (w = 0; w < n;) {
			ssize_t r = write(1, buf + w, (size_t)(n - w));

			if (r <= 0)
				return 1;
			w += r;
		}
	}
	if (n < 0)
		perror("splicein: vmsplice");
	return n < 0;
}

static int by_splice(void)
{
	unsigned long long total = 0;
	ssize_t n, r;
	int p[2];

	if (pipe(p) < 0) {
		perror("splicein: pipe");
		return 1;
	}
	while ((n = splice(0, NULL, p[1], NULL, sizeof(buf), 0)) > 0) {
		total += (unsigned long long)n;
		/* Drain what was moved: the pipe holds 64 KiB. */
		for (; n > 0; n -= r) {
			r = read(p[0], buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf));
			if (r <= 0) {
				perror("splicein: read");
				return 1;
			}
		}
	}
	if (n < 0) {
		perror("splicein: splice");
		return 1;
	}
	printf("%llu\n", total);
	return 0;
}

static int by_tee(void)
{
	ssize_t n, r, total = 0;
	int p[2];

	if (pipe(p) < 0) {
		perror("splicein: pipe");
		return 1;
	}
	/* Once: tee(2) leaves the bytes where they are. */
	n = tee(0, p[1], sizeof(buf), 0);
	if (n < 0) {
		perror("splicein: tee");
		return 1;
	}
	close(p[1]);
	while ((r = read(p[0], buf, sizeof(buf))) > 0)
		total += r;
	printf("%zd\n", total);
	return 0;
}

static char **thread_argv;

static void *thread_exec(void *arg)
{
	long i, n = strtol(thread_argv[2], NULL, 10);
	char c;

	(void)arg;
	for (i = 0; i < n && read(0, &c, 1) == 1; i++)
		;
	execv(thread_argv[3], thread_argv + 3);
	perror("splicein: execv");
	exit(1);
}

static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t held_cond = PTHREAD_COND_INITIALIZER;
static long held;

static void *thread_hold(void *arg)
{
	char c;

	(void)arg;
	if (read(0, &c, 1) != 1)
		c = 0;
	pthread_mutex_lock(&held_lock);
	held++;
	pthread_cond_broadcast(&held_cond);
	pthread_mutex_unlock(&held_lock);
	pause(); /* until the process exits */
	return NULL;
}

static int by_threads(long n)
{
	pthread_attr_t attr;
	pthread_t th;
	long i;
	char c;

	if (pthread_attr_init(&attr) || pthread_attr_setstacksize(&attr, 64 << 10))
		return 1;
	for (i = 0; i < n; i++) {
		if (pthread_create(&th, &attr, thread_hold, NULL)) {
			perror("splicein: pthread_create");
			return 1;
		}
	}
	pthread_mutex_lock(&held_lock);
	while (held < n)
		pthread_cond_wait(&held_cond, &held_lock);
	pthread_mutex_unlock(&held_lock);
	printf("held\n");
	fflush(stdout);
	while (read(0, &c, 1) == 1)
		;
	exit(0);
}

int main(int argc, char **argv)
{
	pthread_t th;

	if (argc > 2 && !strcmp(argv[1], "--threads"))
		return by_threads(strtol(argv[2], NULL, 10));

	if (argc > 3 && !strcmp(argv[1], "--thread-exec")) {
		thread_argv = argv;
		if (pthread_create(&th, NULL, thread_exec, NULL))
			return 1;
		pthread_join(th, NULL);
		return 1;
	}
	if (argc > 1 && !strcmp(argv[1], "--tee"))
		return by_tee();
	return argc > 1 && !strcmp(argv[1], "--vmsplice") ? by_vmsplice() : by_splice();
}
