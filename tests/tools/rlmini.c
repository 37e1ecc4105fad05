// SPDX-License-Identifier: Apache-2.0
/* rlmini: a line reader with a function of its own called readline (what
 * the agent probes in a program: bash has readline built in), for the BPF
 * tests. Prints a prompt and reads a line from stdin until end of file.
 * Built static (no library to copy into a container's root); rlmini-pad is
 * the same program built with RLMINI_PAD, its readline 64 KiB further
 * into the file, so that a test can write one over the other in place.
 *
 * rlmini --fork-thread DONE: a thread other than the main one forks, the
 * child reads the lines and creates DONE at end of file, the program exits
 * at once (a process that made a process from a thread, then ended). */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Not static: the symbols must be in the file for the agent to find. */
char *readline(const char *prompt);
void rlmini_pad(void);

#ifdef RLMINI_PAD
/* Never called: what moves readline. */
__attribute__((noinline, used)) void rlmini_pad(void)
{
	__asm__ volatile(".skip 65536, 0x90");
}
#endif

__attribute__((noinline, used)) char *readline(const char *prompt)
{
	size_t cap = 256, n = 0;
	char *line = malloc(cap), *more, c = 0;
	ssize_t r;

	if (!line)
		return NULL;
	if (prompt)
		(void)!write(STDOUT_FILENO, prompt, strlen(prompt));
	while ((r = read(STDIN_FILENO, &c, 1)) == 1 && c != '\n' && c != '\r') {
		if (n + 1 == cap) {
			if (!(more = realloc(line, cap * 2))) {
				free(line);
				return NULL;
			}
			line = more;
			cap *= 2;
		}
		line[n++] = c;
	}
	if (r != 1 && n == 0) {
		free(line);
		return NULL;
	}
	line[n] = '\0';
	return line;
}

static void rlmini_read_all(void)
{
	char *line;

	while ((line = readline("rl> ")))
		free(line);
}

static void *rlmini_fork(void *done)
{
	int fd;

	if (fork() != 0)
		return NULL;
	rlmini_read_all();
	fd = open(done, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	_exit(fd < 0);
}

int main(int argc, char **argv)
{
	pthread_t th;

	if (argc == 3 && strcmp(argv[1], "--fork-thread") == 0) {
		if (pthread_create(&th, NULL, rlmini_fork, argv[2]) != 0)
			return 1;
		return pthread_join(th, NULL) != 0;
	}
	rlmini_read_all();
	return 0;
}
