// SPDX-License-Identifier: Apache-2.0
/* The agent's two threads (see agent.h).
 *
 * The capture thread only reads the ring buffer: it waits on it without
 * the agent's lock, then takes the lock and turns what it read into
 * entries (sessions, terminal lines, the sink: the spool's journal or the
 * JSON lines), and wakes the main thread.
 *
 * The main thread does everything else under the same lock: the
 * controller's ShellAuditNode, discovery, the spool's batching and sync,
 * publishing, and each second the targets, the drop counters and the
 * status. It lets go of the lock whenever it waits: for the capture
 * thread, for a timer, and for the API server during each request (the
 * kube client's io hooks), so that no request, however slow, holds up the
 * reading of the ring buffer. The lock is a turnlock: under a flood the
 * capture thread cannot keep the main thread out, nor the other way.
 * The HTTP endpoints run on their own thread (httpd.h) and share only
 * atomics with these two. */
#include "agent.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <libgen.h>
#include <malloc.h>
#include <limits.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "attrib.h"
#include "capture.h"
#include "clock.h"
#include "container.h"
#include "discover.h"
#include "events.h"
#include "follow.h"
#include "heads.h"
#include "httpd.h"
#include "kube.h"
#include "kubeconfig.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "nodecfg.h"
#include "parked.h"
#include "pending.h"
#include "probe.h"
#include "publish.h"
#include "refused.h"
#include "session.h"
#include "sign.h"
#include "sink.h"
#include "sink_spool.h"
#include "spool.h"
#include "target.h"
#include "ttyline.h"
#include "turnlock.h"
#include "util.h"

/* A process that exec'd in a target, for discovery. */
struct agent_exec {
	uint32_t owner;
	pid_t pid; /* 0: none (its process ended before discovery's turn) */
	uint64_t ts;
	bool ended;  /* not an exec: pid ended without making a process */
	bool forked; /* SA_F_EXEC_FORKED */
};

#define AGENT_EXECS_MAX 4096
/* Entries of a burst of turns share one fdatasync of the spool: at most
 * this long between two (what Events and records wait for, at most, and
 * only under a flood: an entry after a quieter time is synced at once).
 * Each sync costs a device flush and the writeback of its last page again,
 * whatever it holds: at 10 ms they were a sixth of the agent's CPU under
 * an exec flood. */
#define AGENT_SYNC_GAP_MS 50
/* The same while what waits for a sync is only entries no Event is wanted
 * for (an exec flood's, execEvents off): no Event waits, records do not
 * wait for it, and a node's crash loses at most this much of them (the
 * ring buffer's records are lost with it anyway). */
#define AGENT_SYNC_QUIET_GAP_MS 500

struct agent {
	const struct agent_opts *opts;
	/* Held by the thread that works on anything below; see the top. */
	struct turnlock lock;
	pthread_t cap_thread;
	/* The main thread's loop: the eventfd, the informers' fds, the
	 * signalfd, the one-second tick; the turn's work before each sleep. */
	struct loop *loop;
	long tick; /* the one-second timer */
	unsigned long ticks; /* its runs */
	/* The execs the capture thread saw, for discovery, which runs
	 * without the lock (under the lock: pushed by the capture thread,
	 * taken by the main thread before each discovery step). */
	struct agent_exec *execs;
	size_t nexecs;
	atomic_int cap_err; /* the ring buffer's wait failed: -errno */
	int wake;	    /* eventfd: the capture thread appended entries */
	int sigfd;
	int err; /* why the loop stopped, when it failed */
	atomic_bool cap_stop;
	bool cap_started;
	bool reload;	 /* SIGHUP: the targets file is read again */
	bool more;	 /* discovery has work due now */
	bool execs_lost; /* it was full: every container is scanned again */
	bool tty_attached; /* the terminal hook is attached */
	struct capture *cap;
	struct probe_set *probes;
	struct refused *refused; /* ELF files refused, by identity */
	struct discover *disc;	 /* finding readline in the containers, a bounded step a turn */
	struct session_table *sessions;
	struct ttyline_table *ttylines;
	char tty_error[256]; /* why it is not, or "" */
	struct sink *sink;
	struct target_list targets;
	struct timespec file_mtime;
	uint64_t counters[SA_CNT_MAX]; /* as last reported */
	/* Kubernetes mode */
	struct kubeconfig *kcfg;
	struct kube_client *client;
	struct nodecfg *nc;
	struct pending_set *pending; /* who exec'd into this node's pods */
	struct attrib *attrib;	     /* who opened each session */
	struct spool *spool;
	struct events *events;
	struct publisher *pub;
	struct parked *parked;	/* records the API server refused, tried again */
	struct sign_key *key;	/* signs every record of this node */
	struct heads *heads;	/* published in the ShellAuditNode status */
	bool heads_merged;	/* a previous agent's heads taken over */
	bool held;		/* the publisher waits for a storage budget's hold */
	struct httpd *http;
	struct export *export;	/* --output: every entry as a JSON line, or NULL */
	struct metrics metrics;
	struct metric *m_captured, *m_records, *m_events, *m_dropped, *m_latency, *m_suppressed,
		*m_event_latency, *m_record_latency, *m_events_in_flight, *m_targets, *m_attached,
		*m_failures, *m_collisions, *m_matched, *m_ambiguous, *m_unattributed, *m_pending,
		*m_held, *m_exported, *m_export_lost, *m_parked, *m_parked_total, *m_events_refused,
		*m_events_undelivered;
	uint64_t ring_drops;
	uint64_t spool_lost;	/* of unknown containers (spool full or corrupt), in gaps */
	uint64_t spool_corrupt, spool_records_lost; /* as last logged */
	uint64_t spool_undecided;	/* as last logged */
	/* Decisions the spool refused (full) since the last log of it, and
	 * when that was: said every 10 s at most, not on each retry. */
	uint64_t attr_refused;
	uint64_t attr_refused_logged_ns;
	/* Events tagged with a target id but not its container's identity:
	 * dropped, counted, logged. */
	uint64_t foreign;
	/* The targets the pinned map held when this agent took it over: their
	 * events captured meanwhile are theirs even if they are not active
	 * again (their container ended while no agent ran). */
	struct sa_target_val *inherited;
	size_t ninherited;
	char last_error[256];
	/* The targets are known: the ring buffer may be read (the events a
	 * previous agent's programs left carry target ids only a known target
	 * list resolves) and what that agent left unused is swept. */
	bool settled;
	bool probes_swept; /* and what its readline probes left, once discovery took over */
	int swept_targets;
	bool publishing; /* the last turn ran out of time with more to publish */
};

/* The SA_TARGET_* flags target t wants in the kernel's map. */
static uint32_t agent_target_flags(struct agent *a, const struct target *t)
{
	const struct sink_spool_target *st;

	if (!a->opts->terminal)
		return 0;
	if (!a->nc)
		return SA_TARGET_TERMINAL;
	st = nodecfg_lookup(t->spec, a->nc);
	return st && st->terminal ? SA_TARGET_TERMINAL : 0;
}

/* Whether target t wants its readline probes: to record readline's lines,
 * or to tell readline's reads of the terminal from the others' for
 * terminal capture. A target that wants neither (execs only) has none: a
 * breakpoint costs every fork of a probed program (its text's page table
 * is copied). */
static bool agent_target_probes(struct agent *a, const struct target *t)
{
	const struct sink_spool_target *st;

	if (!a->nc)
		return true;
	st = nodecfg_lookup(t->spec, a->nc);
	return !st || st->readline || st->terminal;
}

static void agent_on_scanned(void *arg, uint32_t owner, int n);

/* Brings target t's readline probes in line with its spec (start: t was
 * just activated, with none): the search of its container for readline
 * programs, whose first scan says "target added", or none. */
static void agent_target_probe(struct agent *a, struct target *t, bool start)
{
	bool want = agent_target_probes(a, t);

	if (!t->active || (!start && want == t->probing))
		return;
	t->probing = want;
	if (!want) {
		discover_forget(a->disc, t->id);
		probe_release_owner(a->probes, t->id);
		agent_on_scanned(a, t->id, 0);
		return;
	}
	if (discover_container(a->disc, t->id, t->name, &t->scope, t->pid))
		log_with(LOG_ERROR, LOG_KV("container", t->name),
			 "cannot queue the search for readline: out of memory");
}

/* Attaches the terminal hook while an active target wants it, and only
 * then: attached, it slows every syscall of every process a little. */
static void agent_tty_update(struct agent *a)
{
	const char *why;
	bool want = false;
	size_t i;
	int r;

	for (i = 0; i < a->targets.n; i++)
		want |= a->targets.t[i].active && (a->targets.t[i].kflags & SA_TARGET_TERMINAL);
	if (want == a->tty_attached || capture_tty_hook(a->cap, &why) == CAPTURE_TTY_OFF)
		return;
	r = capture_tty_set(a->cap, want);
	if (r < 0) {
		snprintf(a->tty_error, sizeof(a->tty_error), "cannot attach the %s hook: %s",
			 capture_tty_hook_name(capture_tty_hook(a->cap, &why)), strerror(-r));
		log_with(LOG_ERROR, LOG_KV("reason", a->tty_error),
			 "terminal capture is off: typed lines are captured from readline only");
		return;
	}
	a->tty_error[0] = '\0';
	a->tty_attached = want;
	log_with(LOG_INFO, LOG_KV("hook", capture_tty_hook_name(capture_tty_hook(a->cap, &why))),
		 want ? "terminal capture attached" :
			"terminal capture detached: no target wants it");
}

/* Brings the kernel's flags of an active target in line with its spec. */
static void agent_target_reflag(struct agent *a, struct target *t)
{
	uint32_t flags = agent_target_flags(a, t);
	struct sa_target_val v;
	int err;

	if (!t->active || flags == t->kflags)
		return;
	err = capture_target_get(a->cap, t->mntns, &v);
	if (!err) {
		v.flags = flags;
		err = capture_target_add(a->cap, t->mntns, &v);
	}
	if (err) {
		log_with(LOG_ERROR, LOG_KV("container", t->name),
			 "cannot update the container in the kernel's target map: %s",
			 strerror(-err));
		return;
	}
	t->kflags = flags;
}

static void agent_on_event(void *ctx, const struct capture_event *ev);

/* A process the sweep found in other namespaces than its container's init:
 * an entry like the kernel's namespace events. */
static void agent_on_found(void *arg, const struct sa_ns_event *ns)
{
	struct capture_event ev = { .hdr = &ns->hdr, .ns = ns };

	agent_on_event(arg, &ev);
}

/* The target's chain says capture was off for it until now, and why. */
static void agent_capture_off(struct agent *a, const struct target *t, const struct follow_start *f)
{
	struct sink_entry e = {
		.kind = SINK_OFF,
		.ts = clock_now_ns(),
		.container = t->name,
		.mntns = t->mntns,
		.cgroup = t->cgroup,
		.since = f->since,
		.reason = f->reason,
		.text = f->text,
		.text_len = strlen(f->text),
	};

	sink_write(a->sink, &e);
	log_with(LOG_INFO, LOG_KV("container", t->name, "reason", f->reason),
		 "capture was off for this container until now: %s", f->text);
}

/* Puts a resolved target into the kernel map, marks its processes and
 * probes what it runs. */
static void agent_activate(struct agent *a, struct target *t)
{
	char pid[16], ns[24], path[64];
	struct follow_start f;
	struct stat st;
	size_t i;
	int err;

	if (t->active)
		return;
	err = target_resolve(t, a->opts->runtime_roots);
	if (err) {
		log_with(LOG_DEBUG, LOG_KV("container", t->name, "target", t->spec),
			 "target not running here yet: %s", strerror(-err));
		return;
	}
	snprintf(pid, sizeof(pid), "%d", (int)t->pid);
	snprintf(ns, sizeof(ns), "%" PRIu64, t->mntns);
	for (i = 0; i < a->targets.n; i++) {
		const struct target *o = &a->targets.t[i];

		/* Two specs for one container (two of its pids, or a pid and
		 * its ID): the first one active keeps it. */
		if (o != t && o->active && o->mntns == t->mntns) {
			if (!t->duplicate)
				log_with(LOG_WARN,
					 LOG_KV("container", t->name, "pid", pid, "same_as",
						o->name),
					 "target names a container already targeted; ignored");
			t->duplicate = true;
			return;
		}
	}
	t->duplicate = false;
	/* Holding the namespace open keeps its inode number from being
	 * reused by another container while it is in the kernel's map. */
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)t->pid);
	t->nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (t->nsfd < 0 || fstat(t->nsfd, &st) || (uint64_t)st.st_ino != t->mntns) {
		log_with(LOG_DEBUG, LOG_KV("container", t->name, "pid", pid),
			 "target process went away while resolving");
		if (t->nsfd >= 0)
			close(t->nsfd);
		t->nsfd = -1;
		return;
	}
	/* Active before the sweep: what it finds is the target's. */
	t->active = true;
	t->kflags = agent_target_flags(a, t);
	err = follow_target(a->cap, t, agent_on_found, a, &f);
	if (err) {
		log_with(LOG_ERROR, LOG_KV("container", t->name, "pid", pid, "mntns", ns),
			 "cannot add the container to the kernel's target map: %s",
			 strerror(-err));
		t->active = false;
		close(t->nsfd);
		t->nsfd = -1;
		return;
	}
	if (!f.continuous)
		agent_capture_off(a, t, &f);
	if (f.sweep.failed)
		log_with(LOG_WARN, LOG_KV("container", t->name),
			 "%u processes of the container could not be marked: they are followed "
			 "only while they stay in its mount namespace",
			 f.sweep.failed);
	t->marked = f.sweep.marked + f.sweep.had_mark;
	agent_tty_update(a);
	/* Said "target added" once the container's first scan is done. */
	t->probing = false;
	t->announced = false;
	agent_target_probe(a, t, true);
}

/* Discovery's question (discover.h): the capture's map, a syscall, no
 * lock needed. */
static uint32_t agent_marked(void *arg, pid_t pid)
{
	struct agent *a = arg;

	return capture_target_of_pid(a->cap, pid);
}

/* The first scan of a target's container ended (discover.h). */
static void agent_on_scanned(void *arg, uint32_t owner, int n)
{
	struct agent *a = arg;
	struct target *t = target_list_find_id(&a->targets, owner);
	char pid[16], ns[24], nsid[24], probes[16], marked[16];

	if (!t)
		return;
	snprintf(probes, sizeof(probes), "%zu", probe_count_owner(a->probes, t->id));
	if (t->announced) {
		log_with(LOG_INFO, LOG_KV("container", t->name, "probes", probes),
			 t->probing ? "readline probes searched for again: the policy wants them" :
				      "readline probes let go: the policy wants neither readline "
				      "nor terminal capture");
		return;
	}
	t->announced = true;
	snprintf(pid, sizeof(pid), "%d", (int)t->pid);
	snprintf(ns, sizeof(ns), "%" PRIu64, t->mntns);
	snprintf(nsid, sizeof(nsid), "%" PRIu64, t->nsid);
	snprintf(marked, sizeof(marked), "%u", t->marked);
	log_with(LOG_INFO,
		 LOG_KV("container", t->name, "pid", pid, "mntns", ns, "nsid", nsid, "init",
			t->found, "probes", probes, "marked", marked),
		 "target added%s", n < 0 ? " (its root could not be searched)" : "");
}

static void agent_deactivate(struct agent *a, struct target *t, const char *reason)
{
	if (!t->active)
		return;
	capture_target_del(a->cap, t->mntns);
	/* Events already in the ring buffer still belong to the target. */
	capture_drain(a->cap);
	discover_forget(a->disc, t->id);
	probe_release_owner(a->probes, t->id);
	ttyline_end_target(a->ttylines, t->id);
	session_end_target(a->sessions, t->id, reason);
	if (a->attrib)
		attrib_forget(a->attrib, t->name);
	close(t->nsfd);
	t->nsfd = -1;
	t->active = false;
	agent_tty_update(a);
	log_with(LOG_INFO, LOG_KV("container", t->name), "target removed");
}

/* Whether a process of the target's container still runs on the node. */
static bool agent_container_runs(const struct agent *a, const struct target *t)
{
	char id[CONTAINER_ID_MAX];
	const char *how;
	pid_t pid;

	return container_parse_id(t->spec, id, sizeof(id)) == 0 &&
	       container_find_init(id, a->opts->runtime_roots, &pid, &how) == 0;
}

/* The controller took an audited container off this node's list (or its
 * rules broke) while the container still runs: its chain ends with an entry
 * that says so, and the pod gets a Warning Event, instead of going quiet. */
static void agent_audit_stopped(struct agent *a, const struct target *t)
{
	const struct nodecfg_target *removed = nodecfg_removed(a->nc, t->spec);
	const struct nodecfg_target *nt = NULL;
	char why[512];
	size_t i;
	int ret;

	for (i = 0; !removed && i < nodecfg_count(a->nc); i++)
		if (!strcmp(nodecfg_at(a->nc, i)->cid, t->spec))
			nt = nodecfg_at(a->nc, i);
	if ((!removed && !nt) || !agent_container_runs(a, t))
		return; /* the container is gone: its chain just ends */
	if (removed)
		snprintf(
			why, sizeof(why),
			"auditing stopped while the container runs: target removed by the "
			"controller (no ShellAuditPolicy selects it any more: a policy was deleted "
			"or changed, or the pod or its namespace was relabelled)");
	else
		snprintf(why, sizeof(why),
			 "auditing stopped while the container runs: its policies' redact rules "
			 "cannot be applied: %.300s",
			 nt->error ? nt->error : "unknown");
	ret = sink_spool_stopped(a->sink, t->spec, removed ? removed->id : nt->id, why);
	if (ret < 0)
		log_with(LOG_ERROR, LOG_KV("container", t->spec),
			 "cannot record that auditing stopped: %s", strerror(-ret));
	else
		log_with(LOG_WARN, LOG_KV("container", t->spec), "%s", why);
}

/* Brings the target list in line with the flags and the targets file. */
static void agent_sync_targets(struct agent *a, bool force)
{
	struct target_list want = { 0 };
	struct stat st;
	char spec[TARGET_SPEC_MAX];
	size_t i;

	if (a->nc) {
		for (i = 0; i < nodecfg_count(a->nc); i++) {
			const struct nodecfg_target *nt = nodecfg_at(a->nc, i);

			if (!nt->error)
				target_list_add(&want, nt->cid, nt->cid);
		}
		goto apply;
	}
	if (!a->opts->targets_file)
		return;
	if (stat(a->opts->targets_file, &st)) {
		if (force)
			log_with(LOG_WARN, LOG_KV("file", a->opts->targets_file),
				 "cannot read the targets file: %s", strerror(errno));
		memset(&st, 0, sizeof(st));
	}
	if (!force && st.st_mtim.tv_sec == a->file_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == a->file_mtime.tv_nsec)
		return;
	a->file_mtime = st.st_mtim;
	for (i = 0; i < a->opts->npids; i++) {
		snprintf(spec, sizeof(spec), "pid:%d", (int)a->opts->pids[i]);
		target_list_add(&want, spec, NULL);
	}
	if (st.st_ino)
		target_load_file(a->opts->targets_file, &want);
apply:
	for (i = 0; i < a->targets.n;) {
		struct target *t = &a->targets.t[i];

		if (!target_list_find_spec(&want, t->spec)) {
			bool audited = t->active;

			agent_deactivate(a, t, "untargeted");
			if (a->nc && audited)
				agent_audit_stopped(a, t);
			target_list_remove(&a->targets, i);
			continue;
		}
		i++;
	}
	for (i = 0; i < want.n; i++) {
		struct target *t = target_list_add(&a->targets, want.t[i].spec, want.t[i].name);

		if (t)
			agent_activate(a, t);
	}
	target_list_free(&want);
	/* A spec may have turned terminal capture on or off for a target,
	 * and with it readline capture its probes. */
	for (i = 0; i < a->targets.n; i++) {
		agent_target_reflag(a, &a->targets.t[i]);
		agent_target_probe(a, &a->targets.t[i], false);
	}
	agent_tty_update(a);
}

static void agent_on_exec(struct agent *a, const struct target *t, const struct capture_event *ev)
{
	/* Looked at in the main thread's discovery step, not here: what the
	 * program is made of must not hold the reading of the ring buffer.
	 * The kernel marked the process as the container's: it is probed
	 * wherever it is now (a bash copied into a namespace of its own
	 * included). */
	if (!a->execs && !(a->execs = calloc(AGENT_EXECS_MAX, sizeof(*a->execs)))) {
		a->execs_lost = true;
		return;
	}
	if (a->nexecs == AGENT_EXECS_MAX) {
		a->execs_lost = true;
		return;
	}
	a->execs[a->nexecs++] =
		(struct agent_exec){ t->id, (pid_t)ev->hdr->tgid, ev->hdr->ts, false,
				     (ev->hdr->flags & SA_F_EXEC_FORKED) != 0 };
}

/* How far back among the execs not handed over yet an ended process's own
 * is looked for (an exec flood's process ends a few entries after its
 * exec); past it, discovery is told instead. */
#define AGENT_EXEC_LOOKBACK 64

/* A process of t ended that made no process in its life
 * (SA_F_EXIT_NO_FORK): nothing of it is left to probe, and nothing it made
 * runs unprobed. Its execs among the last few not handed over yet are
 * dropped (a pid is reused only once the pids wrapped around), and
 * discovery is told (it may have one from an earlier hand-over). */
static void agent_on_ended(struct agent *a, const struct target *t, const struct capture_event *ev)
{
	pid_t pid = (pid_t)ev->hdr->tgid;
	size_t i, n = a->nexecs < AGENT_EXEC_LOOKBACK ? a->nexecs : AGENT_EXEC_LOOKBACK;

	for (i = 1; i <= n; i++) {
		struct agent_exec *x = &a->execs[a->nexecs - i];

		if (x->pid == pid && x->owner == t->id && !x->ended)
			x->pid = 0;
	}
	if (a->execs && a->nexecs < AGENT_EXECS_MAX)
		a->execs[a->nexecs++] = (struct agent_exec){ t->id, pid, ev->hdr->ts, true, false };
}

/* Discovery's step, the lock given up meanwhile: a unit reads a file of
 * the container, which may be slow (the container's own file system);
 * the capture thread goes on. Nothing it touches is the capture
 * thread's: the execs it saw are handed over first, under the lock. */
static int agent_discover_step(struct agent *a)
{
	size_t i;
	int more;

	for (i = 0; i < a->nexecs; i++) {
		const struct agent_exec *x = &a->execs[i];

		if (x->ended)
			discover_ended(a->disc, x->owner, x->pid);
		else if (x->pid)
			discover_process(a->disc, x->owner, x->pid, x->ts, x->forked);
	}
	/* Under the lock: the events read so far are those handed over. */
	discover_read(a->disc, capture_released(a->cap));
	a->nexecs = 0;
	if (a->execs_lost) {
		log_warn("more execs than discovery could queue: every container's processes "
			 "are scanned again");
		discover_rescan_all(a->disc);
		a->execs_lost = false;
	}
	turnlock_unlock(&a->lock);
	more = discover_step(a->disc, DISCOVER_STEP_MS * 1000000ull);
	turnlock_lock(&a->lock);
	return more;
}

/* How far the ring buffer is reserved (discover_set_ring). */
static uint64_t agent_reserved(void *arg)
{
	return capture_reserved(((struct agent *)arg)->cap);
}

/* The target an event belongs to, or NULL: its id names a target of the
 * list, and its container identity is that target's (or the one the
 * pinned map gave the target before this agent). */
static struct target *agent_event_target(struct agent *a, const struct sa_event_hdr *h)
{
	struct target *t = target_list_find_id(&a->targets, h->target);
	size_t i;

	if (!t)
		return NULL; /* untargeted while the event was in flight */
	if (target_owns_event(t, h->nsid))
		return t;
	for (i = 0; !t->active && i < a->ninherited; i++)
		if (a->inherited[i].id == t->id && a->inherited[i].nsid == h->nsid)
			return t;
	/* A container that is not (or no longer) the target's: never taken
	 * for it. The kernel refuses these already where it can tell. */
	if (a->foreign++ % 1000 == 0) {
		char pid[16], nsid[24], want[24];

		snprintf(pid, sizeof(pid), "%u", h->tgid);
		snprintf(nsid, sizeof(nsid), "%" PRIu64, (uint64_t)h->nsid);
		snprintf(want, sizeof(want), "%" PRIu64, t->nsid);
		log_with(
			LOG_WARN,
			LOG_KV("container", t->name, "pid", pid, "nsid", nsid, "target_nsid", want),
			"dropped an event of another container tagged with this target (%" PRIu64
			" so far)",
			a->foreign);
	}
	return NULL;
}

static enum match_stdin agent_stdin(uint32_t stdio)
{
	switch ((stdio >> SA_STDIO_IN_SHIFT) & 0xff) {
	case SA_STDIN_NONE: return MATCH_STDIN_NONE;
	case SA_STDIN_PIPE: return MATCH_STDIN_PIPE;
	case SA_STDIN_TTY: return MATCH_STDIN_TTY;
	case SA_STDIN_OTHER: return MATCH_STDIN_OTHER;
	default: return MATCH_STDIN_UNKNOWN;
	}
}

static void agent_observe_root(struct agent *a, const struct target *t,
			       const struct capture_event *ev)
{
	const struct sink_spool_target *st = nodecfg_lookup(t->name, a->nc);
	struct attrib_event ae = {
		.cid = t->name,
		.id = st ? st->id : NULL,
		.root = ev->hdr->root,
		.root_start = ev->hdr->root_start,
		.ts = ev->hdr->ts,
		.exec = true,
		.argv = ev->text,
		.argv_len = ev->text_len,
		.argc = ev->argc,
		.truncated = (ev->hdr->flags & SA_F_TRUNCATED) != 0,
		.tty = ev->stdio & SA_STDIO_KNOWN ? (ev->stdio & SA_STDIO_TTY) != 0 : -1,
		.in = agent_stdin(ev->stdio),
		.in_recorded = (agent_target_flags(a, t) & SA_TARGET_TERMINAL) && a->tty_attached,
	};

	if (ae.id)
		attrib_observe(a->attrib, &ae);
}

static void agent_on_event(void *ctx, const struct capture_event *ev)
{
	struct agent *a = ctx;
	struct target *t = agent_event_target(a, ev->hdr);

	if (!t)
		return; /* untargeted while the event was in flight */
	if (ev->hdr->type == SA_EV_TTY) {
		ttyline_read(a->ttylines, ev);
		return;
	}
	/* A session root's own exec: what its session was opened with. */
	if (a->attrib && ev->hdr->type == SA_EV_EXEC && ev->hdr->root &&
	    ev->hdr->root == ev->hdr->tgid)
		agent_observe_root(a, t, ev);
	ttyline_before(a->ttylines, ev);
	/* Before the exit that may end the session: what it read of a line. */
	if (ev->hdr->type == SA_EV_EXIT)
		ttyline_exit(a->ttylines, ev->hdr);
	session_handle(a->sessions, ev, t->name);
	if (ev->hdr->type == SA_EV_EXEC)
		agent_on_exec(a, t, ev);
	else if (ev->hdr->type == SA_EV_EXIT && (ev->hdr->flags & SA_F_EXIT_NO_FORK))
		agent_on_ended(a, t, ev);
}

/* A line ttyline rebuilt from terminal reads. */
static void agent_on_tty_line(void *ctx, const struct ttyline *l)
{
	struct agent *a = ctx;
	struct target *t = target_list_find_id(&a->targets, l->hdr->target);

	if (t)
		session_handle_tty_line(a->sessions, l, t->name);
}

/* Reports drops as a gap entry: nothing is lost silently. */
static void agent_check_drops(struct agent *a)
{
	uint64_t c[SA_CNT_MAX], stale;
	struct sink_entry e = { .kind = SINK_LOST };

	if (capture_counters(a->cap, c))
		return;
	e.lost_lines = c[SA_CNT_DROP_LINE] - a->counters[SA_CNT_DROP_LINE];
	e.lost_execs = c[SA_CNT_DROP_EXEC] - a->counters[SA_CNT_DROP_EXEC];
	e.lost_exits = c[SA_CNT_DROP_EXIT] - a->counters[SA_CNT_DROP_EXIT];
	e.lost_ns = c[SA_CNT_DROP_NS] - a->counters[SA_CNT_DROP_NS];
	e.unmarked = c[SA_CNT_MARK_FAIL] - a->counters[SA_CNT_MARK_FAIL];
	e.lost_reads = c[SA_CNT_DROP_TTY] - a->counters[SA_CNT_DROP_TTY];
	if (e.lost_lines || e.lost_execs || e.lost_exits || e.lost_ns || e.unmarked ||
	    e.lost_reads) {
		uint64_t lost =
			e.lost_lines + e.lost_execs + e.lost_exits + e.lost_ns + e.lost_reads;
		size_t i;

		e.ts = clock_now_ns();
		sink_write(a->sink, &e);
		/* A full ring buffer is not one container's: every audited
		 * container's stream says events may be missing here. */
		for (i = 0; a->spool && i < a->targets.n; i++) {
			if (!a->targets.t[i].active)
				continue;
			sink_spool_gap(a->sink, a->targets.t[i].name, lost,
				       "the kernel ring buffer was full");
			sink_spool_gap(a->sink, a->targets.t[i].name, e.unmarked,
				       "processes of audited containers could not be marked (no "
				       "kernel memory): what they ran after leaving their "
				       "container's mount namespace is missing");
		}
		a->ring_drops += lost;
		/* An exec event lost is a process discovery never saw: a
		 * program of its own with readline (a private bash) would
		 * read lines unprobed. At most once a tick, as the drops. */
		if (e.lost_execs && a->disc) {
			log_info("exec events were lost: every container's processes are "
				 "scanned again");
			discover_rescan_all(a->disc);
		}
		if (lost)
			log_with(LOG_WARN, NULL,
				 "ring buffer full: lost %" PRIu64 " lines, %" PRIu64
				 " execs, %" PRIu64 " exits, %" PRIu64
				 " namespace changes, %" PRIu64 " terminal reads",
				 e.lost_lines, e.lost_execs, e.lost_exits, e.lost_ns, e.lost_reads);
		if (e.unmarked)
			log_with(LOG_WARN, NULL,
				 "%" PRIu64 " processes of audited containers could not be marked "
				 "(no kernel memory)",
				 e.unmarked);
	}
	stale = c[SA_CNT_STALE] - a->counters[SA_CNT_STALE];
	if (stale)
		log_with(LOG_WARN, NULL,
			 "%" PRIu64 " events of processes in a mount namespace that reuses a gone "
			 "target's inode were not taken for that target",
			 stale);
	memcpy(a->counters, c, sizeof(c));
	/* Kept in the kernel: an agent restarting after a crash reports the
	 * drops since, not since boot. */
	capture_reported(a->cap, a->counters, true);
}

/* Entries the spool lost without knowing whose (corrupt beyond telling, or
 * refused past the bound on waiting gaps): a gap in every audited
 * container's chain, as for a full ring buffer, and counted in the status. */
static void agent_check_spool_losses(struct agent *a)
{
	struct spool_stats st;
	struct sink_spool_stats ss;
	uint64_t lost, n;
	size_t i;

	spool_get_stats(a->spool, &st);
	sink_spool_get_stats(a->sink, &ss);
	if (st.corrupt > a->spool_corrupt || st.records_lost > a->spool_records_lost)
		log_with(LOG_ERROR, LOG_KV("dir", a->opts->spool_dir),
			 "spool: %" PRIu64 " corrupt entries met (%" PRIu64
			 " became gap entries in "
			 "their chains), %" PRIu64 " records formed again, %" PRIu64 " lost",
			 st.corrupt, st.corrupt_gaps, st.records_regenerated, st.records_lost);
	a->spool_corrupt = st.corrupt;
	a->spool_records_lost = st.records_lost;
	if (st.undecided > a->spool_undecided)
		log_with(LOG_WARN, LOG_KV("dir", a->opts->spool_dir),
			 "spool: %" PRIu64
			 " sessions got no decision on who opened them within %d s: "
			 "recorded Unattributed",
			 st.undecided - a->spool_undecided, SPOOL_AWAIT_MAX_MS / 1000);
	a->spool_undecided = st.undecided;
	lost = st.corrupt_unattributed + ss.lost_unattributed;
	if (lost <= a->spool_lost)
		return;
	n = lost - a->spool_lost;
	for (i = 0; i < a->targets.n; i++)
		if (a->targets.t[i].active)
			sink_spool_gap(
				a->sink, a->targets.t[i].name, n,
				"the node's spool lost them and cannot tell whose they were");
	log_with(LOG_ERROR, LOG_KV("dir", a->opts->spool_dir),
		 "the spool lost %" PRIu64 " entries of unknown containers (corrupt or past its "
		 "bounds): a gap in every audited container's chain",
		 n);
	a->spool_lost = lost;
}

/* What the spool met when it opened, said once. */
static void agent_log_spool_open(struct agent *a)
{
	struct spool_stats st;
	const struct journal_stats *js[2];
	static const char *const name[2] = { "entries", "records" };
	char dir[PATH_MAX];
	int i;

	spool_get_stats(a->spool, &st);
	js[0] = &st.ej;
	js[1] = &st.rj;
	for (i = 0; i < 2; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", a->opts->spool_dir, name[i]);
		if (js[i]->torn_bytes)
			log_with(LOG_WARN, LOG_KV("dir", dir),
				 "spool: cut %" PRIu64
				 " bytes of a torn tail (an agent stopped mid-write)",
				 js[i]->torn_bytes);
		if (js[i]->cursor_reset)
			log_with(LOG_WARN, LOG_KV("dir", dir),
				 "spool: its cursor was damaged; replaying from its oldest segment "
				 "(what was published meets AlreadyExists)");
	}
}

static void agent_log_counters(struct agent *a)
{
	char v[SA_CNT_MAX][24], foreign[24];
	int i;

	for (i = 0; i < SA_CNT_MAX; i++)
		snprintf(v[i], sizeof(v[i]), "%" PRIu64, a->counters[i]);
	snprintf(foreign, sizeof(foreign), "%" PRIu64, a->foreign);
	log_with(LOG_INFO,
		 LOG_KV("lines", v[SA_CNT_LINES], "execs", v[SA_CNT_EXECS], "exits",
			v[SA_CNT_EXITS], "namespace_changes", v[SA_CNT_NS], "dropped_lines",
			v[SA_CNT_DROP_LINE], "dropped_execs", v[SA_CNT_DROP_EXEC], "dropped_exits",
			v[SA_CNT_DROP_EXIT], "dropped_namespace_changes", v[SA_CNT_DROP_NS],
			"unmarked", v[SA_CNT_MARK_FAIL], "stale_targets", v[SA_CNT_STALE],
			"read_errors", v[SA_CNT_READ_ERR], "foreign_events", foreign,
			"terminal_reads", v[SA_CNT_TTY_READS], "dropped_terminal_reads",
			v[SA_CNT_DROP_TTY]),
		 "capture counters");
}

static bool agent_keeps_mntns(uint64_t mntns, void *arg)
{
	const struct agent *a = arg;
	size_t i;

	for (i = 0; i < a->targets.n; i++)
		if (a->targets.t[i].active && a->targets.t[i].mntns == mntns)
			return true;
	return false;
}

/* Every this many seconds, what a burst of entries and Events grew goes
 * back to the system (the spool's and the client's buffers, the heap's
 * free pages): glibc and they keep it for the next burst. */
#define AGENT_TRIM_TICKS 10

/* A stream (a session's stdin) idle this long with nothing counted is
 * removed from the kernel's rates (capture_sweep_streams): it starts again
 * idle, as it was. */
#define AGENT_STREAM_IDLE_NS (60ull * 1000 * 1000 * 1000)

/* Once events come fast (a drain that found some less than twice
 * AGENT_CAPTURE_GATHER_MS after the one before ended), the capture thread
 * lets what follows gather before it reads again: the ring buffer wakes a
 * reader only for the record at its position, so a busy node costs one
 * wake of each thread, one write of the spool's journal and one item per
 * fold a gather instead of one each per event. The gather grows by
 * AGENT_CAPTURE_GATHER_MS with each busy drain in a row, up to
 * AGENT_CAPTURE_GATHER_SLICES of them (80 ms: what an entry may wait for
 * it, well within the 0.2 s from capture to Event), and ends once the
 * ring is AGENT_CAPTURE_GATHER_FILL full: a flood never fills the ring
 * while the thread sleeps. The first two drains after a quiet time are
 * read at once: a shell's exec and the program it execs right after
 * (env, then the shell) reach discovery while the program still runs. */
#ifndef AGENT_CAPTURE_GATHER_MS
#define AGENT_CAPTURE_GATHER_MS 20
#endif
#define AGENT_CAPTURE_GATHER_SLICES 4
#define AGENT_CAPTURE_GATHER_FILL 512 /* parts per 1024: a half */

static void agent_capture_gather(const struct capture *cap, unsigned slices)
{
	struct timespec ts;
	unsigned i;

	for (i = 0; i < slices && capture_fill(cap) < AGENT_CAPTURE_GATHER_FILL; i++) {
		ts = (struct timespec){ 0, AGENT_CAPTURE_GATHER_MS * 1000000L };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}

/* Records are released to the kernel: what the sink gathered of them is
 * written first, so that the agent's death loses none (unreleased, the
 * next agent reads them again). */
static void agent_before_release(void *arg)
{
	struct agent *a = arg;
	int err;

	if ((err = sink_settle(a->sink)) < 0)
		log_debug("writing gathered entries failed (the next sync writes what the journal "
			  "took; a fold it could not take is a counted gap in its chain): %s",
			  strerror(-err));
}

/* After a restart: which of the first records of the ring buffer the
 * previous agent spooled before it died (capture_skip_handled). */
static void agent_handled(const struct capture_event *evs, size_t n, bool *out, void *arg)
{
	sink_handled(((struct agent *)arg)->sink, evs, n, out);
}

/* The capture thread (see the top). Its waits are bounded (200 ms), so
 * that it sees cap_stop and the terminal lines' timeouts run. */
static void *agent_capture_thread(void *arg)
{
	struct agent *a = arg;
	int efd = capture_fd(a->cap);
	uint64_t one = 1, last_end = 0;
	unsigned slices = 0;

	pthread_setname_np(pthread_self(), "sa-capture");

	while (!atomic_load(&a->cap_stop)) {
		struct epoll_event ev[4];
		int n = epoll_wait(efd, ev, 4, 200), got;

		if (n < 0 && errno != EINTR) {
			atomic_store(&a->cap_err, -errno);
			(void)!write(a->wake, &one, sizeof(one));
			break;
		}
		turnlock_lock(&a->lock);
		/* The entries of a drain go out in a write per chunk of
		 * records (agent_before_release), not one each. */
		sink_gather(a->sink, true);
		got = capture_drain(a->cap);
		ttyline_tick(a->ttylines, clock_now_ns());
		sink_flush(a->sink);
		export_flush(a->export);
		sink_gather(a->sink, false);
		turnlock_unlock(&a->lock);
		if (got > 0) {
			(void)!write(a->wake, &one, sizeof(one));
			if (clock_now_ns() - last_end >= 2 * AGENT_CAPTURE_GATHER_MS * 1000000ull)
				slices = 0;
			else if (slices < AGENT_CAPTURE_GATHER_SLICES)
				slices++;
			agent_capture_gather(a->cap, slices);
			last_end = clock_now_ns();
		}
	}
	return NULL;
}

/* Starts the capture thread (with the lock held); signals stay with the
 * main thread, whose wait they cut short. */
static int agent_capture_start(struct agent *a)
{
	sigset_t all, old;
	int ret;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&a->cap_thread, NULL, agent_capture_thread, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	a->cap_started = ret == 0;
	return ret;
}

/* Stops the capture thread (with the lock held, given up while it ends). */
static void agent_capture_join(struct agent *a)
{
	if (!a->cap_started)
		return;
	atomic_store(&a->cap_stop, true);
	turnlock_unlock(&a->lock);
	pthread_join(a->cap_thread, NULL);
	turnlock_lock(&a->lock);
	a->cap_started = false;
}

/* Once the targets are known: what a previous agent left pinned and no
 * target claims (a container untargeted or gone meanwhile) is removed; its
 * readline probes once the first search of every target took over theirs. */
static void agent_settle(struct agent *a)
{
	if (a->nc)
		agent_sync_targets(a, true);
	a->swept_targets = capture_sweep_targets(a->cap, agent_keeps_mntns, a);
	a->settled = true;
}

static void agent_sweep_probes(struct agent *a)
{
	int nt = a->swept_targets, np = probe_set_sweep(a->probes);

	if (nt > 0 || np > 0)
		log_info("removed %d targets and %d readline probe links of the previous agent "
			 "that no target uses now",
			 nt > 0 ? nt : 0, np > 0 ? np : 0);
	a->probes_swept = true;
}

static void agent_inherit(uint64_t mntns, const struct sa_target_val *v, void *arg)
{
	struct agent *a = arg;
	struct sa_target_val *p;

	(void)mntns;
	p = realloc(a->inherited, (a->ninherited + 1) * sizeof(*p));
	if (!p)
		return; /* their events are then dropped as foreign, and counted */
	a->inherited = p;
	a->inherited[a->ninherited++] = *v;
}

/* Whether the node has targets: then capture outlives this agent (pinned),
 * for the next one to take over. Unknown (the ShellAuditNode never read)
 * counts as yes. */
static bool agent_has_targets(const struct agent *a)
{
	if (a->nc)
		return !nodecfg_synced(a->nc) || nodecfg_count(a->nc) > 0;
	return a->targets.n > 0;
}

/* A stop (SIGTERM, SIGINT) with targets leaves capture running in the
 * kernel, pinned, as a crash does: nothing typed meanwhile is lost, the
 * next agent reads it. Without targets, capture ends here. */
static void agent_stop_capture(struct agent *a)
{
	char n[16];
	size_t i;

	if (capture_pinned(a->cap) && agent_has_targets(a)) {
		snprintf(n, sizeof(n), "%zu", a->targets.n);
		log_with(LOG_INFO, LOG_KV("targets", n, "dir", a->opts->bpf_dir),
			 "capture goes on while no agent runs: the next agent reads what it "
			 "captures (`shellaudit-agent uninstall` ends it)");
		return;
	}
	for (i = 0; i < a->targets.n; i++)
		agent_deactivate(a, &a->targets.t[i], "agent stopped");
	if (capture_pinned(a->cap)) {
		capture_unpin(a->cap);
		log_info("no targets on this node: capture state removed");
	}
}

/* --- Kubernetes mode -------------------------------------------------------- */

/* Ready: the node's ShellAuditNode read; standalone, the targets known
 * and the ring buffer read. */
static bool agent_ready(void *arg)
{
	struct agent *a = arg;

	return a->nc ? nodecfg_synced(a->nc) : a->settled;
}

/* The metrics both modes have. */
static void agent_metrics_common(struct agent *a)
{
	struct metrics *m = &a->metrics;

	a->m_dropped = metrics_add(m, "shellaudit_agent_dropped_total",
				   "Events lost before the spool: ring buffer or spool full, or a "
				   "write of the spool that failed.",
				   0);
	a->m_targets = metrics_add(m, "shellaudit_agent_targets", "Targets of this node.", 1);
	a->m_attached =
		metrics_add(m, "shellaudit_agent_attached", "Targets in the kernel's map.", 1);
}

/* Standalone, each second: the targets and what the ring buffer lost. */
static void agent_update_metrics(struct agent *a)
{
	size_t i, attached = 0;

	for (i = 0; i < a->targets.n; i++)
		attached += a->targets.t[i].active;
	a->m_targets->value = (double)a->targets.n;
	a->m_attached->value = (double)attached;
	a->m_dropped->value = (double)a->ring_drops;
}

/* The latency histograms' buckets, in seconds: 0.2 s to an Event and 2 s
 * to a record, the goals, are bounds. */
static const double agent_latency_bounds[] = { 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 300 };

static void agent_k8s_metrics(struct agent *a)
{
	struct metrics *m = &a->metrics;

	a->m_captured = metrics_add(m, "shellaudit_agent_captured_total",
				    "Entries written to the spool.", 0);
	a->m_records = metrics_add(m, "shellaudit_agent_records_published_total",
				   "AuditRecords the API server accepted (or already had).", 0);
	a->m_events = metrics_add(m, "shellaudit_agent_events_published_total",
				  "Events created (or already there).", 0);
	a->m_suppressed =
		metrics_add(m, "shellaudit_agent_events_suppressed_total",
			    "Lines over a pod's Events rate limit (in AuditRecords only).", 0);
	agent_metrics_common(a);
	a->m_collisions = metrics_add(m, "shellaudit_agent_record_collisions_total",
				      "Records not published: a different record had the name.", 0);
	a->m_failures = metrics_add(m, "shellaudit_agent_publish_failures_total",
				    "API calls that failed and were retried.", 0);
	a->m_latency = metrics_add(m, "shellaudit_agent_publish_latency_seconds",
				   "From capture to the AuditRecord accepted, last record.", 1);
	a->m_event_latency = metrics_add_histogram(
		m, "shellaudit_agent_event_latency_seconds",
		"From an entry's capture to its Event accepted (a command line or a program).",
		agent_latency_bounds, ARRAY_SIZE(agent_latency_bounds));
	a->m_record_latency = metrics_add_histogram(
		m, "shellaudit_agent_record_latency_seconds",
		"From a record's first entry's capture to the AuditRecord accepted.",
		agent_latency_bounds, ARRAY_SIZE(agent_latency_bounds));
	a->m_events_in_flight = metrics_add(
		m, "shellaudit_agent_events_in_flight",
		"Events in the window: sent, answered behind an older one, or waiting for one "
		"of 64 requests (at most 256: full means the API server sets the pace).",
		1);
	a->m_matched = metrics_add(m, "shellaudit_agent_sessions_matched_total",
				   "Sessions attributed to the one person who opened them.", 0);
	a->m_ambiguous = metrics_add(m, "shellaudit_agent_sessions_ambiguous_total",
				     "Sessions several people's alike sessions could be.", 0);
	a->m_unattributed = metrics_add(m, "shellaudit_agent_sessions_unattributed_total",
					"Sessions no admitted session matches.", 0);
	a->m_pending = metrics_add(m, "shellaudit_agent_pending_sessions",
				   "Pending sessions (ShellAuditSessions) of this node held.", 1);
	a->m_held = metrics_add(m, "shellaudit_agent_records_held",
				"AuditRecords kept in the spool while the controller holds them "
				"(a storage budget is exceeded).",
				1);
	a->m_parked = metrics_add(m, "shellaudit_agent_records_parked",
				  "AuditRecords the API server refused for the record itself, kept "
				  "beside the spool and tried again.",
				  1);
	a->m_parked_total = metrics_add(m, "shellaudit_agent_records_parked_total",
					"AuditRecords parked since the agent started.", 0);
	a->m_events_refused =
		metrics_add(m, "shellaudit_agent_events_refused_total",
			    "Events the API server answered with an error status: not retried "
			    "(the AuditRecords hold the data).",
			    0);
	a->m_events_undelivered =
		metrics_add(m, "shellaudit_agent_events_undelivered_total",
			    "Events with no answer from the API server after a few tries: skipped "
			    "(the AuditRecords hold the data).",
			    0);
	a->m_exported = metrics_add(m, "shellaudit_agent_exported_total",
				    "Entries written as JSON lines to --output.", 0);
	a->m_export_lost = metrics_add(m, "shellaudit_agent_export_lost_total",
				       "Entries --output lost: its reader did not keep up.", 0);
}

/* The node's signing key: --key-file, else node.key in the state dir. */
static int agent_load_key(struct agent *a)
{
	char path[PATH_MAX], dir[PATH_MAX], err[512];
	int created, ret;

	if (a->opts->key_file && *a->opts->key_file) {
		snprintf(path, sizeof(path), "%s", a->opts->key_file);
	} else {
		snprintf(path, sizeof(path), "%s/node.key", a->opts->state_dir);
	}
	snprintf(dir, sizeof(dir), "%s", path);
	if (mkdir(dirname(dir), 0700) < 0 && errno != EEXIST)
		log_with(LOG_WARN, LOG_KV("dir", dir), "cannot create the key's directory: %s",
			 strerror(errno));
	ret = sign_key_load_or_create(path, &a->key, &created, err, sizeof(err));
	if (ret < 0) {
		log_with(LOG_ERROR, LOG_KV("file", path), "cannot load the node's signing key: %s",
			 err);
		return ret;
	}
	log_with(LOG_INFO, LOG_KV("file", path, "key_id", sign_key_id(a->key)),
		 "%s the node's signing key (its public half goes to the ShellAuditNode status)",
		 created ? "generated" : "loaded");
	return 0;
}

/* A record is in the API server: its chain's head moves. */
static void agent_on_record(const cJSON *rec, void *arg)
{
	struct agent *a = arg;

	heads_record(a->heads, rec, time(NULL));
}

/* Where a chain ended as this node last published it (status.heads). */
static int agent_head_hint(const char *cid, void *arg, uint64_t *seq)
{
	struct agent *a = arg;

	if (!a->heads_merged && nodecfg_synced(a->nc)) {
		heads_merge(a->heads, nodecfg_published_heads(a->nc));
		a->heads_merged = true;
	}
	return heads_seq(a->heads, cid, seq);
}

static bool agent_is_target(const char *cid, void *arg)
{
	struct agent *a = arg;

	return nodecfg_removed(a->nc, cid) || nodecfg_lookup(cid, a->nc) ||
	       target_list_find_spec(&a->targets, cid);
}

/* What the status says besides the targets: the key that signs this node's
 * records and the head of each chain. */
static cJSON *agent_k8s_extra(struct agent *a)
{
	cJSON *extra = cJSON_CreateObject(), *key, *heads, *term;
	struct publish_stats ps;
	const char *why, *hook;

	if (!extra)
		return NULL;
	/* Terminal capture: which hook, attached or not, and why not (or
	 * why sys_exit). */
	hook = capture_tty_hook_name(capture_tty_hook(a->cap, &why));
	if (capture_tty_moved(a->cap)) {
		hook = capture_tty_hook_name(CAPTURE_TTY_SYS_EXIT);
		why = "moved from the syscall tracepoints: a 32-bit program ran in an audited "
		      "container";
	}
	term = cJSON_AddObjectToObject(extra, "terminal");
	cJSON_AddStringToObject(term, "hook", hook);
	cJSON_AddBoolToObject(term, "attached", a->tty_attached);
	why = a->tty_error[0] ? a->tty_error : why;
	if (why && *why)
		cJSON_AddStringToObject(term, "message", why);
	if (!a->heads_merged) {
		/* A previous agent's heads: records it published stay covered. */
		heads_merge(a->heads, nodecfg_published_heads(a->nc));
		a->heads_merged = true;
	}
	key = cJSON_AddObjectToObject(extra, "signingKey");
	cJSON_AddStringToObject(key, "keyID", sign_key_id(a->key));
	cJSON_AddStringToObject(key, "publicKey", sign_key_public(a->key));
	if ((heads = heads_json(a->heads, agent_is_target, a, time(NULL))))
		cJSON_AddItemToObject(extra, "heads", heads);
	cJSON_AddNumberToObject(extra, "headsDropped", (double)heads_capped(a->heads));
	/* Records refused and parked: how many, and the newest few with why. */
	cJSON_AddNumberToObject(extra, "parkedRecords", (double)parked_count(a->parked));
	publish_get_stats(a->pub, &ps);
	cJSON_AddNumberToObject(extra, "parkedLost", (double)ps.parked_lost);
	if (parked_count(a->parked))
		cJSON_AddItemToObject(extra, "parked", parked_summary(a->parked, 10));
	return extra;
}

/* A decision on who opened a session, into the spool. */
static int agent_journal_attribution(void *arg, const char *cid, const char *root_key,
				     const cJSON *id, const cJSON *attr)
{
	struct agent *a = arg;
	const char *status = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(attr, "status"));
	int ret = sink_spool_attribute(a->sink, cid, root_key, id, attr);

	if (ret < 0) {
		uint64_t now = clock_now_ns();

		a->attr_refused++;
		if (!a->attr_refused_logged_ns ||
		    now - a->attr_refused_logged_ns >= 10000000000ull) {
			log_with(LOG_ERROR, LOG_KV("container", cid, "root", root_key),
				 "cannot journal who opened the session (tried again; %" PRIu64
				 " refusals in the last 10 s): %s",
				 a->attr_refused, strerror(-ret));
			a->attr_refused = 0;
			a->attr_refused_logged_ns = now;
		}
		return ret;
	}
	if (status && !strcmp(status, "Matched"))
		a->m_matched->value += 1;
	else if (status && !strcmp(status, "Ambiguous"))
		a->m_ambiguous->value += 1;
	else if (status && !strcmp(status, "Unattributed"))
		a->m_unattributed->value += 1;
	return 0;
}

/* sink_spool_attr_fn: the decision, or "await it". */
static int agent_attribution_of(void *arg, const char *cid, const cJSON *id, uint32_t root,
				uint64_t root_start, const cJSON **attr, char *root_key, size_t cap)
{
	struct agent *a = arg;
	const cJSON *at;

	if (!a->attrib || !id)
		return 0;
	at = attrib_lookup(a->attrib, cid, id, root, root_start, clock_now_ns(), root_key, cap);
	if (at == ATTRIB_AWAIT)
		return 1;
	*attr = at;
	return 0;
}

/* A root the previous agent had not decided: this one never saw it. */
static void agent_undecided(const char *cid, const char *root, const cJSON *id, void *arg)
{
	struct agent *a = arg;
	cJSON *attr = cJSON_CreateObject();
	int ret;

	cJSON_AddStringToObject(attr, "status", "Unattributed");
	cJSON_AddStringToObject(attr, "reason",
				"the agent restarted before it decided who opened the session");
	ret = sink_spool_attribute(a->sink, cid, root, id, attr);
	log_with(ret < 0 ? LOG_ERROR : LOG_WARN, LOG_KV("container", cid, "root", root),
		 "a session the previous agent had not attributed: recorded Unattributed%s",
		 ret < 0 ? " (not journaled: the spool's own bound will)" : "");
	cJSON_Delete(attr);
}

static int agent_k8s_start(struct agent *a)
{
	const struct agent_opts *o = a->opts;
	struct kube_client_opts copts = { .websocket = o->websocket != 0 };
	/* The main thread gives up the agent's lock while it waits for an
	 * answer: capture goes on (see the top). */
	struct kube_client_opts pubopts = { .timeout_ms = 5000,
					    .io_leave = turnlock_unlock_cb,
					    .io_enter = turnlock_lock_cb,
					    .io_arg = &a->lock };
	struct events_opts eo = { .controller = "shellaudit.io/agent", .qps = 50, .burst = 200 };
	struct spool_opts so = { .dir = o->spool_dir,
				 .max_bytes = o->spool_max_bytes,
				 .batch_entries = o->batch_entries,
				 .batch_bytes = o->batch_bytes,
				 .batch_age_ms = o->batch_ms,
				 .sync_gap_ms = AGENT_SYNC_GAP_MS,
				 .sync_quiet_gap_ms = AGENT_SYNC_QUIET_GAP_MS,
				 .event_wanted = publish_event_wanted,
				 .resume = true };
	struct attrib_opts ao = { 0 };
	char err[512], instance[300], parked_dir[PATH_MAX];
	int ret;

	agent_k8s_metrics(a);
	if ((ret = agent_load_key(a)) < 0)
		return ret;
	so.key = a->key;
	if ((ret = heads_new(&a->heads)) < 0)
		return ret;
	ret = o->kubeconfig ? kubeconfig_load(o->kubeconfig, NULL, &a->kcfg, err, sizeof(err)) :
			      kubeconfig_in_cluster(NULL, &a->kcfg, err, sizeof(err));
	if (ret < 0) {
		log_error("cannot configure the API client: %s", err);
		return ret;
	}
	if ((ret = kube_client_new(a->kcfg, &pubopts, &a->client)) < 0)
		return ret;
	snprintf(instance, sizeof(instance), "shellaudit-agent-%s", o->node_name);
	eo.instance = instance;
	if ((ret = events_new(a->client, &eo, &a->events)) < 0)
		return ret;
	if ((ret = spool_open(&so, &a->spool)) < 0) {
		log_with(LOG_ERROR, LOG_KV("dir", o->spool_dir), "cannot open the spool: %s",
			 strerror(-ret));
		return ret;
	}
	agent_log_spool_open(a);
	if ((ret = publish_new(a->client, a->events, a->spool, &a->pub)) < 0)
		return ret;
	publish_on_record(a->pub, agent_on_record, a);
	publish_on_hint(a->pub, agent_head_hint, a);
	/* Refused records go beside the spool, not in its way (parked.h). */
	snprintf(parked_dir, sizeof(parked_dir), "%s/parked", o->spool_dir);
	if ((ret = parked_open(parked_dir, &a->parked)) < 0)
		log_with(LOG_WARN, LOG_KV("dir", parked_dir),
			 "cannot keep refused AuditRecords aside: %s; such a record is dropped "
			 "or retried in place",
			 strerror(-ret));
	else if (parked_count(a->parked))
		log_with(LOG_WARN, LOG_KV("dir", parked_dir),
			 "%zu refused AuditRecords parked by a previous agent: tried again",
			 parked_count(a->parked));
	publish_set_parked(a->pub, a->parked);
	publish_set_latency_metrics(a->pub, a->m_event_latency, a->m_record_latency);
	if ((ret = nodecfg_start(a->kcfg, &copts, o->node_name, &a->nc)) < 0)
		return ret;
	publish_on_hold(a->pub, nodecfg_held, a->nc);
	if ((ret = pending_start(a->kcfg, &copts, o->node_name, &a->pending)) < 0)
		return ret;
	ao.before_ns = (uint64_t)o->attribution_window_s * 1000000000ull;
	ao.delay_ns =
		o->attribution_delay_ms > 0 ? (uint64_t)o->attribution_delay_ms * 1000000ull : 1;
	ao.audit_wait_ns = o->audit_wait_s > 0 ? (uint64_t)o->audit_wait_s * 1000000000ull : 1;
	if ((ret = attrib_new(&ao, a->pending, agent_journal_attribution, a, &a->attrib)) < 0)
		return ret;
	/* An agent restarted mid-session goes on saying who opened it. */
	if (o->state_dir && *o->state_dir) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/attributions", o->state_dir);
		if ((ret = attrib_persist(a->attrib, path)) < 0)
			log_with(LOG_WARN, LOG_KV("file", path),
				 "cannot keep who opened sessions across restarts: %s",
				 strerror(-ret));
	}
	if ((ret = sink_spool_open(a->spool, nodecfg_lookup, a->nc, &a->sink)) < 0)
		return ret;
	sink_spool_on_hold(a->sink, nodecfg_held, a->nc);
	if (o->output) {
		if ((ret = export_open(o->output, &a->export)) < 0) {
			log_with(LOG_ERROR, LOG_KV("file", o->output), "cannot open the output: %s",
				 strerror(-ret));
			return ret;
		}
		sink_spool_set_export(a->sink, a->export);
	}
	sink_spool_attribution(a->sink, agent_attribution_of, a);
	/* Sessions a previous agent left awaiting: it took their roots along. */
	spool_undecided(a->spool, agent_undecided, a);
	return 0;
}

static const struct target *agent_find_cid(struct agent *a, const char *cid)
{
	size_t i;

	for (i = 0; i < a->targets.n; i++)
		if (!strcmp(a->targets.t[i].spec, cid))
			return &a->targets.t[i];
	return NULL;
}

/* Status for the controller: what is attached, and why not. final: the
 * agent is leaving; what is attached is left as it was last said. */
static void agent_k8s_report(struct agent *a, bool final)
{
	size_t n = nodecfg_count(a->nc), i, attached = 0;
	struct nodecfg_target_status *ts = calloc(n ? n : 1, sizeof(*ts));

	if (!ts)
		return;
	for (i = 0; i < n; i++) {
		const struct nodecfg_target *nt = nodecfg_at(a->nc, i);
		const struct target *t = agent_find_cid(a, nt->cid);

		ts[i].cid = nt->cid;
		ts[i].attached = t && t->active;
		if (t)
			ts[i].nrefused = discover_refused(a->disc, t->id, &ts[i].refused);
		attached += ts[i].attached;
		if (nt->error) {
			ts[i].reason = "RedactRulesInvalid";
			ts[i].message = nt->error;
		} else if (!ts[i].attached) {
			ts[i].reason = "NotRunningHere";
			ts[i].message = "no process of this container on the node yet";
		}
	}
	a->m_targets->value = (double)n;
	a->m_attached->value = (double)attached;
	if (nodecfg_synced(a->nc)) {
		cJSON *extra = agent_k8s_extra(a);
		uint64_t lost = a->ring_drops + a->spool_lost;

		nodecfg_report(a->nc, a->client, final ? NULL : ts, n, (long long)lost,
			       a->last_error, extra);
		cJSON_Delete(extra);
	}
	free(ts);
}

static void agent_k8s_update_metrics(struct agent *a)
{
	struct publish_stats ps;
	struct sink_spool_stats ss;
	struct export_stats xs;

	export_get_stats(a->export, &xs);
	a->m_exported->value = (double)xs.lines;
	a->m_export_lost->value = (double)xs.dropped;
	publish_get_stats(a->pub, &ps);
	sink_spool_get_stats(a->sink, &ss);
	a->m_captured->value = (double)ss.entries;
	a->m_records->value = (double)(ps.records + ps.records_replayed);
	a->m_events->value = (double)(ps.events + ps.events_replayed);
	a->m_suppressed->value = (double)ps.events_suppressed;
	a->m_failures->value = (double)ps.failures;
	a->m_collisions->value = (double)ps.collisions;
	a->m_parked->value = (double)parked_count(a->parked);
	a->m_parked_total->value = (double)ps.records_parked;
	a->m_events_refused->value = (double)ps.events_refused;
	a->m_events_undelivered->value = (double)ps.events_undelivered;
	if (ps.collisions)
		snprintf(a->last_error, sizeof(a->last_error),
			 "%llu AuditRecords collided with different records of the same name",
			 (unsigned long long)ps.collisions);
	a->m_latency->value = ps.last_latency_s;
	a->m_events_in_flight->value = (double)ps.events_in_flight;
	{
		struct spool_stats sps;

		spool_get_stats(a->spool, &sps);
		a->m_held->value = ps.held ? (double)sps.records_waiting : 0;
		if (ps.held != a->held)
			log_with(ps.held ? LOG_WARN : LOG_INFO, LOG_KV("node", a->opts->node_name),
				 ps.held ?
					 "AuditRecords held in the spool: the controller says a "
					 "storage budget is exceeded (Events go on)" :
					 "AuditRecord hold ended: publishing what the spool kept");
		a->held = ps.held;
	}
	a->m_dropped->value =
		(double)(a->ring_drops + ss.dropped_full + ss.dropped_failed + a->spool_lost);
}

/* Pending sessions that can no longer match anything go: an exec's after
 * its window, its decision's delay and its audit wait, with a margin. */
static void agent_k8s_expire_pending(struct agent *a, uint64_t now)
{
	uint64_t keep = ((uint64_t)a->opts->attribution_window_s + (uint64_t)a->opts->audit_wait_s +
			 30) * 1000000000ull +
			(uint64_t)a->opts->attribution_delay_ms * 1000000ull;
	size_t n;

	pending_expire(a->pending, now, keep);
	pending_all(a->pending, &n);
	a->m_pending->value = (double)n;
}

/* The controller's word on this node (the ShellAuditNode informer). */
static void agent_k8s_config(struct agent *a)
{
	if (nodecfg_process(a->nc) > 0) {
		agent_sync_targets(a, true);
		agent_k8s_report(a, false);
	}
}

/* Who exec'd into the node's pods (the ShellAuditSession informer). */
static void agent_k8s_pending(struct agent *a)
{
	pending_process(a->pending);
}

/* One loop turn's Kubernetes work. */
static void agent_k8s_turn(struct agent *a)
{
	long deadline;
	int ret;

	agent_k8s_config(a);
	/* Who opened the sessions whose window closed: decided before the
	 * spool runs, which waits for them. */
	agent_k8s_pending(a);
	attrib_tick(a->attrib, clock_now_ns());
	if ((ret = spool_tick(a->spool)) < 0) {
		if (strncmp(a->last_error, "spool: ", 7))
			log_with(LOG_ERROR, LOG_KV("dir", a->opts->spool_dir), "spool: %s",
				 strerror(-ret));
		snprintf(a->last_error, sizeof(a->last_error), "spool: %s", strerror(-ret));
	}
	/* At most 100 ms a turn, so that the rest of the loop's work (the
	 * targets, discovery) keeps its pace behind a backlog. The capture
	 * thread reads the ring buffer while requests wait for answers. A
	 * step past the deadline sends one record and waits for no Event. */
	deadline = clock_now_ms() + 100;
	a->publishing = false;
	while (publish_step(a->pub, 4, deadline) > 0) {
		if (clock_now_ms() >= deadline) {
			a->publishing = true; /* more to do: the loop must not sleep */
			break;
		}
	}
}

/* SIGTERM: publish what the spool holds, for at most drain_s seconds. */
static void agent_k8s_drain(struct agent *a)
{
	/* What waits for a decision is decided now: the records can go. */
	attrib_flush(a->attrib, clock_now_ns());
	long deadline = clock_now_ms() + a->opts->drain_s * 1000L;
	struct timespec step = { 0, 50 * 1000000L };

	while (clock_now_ms() < deadline) {
		spool_tick(a->spool);
		publish_step(a->pub, 256, deadline);
		if (spool_idle(a->spool)) {
			log_info("spool drained");
			break;
		}
		nanosleep(&step, NULL);
	}
	if (!spool_idle(a->spool))
		log_warn("spool not drained within %lds; the next start publishes the rest",
			 a->opts->drain_s);
	agent_k8s_report(a, true); /* the heads of what was just published */
}

static void agent_k8s_stop(struct agent *a)
{
	attrib_free(a->attrib);
	pending_stop(a->pending);
	nodecfg_stop(a->nc);
	publish_free(a->pub);
	parked_free(a->parked);
	events_free(a->events);
	spool_close(a->spool);
	heads_free(a->heads);
	sign_key_free(a->key);
	kube_client_free(a->client);
	kubeconfig_free(a->kcfg);
}

/* The turn's work, before each sleep; returns the longest sleep. */
static long agent_before_sleep(void *arg)
{
	struct agent *a = arg;
	long wait, sync;
	int err;

	if (!a->settled && (!a->nc || nodecfg_synced(a->nc))) {
		agent_settle(a);
		if ((err = agent_capture_start(a)) < 0) {
			log_error("cannot start the capture thread: %s", strerror(-err));
			a->err = err;
			loop_stop(a->loop);
			return 0;
		}
	}
	if (a->settled && !a->probes_swept && discover_scanned_all(a->disc))
		agent_sweep_probes(a);
	httpd_beat(a->http, agent_ready(a));
	a->more = agent_discover_step(a);
	if (a->nc)
		agent_k8s_turn(a);
	if (!a->settled)
		return 50;
	wait = a->publishing || a->more ? 0 : discover_wait_ms(a->disc);
	if (a->spool && (sync = spool_sync_wait_ms(a->spool)) >= 0 && (wait < 0 || sync < wait))
		wait = sync;
	return wait >= 0 && wait < 200 ? wait : 200;
}

/* Each second (and at once on SIGHUP): the targets, the drops, the status. */
static long agent_on_tick(void *arg)
{
	struct agent *a = arg;
	size_t i;
	int err;

	agent_sync_targets(a, a->reload);
	a->reload = false;
	for (i = 0; i < a->targets.n; i++)
		agent_activate(a, &a->targets.t[i]);
	/* Before the targets are known no stream could take the gap: the
	 * drops stay counted in the kernel until then. */
	if (a->settled)
		agent_check_drops(a);
	if (a->nc) {
		agent_check_spool_losses(a);
		agent_k8s_report(a, false);
		agent_k8s_update_metrics(a);
		agent_k8s_expire_pending(a, clock_now_ns());
	} else {
		agent_update_metrics(a);
	}
	/* The kernel's rates of streams idle a minute go; what a burst grew
	 * and left free goes back to the system: the spool's buffers, the
	 * idle handles of the Events' window (the connection stays), then the
	 * heap's free pages. */
	if (++a->ticks % AGENT_TRIM_TICKS == 0) {
		uint64_t now = clock_now_ns();

		if (now > AGENT_STREAM_IDLE_NS &&
		    (err = capture_sweep_streams(a->cap, now - AGENT_STREAM_IDLE_NS)) < 0)
			log_warn("sweeping the stdin rates failed: %s", strerror(-err));
		if (a->spool)
			spool_trim(a->spool);
		if (a->client)
			kube_client_trim(a->client);
		malloc_trim(0);
	}
	return 1000;
}

/* The capture thread appended entries (the turn's work runs next), or
 * failed. */
static void agent_on_wake(int fd, short revents, void *arg)
{
	struct agent *a = arg;
	uint64_t v;
	int err;

	(void)revents;
	(void)!read(fd, &v, sizeof(v));
	if ((err = atomic_load(&a->cap_err)) < 0) {
		log_error("ring buffer poll failed: %s", strerror(-err));
		a->err = err;
		loop_stop(a->loop);
	}
}

static void agent_on_signal(int fd, short revents, void *arg)
{
	struct agent *a = arg;
	struct signalfd_siginfo si;

	(void)revents;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			a->reload = true;
			loop_timer_wake(a->loop, a->tick);
		} else {
			loop_stop(a->loop);
		}
	}
}

static void agent_on_nodecfg(int fd, short revents, void *arg)
{
	(void)fd;
	(void)revents;
	agent_k8s_config(arg);
}

static void agent_on_pending(int fd, short revents, void *arg)
{
	(void)fd;
	(void)revents;
	agent_k8s_pending(arg);
}

/* The main thread's loop; its waits give the agent's lock up. */
static int agent_loop_start(struct agent *a)
{
	int ret;

	if ((ret = loop_new(&a->loop)) < 0)
		return ret;
	loop_around_wait(a->loop, turnlock_unlock_cb, turnlock_lock_cb, &a->lock);
	loop_before_sleep(a->loop, agent_before_sleep, a);
	if ((ret = loop_fd_add(a->loop, a->wake, POLLIN, agent_on_wake, a)) < 0 ||
	    (ret = loop_fd_add(a->loop, a->sigfd, POLLIN, agent_on_signal, a)) < 0)
		return ret;
	if (a->nc &&
	    ((ret = loop_fd_add(a->loop, nodecfg_fd(a->nc), POLLIN, agent_on_nodecfg, a)) < 0 ||
	     (ret = loop_fd_add(a->loop, pending_fd(a->pending), POLLIN, agent_on_pending, a)) < 0))
		return ret;
	if ((a->tick = loop_timer_add(a->loop, 0, agent_on_tick, a)) < 0)
		return (int)a->tick;
	return 0;
}

int agent_run(const struct agent_opts *opts)
{
	struct capture_opts copts = {
		.line_max = opts->line_max,
		.args_max = opts->args_max,
		.ringbuf_bytes = opts->ringbuf_bytes,
		.pin_dir = opts->bpf_dir,
		.no_recovery = opts->no_recovery != 0,
		/* Without terminal capture: not even loaded. */
		.tty_hook = opts->terminal ? opts->tty_hook : CAPTURE_TTY_OFF,
	};
	struct agent a = { .opts = opts, .lock = TURNLOCK_INIT, .wake = -1, .sigfd = -1 };
	struct httpd_opts h = { .addr = opts->http_addr,
				.port = opts->port,
				.metrics = &a.metrics,
				.stale_ms = 60000 };
	sigset_t mask;
	size_t i;
	int err, err2, n;

	/* Taken by the loop's signalfd only: blocked before any thread is
	 * made, so that every thread inherits the mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	a.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	/* The main thread holds the lock but while it waits (see the top). */
	turnlock_lock(&a.lock);
	a.wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a.wake < 0 || a.sigfd < 0) {
		err = -errno;
		log_error("cannot make an eventfd: %s", strerror(-err));
		goto out;
	}

	if (opts->node_name) {
		err = agent_k8s_start(&a);
		if (err)
			goto out;
	} else {
		err = sink_jsonl_open(opts->output, &a.sink);
		if (err) {
			log_with(LOG_ERROR, LOG_KV("file", opts->output),
				 "cannot open the output: %s", strerror(-err));
			goto out;
		}
		agent_metrics_common(&a);
	}
	if (opts->port && (err = httpd_start(&h, &a.http)) < 0) {
		log_error("cannot serve /healthz, /readyz and /metrics on port %d: %s", opts->port,
			  strerror(-err));
		goto out;
	}
	err = session_table_new(a.sink, &a.sessions);
	if (err)
		goto out;
	err = ttyline_table_new(opts->line_max, agent_on_tty_line, &a, &a.ttylines);
	if (err)
		goto out;
	if (!opts->terminal)
		snprintf(a.tty_error, sizeof(a.tty_error),
			 "turned off on this node (--no-terminal)");
	copts.before_release = agent_before_release;
	err = capture_open(&copts, agent_on_event, &a, &a.cap);
	if (err)
		goto out;
	/* Records the previous agent spooled (or wrote to --output) and
	 * died before releasing are not written twice. */
	if (capture_resumed(a.cap) && (n = capture_skip_handled(a.cap, agent_handled, &a)) > 0)
		log_info("%d records the previous agent spooled before it stopped were skipped", n);
	err = refused_open(opts->state_dir, &a.refused);
	if (err == -ENOMEM)
		goto out;
	if (err)
		log_with(LOG_WARN, LOG_KV("file", refused_path(a.refused)),
			 "cannot read the refused ELF files; starting with none: %s",
			 strerror(-err));
	err = probe_set_new(a.cap, a.refused, &a.probes);
	if (!err)
		err = discover_new(a.probes, a.refused, agent_on_scanned, &a, &a.disc);
	if (err)
		goto out;
	discover_set_marked(a.disc, agent_marked, &a);
	discover_set_ring(a.disc, agent_reserved, &a);
	if (capture_reported(a.cap, a.counters, false))
		memset(a.counters, 0, sizeof(a.counters));
	if (capture_resumed(a.cap))
		capture_targets(a.cap, agent_inherit, &a);

	if (opts->targets_file || a.nc) {
		agent_sync_targets(&a, true);
	} else {
		for (i = 0; i < opts->npids; i++) {
			char spec[TARGET_SPEC_MAX];
			struct target *t;

			snprintf(spec, sizeof(spec), "pid:%d", (int)opts->pids[i]);
			t = target_list_add(&a.targets, spec, NULL);
			if (t)
				agent_activate(&a, t);
		}
	}
	if ((err = agent_loop_start(&a)) < 0)
		goto out;
	log_info("capture running");
	loop_run(a.loop);
	err = a.err;
	agent_capture_join(&a);
	capture_drain(a.cap);
	ttyline_tick(a.ttylines, clock_now_ns());
	if (a.settled)
		agent_check_drops(&a);
	agent_log_counters(&a);
	agent_stop_capture(&a);
	if (a.nc)
		agent_k8s_drain(&a);
out:
	agent_capture_join(&a);
	ttyline_table_free(a.ttylines);
	session_table_free(a.sessions);
	discover_free(a.disc);
	probe_set_free(a.probes);
	if ((err2 = refused_close(a.refused)) < 0)
		log_with(LOG_WARN, LOG_KV("file", opts->state_dir),
			 "cannot save the refused ELF files: %s", strerror(-err2));
	capture_close(a.cap);
	target_list_free(&a.targets);
	free(a.inherited);
	free(a.execs);
	sink_close(a.sink);
	export_free(a.export);
	httpd_stop(a.http);
	if (opts->node_name)
		agent_k8s_stop(&a);
	loop_free(a.loop);
	if (a.wake >= 0)
		close(a.wake);
	if (a.sigfd >= 0)
		close(a.sigfd);
	turnlock_unlock(&a.lock);
	turnlock_destroy(&a.lock);
	log_info("stopped");
	return err;
}
