// SPDX-License-Identifier: Apache-2.0
/* Marking a container's existing processes (see sweep.h). Processes are
 * named by pidfd, which the kernel's task storage takes as the key, and
 * checked against the start time read before: a pid reused meanwhile is
 * not marked for the process that had it. */
#include "sweep.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "capture.h"
#include "clock.h"
#include "container.h"

/* pidfd_open(2) of a thread (Linux 6.9); before, only group leaders. */
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

/* A pass marks what forked during the one before; a fork bomb must not
 * keep the agent here. */
#define SWEEP_PASSES 6
/* Deeper process trees than this are not followed up (ppid chains end at
 * pid 0 in the kernel; the bound guards against a /proc read mid-change). */
#define SWEEP_DEPTH 4096

static struct sweep_proc *sweep_find(struct sweep_proc *procs, size_t n, pid_t pid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (procs[mid].pid == pid)
			return &procs[mid];
		if (procs[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void sweep_decide(struct sweep_proc *procs, size_t n, struct sweep_proc *p, pid_t init,
			 int depth)
{
	struct sweep_proc *parent;

	if (p->member >= 0)
		return;
	parent = depth < SWEEP_DEPTH && p->ppid != p->pid ? sweep_find(procs, n, p->ppid) : NULL;
	if (parent)
		sweep_decide(procs, n, parent, init, depth + 1);
	p->member = p->direct || (parent && parent->member == 1);
	p->root = 0;
	p->root_start = 0;
	if (!p->member || p->pid == init)
		return;
	if (parent && parent->member == 1) {
		p->root = parent->root;
		p->root_start = parent->root_start;
	} else {
		p->root = p->pid;
		p->root_start = p->start;
	}
}

size_t sweep_plan(struct sweep_proc *procs, size_t n, pid_t init)
{
	size_t i, members = 0;

	for (i = 0; i < n; i++)
		procs[i].member = -1;
	for (i = 0; i < n; i++) {
		sweep_decide(procs, n, &procs[i], init, 0);
		members += procs[i].member == 1;
	}
	return members;
}

static int sweep_cmp(const void *a, const void *b)
{
	const struct sweep_proc *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

static uint64_t sweep_ino(pid_t pid, const char *what)
{
	char path[80];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	return stat(path, &st) ? 0 : (uint64_t)st.st_ino;
}

/* The inode number of the pipe or socket that is session root pid's stdin
 * now, as the kernel keeps it in a mark (sa_mark.stdin_ino), or 0. The
 * root's exec, where the kernel reads it, came before the target: what
 * its fd 0 is now is the best left to go by. For the container's own tree
 * the init's: a pipe only when the container was made with stdin open
 * (stdin: true, kubectl run -i, kubectl attach), else /dev/null. */
static uint32_t sweep_stdin(pid_t pid)
{
	char path[80];
	struct stat st;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/fd/0", (int)pid);
	if (stat(path, &st) || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
		return 0;
	return (uint32_t)st.st_ino;
}

/* Every process of the node, sorted by pid, with `direct` set. */
static int sweep_list(const struct sweep_scope *s, struct sweep_proc **out, size_t *nout)
{
	struct sweep_proc *procs = NULL, *p;
	struct container_stat cs;
	size_t n = 0, cap = 0;
	struct dirent *d;
	char *end;
	long v;
	DIR *dir = opendir("/proc");

	*out = NULL;
	*nout = 0;
	if (!dir)
		return -errno;
	while ((d = readdir(dir))) {
		v = strtol(d->d_name, &end, 10);
		if (*end || v <= 0 || container_proc_stat((pid_t)v, &cs))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			p = realloc(procs, cap * sizeof(*p));
			if (!p) {
				free(procs);
				closedir(dir);
				return -ENOMEM;
			}
			procs = p;
		}
		p = &procs[n++];
		memset(p, 0, sizeof(*p));
		p->pid = (pid_t)v;
		p->ppid = cs.ppid;
		p->start = cs.start;
		p->direct = sweep_ino(p->pid, "ns/mnt") == s->mntns ||
			    (s->cid && container_pid_in(p->pid, s->cid));
	}
	closedir(dir);
	if (n)
		qsort(procs, n, sizeof(*procs), sweep_cmp);
	*out = procs;
	*nout = n;
	return 0;
}

/* The namespaces and root of pid as user space sees them (the root's
 * device in the kernel's encoding). False when the process is gone. */
static bool sweep_nsset(pid_t pid, struct sa_nsset *set)
{
	static const char *const names[SA_NS_COUNT] = {
		[SA_NS_MNT] = "ns/mnt",	      [SA_NS_PID] = "ns/pid_for_children",
		[SA_NS_NET] = "ns/net",	      [SA_NS_UTS] = "ns/uts",
		[SA_NS_IPC] = "ns/ipc",	      [SA_NS_USER] = "ns/user",
		[SA_NS_CGROUP] = "ns/cgroup", [SA_NS_TIME] = "ns/time_for_children",
	};
	char path[64];
	struct stat st;
	int i;

	for (i = 0; i < SA_NS_COUNT; i++)
		set->ns[i] = (uint32_t)sweep_ino(pid, names[i]);
	snprintf(path, sizeof(path), "/proc/%d/root/", (int)pid);
	if (stat(path, &st))
		return false;
	set->root_dev = (uint32_t)((major(st.st_dev) << 20) | minor(st.st_dev));
	set->root_ino = (uint64_t)st.st_ino;
	return set->ns[SA_NS_MNT] != 0;
}

/* The first number after "key:" in /proc/PID/status, or 0. */
static uint32_t sweep_status(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	uint32_t v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "re")))
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			v = (uint32_t)strtoul(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* Tells the caller that p is in other namespaces than the init. */
static void sweep_report(const struct sweep_scope *s, const struct sweep_proc *p,
			 const struct sa_mark *m, const struct sa_nsset *init, sweep_found_fn found,
			 void *arg)
{
	struct sa_ns_event ev = { 0 };
	struct container_stat cs;
	char path[64], target[PATH_MAX];
	ssize_t n;
	int i, fd;

	if (!found || !sweep_nsset(p->pid, &ev.to) || container_proc_stat(p->pid, &cs))
		return;
	for (i = 0; i < SA_NS_COUNT; i++)
		if (ev.to.ns[i] != init->ns[i])
			ev.changed |= 1u << i;
	if (ev.to.root_dev != init->root_dev || ev.to.root_ino != init->root_ino)
		ev.changed |= 1u << SA_NS_ROOT;
	if (!ev.changed)
		return;
	ev.how = SA_NS_FOUND;
	ev.from = *init;
	ev.hdr.type = SA_EV_NS;
	ev.hdr.ts = clock_now_ns();
	ev.hdr.mntns = ev.to.ns[SA_NS_MNT] ? sweep_ino(p->pid, "ns/mnt") : 0;
	ev.hdr.pid = ev.hdr.tgid = (uint32_t)p->pid;
	ev.hdr.ppid = (uint32_t)p->ppid;
	ev.hdr.uid = sweep_status(p->pid, "Uid");
	ev.hdr.sid = (uint32_t)cs.sid;
	ev.hdr.target = s->id;
	ev.hdr.nsid = m->nsid;
	ev.hdr.root = m->root;
	ev.hdr.root_start = m->root_start;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)p->pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, ev.hdr.comm, sizeof(ev.hdr.comm) - 1);
		close(fd);
		if (n > 0 && ev.hdr.comm[n - 1] == '\n')
			ev.hdr.comm[n - 1] = '\0';
	}
	snprintf(path, sizeof(path), "/proc/%d/root", (int)p->pid);
	n = readlink(path, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		snprintf(ev.root_name, sizeof(ev.root_name), "%s", basename(target));
	}
	found(arg, &ev);
}

/* Marks the threads of p other than its leader (kernels with PIDFD_THREAD). */
static void sweep_threads(struct capture *c, pid_t pid, const struct sa_mark *m,
			  struct sweep_stats *st)
{
	char path[64];
	struct dirent *d;
	char *end;
	long tid;
	DIR *dir;
	int fd, r;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (!(dir = opendir(path)))
		return;
	while ((d = readdir(dir))) {
		tid = strtol(d->d_name, &end, 10);
		if (*end || tid <= 0 || tid == pid)
			continue;
		fd = (int)syscall(SYS_pidfd_open, (pid_t)tid, PIDFD_THREAD);
		if (fd < 0) {
			if (errno == EINVAL)
				break; /* no thread pidfds on this kernel */
			continue;
		}
		r = capture_mark_task(c, fd, m);
		close(fd);
		if (r == 1)
			st->marked++;
		else if (r < 0)
			st->failed++;
	}
	closedir(dir);
}

/* The stdin the marks of p's session carry (sweep_stdin of its root, or
 * of the init), read once per session and kept on the root's entry. */
static uint32_t sweep_session_stdin(struct sweep_proc *procs, size_t n, const struct sweep_proc *p,
				    pid_t init)
{
	pid_t root = p->root ? p->root : init;
	struct sweep_proc *r = sweep_find(procs, n, root);

	if (!r)
		return sweep_stdin(root);
	if (!r->stdin_read) {
		r->stdin_ino = sweep_stdin(root);
		r->stdin_read = true;
	}
	return r->stdin_ino;
}

/* Marks p, its marks carrying stdin_ino: 1 marked now, 0 it had a mark,
 * -1 gone or failed. */
static int sweep_mark(struct capture *c, const struct sweep_scope *s, const struct sweep_proc *p,
		      uint32_t stdin_ino, struct sa_mark *m, struct sweep_stats *st)
{
	struct container_stat cs;
	int fd, r;

	fd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	if (fd < 0)
		return -1; /* gone */
	/* The pidfd holds the process: if it is still the one listed, it is
	 * the one marked. */
	if (container_proc_stat(p->pid, &cs) || cs.start != p->start) {
		close(fd);
		return -1;
	}
	memset(m, 0, sizeof(*m));
	m->target = s->id;
	m->root = (uint32_t)p->root;
	m->root_start = p->root_start;
	m->stdin_ino = stdin_ino;
	m->flags = SA_MARK_UNSEEN;
	m->key = s->mntns;
	m->nsid = s->nsid;
	r = capture_mark_task(c, fd, m);
	close(fd);
	if (r < 0) {
		st->failed++;
		return -1;
	}
	if (r == 1)
		st->marked++;
	sweep_threads(c, p->pid, m, st);
	return r;
}

int sweep_container(struct capture *c, const struct sweep_scope *scope, sweep_found_fn found,
		    void *arg, struct sweep_stats *out)
{
	struct sweep_proc *procs = NULL;
	struct sa_nsset init;
	struct sa_mark m;
	size_t n = 0, i;
	unsigned int newly;
	int err, pass;
	bool have_init;

	memset(out, 0, sizeof(*out));
	have_init = sweep_nsset(scope->init, &init);
	for (pass = 0; pass < SWEEP_PASSES; pass++) {
		if ((err = sweep_list(scope, &procs, &n)) < 0)
			return err;
		sweep_plan(procs, n, scope->init);
		newly = 0;
		for (i = 0; i < n; i++) {
			if (procs[i].member != 1)
				continue;
			switch (sweep_mark(c, scope, &procs[i],
					   sweep_session_stdin(procs, n, &procs[i], scope->init),
					   &m, out)) {
			case 1:
				newly++;
				/* A session root is where it entered, not where it
				 * went: the kernel does not report it either. */
				if (have_init && procs[i].root != procs[i].pid)
					sweep_report(scope, &procs[i], &m, &init, found, arg);
				break;
			case 0:
				if (pass == 0)
					out->had_mark++;
				break;
			}
		}
		free(procs);
		procs = NULL;
		out->passes = (unsigned int)pass + 1;
		if (!newly)
			break;
	}
	return 0;
}
