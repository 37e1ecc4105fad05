// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * shellaudit's kernel side: the lines readline returns and the programs
 * executed in targeted containers, sent to the agent over one ring buffer.
 *
 * Every program asks current_target() which audited container the current
 * task belongs to, and returns at once when none. A task belongs to the
 * container whose mark it carries: BPF task storage (`marks`), set when a
 * task is first seen in a container and copied to every task it creates
 * (sched_process_fork), whatever namespaces it makes or joins afterwards.
 * A task without a mark is recognised by the inode of its mount namespace
 * in `targets` (the container's processes, and those that enter it: runc
 * exec, nsenter, kubectl exec), and marked then, in the session of its
 * nearest marked ancestor in the container (mark_root). An untargeted process
 * therefore costs a read of its task's storage pointer (NULL: never
 * marked) and one hash lookup of its mount namespace; an untargeted fork
 * costs the storage read alone.
 *
 * A marked task's namespaces and root directory are compared at each of
 * its events with those its mark last saw; a change is sent as an event of
 * its own before the event that found it, so the record shows the unshare,
 * setns, chroot or pivot_root (at clone, the child's against its creator's).
 *
 * The session id is the pid (initial namespace) of the session leader: the
 * process that called setsid(), which is the shell for a terminal opened by
 * runc/`kubectl exec -t`, sshd, tmux or script. Everything run from that
 * terminal, builtins typed into a nested bash included, shares it; the exit
 * of the leader closes the session.
 *
 * A uretprobe only sees readline calls that began after it was attached:
 * the shell that already waits at its prompt when its file is probed (a
 * container targeted, a new shell probed from its exec) returns from a call
 * the probe missed. readline_enter marks the calls that were seen, in
 * targeted containers or not (the target is checked when the line is
 * complete); on a call
 * that was not, deprep_enter (readline restoring the terminal, after the
 * line is complete and before readline returns) reads the line from
 * rl_line_buffer instead and flags it SA_F_RECOVERED. Programs that use
 * readline's callback interface (python3's REPL, gdb) never call readline():
 * prep_enter (rl_prep_terminal, called before each line) arms them and
 * deprep_enter reads their lines.
 *
 * One file can carry several attachments of each program: containers of
 * one image on overlayfs have one real file behind different overlay inodes,
 * and a uprobe lands on the real file, so each hit runs once per attachment.
 * The per-thread state below makes the first run of a hit act and the
 * others see that it did.
 *
 * The tracepoints are attached as BTF raw tracepoints (tp_btf): they need no
 * tracefs mount and get typed arguments.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "shellaudit.h"

#if defined(__TARGET_ARCH_x86)
/* thread_info.status: in a 32-bit syscall; after an exec, of a 32-bit
 * program. */
#define SA_TS_COMPAT 0x0002
#endif

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The room a line or exec event reserves, smallest first: a typical typed
 * line (under 63 bytes) takes a record of 176 bytes and a typical command
 * line one of 440, so the ring buffer holds tens of thousands of them
 * instead of its size over line_max or SA_ARGS_CAP. Longer ones get the
 * next size that holds them, the longest a record of their bound. */
#define SA_LINE_TINY 64
#define SA_LINE_SMALL 256
#define SA_ARGS_TINY 64
#define SA_ARGS_SMALL 256
#define SA_ARGS_MEDIUM 1024

/* Set by the agent before load. */
const volatile __u32 line_max = SA_LINE_MAX_DEFAULT;
const volatile __u32 args_max = SA_ARGS_MAX_DEFAULT;
/* tty_read_raw and tty_enter_raw loaded beside the syscall tracepoints,
 * which never run for 32-bit syscalls. */
const volatile bool raw_beside_tp = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SA_MAX_TARGETS);
	__type(key, struct sa_target_key);
	__type(value, struct sa_target_val);
} targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sa_mark);
} marks SEC(".maps");

/* The mark of a task recognised at its exit or when its own could not be
 * made: good for one event. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sa_mark);
} scratch_mark SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by the agent before load */
} events SEC(".maps");

/* Per-thread line state: inside a readline() call that readline_enter saw,
 * armed for a callback-read line, the current line already sent, inside
 * a seen readline() call that has given the terminal back (its line is
 * complete, or a signal interrupted it and the shell may never return to
 * it: a ^C at the prompt with a trap), or running a `bind -x` command
 * from inside a seen readline() call. Terminal capture skips the reads of
 * the first two states only. */
#define SA_IN_READLINE 1
#define SA_IN_CALLBACK 2
#define SA_LINE_SENT 3
#define SA_RL_DEPREPPED 4
#define SA_IN_BIND_X 5
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u8);
} in_readline SEC(".maps");

/* Threads running a `bind -x` command that bind_x_enter saw: its return
 * puts their state back to SA_IN_READLINE, whatever the command did to it
 * (a `read -e` inside runs a readline call of its own). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} in_bind_x SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SA_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* With raw_beside_tp: 0 while the raw programs take 32-bit syscalls only
 * (attached or not). Once a 32-bit program runs in a target
 * (SA_F_EXEC_IA32) the agent attaches them and stores 1: from that store
 * on, every syscall goes to them and none to the tracepoints' programs,
 * whose links it then detaches (both attached cost more than the raw ones
 * alone). Pinned: the programs of every agent of the build see one value. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tty_mode SEC(".maps");

/* Whether the raw programs take every syscall (tty_mode). */
static __always_inline bool tty_raw_all(void)
{
	__u32 k = 0, *v = bpf_map_lookup_elem(&tty_mode, &k);

	return v && *v;
}

/* Not used by the programs: the drop counts the agent last reported as gaps.
 * It lives as long as the pinned counters, so an agent that restarts after a
 * crash reports the drops of its absence, and only those. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SA_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} reported SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		*v += 1;
}

/* Newer kernels keep a mount namespace's id in ns_common.ns_id, older
 * ones in mnt_namespace.seq: both never reused, unlike the inode. */
struct ns_common___id {
	u64 ns_id;
} __attribute__((preserve_access_index));
struct mnt_namespace___id {
	struct ns_common___id ns;
} __attribute__((preserve_access_index));
struct mnt_namespace___seq {
	u64 seq;
} __attribute__((preserve_access_index));
struct nsproxy___time {
	struct time_namespace *time_ns_for_children;
} __attribute__((preserve_access_index));

static __always_inline __u64 mntns_id(struct mnt_namespace *mnt)
{
	if (bpf_core_field_exists(struct ns_common___id, ns_id))
		return BPF_CORE_READ((struct mnt_namespace___id *)mnt, ns.ns_id);
	if (bpf_core_field_exists(struct mnt_namespace___seq, seq))
		return BPF_CORE_READ((struct mnt_namespace___seq *)mnt, seq);
	return 0;
}

/* What read_nsset reads of a task: equal for two tasks, their sets are. */
static __always_inline bool nsset_same(struct task_struct *a, struct task_struct *b)
{
	return a->nsproxy == b->nsproxy && a->cred->user_ns == b->cred->user_ns &&
	       a->fs->root.dentry == b->fs->root.dentry;
}

/* Direct loads (task is a BTF pointer: a faulting load reads 0), not
 * probe reads: this runs at each event of a marked task (its forks and
 * execs among them; a child's set is read too when nsset_same says it may
 * differ), and a helper call costs more than the load. */
static __always_inline void read_nsset(struct task_struct *task, struct sa_nsset *s)
{
	struct nsproxy *nsp = task->nsproxy;
	struct dentry *root = task->fs->root.dentry;

	s->ns[SA_NS_MNT] = nsp->mnt_ns->ns.inum;
	s->ns[SA_NS_PID] = nsp->pid_ns_for_children->ns.inum;
	s->ns[SA_NS_NET] = nsp->net_ns->ns.inum;
	s->ns[SA_NS_UTS] = nsp->uts_ns->ns.inum;
	s->ns[SA_NS_IPC] = nsp->ipc_ns->ns.inum;
	s->ns[SA_NS_USER] = task->cred->user_ns->ns.inum;
	s->ns[SA_NS_CGROUP] = nsp->cgroup_ns->ns.inum;
	s->ns[SA_NS_TIME] = 0;
	if (bpf_core_field_exists(struct nsproxy___time, time_ns_for_children))
		s->ns[SA_NS_TIME] =
			BPF_CORE_READ((struct nsproxy___time *)nsp, time_ns_for_children, ns.inum);
	s->root_dev = root->d_sb->s_dev;
	s->root_ino = root->d_inode->i_ino;
}

/*
 * Global functions (neither static nor inlined) hold the loads of the
 * pointers a task's fields hold (task->nsproxy, ->real_parent, ->signal):
 * at each such load from a trusted pointer the verifier looks a type up
 * by name in the kernel's BTF, one type after the other
 * (btf_nested_type_is_trusted), and it goes through an inlined copy once
 * for each path that reaches it, where it goes through a global function
 * once per program, its arguments unknown. Inlined, those loads were three
 * quarters of the agent's start: loading the programs took 4.5 s on the
 * 2-core test machine (Linux 6.18), 1.3 s with them global (and
 * nsset_equal). Their task is the current one: a task cannot be a global
 * function's argument before Linux 6.8 (__arg_trusted). A pointer
 * argument (Linux 5.12, as task storage in tracing programs) may be NULL.
 */

/* read_nsset of the current task into *s. */
__noinline int nsset_read_current(struct sa_nsset *s)
{
	if (s)
		read_nsset(bpf_get_current_task_btf(), s);
	return 0;
}

/* Whether a and b hold the same namespaces and root: nsset_diff is 0.
 * Ask this before nsset_diff, and branch on nothing nsset_diff returns:
 * a branch on a value the verifier knows makes it keep that value apart,
 * and nsset_diff's has 2^9 (60,000 of the 300,000 instructions it looked
 * at in tty_read_tp; each program that looks for a change paid alike). */
static __always_inline bool nsset_equal(const struct sa_nsset *a, const struct sa_nsset *b)
{
	int i;

#pragma unroll
	for (i = 0; i < SA_NS_COUNT; i++)
		if (a->ns[i] != b->ns[i])
			return false;
	return a->root_dev == b->root_dev && a->root_ino == b->root_ino;
}

/* Bit i set: namespace i differs; bit SA_NS_ROOT: the root directory. */
static __always_inline __u32 nsset_diff(const struct sa_nsset *a, const struct sa_nsset *b)
{
	__u32 changed = 0;
	int i;

#pragma unroll
	for (i = 0; i < SA_NS_COUNT; i++)
		if (a->ns[i] != b->ns[i])
			changed |= 1u << i;
	if (a->root_dev != b->root_dev || a->root_ino != b->root_ino)
		changed |= 1u << SA_NS_ROOT;
	return changed;
}

/* The current task's parent's tgid (the high 32 bits) and its session's
 * id (a global function: see nsset_read_current). */
__noinline __u64 current_ppid_sid(void)
{
	struct task_struct *task = bpf_get_current_task_btf();

	return (__u64)task->real_parent->tgid << 32 |
	       (__u32)task->signal->pids[PIDTYPE_SID]->numbers[0].nr;
}

/* The header of an event of the current task. */
static __always_inline void fill_hdr(struct sa_event_hdr *h, __u32 type, __u64 mntns,
				     const struct sa_mark *m)
{
	__u64 id = bpf_get_current_pid_tgid(), ppid_sid = current_ppid_sid();

	h->type = type;
	h->flags = 0;
	h->ts = bpf_ktime_get_ns();
	h->mntns = mntns;
	h->cgroup = bpf_get_current_cgroup_id();
	h->pid = (__u32)id;
	h->tgid = id >> 32;
	h->ppid = ppid_sid >> 32;
	h->uid = (__u32)bpf_get_current_uid_gid();
	h->sid = (__u32)ppid_sid;
	h->target = m->target;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
	h->nsid = m->nsid;
	h->root_start = m->root_start;
	h->root = m->root;
	h->pad = 0;
}

/* Sends what changed between `from` and `to` (the root's name read from
 * `task`, whose root `to` is). */
static __always_inline void emit_ns(__u64 mntns, const struct sa_mark *m, __u32 how, __u32 changed,
				    struct task_struct *task, const struct sa_nsset *from,
				    const struct sa_nsset *to)
{
	struct sa_ns_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	const unsigned char *name;

	if (!e) {
		count(SA_CNT_DROP_NS);
		return;
	}
	fill_hdr(&e->hdr, SA_EV_NS, mntns, m);
	e->how = how;
	e->changed = changed;
	e->child = how == SA_NS_CLONED ? BPF_CORE_READ(task, pid) : 0;
	e->pad = 0;
	e->from = *from;
	e->to = *to;
	e->root_name[0] = '\0';
	name = BPF_CORE_READ(task, fs, root.dentry, d_name.name);
	if (name && bpf_probe_read_kernel_str(e->root_name, sizeof(e->root_name), name) < 0)
		e->root_name[0] = '\0';
	count(SA_CNT_NS);
	bpf_ringbuf_submit(e, 0);
}

/* A mark stays valid while its target is in the map as it was marked. */
static __always_inline bool mark_valid(const struct sa_mark *m)
{
	struct sa_target_key key = { .mntns = m->key };
	struct sa_target_val *t = bpf_map_lookup_elem(&targets, &key);

	return t && t->id == m->target && t->nsid == m->nsid;
}

/* How far up its parents mark_root() looks for where an unmarked task
 * came from. */
#define SA_ROOT_WALK 16

/*
 * The session of the current task, unmarked and seen in target t's
 * namespace (key) for the first time: m's root, root_start and stdin_ino.
 * A task forked by an unmarked parent has no mark: one the container's own
 * process forked after the target was added and before the agent's sweep
 * marked that process, or one whose mark could not be made. Its parents
 * are looked at while they are in the container's namespace: the first
 * marked one (of this target) gives its session, the container's init
 * gives none (its own tree). Otherwise the task entered from outside (runc
 * exec's child, nsenter: its parent is outside) and is its session's
 * root. A global function: see nsset_read_current.
 */
__noinline int mark_root(const struct sa_target_val *t, __u64 key, struct sa_mark *m)
{
	struct task_struct *task = bpf_get_current_task_btf(), *p = task;
	struct sa_mark *pm;
	__u32 tgid = task->tgid;
	int i;

	if (!t || !m)
		return 0;
	m->root = 0;
	m->root_start = 0;
	if (tgid == t->init)
		return 0;
	for (i = 0; i < SA_ROOT_WALK; i++) {
		p = p->real_parent;
		if (!p)
			break;
		pm = bpf_task_storage_get(&marks, p, 0, 0);
		if (pm) {
			if (pm->target == t->id && pm->key == key && pm->nsid == t->nsid) {
				m->root = pm->root;
				m->root_start = pm->root_start;
				m->stdin_ino = pm->stdin_ino;
				m->session_tty = pm->session_tty;
				return 0;
			}
			break;
		}
		if (p->tgid == t->init)
			return 0;
		if (p->nsproxy->mnt_ns->ns.inum != key)
			break;
	}
	m->root = tgid;
	m->root_start = task->group_leader->start_boottime / 10000000;
	return 0;
}

/* What target_of() does beside finding the target. */
#define SA_LOOK_MARK 0x1 /* mark a task recognised now (not at exit) */
#define SA_LOOK_NS 0x2 /* look for a namespace change (not at exit: exit_fs is near) */
/* At its exec: a task marked now made no process the container's program
 * runs (what it ran before was not seen as the container's). */
#define SA_LOOK_EXEC 0x4

/* The mark of task, the current task (bpf_get_current_task_btf()), as
 * current_target, with what look asks. */
static __always_inline struct sa_mark *target_of(struct task_struct *task, __u64 *mntns,
						  __u32 look)
{
	struct task_struct *me = bpf_get_current_task_btf();
	struct sa_mark *m = bpf_task_storage_get(&marks, me, 0, 0);
	struct sa_target_key key = {};
	struct sa_target_val *t;
	struct mnt_namespace *mnt;
	struct sa_nsset now;
	__u32 zero = 0;
	__u64 nsid;

	mnt = task->nsproxy->mnt_ns;
	key.mntns = mnt->ns.inum;
	*mntns = key.mntns;
	if (m) {
		if (mark_valid(m)) {
			if (m->flags & SA_MARK_UNSEEN) {
				nsset_read_current(&m->seen);
				m->flags &= ~SA_MARK_UNSEEN;
			} else if (look & SA_LOOK_NS) {
				nsset_read_current(&now);
				if (!nsset_equal(&m->seen, &now)) {
					emit_ns(key.mntns, m, SA_NS_CHANGED,
						nsset_diff(&m->seen, &now), task, &m->seen, &now);
					m->seen = now;
				}
			}
			return m;
		}
		/* Its target is gone: the task is a stranger again. */
		bpf_task_storage_delete(&marks, me);
	}
	t = bpf_map_lookup_elem(&targets, &key);
	if (!t)
		return NULL;
	nsid = mntns_id(mnt);
	if (t->nsid && nsid != t->nsid) {
		count(SA_CNT_STALE);
		return NULL;
	}
	m = NULL;
	if (look & SA_LOOK_MARK) {
		m = bpf_task_storage_get(&marks, me, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!m)
			count(SA_CNT_MARK_FAIL);
	}
	if (!m)
		m = bpf_map_lookup_elem(&scratch_mark, &zero);
	if (!m)
		return NULL;
	m->target = t->id;
	m->flags = look & SA_LOOK_EXEC ? SA_MARK_NO_FORK : 0;
	m->stdin_ino = 0;
	m->session_tty = 0;
	m->key = key.mntns;
	m->nsid = t->nsid;
	mark_root(t, key.mntns, m);
	nsset_read_current(&m->seen);
	return m;
}

/* The audited container the current task belongs to, or NULL: the one
 * filter of every program. A task seen in a target's mount namespace for
 * the first time is marked; a marked task's namespace change is sent. */
static __always_inline struct sa_mark *current_target(struct task_struct *task, __u64 *mntns)
{
	return target_of(task, mntns, SA_LOOK_MARK | SA_LOOK_NS);
}

/* What a readline line costs of its terminal rate beside its bytes. */
#define SA_LINE_COST 64
#define SA_COUNT_BYTES 0
#define SA_COUNT_AIO 1
#define SA_COUNT_LINES 2
/* Which rate a readline line goes by (line_rate). */
#define SA_LINE_FREE 0
#define SA_LINE_STDIN 1
#define SA_LINE_TTY 2
static __always_inline bool tty_admit(const struct sa_mark *t, bool session, __u32 cost, __u64 n,
				      __u32 kind, __u32 *carry);
static __always_inline bool stdin_admit_line(const struct sa_mark *t, __u32 cost, __u32 *carry);
static __always_inline __u32 line_rate(struct task_struct *task, const struct sa_mark *t);

/* Reserves a line event with room for cap bytes of line (a constant in
 * each inlined copy, so that the verifier sees the bounds) and copies the
 * line at user address `line` (NULL: end of input) into it. Returns 1 when
 * the line filled the room and a larger one may be wanted (try_bigger: the
 * event is discarded then), 0 otherwise. Reserving (not copying from a
 * per-CPU scratch) keeps preempted uprobe handlers from sharing a buffer.
 * A line goes out by the rate line_rate gave (rate, SA_LINE_*); end of
 * input by none. */
static __always_inline int emit_line_in(__u64 mntns, const struct sa_mark *t, const char *line,
					__u32 flags, __u32 rate, const __u32 cap, bool try_bigger)
{
	struct sa_line_event *e;
	__u32 carry = 0;
	long n;

	e = bpf_ringbuf_reserve(&events, offsetof(struct sa_line_event, line) + cap, 0);
	if (!e) {
		count(SA_CNT_DROP_LINE);
		return 0;
	}
	fill_hdr(&e->hdr, SA_EV_LINE, mntns, t);
	e->hdr.flags |= flags;
	e->len = 0;
	e->skipped = 0;
	if (!line) {
		e->hdr.flags |= SA_F_EOF;
	} else {
		n = bpf_probe_read_user_str(e->line, cap, line);
		if (n < 0) {
			count(SA_CNT_READ_ERR);
			n = 1;
		}
		if (n == cap && try_bigger) {
			/* Not BPF_RB_NO_WAKEUP: a reader that has caught up is woken
			 * only by the record at its position, and this is it. */
			bpf_ringbuf_discard(e, 0);
			return 1;
		}
		/* The last cap is line_max + 2: one byte to tell a line of
		 * exactly line_max bytes from a longer one, one for the NUL. */
		if (n - 1 > line_max) {
			e->hdr.flags |= SA_F_TRUNCATED;
			n = line_max + 1;
		}
		e->len = n - 1;
		if ((rate == SA_LINE_TTY &&
		     !tty_admit(t, false, SA_LINE_COST + e->len, 1, SA_COUNT_LINES, &carry)) ||
		    (rate == SA_LINE_STDIN &&
		     !stdin_admit_line(t, SA_LINE_COST + e->len, &carry))) {
			bpf_ringbuf_discard(e, 0);
			return 0;
		}
		e->skipped = carry;
	}
	count(SA_CNT_LINES);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* A line event that takes the ring buffer room the line needs, not
 * line_max's: most typed lines fit SA_LINE_TINY bytes, most others
 * SA_LINE_SMALL; a longer one is read again into the next size, the last
 * a record of line_max (from frozen .rodata, so the verifier sees a
 * constant size). A record given up for a larger one is discarded: the
 * reader skips it and frees its room. */
static __always_inline void emit_line(struct task_struct *task, __u64 mntns,
				      const struct sa_mark *t, const char *line, __u32 flags)
{
	__u32 rate = line ? line_rate(task, t) : SA_LINE_FREE;

	if (line_max + 2 > SA_LINE_TINY &&
	    !emit_line_in(mntns, t, line, flags, rate, SA_LINE_TINY, true))
		return;
	if (line_max + 2 > SA_LINE_SMALL &&
	    !emit_line_in(mntns, t, line, flags, rate, SA_LINE_SMALL, true))
		return;
	emit_line_in(mntns, t, line, flags, rate,
		     (line_max < SA_LINE_CAP - 2 ? line_max : SA_LINE_CAP - 2) + 2, false);
}

/* Every call is marked, targeted or not: a shell of a container that is
 * targeted while it waits at its prompt (its file already probed for
 * another container) then still has its line sent by readline_ret, which
 * matters where the recovery programs cannot load (before 6.6). The cost,
 * one map update per line read, falls on lines typed, not on execs. */
SEC("uprobe")
int BPF_KPROBE(readline_enter)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u8 mode = SA_IN_READLINE;

	bpf_map_update_elem(&in_readline, &id, &mode, BPF_ANY);
	return 0;
}

/* rl_prep_terminal(): inside readline() it changes nothing; otherwise it
 * starts a line read through the callback interface. */
SEC("uprobe")
int BPF_KPROBE(prep_enter)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 id = bpf_get_current_pid_tgid(), mntns;
	__u8 armed = SA_IN_CALLBACK, *state;

	if (!current_target(task, &mntns))
		return 0;
	state = bpf_map_lookup_elem(&in_readline, &id);
	if (state && *state == SA_RL_DEPREPPED) {
		/* readline() preparing the terminal again (after SIGCONT). */
		armed = SA_IN_READLINE;
		bpf_map_update_elem(&in_readline, &id, &armed, BPF_ANY);
	} else if (!state || *state != SA_IN_READLINE) {
		bpf_map_update_elem(&in_readline, &id, &armed, BPF_ANY);
	}
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(readline_ret, const char *ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 id = bpf_get_current_pid_tgid(), mntns;
	__u8 sent = SA_LINE_SENT, *state;
	struct sa_mark *t;

	state = bpf_map_lookup_elem(&in_readline, &id);
	if (!state || (*state != SA_IN_READLINE && *state != SA_RL_DEPREPPED))
		return 0; /* another attachment sent it, or a call readline_enter missed */
	bpf_map_update_elem(&in_readline, &id, &sent, BPF_ANY);
	t = current_target(task, &mntns);
	if (t)
		emit_line(task, mntns, t, ret, 0);
	return 0;
}

/* The value of rl_line_buffer, for a uprobe whose cookie is the distance
 * from its function to that variable in the same file (the variable's
 * address then needs no knowledge of where the file is mapped); NULL,
 * counted, when unreadable. A cookie of 0 says the file has no such
 * variable: NULL, not counted. */
static __always_inline const char *rl_line_buffer_of(void *ctx)
{
	__u64 cookie = bpf_get_attach_cookie(ctx), var = bpf_get_func_ip(ctx) + cookie;
	const char *line = NULL;

	if (!cookie)
		return NULL;
	if (bpf_probe_read_user(&line, sizeof(line), (const void *)var) || !line) {
		count(SA_CNT_READ_ERR);
		return NULL;
	}
	return line;
}

/* bash_execute_unix_command(): bash runs a `bind -x` command from inside
 * readline, on the line being edited (its READLINE_LINE), with the
 * terminal left raw; the command may run that line (eval
 * "$READLINE_LINE"; READLINE_LINE=) so that readline never returns it, or
 * read the terminal itself (read -rn 20 x; eval "$x"). So the line as it
 * stands goes out (SA_F_BIND_X: what the command does with it is its
 * own), and until the command returns, the thread's reads of the terminal
 * are not readline's: they are captured. The cookie is the distance from
 * this function to rl_line_buffer, as for deprep_enter; 0 in a bash
 * linking libreadline without that variable of its own: the line is not
 * known, the reads are still captured. */
SEC("uprobe")
int BPF_KPROBE(bind_x_enter)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 id = bpf_get_current_pid_tgid(), mntns;
	__u8 mode = SA_IN_BIND_X, one = 1, *state;
	const char *line;
	struct sa_mark *t;
	char first = 0;

	t = current_target(task, &mntns);
	if (!t)
		return 0;
	state = bpf_map_lookup_elem(&in_readline, &id);
	if (!state || *state != SA_IN_READLINE)
		return 0;
	bpf_map_update_elem(&in_readline, &id, &mode, BPF_ANY);
	bpf_map_update_elem(&in_bind_x, &id, &one, BPF_ANY);
	line = rl_line_buffer_of(ctx);
	if (!line || bpf_probe_read_user(&first, 1, line)) {
		if (line)
			count(SA_CNT_READ_ERR);
		return 0;
	}
	/* A key bound on an empty line (fzf's ^R) runs on nothing typed. */
	if (first)
		emit_line(task, mntns, t, line, SA_F_BIND_X);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(bind_x_ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u8 mode = SA_IN_READLINE;

	if (!bpf_map_lookup_elem(&in_bind_x, &id))
		return 0;
	bpf_map_delete_elem(&in_bind_x, &id);
	bpf_map_update_elem(&in_readline, &id, &mode, BPF_ANY);
	return 0;
}

/* rl_deprep_terminal(): the cookie is the distance from this function to
 * rl_line_buffer (rl_line_buffer_of). */
SEC("uprobe")
int BPF_KPROBE(deprep_enter)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 id = bpf_get_current_pid_tgid(), mntns;
	struct sa_mark *t;
	const char *line;
	__u8 sent = SA_LINE_SENT, deprepped = SA_RL_DEPREPPED, *state;
	__u32 flags = 0;

	t = current_target(task, &mntns);
	if (!t)
		return 0;
	/* In a seen readline() call, readline_ret sends the line; the call
	 * no longer reads the terminal. A line already sent was sent by
	 * another attachment. No state at all: a call that began before the
	 * probes. */
	state = bpf_map_lookup_elem(&in_readline, &id);
	if (state && *state == SA_IN_READLINE) {
		bpf_map_update_elem(&in_readline, &id, &deprepped, BPF_ANY);
		return 0;
	}
	if (state && *state != SA_IN_CALLBACK)
		return 0;
	if (!state)
		flags = SA_F_RECOVERED;
	bpf_map_update_elem(&in_readline, &id, &sent, BPF_ANY);
	line = rl_line_buffer_of(ctx);
	if (line)
		emit_line(task, mntns, t, line, flags);
	return 0;
}

/* File types and devices, as the kernel encodes them (vmlinux.h has no
 * macros). */
#define SA_S_IFMT 0170000
#define SA_S_IFSOCK 0140000
#define SA_S_IFCHR 0020000
#define SA_S_IFIFO 0010000
#define SA_MINORBITS 20

/* What a session root was opened with: a controlling terminal, and what
 * its stdin is (kubectl exec -i gives a pipe, no -i /dev/null, -t a
 * terminal); *ino: the inode number of a pipe or socket stdin, else 0. */
static __always_inline __u32 read_stdio(struct task_struct *task, __u32 *ino)
{
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	struct file *f = NULL;
	__u32 v = SA_STDIO_KNOWN, in = SA_STDIN_OTHER, major;
	umode_t mode;
	dev_t rdev;

	*ino = 0;
	if (BPF_CORE_READ(task, signal, tty))
		v |= SA_STDIO_TTY;
	if (!fds || bpf_probe_read_kernel(&f, sizeof(f), &fds[0]) < 0 || !f)
		return v | (SA_STDIN_NONE << SA_STDIO_IN_SHIFT);
	mode = BPF_CORE_READ(f, f_inode, i_mode);
	rdev = BPF_CORE_READ(f, f_inode, i_rdev);
	major = rdev >> SA_MINORBITS;
	if ((mode & SA_S_IFMT) == SA_S_IFIFO || (mode & SA_S_IFMT) == SA_S_IFSOCK) {
		in = SA_STDIN_PIPE;
		*ino = (__u32)BPF_CORE_READ(f, f_inode, i_ino);
	} else if ((mode & SA_S_IFMT) == SA_S_IFCHR && rdev == ((1u << SA_MINORBITS) | 3))
		in = SA_STDIN_NONE; /* /dev/null (1:3) */
	else if ((mode & SA_S_IFMT) == SA_S_IFCHR &&
		 (major == 4 || major == 5 || (major >= 136 && major <= 143)))
		in = SA_STDIN_TTY; /* ttys, /dev/tty and /dev/console, ptys */
	return v | (in << SA_STDIO_IN_SHIFT);
}

/* Whether s starts with the n bytes of pre. */
static __always_inline bool has_prefix(const char *s, const char *pre, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (s[i] != pre[i])
			return false;
	return true;
}

/* Digits at most in a descriptor number of such a path: fds stay below
 * the kernel's NR_OPEN (2^20). */
#define SA_FD_DIGITS 7

/* The script file without a link an exec of path ran, or NULL: a path
 * through the task's own descriptor table to a file that has no link, for
 * an exec whose file was swapped for an interpreter (bprm->interp is then
 * no longer the path called). /dev/fd/N only when the kernel made the path
 * (bprm->fdpath: execveat with AT_EMPTY_PATH, as fexecve calls it): a
 * container's root can make its /dev/fd a directory of ordinary files.
 * /proc/self/fd/N and /proc/thread-self/fd/N are the magic links unless
 * something is mounted over /proc. Another spelling of the same file
 * (/proc/PID/fd/N, a symbolic link to it) is not followed. The path (in
 * the record already) is looked at first: any other exec costs no read. */
static __always_inline struct file *unlinked_script(struct task_struct *task,
						    struct linux_binprm *bprm, const char *path)
{
	struct file **fds, *f = NULL;
	struct fdtable *fdt;
	int i, off, fd = 0;
	char ch;

	if (has_prefix(path, "/dev/fd/", 8))
		off = 8;
	else if (has_prefix(path, "/proc/self/fd/", 14))
		off = 14;
	else if (has_prefix(path, "/proc/thread-self/fd/", 21))
		off = 21;
	else
		return NULL;
	for (i = 0; i <= SA_FD_DIGITS; i++) {
		ch = path[off + i];
		if (ch == '\0')
			break;
		if (ch < '0' || ch > '9' || i == SA_FD_DIGITS)
			return NULL;
		fd = fd * 10 + (ch - '0');
	}
	if (i == 0 || (off == 8 && !BPF_CORE_READ(bprm, fdpath)) ||
	    BPF_CORE_READ(bprm, interp) == BPF_CORE_READ(bprm, filename))
		return NULL;
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (!fds || bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) < 0 || !f ||
	    BPF_CORE_READ(f, f_inode, __i_nlink) != 0)
		return NULL;
	return f;
}

/* An exec event with room for cap bytes of argv (a constant in each
 * inlined copy, so that the verifier sees the bounds); len bytes of it at
 * user address start; stdio: read_stdio()'s for a session root's own exec,
 * else 0. */
static __always_inline void emit_exec(struct task_struct *task, __u64 mntns,
				      const struct sa_mark *t, struct linux_binprm *bprm,
				      unsigned long start, unsigned long len, __u32 flags,
				      __u32 stdio, const __u32 cap)
{
	struct sa_exec_event *e;
	const char *filename;
	struct file *file;
	long n;

	e = bpf_ringbuf_reserve(&events, offsetof(struct sa_exec_event, args) + cap, 0);
	if (!e) {
		count(SA_CNT_DROP_EXEC);
		return;
	}
	fill_hdr(&e->hdr, SA_EV_EXEC, mntns, t);
	e->hdr.flags |= flags;
	e->argc = bprm->argc;
	e->stdio = stdio;

	filename = bprm->filename;
	n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), filename);
	if (n < 1)
		n = 1;
	e->filename_len = n - 1;
	if (n == sizeof(e->filename))
		e->hdr.flags |= SA_F_FILENAME_TRUNCATED;
	/* A file without a link runs from no path the entry could name: a
	 * memfd (fileless malware), a deleted or an O_TMPFILE file, reached
	 * as /dev/fd/N or /proc/self/fd/N. Its own name says which. A script
	 * has been swapped for its interpreter by now (bprm->file), but the
	 * interpreter is to open the same path, so its descriptor is still
	 * open (one closed on exec fails the exec): the file is there. */
	e->unlinked_len = 0;
	file = bprm->file;
	if (file->f_inode->__i_nlink != 0)
		file = unlinked_script(task, bprm, e->filename);
	if (file) {
		e->hdr.flags |= SA_F_UNLINKED;
		filename = (const char *)BPF_CORE_READ(file, f_path.dentry, d_name.name);
		n = bpf_probe_read_kernel_str(e->unlinked, sizeof(e->unlinked), filename);
		e->unlinked_len = n > 0 ? n - 1 : 0;
		if (n == sizeof(e->unlinked))
			e->hdr.flags |= SA_F_FILENAME_TRUNCATED;
	}

	if (len > cap)
		len = cap;
	if (len && bpf_probe_read_user(e->args, len, (const void *)start) < 0) {
		count(SA_CNT_READ_ERR);
		len = 0;
	}
	e->args_len = len;
	count(SA_CNT_EXECS);
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void stdin_break(struct task_struct *task, const struct sa_mark *t,
					__u64 mntns, __u64 id);
static __always_inline void stdin_drop(__u64 id);

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct sa_mark *t;
	unsigned long start, end, len;
	__u64 mntns, id = bpf_get_current_pid_tgid(), was;
	__u32 max = args_max < SA_ARGS_CAP ? args_max : SA_ARGS_CAP, flags = 0, stdio = 0, ino;

	t = target_of(task, &mntns, SA_LOOK_MARK | SA_LOOK_NS | SA_LOOK_EXEC);
	if (!t)
		return 0;
	/* What it read of its stdin before, then what that made it run. A
	 * thread other than the leader took the leader's pid: what it kept
	 * under its own too. */
	was = (id & ~0xffffffffull) | (__u32)old_pid;
	if (was != id) {
		stdin_break(task, t, mntns, was);
		stdin_drop(was);
		if (bpf_map_lookup_elem(&in_readline, &was))
			bpf_map_delete_elem(&in_readline, &was);
	}
	stdin_break(task, t, mntns, id);
#if defined(__TARGET_ARCH_x86)
	if (task->thread_info.status & SA_TS_COMPAT)
		flags |= SA_F_EXEC_IA32;
#endif
	/* A new program is in no readline call: one exec'd from inside one
	 * (a `bind -x` command that execs) must not have its terminal reads
	 * taken for readline's. (A lookup costs less than a delete of
	 * nothing, the common case.) */
	if (bpf_map_lookup_elem(&in_readline, &id))
		bpf_map_delete_elem(&in_readline, &id);
	if (!(t->flags & SA_MARK_NO_FORK))
		flags |= SA_F_EXEC_FORKED;
	/* A session root's own exec: how it was opened. A pipe or socket
	 * stdin is what its shell may read its commands from (see "A
	 * session's stdin"), its controlling terminal what it is typed on
	 * (the runtime made it for this session: see tty_admit): the mark,
	 * which its children copy, keeps them, from the root's first exec on
	 * (SA_MARK_STDIN_SET). */
	if (t->root && t->root == (__u32)(id >> 32)) {
		stdio = read_stdio(task, &ino);
		if (!(t->flags & SA_MARK_STDIN_SET)) {
			t->stdin_ino = ino;
			t->session_tty = (__u64)BPF_CORE_READ(task, signal, tty);
			t->flags |= SA_MARK_STDIN_SET;
		}
	}
	/* The new image's argv, already copied to its stack: its length
	 * picks the record's size. */
	start = task->mm->arg_start;
	end = task->mm->arg_end;
	len = end > start ? end - start : 0;
	if (len > max) {
		len = max;
		flags |= SA_F_TRUNCATED;
	}
	if (len <= SA_ARGS_TINY)
		emit_exec(task, mntns, t, bprm, start, len, flags, stdio, SA_ARGS_TINY);
	else if (len <= SA_ARGS_SMALL)
		emit_exec(task, mntns, t, bprm, start, len, flags, stdio, SA_ARGS_SMALL);
	else if (len <= SA_ARGS_MEDIUM)
		emit_exec(task, mntns, t, bprm, start, len, flags, stdio, SA_ARGS_MEDIUM);
	else
		emit_exec(task, mntns, t, bprm, start, len, flags, stdio, SA_ARGS_CAP);
	return 0;
}

static __always_inline void stdin_exit(__u64 mntns, const struct sa_mark *t, __u64 id);
static __always_inline void tty_report(__u64 mntns, const struct sa_mark *t);

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_exit, struct task_struct *p)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct sa_mark *t;
	struct sa_exit_event *e;
	__u64 mntns;
	__u64 id;

	id = bpf_get_current_pid_tgid();
	/* Any task's: readline_enter runs in every process of a probed file,
	 * targeted or not, and a state left behind would be a reused pid's. */
	if (bpf_map_lookup_elem(&in_readline, &id))
		bpf_map_delete_elem(&in_readline, &id);
	t = target_of(task, &mntns, 0);
	if (!t) {
		stdin_drop(id); /* untargeted since */
		return 0;
	}
	/* Before its exit, which ends its lines: what it read of its
	 * session's stdin and kept back. */
	if (t->stdin_ino)
		stdin_exit(mntns, t, id);
	/* Processes only, not each thread. */
	if ((__u32)id != id >> 32)
		return 0;
	tty_report(mntns, t);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(SA_CNT_DROP_EXIT);
		return 0;
	}
	fill_hdr(&e->hdr, SA_EV_EXIT, mntns, t);
	if (e->hdr.sid == e->hdr.tgid)
		e->hdr.flags |= SA_F_SESSION_LEADER;
	/* The process ends here (its other threads are gone) and made no
	 * process in its life: none runs what it ran. */
	if ((t->flags & SA_MARK_NO_FORK) && !task->signal->live.counter)
		e->hdr.flags |= SA_F_EXIT_NO_FORK;
	e->exit_code = task->exit_code;
	e->pad = 0;
	count(SA_CNT_EXITS);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* The current task (mark m) created a process: its process's leader is
 * without SA_MARK_NO_FORK from now on. */
static __always_inline void fork_noted(struct task_struct *task, struct sa_mark *m)
{
	struct task_struct *leader = task->group_leader;

	m->flags &= ~SA_MARK_NO_FORK;
	if (leader == task)
		return;
	m = bpf_task_storage_get(&marks, leader, 0, 0);
	if (m)
		m->flags &= ~SA_MARK_NO_FORK;
}

/* Every task a marked task creates (process or thread) gets its mark, before
 * it can run; created in other namespaces (clone with CLONE_NEW* flags), the
 * difference is sent. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_fork, struct task_struct *parent, struct task_struct *child)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct sa_mark *pm, *cm;
	bool process;
	struct sa_nsset now;
	__u64 mntns;

	/* An unmarked parent (every untargeted one) costs this one read. */
	if (!bpf_task_storage_get(&marks, parent, 0, 0))
		return 0;
	/* Checks the mark and sends the parent's own change first. */
	pm = current_target(task, &mntns);
	if (!pm)
		return 0;
	/* What it read of its stdin, before the child can run. */
	stdin_break(task, pm, mntns, bpf_get_current_pid_tgid());
	cm = bpf_task_storage_get(&marks, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	process = child->pid == child->tgid; /* not a thread */
	/* A new process, or a thread whose own forks could not clear the
	 * flag (it has no mark): the process is no longer without children. */
	if (!cm || process)
		fork_noted(task, pm);
	if (!cm) {
		count(SA_CNT_MARK_FAIL);
		return 0;
	}
	*cm = *pm;
	if (process)
		cm->flags |= SA_MARK_NO_FORK;
	else
		cm->flags &= ~SA_MARK_NO_FORK;
	/* The parent's set was just read (current_target): a child that
	 * shares what it is read from has the same, the common case. */
	if (nsset_same(child, task))
		return 0;
	read_nsset(child, &now);
	if (!nsset_equal(&pm->seen, &now)) {
		emit_ns(mntns, pm, SA_NS_CLONED, nsset_diff(&pm->seen, &now), child, &pm->seen,
			&now);
		cm->seen = now;
	}
	return 0;
}

/* ---- Terminal capture -------------------------------------------------------
 *
 * What processes of a target read from a terminal, for the input readline
 * is not reading: shells without readline (busybox ash, dash, bash
 * --noediting or after `set +o emacs`), the read builtin, cat. One of two
 * hooks on the return of read(2), readv(2) and preadv2(2) (pread(2) and
 * preadv(2) fail on a terminal), chosen by the agent when it loads:
 *
 *   tty_read_tp   the syscall tracepoints syscalls/sys_exit_read, _readv and
 *                 _preadv2: runs on those syscalls only; the kernel never
 *                 runs them for 32-bit (ia32) syscalls.
 *   tty_read_raw  the raw tracepoint sys_exit (tp_btf): runs on the return
 *                 of every syscall of every process and leaves at once on
 *                 the others; sees 32-bit syscalls too.
 *
 * While either is attached the kernel sends every syscall of every task
 * through its slower path; the agent attaches them only while a target
 * wants terminal capture.
 *
 * splice(2) and sendfile(2) take bytes from a terminal with no read and
 * no user buffer (python's os.sendfile does, from a shell): their ends
 * are hooked too, and send a record of no data saying how many bytes they
 * took (SA_F_TTY_MOVED), so that input taken so is an entry, never
 * silence. From a session's stdin, they and tee(2) (which copies the
 * pipe's bytes out, to be run from the copy and the original left unread)
 * count their bytes as not recorded.
 *
 * The checks run cheapest first, and nothing is copied before the last: the
 * result, the target (the one filter of this file) and its terminal flag,
 * the fd being a terminal, readline. The terminal's mode goes with the
 * bytes: in canonical mode the line discipline applied the editing keys
 * already; in raw mode the agent applies them.
 *
 * A read of a thread inside readline (SA_IN_READLINE, SA_IN_CALLBACK) is
 * readline's, whose line the readline programs send; unless the terminal
 * is in canonical mode: readline reads in raw mode, so a canonical read
 * under such a state is not its own (a stale state, or a terminal another
 * process switched under it: then the line is in both, never in neither).
 */

#define SA_S_IFMT 0170000
#define SA_S_IFCHR 0020000
#define SA_ICANON 0000002
#define SA_ECHO 0000010

#if defined(__TARGET_ARCH_x86)
#define SA_NR_READ 0
#define SA_NR_READV 19
#define SA_NR_PREADV2 327
#define SA_NR_SPLICE 275
#define SA_NR_VMSPLICE 278
#define SA_NR_SENDFILE 40
#define SA_NR_IO_SUBMIT 209
#define SA_NR_TEE 276
#define SA_NR32_READ 3
#define SA_NR32_READV 145
#define SA_NR32_PREADV2 378
#define SA_NR32_SPLICE 313
#define SA_NR32_VMSPLICE 316
#define SA_NR32_SENDFILE 187
#define SA_NR32_SENDFILE64 239
#define SA_NR32_TEE 315
#define SA_NR32_IO_SUBMIT 248
#elif defined(__TARGET_ARCH_arm64)
#define SA_NR_READ 63
#define SA_NR_READV 65
#define SA_NR_PREADV2 286
#define SA_NR_SPLICE 76
#define SA_NR_VMSPLICE 75
#define SA_NR_SENDFILE 71
#define SA_NR_IO_SUBMIT 2
#define SA_NR_TEE 77
#else
#error "terminal capture knows the syscall numbers of x86 and arm64 only"
#endif

/* Record data sizes: most reads are a keystroke or one line. */
#define SA_TTY_SMALL 64
#define SA_TTY_MEDIUM 512
/* iovecs of one readv copied at most. */
#define SA_TTY_IOV_MAX 8

/* Threads whose last canonical read may have ended a line with Ctrl-D: a
 * read that filled its buffer without a newline. Only their next empty
 * read (end of input) is sent, so a program that reads a hung-up terminal
 * in a loop sends nothing. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} tty_partial SEC(".maps");

/* Whether the target of mark m wants terminal capture: its flag is the
 * target's, which a policy can change while the mark stays. */
static __always_inline bool wants_terminal(const struct sa_mark *m)
{
	struct sa_target_key key = { .mntns = m->key };
	struct sa_target_val *v = bpf_map_lookup_elem(&targets, &key);

	return v && (v->flags & SA_TARGET_TERMINAL);
}

/* The file behind fd of the current task, or NULL. */
static __always_inline struct file *fd_file(struct task_struct *task, unsigned long fd)
{
	struct fdtable *fdt = task->files->fdt;
	struct file **fds, *f = NULL;

	if (!fdt || fd >= fdt->max_fds)
		return NULL;
	fds = fdt->fd;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]))
		return NULL;
	return f;
}

/* The terminal behind file f, or NULL when f is not one: a UNIX 98 pty
 * slave (majors 136-143), /dev/tty (5:0) or /dev/console (5:1). A
 * character device of those numbers is opened by the tty layer whatever
 * file system holds the node (mknod in a container included), so its
 * private data is the tty layer's. Pty masters (/dev/ptmx, 5:2) are not
 * terminals here: what is read from them is a program's output. */
static __always_inline struct tty_struct *file_tty(struct file *f)
{
	struct tty_file_private *priv;
	struct inode *inode = BPF_CORE_READ(f, f_inode);
	unsigned int major, minor;
	dev_t rdev;

	if ((BPF_CORE_READ(inode, i_mode) & SA_S_IFMT) != SA_S_IFCHR)
		return NULL;
	rdev = BPF_CORE_READ(inode, i_rdev);
	major = rdev >> 20;
	minor = rdev & 0xfffff;
	if (!(major >= 136 && major <= 143) && !(major == 5 && minor <= 1))
		return NULL;
	priv = BPF_CORE_READ(f, private_data);
	return priv ? BPF_CORE_READ(priv, tty) : NULL;
}

/* Whether f may be a terminal or a session's stdin (a pipe or a socket):
 * a cheaper look than either. */
static __always_inline bool file_may_be_input(struct file *f)
{
	struct inode *inode = BPF_CORE_READ(f, f_inode);
	__u32 mode = BPF_CORE_READ(inode, i_mode) & SA_S_IFMT, major;

	if (mode == SA_S_IFIFO || mode == SA_S_IFSOCK)
		return true;
	if (mode != SA_S_IFCHR)
		return false;
	major = BPF_CORE_READ(inode, i_rdev) >> 20;
	return (major >= 136 && major <= 143) || major == 5;
}

/* The record's name of a terminal: major << 20 | minor. */
static __always_inline __u32 tty_dev(struct tty_struct *tty)
{
	return (BPF_CORE_READ(tty, driver, major) << 20) |
	       ((BPF_CORE_READ(tty, driver, minor_start) + BPF_CORE_READ(tty, index)) & 0xfffff);
}

static __always_inline void tty_fill(struct sa_tty_event *e, __u64 mntns, const struct sa_mark *t,
				     __u32 flags, __u32 dev, unsigned long asked, __u32 skipped)
{
	fill_hdr(&e->hdr, SA_EV_TTY, mntns, t);
	e->hdr.flags = flags;
	e->len = 0;
	e->lost = 0;
	e->count = asked > 0xffffffffUL ? 0xffffffffU : (__u32)asked;
	e->tty = dev;
	e->skipped = skipped;
	e->calls = 0;
}

static __always_inline void rate_put_back(__u64 key, __u32 kind, __u32 n);

/* One read(2) into a record with room for cap bytes (a constant in each
 * inlined copy, so that the verifier sees the bounds). dev: the terminal
 * (tty_dev), 0 for a session's stdin; skipped: bytes of that stdin, or of
 * the container's (or session's) terminals, not recorded before this read
 * (past their rate), taken from the rate of key rkey (0: none), which gets
 * them back when the record finds no room. */
static __always_inline void tty_emit_read(__u64 mntns, const struct sa_mark *t, __u32 flags,
					  __u32 dev, __u32 skipped, __u64 rkey, unsigned long buf,
					  unsigned long asked, long ret, const __u32 cap)
{
	struct sa_tty_event *e;
	__u32 n = ret > cap ? cap : (__u32)ret;

	e = bpf_ringbuf_reserve(&events, sizeof(*e) + cap, 0);
	if (!e) {
		count(SA_CNT_DROP_TTY);
		rate_put_back(rkey, SA_COUNT_BYTES, skipped);
		return;
	}
	tty_fill(e, mntns, t, flags, dev, asked, skipped);
	if (n > cap)
		n = cap;
	if (n && bpf_probe_read_user(e->data, n, (const void *)buf)) {
		count(SA_CNT_READ_ERR);
		n = 0;
	}
	e->len = n;
	if (ret > n) {
		e->hdr.flags |= SA_F_TRUNCATED;
		e->lost = ret - n > 0xffffffffL ? 0xffffffffU : (__u32)(ret - n);
	}
	count(SA_CNT_TTY_READS);
	bpf_ringbuf_submit(e, 0);
}

/* Entry i of the iovec array at user address iov (32-bit ones for a
 * compat syscall): its base and length. 0, or <0 when unreadable. */
static __always_inline long iov_at(unsigned long iov, __u32 i, bool compat, __u64 *base, __u64 *len)
{
	__u32 b32[2];
	struct iovec v;

	if (compat) {
		if (bpf_probe_read_user(b32, sizeof(b32), (const void *)(iov + 8 * i)))
			return -1;
		*base = b32[0];
		*len = b32[1];
		return 0;
	}
	if (bpf_probe_read_user(&v, sizeof(v), (const void *)(iov + sizeof(v) * i)))
		return -1;
	*base = (unsigned long)v.iov_base;
	*len = v.iov_len;
	return 0;
}

/* One readv(2) or preadv2(2): iov is the iovec array (32-bit ones for a
 * compat syscall), ret bytes spread over them in order; saved: the array
 * as the syscall began (sa_read_start: base and length pairs, iovcnt of
 * them), read instead of iov when given; skipped and rkey as for
 * tty_emit_read. */
static __always_inline void tty_emit_readv(__u64 mntns, const struct sa_mark *t, __u32 flags,
					   __u32 dev, __u32 skipped, __u64 rkey, unsigned long iov,
					   unsigned long iovcnt, long ret, bool compat,
					   const __u64 *saved)
{
	struct sa_tty_event *e;
	__u64 want = ret > SA_TTY_CAP ? SA_TTY_CAP : ret, off = 0, n, base;
	__u32 i;

	/* Twice the data: the verifier bounds the offset and the size of
	 * each piece separately. */
	e = bpf_ringbuf_reserve(&events, sizeof(*e) + 2 * SA_TTY_CAP, 0);
	if (!e) {
		count(SA_CNT_DROP_TTY);
		rate_put_back(rkey, SA_COUNT_BYTES, skipped);
		return;
	}
	tty_fill(e, mntns, t, flags, dev, 0, skipped);
	for (i = 0; i < SA_TTY_IOV_MAX && i < iovcnt && off < want; i++) {
		if (saved) {
			base = saved[2 * i];
			n = saved[2 * i + 1];
		} else if (iov_at(iov, i, compat, &base, &n)) {
			break;
		}
		e->count += n > 0xffffffffUL - e->count ? 0xffffffffU - e->count : n;
		if (n > want - off)
			n = want - off;
		if (off >= SA_TTY_CAP)
			break;
		if (n > SA_TTY_CAP)
			n = SA_TTY_CAP;
		if (n && bpf_probe_read_user(e->data + off, n, (const void *)base)) {
			count(SA_CNT_READ_ERR);
			break;
		}
		off += n;
	}
	e->len = off;
	if (ret > off) {
		e->hdr.flags |= SA_F_TRUNCATED;
		e->lost = ret - off > 0xffffffffL ? 0xffffffffU : (__u32)(ret - off);
	}
	count(SA_CNT_TTY_READS);
	bpf_ringbuf_submit(e, 0);
}

/* ---- A session's stdin ------------------------------------------------------
 *
 * kubectl exec -i without -t opens a session whose stdin is a pipe: its
 * shell reads its commands from that pipe, without readline and without a
 * terminal, so that neither of the above sees its builtins. The inode
 * number of that pipe (or socket) is in the mark of every task of the
 * session (stdin_ino, set at the session root's exec); what any of them
 * reads from it goes out as a terminal read with SA_F_TTY_STDIN (tty 0),
 * and the agent makes lines of it that end at a newline only. A pipe made
 * inside the session (curl URL | bash) is another pipe: the line that made
 * it is recorded, and so are the programs it runs.
 *
 * The same pipe carries whatever is sent into the session (kubectl cp is
 * tar reading it), so two bounds keep the ring buffer, shared by every
 * pod of the node, for everyone:
 *   - bash reads a pipe one byte per read(2) (what it does not read stays
 *     for the programs it runs): single bytes are gathered per thread up
 *     to a newline, SA_STDIN_BUF bytes, the thread's next other read of
 *     the pipe or its exit, one record for them, with the time of their
 *     first byte. A thread that does anything else in between (any other
 *     syscall with the sys_exit hook, any other read with the
 *     tracepoints, a fork, an exec) sends them first, flagged
 *     SA_F_TTY_BREAK: they end a line then, before what they may have made
 *     it do (read -N 100 cmd; eval "$cmd" runs a line without a newline).
 *     A thread whose last record ended without a newline (read -N 100
 *     reads its 100 bytes at once) has its line ended the same way, by a
 *     record of none (stdin_buf's open), and so when it goes from larger
 *     reads to reading bytes or back (SA_OPEN_*); one that sleeps (waits
 *     on the empty pipe, on anything else, or is stopped) sends what it
 *     gathered (stdin_sleep), and one that runs on in user mode without
 *     any of these (a busy loop after eval) sends it at a tick of its CPU
 *     (stdin_tick);
 *   - each stream (target and inode) has a rate: SA_STDIN_BURST bytes of
 *     records at once, SA_STDIN_RATE a second after (GCRA), record sizes
 *     in classes up to SA_STDIN_CAP bytes of data. A read past it
 *     is not recorded but counted, and the count goes with the stream's
 *     next record, its end of input or the reader's exit (skipped): input
 *     lost is an entry, never silence. So are the bytes of a read past
 *     SA_STDIN_CAP (lost), and those splice(2) takes out of the pipe
 *     (vmsplice(2), which copies them to the reader, is a read). Typing
 *     and a pasted script stay whole; a copy of megabytes leaves its first
 *     part and a count.
 */
#define SA_STDIN_BUF 256
#define SA_STDIN_MEDIUM (16u << 10) /* tar's 10 KiB blocks */
#define SA_STDIN_RATE (32u << 10)
#define SA_STDIN_BURST (128u << 10)
#define SA_STDIN_NS_PER_BYTE (1000000000ull / SA_STDIN_RATE)

/* The rate of each stream. Not an LRU map: an entry pushed out would take
 * its count of bytes not recorded with it (a user opening thousands of
 * sessions after flooding one). The agent removes the entries idle with
 * nothing counted and those of targets gone (capture_sweep_streams); while
 * the map is full a new stream goes without a rate (its records go out, and
 * the ring buffer's drops are counted). Not preallocated: an entry removed
 * while a program holds it is not handed to another stream. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SA_STDIN_STREAMS);
	__type(key, __u64); /* target << 32 | stdin_ino */
	__type(value, struct sa_stdin_rate);
} stdin_rate SEC(".maps");

/* How the line a thread left open was read: byte by byte (gathered), or
 * by larger reads. A reader that goes from one to the other is another
 * reader in the thread (bash's parser reads bytes, read -N 23 reads 23):
 * the line ends there. */
#define SA_OPEN_BYTES 1
#define SA_OPEN_READS 2

/* What the rate made of the first part of the line a thread is reading
 * byte by byte, sent before its end (the thread slept): its other parts,
 * up to SA_STDIN_BUF bytes in all, share it, so that a line is recorded
 * whole or counted whole, as when it was one record. */
#define SA_FATE_SENT 1
#define SA_FATE_SKIPPED 2

struct sa_stdin_buf {
	__u32 len;
	__u32 open;	/* the last record sent ended without a newline: SA_OPEN_* */
	__u64 first_ns; /* when data[0] was read */
	__u32 fate;	/* of the line's first part: SA_FATE_*, 0 at a line's start */
	__u32 line;	/* bytes of the line sent or counted before data */
	char data[SA_STDIN_BUF];
};

/* Threads whose stdin_buf holds something (stdin_holds): while none does,
 * the hooks on every syscall and every read look no further. */
__u32 stdin_pending;

/* Single bytes read and not sent yet, per thread, removed at its exit. Not
 * an LRU map: an entry pushed out would lose its bytes unseen (a user
 * holding thousands of readers on a partial line); when full, a byte goes
 * out alone instead. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct sa_stdin_buf);
} stdin_buf SEC(".maps");

/* Never written: the empty value a thread's stdin_buf starts from. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sa_stdin_buf);
} stdin_empty SEC(".maps");

/* Whether file f is the session's stdin, inode number ino. */
static __always_inline bool file_is_stdin(struct file *f, __u32 ino)
{
	struct inode *inode = BPF_CORE_READ(f, f_inode);
	__u32 mode = BPF_CORE_READ(inode, i_mode) & SA_S_IFMT;

	return (mode == SA_S_IFIFO || mode == SA_S_IFSOCK) &&
	       (__u32)BPF_CORE_READ(inode, i_ino) == ino;
}

/* The rate of stream key, made idle when new; NULL without room. */
static __always_inline struct sa_stdin_rate *stdin_rate_get(__u64 key, __u64 now)
{
	struct sa_stdin_rate *r = bpf_map_lookup_elem(&stdin_rate, &key), fresh = {};

	if (r)
		return r;
	fresh.tat = now;
	bpf_map_update_elem(&stdin_rate, &key, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&stdin_rate, &key);
}

/* The key of the stream of mark t's stdin in stdin_rate. */
static __always_inline __u64 stdin_key(const struct sa_mark *t)
{
	return (__u64)t->target << 32 | t->stdin_ino;
}

/* Adds n to count *c, up to its largest value. */
static __always_inline void count_add(__u32 *c, __u64 n)
{
	*c = n > 0xffffffffU - *c ? 0xffffffffU : *c + (__u32)n;
}

/* Counts n more bytes of stream r as not recorded. */
static __always_inline void stdin_skip(struct sa_stdin_rate *r, __u64 n)
{
	count_add(&r->skipped, n);
}

/* The count of rate r of what is not recorded, by kind (SA_COUNT_*). */
static __always_inline __u32 *rate_count(struct sa_stdin_rate *r, __u32 kind)
{
	return kind == SA_COUNT_AIO ? &r->aio : kind == SA_COUNT_LINES ? &r->lines : &r->skipped;
}

/* Whether a record costing cost ns of rate r (GCRA, burst ns at once)
 * goes out at now. If not, n is counted, by kind (SA_COUNT_*); if so,
 * *carry: the count of its kind the record is to carry, taken from r. */
static __always_inline bool rate_take(struct sa_stdin_rate *r, __u64 now, __u64 cost, __u64 burst,
				      __u64 n, __u32 kind, __u32 *carry)
{
	__u64 tat = r->tat > now ? r->tat : now;
	__u32 *c = rate_count(r, kind);

	if (tat + cost > now + burst) {
		count_add(c, n);
		return false;
	}
	r->tat = tat + cost;
	*carry = *c;
	*c = 0;
	return true;
}

/* The records of a target's terminal reads (and of what splice, sendfile
 * or io_uring take from its terminals), and those of its io_submit reads
 * of a terminal or of a session's stdin, which make a record whatever
 * they read, share a rate: SA_TTY_BURST bytes of records at once,
 * SA_TTY_RATE a second after (GCRA, in the stdin_rate entry of key
 * target << 32: no stream has inode 0), an io_submit record costing
 * SA_TTY_AIO_COST (it carries nothing; a few a second say all there is).
 * One rate for all the container's terminals: a user opens as many pty
 * pairs as its devpts allows, and a 1-byte reader of a pty whose other end
 * is written in a loop makes a record per byte as fast as the syscall
 * goes, which would fill the ring buffer and drop the node's other
 * records. What is past the rate is counted, bytes (sa_stdin_rate.skipped;
 * the reader's line ends there: SA_MARK_TTY_CUT, then SA_F_TTY_CUT on its
 * next record) and io_submit reads (aio) apart. The counts go with the
 * container's next terminal record (skipped) or io_submit record (calls),
 * or at the exit of its next process (tty_report): never silence. Unlike
 * a stdin's, the rate takes the next record as soon as there is room for
 * it, so that what is typed after a flood is recorded at once. Typing and
 * a pasted script stay whole (a line read is about 200 bytes of records:
 * 2,800 at once, 700 a second after); a flood leaves its first part, then
 * records and counts by turns, and the ring buffer and the pipeline to
 * the rest of the node.
 * The session's own terminal has a rate of its own beside the
 * container's (key target << 32 | SA_TTY_SESSION_KEY | bits of its
 * address), with its own counts: the terminal its root was given by the
 * runtime (or nsenter) from outside, its controlling terminal at its
 * first exec (sa_mark.session_tty). A user cannot make more of them than
 * the API server lets them open sessions, nor write into one's input
 * (its other end is outside, the runtime's), so that a flood of a pty
 * pair of their own, however many, leaves what they type in the session
 * recorded. (A stdin's inode with bit 31 set may name the same entry:
 * the two then share one rate.)
 * Readline's lines go by the container's rate (emit_line_in) unless the
 * reader's stdin is the session's terminal: bash fed lines by a pipe or a
 * pty of the user's own (yes : | bash -i) returns from readline tens of
 * thousands of times a second. Those typed on the session's terminal are
 * under no rate, as before there was one: what is typed or pasted there,
 * up to bash's speed, is recorded whole (a read may be a record per
 * byte, a line is a record per line). A line costs its bytes and
 * SA_LINE_COST (not the room its record takes, as a read's), so that
 * typing at a thousand lines a second under tmux or sudo's pty goes
 * whole; those past the rate are counted in lines (sa_stdin_rate.lines),
 * carried by the next line recorded (sa_line_event.skipped) or at an
 * exit, never cut: a line is recorded whole or counted. */
#define SA_TTY_RATE (128u << 10)
#define SA_TTY_BURST (512u << 10)
#define SA_TTY_NS_PER_BYTE (1000000000ull / SA_TTY_RATE)
#define SA_TTY_AIO_COST (32u << 10)

/* Whether the terminal rate of any target has counted anything yet: until
 * then the exit of a process has nothing of it to report (tty_report) and
 * spares the lookup, which every audited exit would pay. Set, never
 * cleared. */
__u32 tty_rate_counted;

#define SA_TTY_SESSION_KEY 0x80000000u

/* The key in stdin_rate of the rate of mark t's terminal reads: its
 * session terminal's (session) or its container's. */
static __always_inline __u64 tty_key(const struct sa_mark *t, bool session)
{
	__u64 key = (__u64)t->target << 32;

	return session ? key | SA_TTY_SESSION_KEY | ((t->session_tty >> 6) & 0x7fffffff) : key;
}

/* Whether tty is the session's terminal of the task of mark t. */
static __always_inline bool tty_is_session(const struct sa_mark *t, const struct tty_struct *tty)
{
	return t->session_tty && t->session_tty == (__u64)tty;
}

/* Whether a record costing cost bytes of target t's terminals (session:
 * of its session's terminal) goes out now. If not, n is counted, by kind:
 * bytes of a terminal (SA_COUNT_BYTES), io_submit reads (SA_COUNT_AIO),
 * readline lines (SA_COUNT_LINES). If so, *carry: the count of its kind
 * the record is to carry, taken from the rate. */
static __always_inline bool tty_admit(const struct sa_mark *t, bool session, __u32 cost, __u64 n,
				      __u32 kind, __u32 *carry)
{
	__u64 now = bpf_ktime_get_ns();
	struct sa_stdin_rate *r = stdin_rate_get(tty_key(t, session), now);

	*carry = 0;
	if (!r || rate_take(r, now, cost * SA_TTY_NS_PER_BYTE, SA_TTY_BURST * SA_TTY_NS_PER_BYTE, n,
			    kind, carry))
		return true;
	if (!tty_rate_counted)
		tty_rate_counted = 1;
	return false;
}

/* The rate of the line the task of mark t reads with readline, by its
 * stdin, which readline reads in a shell: none when that is its session's
 * terminal (SA_LINE_FREE: typed there, from outside; a paste is recorded
 * whole), its session stdin's when that is its session's pipe
 * (SA_LINE_STDIN: kubectl exec -i into bash -i, as another reader's bytes
 * of it), else its container's terminals' (SA_LINE_TTY: a pipe or pty of
 * the container's own, which anyone in it can feed). Neither session
 * rate is the container's: a flood of one's own elsewhere in the
 * container leaves what a session types recorded. */
static __always_inline __u32 line_rate(struct task_struct *task, const struct sa_mark *t)
{
	struct file *f;

	if (!t->session_tty && !t->stdin_ino)
		return SA_LINE_TTY;
	f = fd_file(task, 0);
	if (!f)
		return SA_LINE_TTY;
	if (t->session_tty && tty_is_session(t, file_tty(f)))
		return SA_LINE_FREE;
	if (t->stdin_ino && file_is_stdin(f, t->stdin_ino))
		return SA_LINE_STDIN;
	return SA_LINE_TTY;
}

/* Whether a readline line costing cost bytes, read from the session's
 * stdin of mark t, goes out by that stream's rate (SA_STDIN_RATE and
 * SA_STDIN_BURST, as its bytes read by another program; if not, counted
 * in lines: SA_COUNT_LINES). If so, *carry: the lines it counted before. */
static __always_inline bool stdin_admit_line(const struct sa_mark *t, __u32 cost, __u32 *carry)
{
	__u64 now = bpf_ktime_get_ns();
	struct sa_stdin_rate *r = stdin_rate_get(stdin_key(t), now);

	*carry = 0;
	return !r || rate_take(r, now, cost * SA_STDIN_NS_PER_BYTE,
			       SA_STDIN_BURST * SA_STDIN_NS_PER_BYTE, 1, SA_COUNT_LINES, carry);
}

/* A record that was to carry n counted of its kind (SA_COUNT_*) by the
 * rate of key (0: none) found no room in the ring buffer (a counted drop
 * of its own): the count goes back to the rate, for the next record or
 * exit to carry. */
static __always_inline void rate_put_back(__u64 key, __u32 kind, __u32 n)
{
	struct sa_stdin_rate *r = n && key ? bpf_map_lookup_elem(&stdin_rate, &key) : NULL;

	if (r)
		count_add(rate_count(r, kind), n);
}

/* Whether a record of size bytes of a read of n bytes from a terminal by
 * the task of mark t goes out, by the container's rate or (session) its
 * session terminal's (if not, its line is cut at its next record); if
 * so, *flags gains SA_F_TTY_CUT when an earlier read of the task did not
 * go, and *skipped is the count the record carries. */
static __always_inline bool tty_admit_read(struct sa_mark *t, bool session, __u32 size, __u64 n,
					   __u32 *flags, __u32 *skipped)
{
	if (!tty_admit(t, session, size, n, SA_COUNT_BYTES, skipped)) {
		t->flags |= SA_MARK_TTY_CUT;
		return false;
	}
	if (t->flags & SA_MARK_TTY_CUT) {
		t->flags &= ~SA_MARK_TTY_CUT;
		*flags |= SA_F_TTY_CUT;
	}
	return true;
}

/* Whether a record of size bytes of stream key goes out now (fate: by the
 * rate, or SA_FATE_SENT / SA_FATE_SKIPPED: as the line's first part did,
 * paid for all the same). If not, n bytes of input are counted against the
 * stream. *skipped: the count the record is to carry (cleared in the
 * stream). */
static __always_inline bool stdin_admit_as(__u64 key, __u32 size, __u64 n, __u32 *skipped,
					   __u32 fate)
{
	__u64 now = bpf_ktime_get_ns(), tat, cost = size * SA_STDIN_NS_PER_BYTE;
	struct sa_stdin_rate *r = stdin_rate_get(key, now);

	*skipped = 0;
	if (!r)
		return true;
	tat = r->tat > now ? r->tat : now;
	/* Past the rate, it takes a full burst again to record again: a
	 * flood leaves bursts and one count between them, not a record and
	 * a count by turns. */
	if (fate == SA_FATE_SKIPPED ||
	    (fate != SA_FATE_SENT &&
	     (r->skipped ? r->tat > now :
			   tat + cost > now + SA_STDIN_BURST * SA_STDIN_NS_PER_BYTE))) {
		stdin_skip(r, n);
		return false;
	}
	r->tat = tat + cost;
	*skipped = r->skipped;
	r->skipped = 0;
	return true;
}

static __always_inline bool stdin_admit(__u64 key, __u32 size, __u64 n, __u32 *skipped)
{
	return stdin_admit_as(key, size, n, skipped, 0);
}

/* Whether b holds what the thread's next other act sends: bytes, or a line
 * the agent holds open (its last record of its stdin ended without a
 * newline). */
static __always_inline bool stdin_holds(const struct sa_stdin_buf *b)
{
	return b->len || b->open;
}

/* Keeps stdin_pending right once b changed; held: stdin_holds(b) before. */
static __always_inline void stdin_count(const struct sa_stdin_buf *b, bool held)
{
	bool now = stdin_holds(b);

	if (now != held)
		__sync_fetch_and_add(&stdin_pending, now ? 1 : -1);
}

/* Sends the bytes b gathered, as one read at the time of their first byte.
 * brk: SA_F_TTY_BREAK when the thread did something else, which ends its
 * line (with no bytes gathered, a line held open is ended by a record of
 * none), else 0. */
static __always_inline void stdin_send(__u64 mntns, const struct sa_mark *t, struct sa_stdin_buf *b,
				       __u64 key, __u32 brk)
{
	struct sa_tty_event *e;
	__u32 skipped, fate, n = b->len;
	bool held = stdin_holds(b), sent;
	char last;

	b->len = 0;
	if (!n) {
		if (b->open && brk) {
			b->open = 0;
			tty_emit_read(mntns, t, SA_F_TTY_STDIN | brk, 0, 0, 0, 0, 0, 0,
				      SA_TTY_SMALL);
		}
		stdin_count(b, held);
		return;
	}
	if (n > SA_STDIN_BUF)
		n = SA_STDIN_BUF;
	last = b->data[(n - 1) & (SA_STDIN_BUF - 1)];
	/* Not sent (past the rate, or no room): the count that says so
	 * ends the line in the agent. */
	b->open = 0;
	fate = b->line + n <= SA_STDIN_BUF ? b->fate : 0;
	sent = stdin_admit_as(key, sizeof(*e) + SA_STDIN_BUF, n, &skipped, fate);
	/* The line goes on (no newline, not ended): its next part shares
	 * this one's fate. */
	if (brk || last == '\n') {
		b->fate = 0;
		b->line = 0;
	} else {
		b->fate = sent ? SA_FATE_SENT : SA_FATE_SKIPPED;
		b->line += n;
	}
	if (sent) {
		e = bpf_ringbuf_reserve(&events, sizeof(*e) + SA_STDIN_BUF, 0);
		if (e) {
			tty_fill(e, mntns, t, SA_F_TTY_STDIN | brk, 0, n, skipped);
			e->hdr.ts = b->first_ns;
			__builtin_memcpy(e->data, b->data, SA_STDIN_BUF);
			e->len = n;
			count(SA_CNT_TTY_READS);
			bpf_ringbuf_submit(e, 0);
			b->open = !brk && last != '\n' ? SA_OPEN_BYTES : 0;
		} else {
			count(SA_CNT_DROP_TTY);
			rate_put_back(key, SA_COUNT_BYTES, skipped);
		}
	}
	stdin_count(b, held);
}

/* A read of the stdin of stream key into a record of cap bytes (a constant
 * in each inlined copy), if the stream's rate lets it: whether it did. */
static __always_inline bool stdin_emit_read(__u64 mntns, const struct sa_mark *t, __u64 key,
					    unsigned long buf, unsigned long asked, long ret,
					    const __u32 cap)
{
	__u32 skipped;

	if (!stdin_admit(key, sizeof(struct sa_tty_event) + cap, ret, &skipped))
		return false;
	tty_emit_read(mntns, t, SA_F_TTY_STDIN, 0, skipped, key, buf, asked, ret, cap);
	return true;
}

/* The readline lines rate r counted and did not report yet, as a line
 * record of no line that carries their count (SA_F_TTY_COUNT), in the name
 * of the task of mark t; kept in r when the ring buffer is full. */
static __always_inline void lines_report(__u64 mntns, const struct sa_mark *t,
					 struct sa_stdin_rate *r)
{
	struct sa_line_event *l;

	if (!r->lines)
		return;
	l = bpf_ringbuf_reserve(&events, offsetof(struct sa_line_event, line), 0);
	if (!l) {
		count(SA_CNT_DROP_LINE);
		return;
	}
	fill_hdr(&l->hdr, SA_EV_LINE, mntns, t);
	l->hdr.flags |= SA_F_TTY_COUNT;
	l->len = 0;
	l->skipped = r->lines;
	r->lines = 0;
	count(SA_CNT_LINES);
	bpf_ringbuf_submit(l, 0);
}

/* What stream key counted and has not reported yet, if any: readline
 * lines (lines_report), then skipped bytes as a record of their own (no
 * data). At end of input or the reader's exit. */
static __always_inline void stdin_report(__u64 mntns, const struct sa_mark *t, __u64 key)
{
	struct sa_stdin_rate *r = bpf_map_lookup_elem(&stdin_rate, &key);
	__u32 skipped;

	if (!r)
		return;
	lines_report(mntns, t, r);
	if (!r->skipped)
		return;
	skipped = r->skipped;
	r->skipped = 0;
	tty_emit_read(mntns, t, SA_F_TTY_STDIN, 0, skipped, key, 0, 0, 0, SA_TTY_SMALL);
}

/* The stdin_buf of thread id, made empty when it has none; NULL when the
 * map is full. */
static __always_inline struct sa_stdin_buf *stdin_buf_get(__u64 id)
{
	struct sa_stdin_buf *b = bpf_map_lookup_elem(&stdin_buf, &id), *empty;
	__u32 zero = 0;

	if (b || !(empty = bpf_map_lookup_elem(&stdin_empty, &zero)))
		return b;
	bpf_map_update_elem(&stdin_buf, &id, empty, BPF_NOEXIST);
	return bpf_map_lookup_elem(&stdin_buf, &id);
}

/* A read of ret bytes (an iovec array for vec; saved: its iovecs as the
 * read began, see sa_read_start, or NULL) from the session's stdin. */
static __always_inline void stdin_read(__u64 mntns, const struct sa_mark *t, unsigned long buf,
				       unsigned long asked, long ret, bool vec, bool compat,
				       const __u64 *saved)
{
	__u64 id = bpf_get_current_pid_tgid(), key = stdin_key(t);
	struct sa_stdin_buf *b = bpf_map_lookup_elem(&stdin_buf, &id);
	__u8 *state = bpf_map_lookup_elem(&in_readline, &id);
	__u32 skipped, n;
	bool held, sent;
	__u32 open;
	char ch;

	/* readline reading the pipe (bash -i): the line is readline's. */
	if (state && (*state == SA_IN_READLINE || *state == SA_IN_CALLBACK))
		return;
	if (ret == 1 && !vec) {
		if (!b)
			b = stdin_buf_get(id);
		if (b) {
			if (bpf_probe_read_user(&ch, 1, (const void *)buf)) {
				count(SA_CNT_READ_ERR);
				return;
			}
			/* A byte reader (asked for one) after larger reads. */
			if (b->open == SA_OPEN_READS && asked == 1)
				stdin_send(mntns, t, b, key, SA_F_TTY_BREAK);
			n = b->len;
			if (n >= SA_STDIN_BUF) {
				stdin_send(mntns, t, b, key, 0);
				n = 0;
			}
			held = stdin_holds(b);
			if (n == 0)
				b->first_ns = bpf_ktime_get_ns();
			b->data[n & (SA_STDIN_BUF - 1)] = ch;
			b->len = n + 1;
			stdin_count(b, held);
			if (ch == '\n' || n + 1 >= SA_STDIN_BUF)
				stdin_send(mntns, t, b, key, 0);
			return;
		}
	}
	/* Any other read: what was gathered, or the line bytes left open,
	 * ends first. */
	if (b && (b->len || b->open == SA_OPEN_BYTES))
		stdin_send(mntns, t, b, key, SA_F_TTY_BREAK);
	if (ret == 0) {
		/* End of input: news only when bytes went unrecorded. */
		stdin_report(mntns, t, key);
		return;
	}
	if (vec) {
		sent = stdin_admit(key, sizeof(struct sa_tty_event) + 2 * SA_TTY_CAP, ret,
				   &skipped);
		if (sent)
			tty_emit_readv(mntns, t, SA_F_TTY_STDIN, 0, skipped, key, buf, asked, ret,
				       compat, saved);
	} else if (ret <= SA_TTY_SMALL) {
		sent = stdin_emit_read(mntns, t, key, buf, asked, ret, SA_TTY_SMALL);
	} else if (ret <= SA_TTY_MEDIUM) {
		sent = stdin_emit_read(mntns, t, key, buf, asked, ret, SA_TTY_MEDIUM);
	} else if (ret <= SA_TTY_CAP) {
		sent = stdin_emit_read(mntns, t, key, buf, asked, ret, SA_TTY_CAP);
	} else if (ret <= SA_STDIN_MEDIUM) {
		sent = stdin_emit_read(mntns, t, key, buf, asked, ret, SA_STDIN_MEDIUM);
	} else {
		sent = stdin_emit_read(mntns, t, key, buf, asked, ret, SA_STDIN_CAP);
	}
	/* Sent without a newline at its end (read -N 23 cmd), the line is
	 * open in the agent until the thread's next other act ends it. A
	 * readv is taken as open; a read cut short ends its line as cut. */
	ch = '\n';
	if (vec)
		ch = 0;
	else if (ret <= SA_STDIN_CAP && bpf_probe_read_user(&ch, 1, (const void *)(buf + ret - 1)))
		ch = 0;
	open = sent && ch != '\n' ? SA_OPEN_READS : 0;
	if (!b && open)
		b = stdin_buf_get(id);
	if (b && b->open != open) {
		held = stdin_holds(b);
		b->open = open;
		stdin_count(b, held);
	}
}

/* splice(2) moved ret bytes out of the session's stdin: they pass no
 * user buffer, so they are counted as not recorded (reported as skipped
 * bytes are). */
static __always_inline void stdin_splice(const struct sa_mark *t, long ret)
{
	__u64 key = stdin_key(t);
	struct sa_stdin_rate *r = ret > 0 ? stdin_rate_get(key, bpf_ktime_get_ns()) : NULL;

	if (r)
		stdin_skip(r, ret);
}

/* Task id of a marked task with a stdin exits: the bytes it gathered go
 * out, and for a process, what its stream skipped and did not report. */
static __always_inline void stdin_exit(__u64 mntns, const struct sa_mark *t, __u64 id)
{
	struct sa_stdin_buf *b = bpf_map_lookup_elem(&stdin_buf, &id);

	if (b) {
		stdin_send(mntns, t, b, stdin_key(t), 0);
		stdin_drop(id);
	}
	if ((__u32)id == id >> 32)
		stdin_report(mntns, t, stdin_key(t));
}

/* Forgets thread id's stdin_buf, and what it holds: the thread exits, is
 * no longer audited, or took another's id. */
static __always_inline void stdin_drop(__u64 id)
{
	struct sa_stdin_buf *b = bpf_map_lookup_elem(&stdin_buf, &id);
	bool held;

	if (!b)
		return;
	held = stdin_holds(b);
	b->len = 0;
	b->open = 0;
	stdin_count(b, held);
	bpf_map_delete_elem(&stdin_buf, &id);
}

/* The current thread (task, id; or the id it had before its exec) did
 * something other than read its stdin: the bytes it gathered, or the end
 * of the line it left open, go out first (see "A session's stdin"). t and
 * mntns: its mark and mount namespace, or t NULL to look them up. */
static __always_inline void stdin_break(struct task_struct *task, const struct sa_mark *t,
					__u64 mntns, __u64 id)
{
	struct sa_stdin_buf *b;

	if (!stdin_pending)
		return;
	b = bpf_map_lookup_elem(&stdin_buf, &id);
	if (!b || !stdin_holds(b))
		return;
	if (!t)
		t = current_target(task, &mntns);
	if (t)
		stdin_send(mntns, t, b, stdin_key(t), SA_F_TTY_BREAK);
}

/* What a read of an audited task on a terminal or its session's stdin was
 * given as it began: the file its fd named then, and for readv(2) and
 * preadv2(2) the iovecs. The end of the read takes them, not what the fd
 * and the array hold by then: another thread of the reader can point the
 * fd elsewhere (dup2 of /dev/null) or the iovecs at a decoy while the read
 * blocks, and the kernel reads the file and fills the buffers it took at
 * the start. (The file stays valid until the read's end: its last fput
 * runs as the syscall returns to user space, after its exit hook.) An
 * audited task's every read sets or clears its thread's entry as it
 * begins; one with none at its end (begun before the hook, or before its
 * task was audited) is read as before, from its fd. */
struct sa_read_start {
	__u64 file;
	__u64 iov[2 * SA_TTY_IOV_MAX]; /* base and length pairs */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct sa_read_start);
} read_start SEC(".maps");

/* The beginning of a read(2) (vec: readv(2) or preadv2(2), iov its iovec
 * array of iovcnt, 32-bit ones for compat) of fd by task. */
static __always_inline void tty_read_begin(struct task_struct *task, unsigned long fd,
					   unsigned long iov, unsigned long iovcnt, bool vec,
					   bool compat)
{
	struct sa_mark *m = bpf_task_storage_get(&marks, task, 0, 0);
	struct sa_read_start st;
	struct file *f;
	__u64 id;
	__u32 i;

	/* An unaudited task (every other one) costs this one lookup. */
	if (!m)
		return;
	id = bpf_get_current_pid_tgid();
	__builtin_memset(&st, 0, sizeof(st));
	f = fd_file(task, fd);
	if (!f || (!file_tty(f) && !(m->stdin_ino && file_is_stdin(f, m->stdin_ino)))) {
		if (bpf_map_lookup_elem(&read_start, &id))
			bpf_map_delete_elem(&read_start, &id);
		return;
	}
	st.file = (__u64)f;
	for (i = 0; vec && i < SA_TTY_IOV_MAX && i < iovcnt; i++)
		if (iov_at(iov, i, compat, &st.iov[2 * i], &st.iov[2 * i + 1]))
			break;
	bpf_map_update_elem(&read_start, &id, &st, BPF_ANY);
}

/* How the syscall whose end tty_read sees took its bytes. */
enum sa_take {
	SA_TAKE_READ,	  /* into the user's buffer (or iovecs) */
	SA_TAKE_SPLICE,	  /* splice(2), tee(2): none, fd_in the first argument */
	SA_TAKE_SENDFILE, /* sendfile(2): none, its in_fd the second */
};

/* What a file is to a mark's session, for bytes taken from it. */
struct sa_taken_from {
	__u32 dev;   /* a terminal's device, or 0 */
	__u32 flags; /* a terminal's: SA_F_TTY_CANON or 0; SA_TAKEN_STDIN */
};
#define SA_TAKEN_STDIN 0x80000000u
#define SA_TAKEN_SESSION 0x40000000u /* the session's terminal (tty_admit) */

/* What f is to t, a terminal or the session's stdin: *from set, true;
 * false for a file of neither kind. */
static __always_inline bool taken_from(const struct sa_mark *t, struct file *f,
				       struct sa_taken_from *from)
{
	struct tty_struct *tty;

	if (t->stdin_ino && file_is_stdin(f, t->stdin_ino)) {
		from->dev = 0;
		from->flags = SA_TAKEN_STDIN;
		return true;
	}
	tty = file_tty(f);
	if (!tty)
		return false;
	from->dev = tty_dev(tty);
	from->flags = BPF_CORE_READ(tty, termios.c_lflag) & SA_ICANON ? SA_F_TTY_CANON : 0;
	if (tty_is_session(t, tty))
		from->flags |= SA_TAKEN_SESSION;
	return true;
}

/* A record of no data (SA_F_TTY_AIO | flags, terminal dev) of an
 * io_submit read of up to n bytes, if the container's terminal rate lets
 * it (see tty_admit: such a read makes a record whatever it reads, and a
 * non-blocking one of an empty pipe or terminal reads nothing as fast as
 * the syscall goes; session: a read of the session's terminal). skey: the
 * key of the session's stdin for a read of it (the bytes it skipped
 * before go with the record), else 0. */
static __always_inline void aio_emit(__u64 mntns, struct sa_mark *t, __u32 flags, __u32 dev,
				     bool session, __u64 skey, unsigned long n)
{
	struct sa_stdin_rate *s;
	struct sa_tty_event *e;
	__u32 calls, skipped = 0;

	if (!tty_admit(t, session, SA_TTY_AIO_COST, 1, SA_COUNT_AIO, &calls))
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(SA_CNT_DROP_TTY);
		rate_put_back(tty_key(t, session), SA_COUNT_AIO, calls);
		return;
	}
	if (skey && (s = bpf_map_lookup_elem(&stdin_rate, &skey))) {
		skipped = s->skipped;
		s->skipped = 0;
	}
	tty_fill(e, mntns, t, SA_F_TTY_AIO | flags, dev, n, skipped);
	e->calls = calls;
	count(SA_CNT_TTY_READS);
	bpf_ringbuf_submit(e, 0);
}

/* What the terminal rate of key counted and did not report yet, as
 * records of its counts (SA_F_TTY_COUNT: a terminal read's of bytes and
 * io_submit reads, a line's of readline lines) in the name of the exiting
 * process of mark t. */
static __always_inline void tty_report_key(__u64 mntns, const struct sa_mark *t, __u64 key)
{
	struct sa_stdin_rate *r;
	struct sa_tty_event *e;

	r = bpf_map_lookup_elem(&stdin_rate, &key);
	if (!r)
		return;
	lines_report(mntns, t, r);
	if (!(r->skipped || r->aio))
		return;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(SA_CNT_DROP_TTY);
		return;
	}
	tty_fill(e, mntns, t, SA_F_TTY_COUNT, 0, 0, r->skipped);
	e->calls = r->aio;
	r->skipped = 0;
	r->aio = 0;
	count(SA_CNT_TTY_READS);
	bpf_ringbuf_submit(e, 0);
}

/* A process of target t exits: what the container's terminal rate, and
 * its session terminal's, counted and did not report yet (the container's
 * chain has them; which of its processes read them is not kept). */
static __always_inline void tty_report(__u64 mntns, const struct sa_mark *t)
{
	/* Readline's lines are under it whether or not terminal capture
	 * is on. */
	if (!tty_rate_counted)
		return;
	tty_report_key(mntns, t, tty_key(t, false));
	if (t->session_tty)
		tty_report_key(mntns, t, tty_key(t, true));
}

/* An io_submit(2) read of up to n bytes of the session's stdin: what the
 * thread gathered of it goes first, then a record of no data that says so
 * (SA_F_TTY_AIO), with the bytes skipped before it, rate permitting. */
static __always_inline void stdin_aio(struct task_struct *task, __u64 mntns, struct sa_mark *t,
				      unsigned long n)
{
	stdin_break(task, t, mntns, bpf_get_current_pid_tgid());
	aio_emit(mntns, t, SA_F_TTY_STDIN, 0, false, stdin_key(t), n);
}

/* n bytes taken (flag: SA_F_TTY_MOVED or SA_F_TTY_AIO) from what from
 * says: counted for a stdin (an entry for an io_submit read of it), an
 * entry for a terminal. */
static __always_inline void taken_emit(struct task_struct *task, __u64 mntns, struct sa_mark *t,
				       const struct sa_taken_from *from, __u32 flag,
				       unsigned long n)
{
	bool session = from->flags & SA_TAKEN_SESSION;
	__u32 flags = flag | (from->flags & ~SA_TAKEN_SESSION), skipped;

	if ((from->flags & SA_TAKEN_STDIN) && flag == SA_F_TTY_AIO)
		stdin_aio(task, mntns, t, n);
	else if (from->flags & SA_TAKEN_STDIN)
		stdin_splice(t, n);
	else if (flag == SA_F_TTY_AIO)
		aio_emit(mntns, t, from->flags & ~SA_TAKEN_SESSION, from->dev, session, 0, n);
	else if (tty_admit_read(t, session, sizeof(struct sa_tty_event), n, &flags, &skipped))
		tty_emit_read(mntns, t, flags, from->dev, skipped, tty_key(t, session), 0, n,
			      flag == SA_F_TTY_MOVED ? n : 0, 0);
}

/* n bytes taken from file f with no user buffer to copy them from
 * (flag SA_F_TTY_MOVED: splice, sendfile, tee, io_uring), or an
 * io_submit(2) read of up to n bytes (SA_F_TTY_AIO): counted for the
 * session's stdin (MOVED), a record of no data otherwise. */
static __always_inline void tty_taken(struct task_struct *task, __u64 mntns, struct sa_mark *t,
				      struct file *f, __u32 flag, unsigned long n)
{
	struct sa_taken_from from;

	if (taken_from(t, f, &from))
		taken_emit(task, mntns, t, &from, flag, n);
}

/* The common part of both hooks. regs: the syscall's registers (NULL: the
 * task's, fetched only once the task is known to be audited); its fd, buf
 * and count arguments (buf and count: the iovec array and its length for
 * vec) are read from them then, in the ia32 places for compat. take: how
 * the syscall took its ret bytes. */
static __always_inline int tty_read(struct task_struct *task, struct pt_regs *regs, bool vec,
				    enum sa_take take, bool compat, long ret)
{
	unsigned long fd, buf, asked;
	struct sa_read_start start, *began;
	__u64 id, mntns;
	struct sa_mark *t;
	struct tty_struct *tty;
	struct file *f;
	__u8 partial = 1, *state;
	__u32 lflag, flags = 0, dev, skipped;
	char last = 0;
	bool stdin, session;
	__u64 rkey;

	if (ret < 0)
		return 0;
	/* Every read of the node comes here: one of no target (or of a
	 * target that wants no terminal) goes back first. */
	t = current_target(task, &mntns);
	if (!t || !wants_terminal(t))
		return 0;
	id = bpf_get_current_pid_tgid();
	__builtin_memset(&start, 0, sizeof(start));
	if (!regs)
		regs = (struct pt_regs *)bpf_task_pt_regs(task);
#if defined(__TARGET_ARCH_x86)
	/* Direct loads: regs is a BTF pointer either way. */
	if (compat) {
		fd = (__u32)regs->bx;
		buf = (__u32)regs->cx;
		asked = (__u32)regs->dx;
	} else {
		fd = regs->di;
		buf = regs->si;
		asked = regs->dx;
	}
#else
	fd = PT_REGS_PARM1_CORE_SYSCALL(regs);
	buf = PT_REGS_PARM2_CORE_SYSCALL(regs);
	asked = PT_REGS_PARM3_CORE_SYSCALL(regs);
#endif
	if (take == SA_TAKE_SENDFILE)
		fd = buf;
	/* The file the read began on (see sa_read_start), else its fd's. */
	began = bpf_map_lookup_elem(&read_start, &id);
	if (began) {
		start = *began;
		bpf_map_delete_elem(&read_start, &id);
	}
	f = start.file ? (struct file *)start.file : fd_file(task, fd);
	stdin = f && t->stdin_ino && file_is_stdin(f, t->stdin_ino);
	if (!stdin)
		stdin_break(task, t, mntns, id);
	if (!f)
		return 0;
	/* Whatever the thread's readline state: readline reads. */
	if (take != SA_TAKE_READ) {
		if (ret > 0)
			tty_taken(task, mntns, t, f, SA_F_TTY_MOVED, ret);
		return 0;
	}
	tty = file_tty(f);
	if (!tty) {
		if (stdin)
			stdin_read(mntns, t, buf, asked, ret, vec, compat,
				   start.file ? start.iov : NULL);
		return 0;
	}
	/* A session root the agent's sweep marked (its session was open
	 * before its container became a target, or across an agent of
	 * another build): no exec of it was seen, so its session's terminal
	 * is taken at its first terminal read, as its controlling terminal
	 * then (a shell's, which it never changes). */
	if (!(t->flags & SA_MARK_STDIN_SET) && t->root == (__u32)(id >> 32)) {
		t->session_tty = (__u64)BPF_CORE_READ(task, signal, tty);
		t->flags |= SA_MARK_STDIN_SET;
	}
	dev = tty_dev(tty);
	lflag = BPF_CORE_READ(tty, termios.c_lflag);
	state = bpf_map_lookup_elem(&in_readline, &id);
	if (!(lflag & SA_ICANON) && state && (*state == SA_IN_READLINE || *state == SA_IN_CALLBACK))
		return 0;
	if (!state)
		flags |= SA_F_TTY_NO_RL;
	if (lflag & SA_ICANON)
		flags |= SA_F_TTY_CANON;
	if (!(lflag & SA_ECHO))
		flags |= SA_F_TTY_NOECHO;
	if (ret == 0) {
		/* End of input: only news after a read that may have ended a
		 * line with Ctrl-D; a raw read of nothing (VMIN 0) never is. */
		if (!(lflag & SA_ICANON) || !bpf_map_lookup_elem(&tty_partial, &id))
			return 0;
		bpf_map_delete_elem(&tty_partial, &id);
	} else if ((lflag & SA_ICANON) && !vec && ret == asked) {
		if (bpf_probe_read_user(&last, 1, (const void *)(buf + ret - 1)) == 0 &&
		    last != '\n')
			bpf_map_update_elem(&tty_partial, &id, &partial, BPF_ANY);
	}
	/* By the container's rate or its session terminal's (end of input,
	 * which reads nothing, is not under it), the room reserved for it
	 * being its cost. */
	skipped = 0;
	session = tty_is_session(t, tty);
	rkey = tty_key(t, session);
	if (ret > 0 &&
	    !tty_admit_read(t, session,
			    sizeof(struct sa_tty_event) + (vec			? 2 * SA_TTY_CAP :
							   ret <= SA_TTY_SMALL	? SA_TTY_SMALL :
							   ret <= SA_TTY_MEDIUM ? SA_TTY_MEDIUM :
										  SA_TTY_CAP),
			    ret, &flags, &skipped))
		return 0;
	if (vec)
		tty_emit_readv(mntns, t, flags, dev, skipped, rkey, buf, asked, ret, compat,
			       start.file ? start.iov : NULL);
	else if (ret <= SA_TTY_SMALL)
		tty_emit_read(mntns, t, flags, dev, skipped, rkey, buf, asked, ret, SA_TTY_SMALL);
	else if (ret <= SA_TTY_MEDIUM)
		tty_emit_read(mntns, t, flags, dev, skipped, rkey, buf, asked, ret, SA_TTY_MEDIUM);
	else
		tty_emit_read(mntns, t, flags, dev, skipped, rkey, buf, asked, ret, SA_TTY_CAP);
	return 0;
}

/* ---- Linux AIO ------------------------------------------------------------
 *
 * An io_submit(2) read (IOCB_CMD_PREAD, _PREADV) of a terminal, or of a
 * session's stdin, makes no read syscall either: the kernel reads inside
 * io_submit and posts how many bytes to the AIO ring. Of an audited
 * task's io_submit, the first of its iocbs that reads a terminal or the
 * session's stdin (looked at in a bpf_loop, up to SA_AIO_IOCBS: more than
 * a call submits where aio-max-nr is the default) is noted as the call
 * begins (read_start: the file, iov[0] the bytes asked, iov[1] its
 * place), and sent as an entry of no data when the call returns having
 * submitted it (SA_F_TTY_AIO). An ia32 call's array holds 32-bit pointers
 * (the iocbs are alike); the syscall tracepoints see no ia32 call, the
 * raw sys_exit hook does.
 */
#define SA_AIO_IOCBS (1U << 17)
#define SA_IOCB_CMD_PREAD 0
#define SA_IOCB_CMD_PREADV 7

/* The head of struct iocb (linux/aio_abi.h, little-endian). */
struct sa_iocb {
	__u64 data;
	__u32 key, rw_flags;
	__u16 opcode;
	__s16 reqprio;
	__u32 fildes;
	__u64 buf;
	__u64 nbytes;
};

/* The walk of an io_submit's iocbs: the array (of 32-bit pointers for
 * compat), the session's stdin (its inode, or 0), and what was found. */
struct sa_aio_walk {
	unsigned long iocbpp;
	struct sa_read_start st;
	__u32 stdin_ino;
	bool compat, found;
};

/* One iocb (bpf_loop): 1 to stop, at the first read of a terminal or of
 * the session's stdin, or at an iocb the kernel could not read either. */
static long aio_iocb(__u64 i, void *arg)
{
	struct sa_aio_walk *w = arg;
	struct sa_iocb cb;
	struct file *f;
	__u32 p32;
	__u64 p;

	if (w->compat) {
		if (bpf_probe_read_user(&p32, sizeof(p32), (const void *)(w->iocbpp + 4 * i)))
			return 1;
		p = p32;
	} else if (bpf_probe_read_user(&p, sizeof(p), (const void *)(w->iocbpp + 8 * i))) {
		return 1;
	}
	if (bpf_probe_read_user(&cb, sizeof(cb), (const void *)p))
		return 1;
	if (cb.opcode != SA_IOCB_CMD_PREAD && cb.opcode != SA_IOCB_CMD_PREADV)
		return 0;
	f = fd_file(bpf_get_current_task_btf(), cb.fildes);
	if (!f || (!file_tty(f) && !(w->stdin_ino && file_is_stdin(f, w->stdin_ino))))
		return 0;
	w->st.file = (__u64)f;
	w->st.iov[0] = cb.nbytes;
	w->st.iov[1] = i;
	w->found = true;
	return 1;
}

static __always_inline void aio_begin(struct task_struct *task, unsigned long nr,
				      unsigned long iocbpp, bool compat)
{
	struct sa_mark *m = bpf_task_storage_get(&marks, task, 0, 0);
	__u64 id = bpf_get_current_pid_tgid();
	struct sa_aio_walk w = { .iocbpp = iocbpp, .compat = compat };

	/* An unaudited task (every other one) costs this one lookup. */
	if (!m)
		return;
	w.stdin_ino = m->stdin_ino;
	bpf_loop(nr < SA_AIO_IOCBS ? nr : SA_AIO_IOCBS, aio_iocb, &w, 0);
	if (w.found)
		bpf_map_update_elem(&read_start, &id, &w.st, BPF_ANY);
	else if (bpf_map_lookup_elem(&read_start, &id))
		bpf_map_delete_elem(&read_start, &id);
}

static __always_inline void aio_end(struct task_struct *task, long ret)
{
	__u64 id = bpf_get_current_pid_tgid(), mntns;
	struct sa_read_start *began = bpf_map_lookup_elem(&read_start, &id);
	struct sa_mark *t;
	__u64 file, asked, at;

	if (!began)
		return;
	file = began->file;
	asked = began->iov[0];
	at = began->iov[1];
	bpf_map_delete_elem(&read_start, &id);
	/* ret: how many iocbs went in, in order. */
	if (ret <= 0 || (__u64)ret <= at)
		return;
	t = current_target(task, &mntns);
	if (t && wants_terminal(t))
		tty_taken(task, mntns, t, (struct file *)file, SA_F_TTY_AIO, asked);
}

/* How syscall nr (ia32 for compat) takes its bytes. */
static __always_inline enum sa_take sa_take_of(long nr, bool compat)
{
#if defined(__TARGET_ARCH_x86)
	if (compat)
		return nr == SA_NR32_SPLICE || nr == SA_NR32_TEE	  ? SA_TAKE_SPLICE :
		       nr == SA_NR32_SENDFILE || nr == SA_NR32_SENDFILE64 ? SA_TAKE_SENDFILE :
									    SA_TAKE_READ;
#endif
	return nr == SA_NR_SPLICE || nr == SA_NR_TEE ? SA_TAKE_SPLICE :
	       nr == SA_NR_SENDFILE		     ? SA_TAKE_SENDFILE :
						       SA_TAKE_READ;
}

SEC("tracepoint")
int tty_enter_tp(struct syscall_trace_enter *ctx)
{
	bool vec = ctx->nr == SA_NR_READV || ctx->nr == SA_NR_PREADV2;
	unsigned long fd = ctx->args[0], arg1 = ctx->args[1];

	if (tty_raw_all())
		return 0;
	if (ctx->nr == SA_NR_IO_SUBMIT) {
		aio_begin(bpf_get_current_task_btf(), arg1, ctx->args[2], false);
		return 0;
	}
	/* Both loaded: the verifier refuses a context offset chosen at run
	 * time. sendfile(2) reads its second argument. */
	barrier_var(fd);
	barrier_var(arg1);
	if (ctx->nr == SA_NR_SENDFILE)
		fd = arg1;
	tty_read_begin(bpf_get_current_task_btf(), fd, arg1, ctx->args[2], vec, false);
	return 0;
}

SEC("tracepoint")
int tty_read_tp(struct syscall_trace_exit *ctx)
{
	if (tty_raw_all())
		return 0;
	if (ctx->nr == SA_NR_IO_SUBMIT) {
		aio_end(bpf_get_current_task_btf(), ctx->ret);
		return 0;
	}
	if (ctx->ret < 0)
		return 0;
	return tty_read(bpf_get_current_task_btf(), NULL,
			ctx->nr == SA_NR_READV || ctx->nr == SA_NR_PREADV2 ||
				ctx->nr == SA_NR_VMSPLICE,
			sa_take_of(ctx->nr, false), false, ctx->ret);
}

/* ---- io_uring -------------------------------------------------------------
 *
 * A read of a terminal or of a session's stdin through io_uring
 * (IORING_OP_READ and its kin, RECV for a socket) makes no read syscall:
 * the kernel reads in the submitting thread or in one of its io-wq
 * workers, and no syscall hook sees it. Each completion of such a read is
 * an entry of how many bytes it took, as splice(2) is (SA_F_TTY_MOVED for
 * a terminal, counted for a stdin); the bytes themselves are not recorded
 * (the buffer may be a registered one, or a provided one the kernel
 * picked). The file is the one the request read (a fixed file too,
 * whatever became of its fd). An io-wq worker is not forked through the
 * fork tracepoint, so no mark came to it from its process: its thread
 * group leader's stands for it (a mark made for the worker would be walked up
 * from the process's parent, and miss the stdin of a process that entered
 * the container, its own session's root).
 *
 * SPLICE and TEE take from the request's splice_fd_in, not from its file
 * (the output): a fixed one is the registered file the request holds.
 * Any other is taken from the fd table when the request is issued (in the
 * submitter or its io-wq worker, which shares the table), and put back
 * before the completion: by then the fd may name another file (the reader
 * pointed it at /dev/null while the request waited for a line). So what
 * that file was is noted as io_uring takes it (uring_file, keyed by the
 * request), and the completion goes by that note; by the fd's file at
 * completion only where there is none (the note was pushed out, or the
 * hook attached while the request waited).
 */
#define SA_IORING_OP_READV 1
#define SA_IORING_OP_READ_FIXED 4
#define SA_IORING_OP_RECVMSG 10
#define SA_IORING_OP_READ 22
#define SA_IORING_OP_RECV 27
#define SA_IORING_OP_SPLICE 30
#define SA_IORING_OP_TEE 33
#define SA_IORING_OP_READ_MULTISHOT 49
#define SA_IORING_OP_READV_FIXED 60
#define SA_PF_IO_WORKER 0x00000010
#define SA_SPLICE_F_FD_IN_FIXED (1U << 31)

/* What io_uring keeps of a SPLICE or TEE request (its command data, at the
 * start of the request), and of a registered file. */
struct io_splice___sa {
	int splice_fd_in;
	unsigned int flags;
	struct io_rsrc_node *rsrc_node;
} __attribute__((preserve_access_index));

struct io_rsrc_node___sa {
	unsigned long file_ptr;
} __attribute__((preserve_access_index));

/* The low bits of a registered file's pointer are flags (FFS_*). */
#define SA_FFS_MASK (~3UL)

static __always_inline bool uring_reads(__u8 op)
{
	return op == SA_IORING_OP_READV || op == SA_IORING_OP_READ_FIXED ||
	       op == SA_IORING_OP_RECVMSG || op == SA_IORING_OP_READ || op == SA_IORING_OP_RECV ||
	       op == SA_IORING_OP_READ_MULTISHOT || op == SA_IORING_OP_READV_FIXED;
}

/* What the input of a SPLICE or TEE request was as io_uring took it from
 * the fd table (see above), by request. A request's memory is used again:
 * the note is taken away at its completion, and made again (or taken
 * away) whenever a request takes its input. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct sa_taken_from);
} uring_in SEC(".maps");

static __always_inline bool uring_splices(__u8 op)
{
	return op == SA_IORING_OP_SPLICE || op == SA_IORING_OP_TEE;
}

/* Whether the kernel has what uring_splice_in reads. */
static __always_inline bool uring_splice_known(void)
{
	return bpf_core_type_exists(struct io_splice___sa) &&
	       bpf_core_field_exists(((struct io_splice___sa *)0)->rsrc_node) &&
	       bpf_core_field_exists(((struct io_rsrc_node___sa *)0)->file_ptr);
}

/* The file a SPLICE or TEE request r took its bytes from, or NULL: a
 * fixed one; any other the fd's, now (*by_fd set). */
static __always_inline struct file *uring_splice_in(struct task_struct *task, struct io_kiocb *r,
						    bool *by_fd)
{
	struct io_splice___sa *sp = (struct io_splice___sa *)r;
	struct io_rsrc_node___sa *node;
	int fd;

	*by_fd = false;
	if (!uring_splice_known())
		return NULL;
	if (BPF_CORE_READ(sp, flags) & SA_SPLICE_F_FD_IN_FIXED) {
		node = (struct io_rsrc_node___sa *)BPF_CORE_READ(sp, rsrc_node);
		return node ? (struct file *)(BPF_CORE_READ(node, file_ptr) & SA_FFS_MASK) : NULL;
	}
	*by_fd = true;
	fd = BPF_CORE_READ(sp, splice_fd_in);
	return fd >= 0 ? fd_file(task, fd) : NULL;
}

/* The mark an io_uring request of task acts under, and its mount
 * namespace: a worker acts for its process, the leader's session (and its
 * stdin), not one a mark of the worker's own would walk up to from the
 * process's parent. */
static __always_inline struct sa_mark *uring_mark(struct task_struct *task, __u64 *mntns)
{
	struct sa_mark *lead = task->flags & SA_PF_IO_WORKER ?
				       bpf_task_storage_get(&marks, task->group_leader, 0, 0) :
				       NULL;

	if (lead && mark_valid(lead)) {
		*mntns = task->nsproxy->mnt_ns->ns.inum;
		return lead;
	}
	return current_target(task, mntns);
}

/* Whether task may act for a target (a cheap look, uring_mark the whole
 * one): it or its leader (for a worker) is marked, or its mount
 * namespace is a target's. */
static __always_inline bool uring_may_target(struct task_struct *task)
{
	struct sa_target_key key = {};
	struct sa_mark *m = bpf_task_storage_get(&marks, task, 0, 0);

	if (m && mark_valid(m))
		return true;
	if (task->flags & SA_PF_IO_WORKER) {
		m = bpf_task_storage_get(&marks, task->group_leader, 0, 0);
		if (m && mark_valid(m))
			return true;
	}
	key.mntns = task->nsproxy->mnt_ns->ns.inum;
	return bpf_map_lookup_elem(&targets, &key) != NULL;
}

/* io_uring takes a request's file from fd (fget, just done) as it issues
 * it: for a SPLICE or TEE of an audited session, what its input is. */
SEC("tp_btf/io_uring_file_get")
int BPF_PROG(uring_file, struct io_kiocb *req, int fd)
{
	struct io_splice___sa *sp = (struct io_splice___sa *)req;
	struct sa_taken_from from;
	struct task_struct *task;
	struct sa_mark *t;
	struct file *f;
	__u64 key = (__u64)req, mntns;

	/* Every request of the node whose file is not a fixed one comes
	 * here: a direct load of its opcode and back. */
	if (!req || !uring_splices(req->opcode) || !uring_splice_known())
		return 0;
	/* The request's output is taken so too: only its input counts. */
	if (fd < 0 || BPF_CORE_READ(sp, splice_fd_in) != fd ||
	    BPF_CORE_READ(sp, flags) & SA_SPLICE_F_FD_IN_FIXED)
		return 0;
	task = bpf_get_current_task_btf();
	t = uring_mark(task, &mntns);
	if (!t || !wants_terminal(t))
		return 0;
	f = fd_file(task, fd);
	if (f && taken_from(t, f, &from))
		bpf_map_update_elem(&uring_in, &key, &from, BPF_ANY);
	else
		bpf_map_delete_elem(&uring_in, &key);
	return 0;
}

SEC("tp_btf/io_uring_complete")
int BPF_PROG(uring_done, struct io_ring_ctx *ring, void *req, struct io_uring_cqe *cqe)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct sa_taken_from from = {}, *note;
	struct io_kiocb *r = req;
	struct file *f = NULL;
	struct sa_mark *t;
	__u64 key = (__u64)req, mntns;
	bool by_fd = false, noted = false;
	__s32 res;
	__u8 op;

	if (!r || !cqe)
		return 0;
	res = cqe->res;
	op = BPF_CORE_READ(r, opcode);
	if (!uring_reads(op) && !uring_splices(op))
		return 0;
	if (uring_splices(op) && (note = bpf_map_lookup_elem(&uring_in, &key))) {
		from = *note;
		noted = true;
		bpf_map_delete_elem(&uring_in, &key);
	}
	if (res <= 0)
		return 0;
	/* Every read of the node comes here. A task of no target goes back
	 * first, then a file that is no terminal, pipe or socket (a
	 * database's, a device's): the session's namespaces are looked at
	 * only after. */
	if (!uring_may_target(task))
		return 0;
	if (uring_reads(op)) {
		f = BPF_CORE_READ(r, file);
		if (!f || !file_may_be_input(f))
			return 0;
	}
	t = uring_mark(task, &mntns);
	if (!t || !wants_terminal(t))
		return 0;
	if (uring_splices(op))
		f = uring_splice_in(task, r, &by_fd);
	if (by_fd && noted)
		taken_emit(task, mntns, t, &from, SA_F_TTY_MOVED, res);
	else if (f)
		tty_taken(task, mntns, t, f, SA_F_TTY_MOVED, res);
	return 0;
}

/* The current thread's gathered bytes go out, as they are (no BREAK:
 * the line may go on), if the first one is at least stale ns old. */
static __always_inline void stdin_flush_current(__u64 stale)
{
	__u64 id = bpf_get_current_pid_tgid(), mntns;
	struct task_struct *task;
	struct sa_stdin_buf *b;
	struct sa_mark *t;

	b = bpf_map_lookup_elem(&stdin_buf, &id);
	if (!b || !b->len || (stale && bpf_ktime_get_ns() - b->first_ns < stale))
		return;
	task = bpf_get_current_task_btf();
	t = target_of(task, &mntns, 0);
	if (t)
		stdin_send(mntns, t, b, stdin_key(t), 0);
}

/* task_struct's state before Linux 5.14 (then __state). */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

/* Whether task p (switching out) is runnable: it does not sleep. */
static __always_inline bool task_runnable(struct task_struct *p)
{
	if (bpf_core_field_exists(p->__state))
		return BPF_CORE_READ(p, __state) == 0;
	return BPF_CORE_READ((struct task_struct___old *)p, state) == 0;
}

/* A thread that gathered bytes of its stdin goes to sleep (waits on its
 * empty pipe, on anything else, or is stopped): they go out. A runnable
 * thread switched out (it spins, or is preempted, maybe in the kernel
 * inside one of these programs) is left to stdin_tick. The agent ends
 * the line, if no more of it comes, after a second. */
SEC("tp_btf/sched_switch")
int BPF_PROG(stdin_sleep, bool preempt, struct task_struct *prev)
{
	if (stdin_pending && !preempt && !task_runnable(prev))
		stdin_flush_current(0);
	return 0;
}

/* How long gathered bytes wait for their thread to sleep or to do
 * anything else before a tick (stdin_tick) sends them. */
#define SA_STDIN_STALE_NS (250ull * 1000 * 1000)

/* Whether regs, where a perf event interrupted its CPU, are user mode's:
 * then none of the interrupted thread's programs is running. */
static __always_inline bool sa_user_mode(const bpf_user_pt_regs_t *regs)
{
#if defined(__TARGET_ARCH_x86)
	/* A whole long: the only size a perf_event program reads of them. */
	return (((const unsigned long *)
			 regs)[__builtin_offsetof(struct pt_regs, cs) / sizeof(unsigned long)] &
		3) == 3;
#elif defined(__TARGET_ARCH_arm64)
	return (regs->pstate & 0xf) == 0; /* PSR_MODE_EL0t */
#else
	return false;
#endif
}

/* A CPU's tick (a cpu-clock perf event the agent opens on each CPU, every
 * CAPTURE_STDIN_TICK_NS): a thread that gathered bytes and then ran on in
 * user mode since (eval "$cmd" of a builtin, then a busy loop: no sleep,
 * syscall, fork, exec or exit) never switches out while its CPU has
 * nothing else to run; its bytes go out once SA_STDIN_STALE_NS old. Only
 * when the tick interrupted user mode: in the kernel, the thread may be
 * inside a program changing its stdin_buf. */
SEC("perf_event")
int stdin_tick(struct bpf_perf_event_data *ctx)
{
	if (stdin_pending && sa_user_mode(&ctx->regs))
		stdin_flush_current(SA_STDIN_STALE_NS);
	return 0;
}

#if defined(__TARGET_ARCH_x86)
/* Whether nr is an ia32 syscall tty_read hooks. */
static __always_inline bool sa_nr32_read(long nr)
{
	return nr == SA_NR32_READ || nr == SA_NR32_READV || nr == SA_NR32_PREADV2 ||
	       nr == SA_NR32_SPLICE || nr == SA_NR32_VMSPLICE || nr == SA_NR32_SENDFILE ||
	       nr == SA_NR32_SENDFILE64 || nr == SA_NR32_TEE;
}
#endif

/* Whether nr is a native syscall tty_read hooks. */
static __always_inline bool sa_nr64_read(long nr)
{
	return nr == SA_NR_READ || nr == SA_NR_READV || nr == SA_NR_PREADV2 || nr == SA_NR_SPLICE ||
	       nr == SA_NR_VMSPLICE || nr == SA_NR_SENDFILE || nr == SA_NR_TEE;
}

/* Whether nr is a syscall tty_read hooks, native or ia32 (whose numbers
 * are other native syscalls: those are taken for reads too). */
static __always_inline bool sa_nr_read(long nr)
{
	return sa_nr64_read(nr)
#if defined(__TARGET_ARCH_x86)
	       || sa_nr32_read(nr)
#endif
		;
}

/* The beginning of the reads tty_read_raw sees the end of (sa_read_start). */
SEC("tp_btf/sys_enter")
int BPF_PROG(tty_enter_raw, struct pt_regs *regs, long nr)
{
	struct task_struct *task;
	unsigned long fd, iov, cnt;
	bool compat = false, vec;

#if defined(__TARGET_ARCH_x86)
	if (raw_beside_tp && !tty_raw_all() &&
	    !(bpf_get_current_task_btf()->thread_info.status & SA_TS_COMPAT))
		return 0;
#endif
	if (nr == SA_NR_IO_SUBMIT) {
		task = bpf_get_current_task_btf();
#if defined(__TARGET_ARCH_x86)
		if (!(task->thread_info.status & SA_TS_COMPAT))
			aio_begin(task, regs->si, regs->dx, false);
#else
		aio_begin(task, PT_REGS_PARM2_CORE_SYSCALL(regs), PT_REGS_PARM3_CORE_SYSCALL(regs),
			  false);
#endif
		return 0;
	}
#if defined(__TARGET_ARCH_x86)
	if (nr == SA_NR32_IO_SUBMIT) {
		task = bpf_get_current_task_btf();
		if (task->thread_info.status & SA_TS_COMPAT)
			aio_begin(task, (__u32)regs->cx, (__u32)regs->dx, true);
		return 0;
	}
#endif
	if (!sa_nr_read(nr) || nr == SA_NR_VMSPLICE)
		return 0;
	task = bpf_get_current_task_btf();
#if defined(__TARGET_ARCH_x86)
	compat = task->thread_info.status & SA_TS_COMPAT;
	if (compat) {
		if (!sa_nr32_read(nr) || nr == SA_NR32_VMSPLICE)
			return 0;
		vec = nr == SA_NR32_READV || nr == SA_NR32_PREADV2;
		fd = (__u32)regs->bx;
		iov = (__u32)regs->cx;
		cnt = (__u32)regs->dx;
	} else {
		if (!sa_nr64_read(nr) || nr == SA_NR_VMSPLICE)
			return 0;
		vec = nr == SA_NR_READV || nr == SA_NR_PREADV2;
		fd = regs->di;
		iov = regs->si;
		cnt = regs->dx;
	}
#else
	vec = nr == SA_NR_READV || nr == SA_NR_PREADV2;
	fd = PT_REGS_PARM1_CORE_SYSCALL(regs);
	iov = PT_REGS_PARM2_CORE_SYSCALL(regs);
	cnt = PT_REGS_PARM3_CORE_SYSCALL(regs);
#endif
	/* sendfile(2) reads its second argument. */
	tty_read_begin(task, sa_take_of(nr, compat) == SA_TAKE_SENDFILE ? iov : fd, iov, cnt, vec,
		       compat);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(tty_read_raw, struct pt_regs *regs, long ret)
{
	struct task_struct *task;
	bool vec, compat = false;
	long nr;

	/* Direct loads (typed arguments, a trusted task): this runs on every
	 * syscall, and a probe read costs more than the rest. */
#if defined(__TARGET_ARCH_x86)
	if (raw_beside_tp && !tty_raw_all() &&
	    !(bpf_get_current_task_btf()->thread_info.status & SA_TS_COMPAT))
		return 0;
	nr = regs->orig_ax;
#else
	nr = regs->syscallno;
#endif
	/* A thread gathering bytes of its stdin makes another syscall (one
	 * that failed too): they go first (see "A session's stdin"). Reads
	 * are tty_read's to tell apart. */
	if (stdin_pending && !sa_nr_read(nr)) {
		task = bpf_get_current_task_btf();
		stdin_break(task, NULL, 0, bpf_get_current_pid_tgid());
	}
	if (nr == SA_NR_IO_SUBMIT) {
		task = bpf_get_current_task_btf();
#if defined(__TARGET_ARCH_x86)
		if (!(task->thread_info.status & SA_TS_COMPAT))
#endif
			aio_end(task, ret);
		return 0;
	}
#if defined(__TARGET_ARCH_x86)
	if (nr == SA_NR32_IO_SUBMIT) {
		task = bpf_get_current_task_btf();
		if (task->thread_info.status & SA_TS_COMPAT)
			aio_end(task, ret);
		return 0;
	}
#endif
	if (ret < 0 || !sa_nr_read(nr))
		return 0;
	task = bpf_get_current_task_btf();
	/* vmsplice(2) from a pipe's read end copies out as readv(2) does. */
#if defined(__TARGET_ARCH_x86)
	compat = task->thread_info.status & SA_TS_COMPAT;
	if (compat ? !sa_nr32_read(nr) : !sa_nr64_read(nr))
		return 0;
	vec = compat ? nr == SA_NR32_READV || nr == SA_NR32_PREADV2 || nr == SA_NR32_VMSPLICE :
		       nr == SA_NR_READV || nr == SA_NR_PREADV2 || nr == SA_NR_VMSPLICE;
#else
	vec = nr == SA_NR_READV || nr == SA_NR_PREADV2 || nr == SA_NR_VMSPLICE;
#endif
	/* One call for both ABIs: the verifier goes through tty_read once,
	 * not once for each (655,000 instructions looked at, then 471,000, of
	 * the 1,000,000 it allows: a second and more of the agent's start). */
	return tty_read(task, regs, vec, sa_take_of(nr, compat), compat, ret);
}
