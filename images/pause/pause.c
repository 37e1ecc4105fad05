// SPDX-License-Identifier: Apache-2.0
/* pause: the process that holds a pod's namespaces open. Exits on SIGINT or
 * SIGTERM, reaps the zombies it inherits as pid 1 of a shared pid namespace,
 * and otherwise sleeps. Built static so that the image is this one file. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void pause_exit(int sig)
{
	(void)sig;
	_exit(0);
}

static void pause_reap(int sig)
{
	int saved = errno;

	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

int main(int argc, char **argv)
{
	struct sigaction sa;

	if (argc == 2 && strcmp(argv[1], "-v") == 0) {
		printf("pause (shellaudit)\n");
		return 0;
	}
	if (getpid() != 1)
		fprintf(stderr,
			"pause: warning: not pid 1, zombies of the pod are not mine to reap\n");

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = pause_exit;
	if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL)) {
		perror("pause: sigaction");
		return 1;
	}
	sa.sa_handler = pause_reap;
	sa.sa_flags = SA_NOCLDSTOP | SA_RESTART;
	if (sigaction(SIGCHLD, &sa, NULL)) {
		perror("pause: sigaction SIGCHLD");
		return 1;
	}
	for (;;)
		pause();
}
