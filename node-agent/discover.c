// SPDX-License-Identifier: Apache-2.0
/* Finding readline inside a container, one bounded unit at a time (see
 * discover.h). A process goes through phases, each examining at most one
 * file: its executable; else the readline library it maps; else the name
 * of the one it links; else that library in the usual directories. */
#include "discover.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "container.h"
#include "escape.h"
#include "log.h"
#include "refused.h"
#include "rootfs.h"
#include "util.h"

#if defined(__x86_64__)
#define DISCOVER_TRIPLET "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define DISCOVER_TRIPLET "aarch64-linux-gnu"
#else
#define DISCOVER_TRIPLET "unknown"
#endif

#define DISCOVER_RETRY_TRIES 5
#define DISCOVER_RETRY_NS 20000000ull /* then doubling */

static const char *const discover_lib_dirs[] = {
	"/lib/" DISCOVER_TRIPLET, "/usr/lib/" DISCOVER_TRIPLET, "/lib64", "/usr/lib64", "/lib",
	"/usr/lib",
};

static const char *const discover_shells[] = {
	"/bin/bash", "/usr/bin/bash", "/usr/local/bin/bash", "/bin/sh", "/usr/bin/sh",
};

static const char *const discover_libs[] = { "libreadline.so.8", "libreadline.so.7",
					     "libedit.so.2" };

#define DISCOVER_NPATHS                                                                            \
	(ARRAY_SIZE(discover_shells) +                                                    \
	 ARRAY_SIZE(discover_libs) * ARRAY_SIZE(discover_lib_dirs))

enum discover_phase {
	DISCOVER_EXE,	 /* the executable */
	DISCOVER_MAPS,	 /* a readline library it maps */
	DISCOVER_NEEDED, /* the name of the readline library it links */
	DISCOVER_LIB,	 /* that library in the usual directories */
};

struct discover_proc {
	pid_t pid; /* 0: none */
	uint8_t phase;
	uint8_t tries;	  /* looks again after -EAGAIN */
	uint8_t dir;	  /* DISCOVER_LIB: the next directory */
	uint64_t due;	  /* CLOCK_MONOTONIC ns */
	uint64_t exec_ts; /* of its exec event; 0: found by a scan */
	uint64_t queued;
	bool marked;  /* found by a scan through its mark, not its namespace */
	char lib[64]; /* DISCOVER_LIB: the library's name */
};

/* A process from an exec event found gone before its turn, and how far
 * the ring buffer was reserved then: its exit event, sent before it was
 * gone, is before that (discover_set_ring). */
struct discover_gone {
	pid_t pid;
	uint64_t reserved;
};

/* How many gone processes a container keeps waiting for their exit's word
 * (discover_ended); past it, a scan is owed at once. */
#define DISCOVER_GONE_MAX 64

struct discover_target {
	uint32_t owner;
	char name[128];
	struct discover_scope scope;
	pid_t pid; /* the process its root is seen through */
	/* The scan: the usual paths, then the container's processes. */
	bool scanning, rescan, reported;
	size_t next_path;
	int rootfd;
	DIR *proc;
	int found;		  /* probes the first scan attached, or a negative errno */
	struct discover_proc cur; /* the process the scan is at */
	bool queue_turn;	  /* the queue's turn, else the scan's */
	struct discover_proc *q;  /* processes from exec events and retries */
	size_t nq;
	struct discover_refusal *refused;
	size_t nrefused;
	/* A process from an exec event was gone before its turn: what it
	 * forked without an exec (a private bash's interactive child, its
	 * parent exiting at once) runs its file unprobed and makes no exec
	 * event. A scan is owed (discover.gone_next), unless its exit said
	 * it made no process: gone, waiting for that word, oldest first. */
	bool gone_pending;
	struct discover_gone gone[DISCOVER_GONE_MAX];
	size_t ngone;
};

struct discover {
	struct probe_set *ps;
	struct refused *refused;
	discover_scanned_fn *scanned;
	void *arg;
	discover_marked_fn *marked;
	void *marked_arg;
	uint64_t gone_next; /* the next scan owed for a gone process, not before */
	discover_reserved_fn *reserved; /* how far the ring buffer is reserved */
	void *reserved_arg;
	uint64_t read; /* how far its events were handed over */
	struct discover_target **t;
	size_t n, rr;
	int64_t save_warned; /* unix seconds */
};

static bool discover_is_readline_lib(const char *name)
{
	return strncmp(name, "libreadline.so", 14) == 0 || strncmp(name, "libedit.so", 10) == 0;
}

/* True while the process pidfd refers to has not exited: what was opened
 * through /proc/PID before this check belonged to it. */
static bool discover_alive(int pidfd)
{
	return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0;
}

int discover_scope_of_pid(pid_t pid, struct discover_scope *out)
{
	char path[64];
	struct stat st;
	int err;

	err = container_mntns_of_pid(pid, &out->mntns);
	if (err)
		return err;
	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	if (stat(path, &st))
		return -errno;
	out->root_dev = st.st_dev;
	out->root_ino = st.st_ino;
	return 0;
}

static bool discover_in_scope(pid_t pid, const struct discover_scope *scope)
{
	struct discover_scope s;

	return discover_scope_of_pid(pid, &s) == 0 && s.mntns == scope->mntns &&
	       s.root_dev == scope->root_dev && s.root_ino == scope->root_ino;
}

/* --- refusals ------------------------------------------------------------ */

/* A refused file of t's container: kept for the status and logged, once
 * per file (by identity) and container. */
static void discover_note(struct discover_target *t, const char *path,
			  const struct probe_refusal *ref)
{
	struct discover_refusal *r;
	size_t i;

	if (!ref->refused)
		return;
	for (i = 0; i < t->nrefused; i++)
		if (!strcmp(t->refused[i].id, ref->id))
			return;
	log_with(LOG_WARN,
		 LOG_KV("container", t->name, "file", path, "reason", ref->why, "id", ref->id,
			"known", ref->known ? "yes" : "no"),
		 "file refused: not probed");
	if (t->nrefused == DISCOVER_REFUSED_MAX)
		return;
	if (!t->refused && !(t->refused = calloc(DISCOVER_REFUSED_MAX, sizeof(*t->refused))))
		return;
	r = &t->refused[t->nrefused++];
	escape_text(r->path, sizeof(r->path), path, strlen(path));
	snprintf(r->why, sizeof(r->why), "%s", ref->why);
	snprintf(r->id, sizeof(r->id), "%s", ref->id);
}

static int discover_acquire(struct discover *d, struct discover_target *t, int fd, pid_t pid,
			    const char *label)
{
	struct probe_refusal ref;
	int err = probe_acquire(d->ps, fd, pid, t->owner, label, &ref);

	discover_note(t, label, &ref);
	return err;
}

/* Opens `path` in the root and probes it. ENOENT is normal for the usual
 * paths; a symlink that points nowhere inside the root is worth a line,
 * since it often means a link to a host path. */
static int discover_path(struct discover *d, struct discover_target *t, pid_t pid, int rootfd,
			 const char *path)
{
	char target[512];
	int fd, err;

	fd = rootfs_open_file(rootfd, path);
	if (fd < 0) {
		if (fd == -ENOENT && rootfs_readlink(rootfd, path, target, sizeof(target)) == 0)
			log_with(LOG_WARN, LOG_KV("file", path, "link", target),
				 "not probed: symlink does not resolve inside the container");
		else if (fd != -ENOENT)
			log_with(LOG_WARN, LOG_KV("file", path),
				 "not probed: cannot open inside the container: %s", strerror(-fd));
		return fd;
	}
	err = discover_acquire(d, t, fd, pid, path);
	close(fd);
	return err;
}

/* --- one process, one phase at a time ------------------------------------- */

/* The readline library named in the maps of pid, probed: 1 or 0 done, a
 * negative errno done, -ENOENT when no readline library is mapped. */
static int discover_maps(struct discover *d, struct discover_target *t, pid_t pid, int pidfd)
{
	char path[64], line[4096], file[128];
	int err = -ENOENT, fd;
	size_t lines = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f) && lines++ < DISCOVER_MAPS_LINES) {
		char *range = line, *name = strrchr(line, '/'), *sp;

		if (!name || !discover_is_readline_lib(name + 1))
			continue;
		name[strcspn(name, "\n")] = '\0';
		sp = strchr(range, ' ');
		if (!sp || sp - range > 40)
			continue;
		*sp = '\0';
		if (snprintf(file, sizeof(file), "/proc/%d/map_files/%s", (int)pid, range) >=
		    (int)sizeof(file))
			continue;
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (!discover_alive(pidfd)) {
			close(fd);
			err = -ESRCH;
			break;
		}
		/* The path as the process sees it: the first '/' of the line.
		 * The first library that opens is the one: one file a unit. */
		err = discover_acquire(d, t, fd, pid, strchr(sp + 1, '/'));
		close(fd);
		break;
	}
	fclose(f);
	return err;
}

/* The first readline library among the DT_NEEDED names of pid's
 * executable into p->lib: 0, or -ENOENT when it links none. */
static int discover_needed(pid_t pid, int pidfd, struct discover_proc *p)
{
	char names[ELFSYM_MAX_NEEDED][ELFSYM_NAME_MAX], path[64];
	int fd, n, i;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || !discover_alive(pidfd)) {
		if (fd >= 0)
			close(fd);
		return -ESRCH;
	}
	n = elfsym_needed(fd, names, ELFSYM_MAX_NEEDED, NULL);
	close(fd);
	for (i = 0; i < n; i++) {
		if (!discover_is_readline_lib(names[i]) || strchr(names[i], '/') ||
		    strlen(names[i]) >= sizeof(p->lib))
			continue;
		snprintf(p->lib, sizeof(p->lib), "%s", names[i]);
		return 0;
	}
	return -ENOENT;
}

/* p->lib in the next usual directory of pid's root that has it: its probe
 * result, or -ENOENT when no directory has it. */
static int discover_lib(struct discover *d, struct discover_target *t, pid_t pid,
			struct discover_proc *p)
{
	char path[512];
	int rootfd, err = -ENOENT;

	rootfd = rootfs_open_root(pid);
	if (rootfd < 0)
		return rootfd;
	for (; p->dir < ARRAY_SIZE(discover_lib_dirs); p->dir++) {
		if (snprintf(path, sizeof(path), "%s/%s", discover_lib_dirs[p->dir], p->lib) >=
		    (int)sizeof(path))
			continue;
		err = discover_path(d, t, pid, rootfd, path);
		if (err != -ENOENT)
			break;
	}
	close(rootfd);
	return err;
}

static void discover_log_attach(const struct discover_proc *p, uint64_t now)
{
	char us[24], dus[24], pid[16];

	if (!p->exec_ts || log_get_level() < LOG_DEBUG)
		return;
	snprintf(us, sizeof(us), "%" PRIu64, (now - p->exec_ts) / 1000);
	snprintf(dus, sizeof(dus), "%" PRIu64, (now - p->queued) / 1000);
	snprintf(pid, sizeof(pid), "%d", (int)p->pid);
	if (p->tries)
		log_with(LOG_DEBUG, LOG_KV("pid", pid, "exec_to_attach_us", us),
			 "probed the readline library a program mapped after its exec");
	else
		log_with(LOG_DEBUG, LOG_KV("pid", pid, "exec_to_attach_us", us, "discover_us", dus),
			 "probed a new program from its exec");
}

/* How often at most a scan looks for what processes gone before their turn
 * forked, of any container (in turn): a shell typed into in the meantime
 * has its lines from then on (the running call's recovered). Where
 * short-lived execs go on (an exec flood, a CI job), this is the scans'
 * rate on the node: one pass over /proc each. */
#define DISCOVER_GONE_SCAN_NS 2000000000ull

/* p, from an exec event, was gone before its turn: a scan is owed unless
 * its exit's word (discover_ended) comes with the events read through
 * where the ring buffer is reserved now. */
static void discover_gone(const struct discover *d, struct discover_target *t,
			  const struct discover_proc *p)
{
	if (!p->exec_ts)
		return;
	if (!d->reserved || t->ngone == DISCOVER_GONE_MAX) {
		t->gone_pending = true;
		return;
	}
	t->gone[t->ngone++] = (struct discover_gone){ p->pid, d->reserved(d->reserved_arg) };
}

/* Whether a scan is owed for t's gone processes: one whose exit's word
 * would have been read by now. (The oldest is first.) */
static bool discover_gone_owed(const struct discover *d, const struct discover_target *t)
{
	return t->gone_pending || (t->ngone && d->read >= t->gone[0].reserved);
}

/* Whether the file open at fd is one the probe set knows needs no probe
 * (neither refused, which is noted the long way, nor a program importing
 * readline, whose libraries are to be looked at). */
static bool discover_known_none(const struct discover *d, int fd)
{
	struct probe_refusal ref;
	int err = probe_negative_of(d->ps, fd, &ref);

	return err && err != -ENXIO && !ref.refused;
}

/* Runs one phase of p. Returns true when p is finished; else its phase or
 * due time moved on. *attached is set when a probe was attached. */
static bool discover_proc_unit(struct discover *d, struct discover_target *t,
			       struct discover_proc *p, bool *attached)
{
	char path[64], label[512];
	int pidfd, fd = -1, err;
	uint64_t now;
	ssize_t n;

	*attached = false;
	/* The cheapest way to learn that a process is gone (most of an exec
	 * flood's are by now). */
	pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	if (pidfd < 0) {
		discover_gone(d, t, p);
		return true;
	}
	/* A process from an exec event was marked by the kernel as the
	 * container's: it is looked at wherever it is now (a bash copied into
	 * a namespace of its own included), as is one a scan found by its
	 * mark. One found by its namespace must be in the container's
	 * namespace and root. */
	if (!p->exec_ts && !p->marked && !discover_in_scope(p->pid, &t->scope)) {
		close(pidfd);
		return true;
	}
	switch (p->phase) {
	case DISCOVER_EXE:
		snprintf(path, sizeof(path), "/proc/%d/exe", (int)p->pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		/* The short way of an exec flood of a file known to need no
		 * probe: no name, no check that the file is still the
		 * process's. Were its pid reused since, the exec's process is
		 * gone: nothing of it is lost. */
		if (fd >= 0 && p->exec_ts && discover_known_none(d, fd)) {
			err = 0;
			break;
		}
		/* Most processes of an exec flood are gone by now: no name. */
		n = fd < 0 ? -1 : readlink(path, label, sizeof(label) - 1);
		label[n > 0 ? n : 0] = '\0';
		/* Checked after the opens: if the process still lives, the
		 * pid was not reused and what we opened is its executable. */
		if (fd < 0 || !discover_alive(pidfd)) {
			discover_gone(d, t, p);
			err = -ESRCH;
		} else
			err = discover_acquire(d, t, fd, p->pid, label);
		if (err == -ENXIO) {
			p->phase = DISCOVER_MAPS;
			err = -EINPROGRESS;
		}
		break;
	case DISCOVER_MAPS:
		err = discover_maps(d, t, p->pid, pidfd);
		if (err == -ENOENT) {
			p->phase = DISCOVER_NEEDED;
			err = -EINPROGRESS;
		}
		break;
	case DISCOVER_NEEDED:
		err = discover_needed(p->pid, pidfd, p);
		if (err == 0) {
			p->phase = DISCOVER_LIB;
			p->dir = 0;
			err = -EINPROGRESS;
		} else if (err == -ENOENT) {
			err = -EAGAIN;
		}
		break;
	default:
		err = discover_lib(d, t, p->pid, p);
		if (err == -ENOENT)
			err = -EAGAIN;
		break;
	}
	if (fd >= 0)
		close(fd);
	close(pidfd);
	now = clock_now_ns();
	if (err == -EINPROGRESS)
		return false;
	if (err == -EAGAIN && p->tries < DISCOVER_RETRY_TRIES) {
		/* Not mapped yet, nor found by its name: looked at again once
		 * its dynamic loader had time to map it. */
		p->due = now + (DISCOVER_RETRY_NS << p->tries);
		p->tries++;
		p->phase = DISCOVER_MAPS;
		return false;
	}
	if (err == -EAGAIN) {
		snprintf(path, sizeof(path), "%d", (int)p->pid);
		log_with(LOG_WARN, LOG_KV("container", t->name, "pid", path),
			 "program imports readline but no readline library was found in it");
	}
	if (err == 1) {
		*attached = true;
		discover_log_attach(p, now);
	}
	return true;
}

/* --- the queue and the scan ----------------------------------------------- */

static struct discover_target *discover_find(const struct discover *d, uint32_t owner)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (d->t[i]->owner == owner)
			return d->t[i];
	return NULL;
}

static void discover_scan_close(struct discover_target *t)
{
	if (t->rootfd >= 0)
		close(t->rootfd);
	t->rootfd = -1;
	if (t->proc)
		closedir(t->proc);
	t->proc = NULL;
	t->cur.pid = 0;
}

/* Scans the container's processes again (the queue overflowed). */
static void discover_rescan(struct discover_target *t)
{
	if (t->scanning) {
		t->rescan = true;
		return;
	}
	t->scanning = true;
	t->next_path = DISCOVER_NPATHS;
}

/* Queues p; forked: a new exec of a process that made processes before,
 * which run what a queued exec of it ran (not to be looked at any more:
 * a scan is owed, as for a process gone before its turn). */
static int discover_enqueue(struct discover_target *t, const struct discover_proc *p, bool forked)
{
	size_t i;

	for (i = 0; i < t->nq; i++) {
		if (t->q[i].pid == p->pid) {
			if (forked && t->q[i].exec_ts)
				t->gone_pending = true;
			t->q[i] = *p; /* a new exec of the same process */
			return 0;
		}
	}
	if (t->nq == DISCOVER_QUEUE_MAX) {
		discover_rescan(t);
		return -ENOSPC;
	}
	if (!t->q && !(t->q = calloc(DISCOVER_QUEUE_MAX, sizeof(*t->q)))) {
		discover_rescan(t);
		return -ENOSPC;
	}
	t->q[t->nq++] = *p;
	return 0;
}

static void discover_usual_path(size_t i, char *buf, size_t cap)
{
	size_t nd = ARRAY_SIZE(discover_lib_dirs),
	       ns = ARRAY_SIZE(discover_shells);

	if (i < ns)
		snprintf(buf, cap, "%s", discover_shells[i]);
	else
		snprintf(buf, cap, "%s/%s", discover_lib_dirs[(i - ns) % nd],
			 discover_libs[(i - ns) / nd]);
}

static void discover_scan_done(struct discover *d, struct discover_target *t)
{
	discover_scan_close(t);
	t->scanning = false;
	if (!t->reported) {
		t->reported = true;
		if (d->scanned)
			d->scanned(d->arg, t->owner, t->found);
	}
	if (t->rescan) {
		t->rescan = false;
		discover_rescan(t);
	}
}

/* One unit of the scan: a usual path, the next step of the process it is
 * at, or the next DISCOVER_SCAN_BATCH entries of /proc. */
static void discover_scan_unit(struct discover *d, struct discover_target *t, uint64_t now)
{
	char path[512];
	struct dirent *de;
	bool attached, in_ns, marked;
	uint64_t ns;
	size_t i;
	char *end;
	long v;

	if (t->cur.pid) {
		if (discover_proc_unit(d, t, &t->cur, &attached)) {
			t->found += attached && t->found >= 0;
			t->cur.pid = 0;
		} else if (t->cur.due > now) {
			/* A retry: the queue waits for it, the scan goes on. */
			discover_enqueue(t, &t->cur, false);
			t->cur.pid = 0;
		}
		return;
	}
	if (t->next_path < DISCOVER_NPATHS) {
		if (t->rootfd < 0 && (t->rootfd = rootfs_open_root(t->pid)) < 0) {
			t->found = t->rootfd;
			t->next_path = DISCOVER_NPATHS;
			return;
		}
		discover_usual_path(t->next_path++, path, sizeof(path));
		if (discover_path(d, t, t->pid, t->rootfd, path) == 1 && t->found >= 0)
			t->found++;
		if (t->next_path == DISCOVER_NPATHS) {
			close(t->rootfd);
			t->rootfd = -1;
		}
		return;
	}
	if (!t->proc && !(t->proc = opendir("/proc"))) {
		discover_scan_done(d, t);
		return;
	}
	for (i = 0; i < DISCOVER_SCAN_BATCH; i++) {
		if (!(de = readdir(t->proc))) {
			discover_scan_done(d, t);
			return;
		}
		v = strtol(de->d_name, &end, 10);
		if (*end || v <= 0)
			continue;
		/* The container's by its mount namespace, or by the kernel's
		 * mark (a process that made a namespace of its own). */
		in_ns = !container_mntns_of_pid((pid_t)v, &ns) && ns == t->scope.mntns;
		marked = !in_ns && d->marked && d->marked(d->marked_arg, (pid_t)v) == t->owner;
		if (!in_ns && !marked)
			continue;
		memset(&t->cur, 0, sizeof(t->cur));
		t->cur.marked = marked;
		t->cur.pid = (pid_t)v;
		t->cur.due = now;
		t->cur.queued = now;
		return;
	}
}

/* The first queued process due at now, or -1. */
static ssize_t discover_due(const struct discover_target *t, uint64_t now)
{
	size_t i;

	for (i = 0; i < t->nq; i++)
		if (t->q[i].due <= now)
			return (ssize_t)i;
	return -1;
}

static bool discover_gone_due(const struct discover *d, const struct discover_target *t,
			      uint64_t now)
{
	return now >= d->gone_next && discover_gone_owed(d, t);
}

static bool discover_runnable(const struct discover *d, const struct discover_target *t,
			      uint64_t now)
{
	return t->scanning || discover_due(t, now) >= 0 || discover_gone_due(d, t, now);
}

/* Removes element i of an array of n elements of size sz. */
static void discover_remove_at(void *base, size_t *n, size_t i, size_t sz)
{
	char *b = base;

	memmove(b + i * sz, b + (i + 1) * sz, (*n - i - 1) * sz);
	(*n)--;
}

static void discover_unit(struct discover *d, struct discover_target *t, uint64_t now)
{
	ssize_t k = discover_due(t, now);
	bool attached;

	if (discover_gone_due(d, t, now)) {
		/* The scan, later than each of them gone, finds what they made. */
		t->gone_pending = false;
		t->ngone = 0;
		d->gone_next = now + DISCOVER_GONE_SCAN_NS;
		discover_rescan(t);
		log_with(LOG_DEBUG, LOG_KV("container", t->name),
			 "processes gone before their turn may have made others: the container's "
			 "processes are scanned again");
	}
	t->queue_turn = !t->queue_turn;
	if (k < 0 || (t->scanning && !t->queue_turn)) {
		discover_scan_unit(d, t, now);
		return;
	}
	if (discover_proc_unit(d, t, &t->q[k], &attached))
		discover_remove_at(t->q, &t->nq, (size_t)k, sizeof(*t->q));
}

/* --- the API ----------------------------------------------------------------- */

int discover_new(struct probe_set *ps, struct refused *refused, discover_scanned_fn *scanned,
		 void *arg, struct discover **out)
{
	struct discover *d = calloc(1, sizeof(*d));

	*out = NULL;
	if (!d)
		return -ENOMEM;
	d->ps = ps;
	d->refused = refused;
	d->scanned = scanned;
	d->arg = arg;
	*out = d;
	return 0;
}

static void discover_target_free(struct discover_target *t)
{
	discover_scan_close(t);
	free(t->q);
	free(t->refused);
	free(t);
}

void discover_set_marked(struct discover *d, discover_marked_fn *fn, void *arg)
{
	d->marked = fn;
	d->marked_arg = arg;
}

void discover_set_ring(struct discover *d, discover_reserved_fn *fn, void *arg)
{
	d->reserved = fn;
	d->reserved_arg = arg;
}

void discover_read(struct discover *d, uint64_t n)
{
	d->read = n;
}

void discover_free(struct discover *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n; i++)
		discover_target_free(d->t[i]);
	free(d->t);
	free(d);
}

int discover_container(struct discover *d, uint32_t owner, const char *name,
		       const struct discover_scope *scope, pid_t pid)
{
	struct discover_target *t = discover_find(d, owner), **tt;

	if (!t) {
		tt = realloc(d->t, (d->n + 1) * sizeof(*tt));
		if (!tt)
			return -ENOMEM;
		d->t = tt;
		t = calloc(1, sizeof(*t));
		if (!t)
			return -ENOMEM;
		t->owner = owner;
		t->rootfd = -1;
		d->t[d->n++] = t;
	}
	discover_scan_close(t);
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->scope = *scope;
	t->pid = pid;
	t->scanning = true;
	t->rescan = false;
	t->reported = false;
	t->next_path = 0;
	t->found = 0;
	t->nq = 0;
	t->ngone = 0; /* the scan finds what they made */
	t->gone_pending = false;
	return 0;
}

int discover_process(struct discover *d, uint32_t owner, pid_t pid, uint64_t exec_ts, bool forked)
{
	struct discover_target *t = discover_find(d, owner);
	struct discover_proc p = { .pid = pid, .exec_ts = exec_ts };

	if (!t)
		return -ESRCH;
	p.due = p.queued = clock_now_ns();
	return discover_enqueue(t, &p, forked);
}

void discover_ended(struct discover *d, uint32_t owner, pid_t pid)
{
	struct discover_target *t = discover_find(d, owner);
	size_t i;

	if (!t)
		return;
	/* Queued once per pid; gone, the latest of that pid. */
	for (i = t->nq; i-- > 0;) {
		if (t->q[i].pid == pid) {
			discover_remove_at(t->q, &t->nq, i, sizeof(*t->q));
			return;
		}
	}
	for (i = t->ngone; i-- > 0;) {
		if (t->gone[i].pid == pid) {
			discover_remove_at(t->gone, &t->ngone, i, sizeof(*t->gone));
			return;
		}
	}
}

void discover_rescan_all(struct discover *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		discover_rescan(d->t[i]);
}

void discover_forget(struct discover *d, uint32_t owner)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		if (d->t[i]->owner != owner)
			continue;
		discover_target_free(d->t[i]);
		d->t[i] = d->t[--d->n];
		return;
	}
}

static bool discover_any_runnable(const struct discover *d, uint64_t now)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (discover_runnable(d, d->t[i], now))
			return true;
	return false;
}

/* The next container with work due, in turn. */
static struct discover_target *discover_next(struct discover *d, uint64_t now)
{
	size_t i, k;

	for (i = 0; i < d->n; i++) {
		k = (d->rr + i) % d->n;
		if (discover_runnable(d, d->t[k], now)) {
			d->rr = k + 1;
			return d->t[k];
		}
	}
	return NULL;
}

int discover_step(struct discover *d, uint64_t budget_ns)
{
	uint64_t start = clock_now_ns(), now = start;
	struct discover_target *t;
	int64_t wall;
	int err;

	while (now - start < budget_ns && (t = discover_next(d, now))) {
		discover_unit(d, t, now);
		now = clock_now_ns();
	}
	wall = (int64_t)time(NULL);
	if (d->refused && (err = refused_flush(d->refused, wall, false)) < 0 &&
	    wall - d->save_warned >= 60) {
		d->save_warned = wall;
		log_with(LOG_WARN, LOG_KV("file", refused_path(d->refused)),
			 "cannot save the refused ELF files: %s", strerror(-err));
	}
	return discover_any_runnable(d, now);
}

bool discover_scanned_all(const struct discover *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (!d->t[i]->reported)
			return false;
	return true;
}

long discover_wait_ms(const struct discover *d)
{
	uint64_t now = clock_now_ns(), next = UINT64_MAX;
	size_t i, j;

	for (i = 0; i < d->n; i++) {
		const struct discover_target *t = d->t[i];

		if (t->scanning)
			return 0;
		if (discover_gone_owed(d, t) && d->gone_next < next)
			next = d->gone_next;
		for (j = 0; j < t->nq; j++)
			if (t->q[j].due < next)
				next = t->q[j].due;
	}
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (long)((next - now + 999999) / 1000000);
}

size_t discover_refused(const struct discover *d, uint32_t owner,
			const struct discover_refusal **out)
{
	const struct discover_target *t = discover_find(d, owner);

	*out = t ? t->refused : NULL;
	return t ? t->nrefused : 0;
}
