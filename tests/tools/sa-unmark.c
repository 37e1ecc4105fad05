// SPDX-License-Identifier: Apache-2.0
/* sa-unmark MARKS_MAP PID...: removes the kernel's mark (bpf/shellaudit.h,
 * struct sa_mark) of each process PID from the agent's pinned task storage
 * map MARKS_MAP (<bpf-dir>/<key>/map_marks), as if it had never been made:
 * what a process the agent's sweep has not reached yet, or one whose mark
 * the kernel could not allocate, looks like. Its children forked from then
 * on are unmarked too, until their first event in the container.
 * Exits 0 when every PID had a mark and lost it, 1 otherwise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>

int main(int argc, char **argv)
{
	int map, fd, i, rc = 0;
	long pid;
	char *end;

	if (argc < 3) {
		fprintf(stderr, "usage: sa-unmark MARKS_MAP PID...\n");
		return 1;
	}
	map = bpf_obj_get(argv[1]);
	if (map < 0) {
		fprintf(stderr, "sa-unmark: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	for (i = 2; i < argc; i++) {
		errno = 0;
		pid = strtol(argv[i], &end, 10);
		if (errno || *end || pid <= 0 || pid > 0x3fffffff) {
			fprintf(stderr, "sa-unmark: not a pid: %s\n", argv[i]);
			rc = 1;
			continue;
		}
		/* The task storage's key is a pidfd of the process. */
		fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
		if (fd < 0 || bpf_map_delete_elem(map, &fd)) {
			fprintf(stderr, "sa-unmark: %ld: %s\n", pid, strerror(errno));
			rc = 1;
		}
		if (fd >= 0)
			close(fd);
	}
	close(map);
	return rc;
}
