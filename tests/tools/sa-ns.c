// SPDX-License-Identifier: Apache-2.0
/* sa-ns: one namespace or root change by system call, then exec: what an
 * audited user can run instead of unshare(1), nsenter(1) or chroot(8), for
 * tests/bpf/test_escape.sh. Linked statically: it runs inside the test
 * containers' roots.
 *
 *   sa-ns unshare NS[,NS...] PROG [ARG...]  unshare(2), then execv(2)
 *   sa-ns clone3 NS[,NS...] PROG [ARG...]   clone3(2) with those CLONE_NEW*
 *                                           flags: the child execs PROG, the
 *                                           parent waits and returns its status
 *   sa-ns setns FD PROG [ARG...]            setns(2) into the namespace open
 *                                           at file descriptor FD
 *   sa-ns chroot DIR PROG [ARG...]          chroot(2) to DIR
 *   sa-ns pivot DIR PROG [ARG...]           a new mount namespace in which DIR,
 *                                           bound on itself, becomes the root
 *                                           by pivot_root(2)
 *
 * NS: mnt, user, pid, net, uts, ipc, cgroup, time. Exits 111 when the call
 * fails (with the reason on stderr), 112 when PROG cannot be run. */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/sched.h>

#include "../arg.h"

static const struct {
	const char *name;
	unsigned long flag;
} ns_flags[] = {
	{ "mnt", CLONE_NEWNS },	  { "user", CLONE_NEWUSER },	 { "pid", CLONE_NEWPID },
	{ "net", CLONE_NEWNET },  { "uts", CLONE_NEWUTS },	 { "ipc", CLONE_NEWIPC },
	{ "cgroup", CLONE_NEWCGROUP }, { "time", 0x80 /* CLONE_NEWTIME */ },
};

static unsigned long parse_flags(const char *list)
{
	char buf[256], *tok, *save = NULL;
	unsigned long flags = 0;
	size_t i;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < sizeof(ns_flags) / sizeof(ns_flags[0]); i++)
			if (!strcmp(tok, ns_flags[i].name))
				break;
		if (i == sizeof(ns_flags) / sizeof(ns_flags[0])) {
			fprintf(stderr, "sa-ns: unknown namespace '%s'\n", tok);
			exit(2);
		}
		flags |= ns_flags[i].flag;
	}
	return flags;
}

/* The file descriptor of setns FD, all digits. */
static int parse_fd(const char *arg)
{
	long fd = arg_long(arg, "sa-ns: setns's file descriptor");

	if (fd < 0 || fd > INT_MAX) {
		fprintf(stderr, "sa-ns: setns takes a file descriptor, not '%s'\n", arg);
		exit(2);
	}
	return (int)fd;
}

static void fail(const char *what)
{
	fprintf(stderr, "sa-ns: %s: %s\n", what, strerror(errno));
	exit(111);
}

static void run(char **argv)
{
	execv(argv[0], argv);
	fprintf(stderr, "sa-ns: cannot run %s: %s\n", argv[0], strerror(errno));
	exit(112);
}

int main(int argc, char **argv)
{
	const char *op = argc > 1 ? argv[1] : "";
	char **prog = argv + 3;

	if (argc < 4) {
		fprintf(stderr,
			"usage: sa-ns unshare|clone3|setns|chroot|pivot ARG PROG [ARG...]\n");
		return 2;
	}
	if (!strcmp(op, "unshare")) {
		if (unshare((int)parse_flags(argv[2])))
			fail("unshare");
	} else if (!strcmp(op, "clone3")) {
		struct clone_args ca = { .flags = parse_flags(argv[2]), .exit_signal = SIGCHLD };
		long pid = syscall(SYS_clone3, &ca, sizeof(ca));
		int status;

		if (pid < 0)
			fail("clone3");
		if (pid == 0)
			run(prog);
		if (waitpid((pid_t)pid, &status, 0) < 0)
			fail("waitpid");
		return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	} else if (!strcmp(op, "setns")) {
		if (setns(parse_fd(argv[2]), 0))
			fail("setns");
	} else if (!strcmp(op, "chroot")) {
		if (chroot(argv[2]) || chdir("/"))
			fail("chroot");
	} else if (!strcmp(op, "pivot")) {
		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount(argv[2], argv[2], NULL, MS_BIND | MS_REC, NULL) || chdir(argv[2]) ||
		    syscall(SYS_pivot_root, ".", ".") || umount2(".", MNT_DETACH) || chdir("/"))
			fail("pivot_root");
	} else {
		fprintf(stderr, "sa-ns: unknown operation '%s'\n", op);
		return 2;
	}
	run(prog);
	return 112;
}
