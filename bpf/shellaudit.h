/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/* Event records shared by bpf/shellaudit.bpf.c and the node agent. Fixed
 * width fields only: the same bytes are read by both sides. */
#ifndef SHELLAUDIT_BPF_H
#define SHELLAUDIT_BPF_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Largest line the kernel side can copy (--max-line is clamped to it). A
 * power of two: the BPF side masks sizes with SA_LINE_CAP - 1 so that the
 * verifier sees a bound. */
#define SA_LINE_CAP 65536
#define SA_LINE_MAX_DEFAULT 4096
/* Bytes of argv (mm->arg_start..arg_end, NUL-separated) copied per exec. */
#define SA_ARGS_CAP 8192
#define SA_ARGS_MAX_DEFAULT 4096
#define SA_FILENAME_CAP 256
/* The name kept of an executed file that has no link (SA_F_UNLINKED). */
#define SA_UNLINKED_CAP 64
#define SA_COMM_LEN 16
#define SA_MAX_TARGETS 4096
/* Streams (a session's stdin, see bpf/shellaudit.bpf.c) whose rate the
 * kernel keeps. */
#define SA_STDIN_STREAMS 8192

/* The rate of a stream, keyed target id << 32 | stdin inode number; key
 * target id << 32 (no stream has inode 0): the rate of the target's
 * terminal reads, io_submit reads and readline lines, and with
 * SA_TTY_SESSION_KEY those of its session's terminal (see
 * bpf/shellaudit.bpf.c). */
struct sa_stdin_rate {
	__u64 tat;     /* GCRA's theoretical arrival time (CLOCK_MONOTONIC): idle from then */
	__u32 skipped; /* bytes not recorded since its last record */
	__u32 aio;     /* io_submit reads with no record since the last one (past the rate) */
	__u32 lines;   /* readline lines not recorded since the last one (past the rate) */
	__u32 pad;
};

enum sa_event_type {
	SA_EV_LINE = 1,
	SA_EV_EXEC = 2,
	SA_EV_EXIT = 3,
	SA_EV_TTY = 4, /* bytes a process read from a terminal */
	SA_EV_NS = 5, /* a marked task's namespaces or root directory changed */
};

/* flags */
#define SA_F_TRUNCATED 0x1 /* line or argv longer than the maximum */
#define SA_F_EOF 0x2 /* readline returned NULL: end of input (Ctrl-D) */
#define SA_F_SESSION_LEADER 0x4 /* exiting task led its session (setsid) */
#define SA_F_FILENAME_TRUNCATED 0x8
/* A line read by a readline call already running when the probes were
 * attached, taken from rl_line_buffer when readline restored the terminal
 * (the uretprobe cannot see that call). An empty recovered line may also
 * have been Ctrl-D, and a line cut short by ^C is recovered as typed. */
#define SA_F_RECOVERED 0x10
/* Terminal reads (SA_EV_TTY): the terminal's mode when the read returned. */
#define SA_F_TTY_CANON 0x20 /* canonical: the line discipline edited the line */
#define SA_F_TTY_NOECHO 0x40 /* echo off (with CANON: a password prompt) */
/* The thread has no readline state: it never called a probed readline, or
 * it is inside a readline call that began before the probes (whose line
 * the recovery programs may send as well). */
#define SA_F_TTY_NO_RL 0x80
/* Exec: the executed file had no link in any directory as it ran (a
 * memfd, a deleted or an O_TMPFILE file); unlinked holds its name. */
#define SA_F_UNLINKED 0x100
/* Terminal reads (SA_EV_TTY): not a terminal but the pipe or socket a
 * session was opened with as its stdin (kubectl exec -i without -t), which
 * its shell reads its commands from (tty is 0). */
#define SA_F_TTY_STDIN 0x200
/* With SA_F_TTY_STDIN: bytes read one by one that the reader followed with
 * something else before a newline (another syscall, a fork, an exec): they
 * end a line. */
#define SA_F_TTY_BREAK 0x400
/* Terminal reads (SA_EV_TTY): splice(2), sendfile(2) or an io_uring read
 * took lost bytes from the terminal, not recorded (len is 0). */
#define SA_F_TTY_MOVED 0x800
/* Terminal reads (SA_EV_TTY): an io_submit(2) (Linux AIO) read of the
 * terminal of up to count bytes, not recorded (len is 0): how many it
 * took goes to the AIO ring, not to the syscall. */
#define SA_F_TTY_AIO 0x2000
/* Line (SA_EV_LINE): the line being edited when a `bind -x` command ran
 * on it from inside readline, as it stood then (the command may run it,
 * change it or leave it; readline returns what is left, if anything). */
#define SA_F_BIND_X 0x1000
/* Exec (x86): the new program is 32-bit (ia32), whose syscalls the
 * syscall tracepoints never see. */
#define SA_F_EXEC_IA32 0x4000
/* Terminal reads (SA_EV_TTY): no read of its own (len, count and tty are
 * 0), only what the container's terminal rate counted and did not report
 * yet (skipped, calls), at the exit of one of its processes; lines
 * (SA_EV_LINE): no line (len 0), only the readline lines it counted
 * (skipped). */
#define SA_F_TTY_COUNT 0x8000
/* Terminal reads (SA_EV_TTY): reads of this thread before this one were
 * past the container's terminal rate, not recorded: its line ends there. */
#define SA_F_TTY_CUT 0x10000
/* Exit (SA_EV_EXIT): the last thread of a process that made no process in
 * its life (SA_MARK_NO_FORK): nothing it ran lives on. */
#define SA_F_EXIT_NO_FORK 0x20000
/* Exec: the process may have made processes before (its mark lacks
 * SA_MARK_NO_FORK): they may run the program it ran until now. */
#define SA_F_EXEC_FORKED 0x40000

/* Indexes of the per-CPU counters in the `counters` map. */
enum sa_counter {
	SA_CNT_LINES = 0,
	SA_CNT_EXECS,
	SA_CNT_EXITS,
	SA_CNT_DROP_LINE, /* ring buffer full */
	SA_CNT_DROP_EXEC,
	SA_CNT_DROP_EXIT,
	SA_CNT_READ_ERR, /* user memory could not be read */
	SA_CNT_NS, /* namespace change events */
	SA_CNT_DROP_NS,
	/* A task of an audited container that could not be marked (no kernel
	 * memory for its task storage): it is followed while it stays in the
	 * container's mount namespace, not after it leaves. */
	SA_CNT_MARK_FAIL,
	/* A task in a mount namespace whose inode is a target's key but whose
	 * id is not the target's (the inode was reused after the target's
	 * container ended): not taken for the target. */
	SA_CNT_STALE,
	SA_CNT_TTY_READS, /* terminal reads sent */
	SA_CNT_DROP_TTY,
	SA_CNT_MAX,
};

/*
 * How a task is first recognised as part of a container: by the inode of
 * its mount namespace, the key of `targets`. On a hybrid cgroup v1 host
 * bpf_get_current_cgroup_id() is the id in the v2 hierarchy, where runtimes
 * on v1 do not create per-container cgroups, and unshare/chroot containers
 * have none at all; every container (and every container of a pod: each
 * has its own root) has its own mount namespace, and `kubectl exec`/nsenter
 * join it. Once recognised, a task carries a mark (struct sa_mark) that its
 * children inherit, so leaving the namespace does not leave the audit.
 */
struct sa_target_key {
	__u64 mntns;
};

struct sa_target_val {
	__u32 id; /* the agent's index of the container */
	__u32 init; /* tgid of the container's init: not a session root */
	/* The id of the mount namespace (never reused, unlike its inode); 0
	 * where the kernel has none. A task is recognised only when its
	 * namespace's id is this one. */
	__u64 nsid;
	__u32 flags; /* SA_TARGET_* */
	__u32 pad;
};

/* sa_target_val.flags */
#define SA_TARGET_TERMINAL 0x1 /* capture terminal reads */

/* The namespaces a task is in, as /proc/PID/ns names them (pid and time:
 * the _for_children ones, which unshare and setns change), and its root
 * directory (chroot, pivot_root). */
enum sa_ns_type {
	SA_NS_MNT,
	SA_NS_PID,
	SA_NS_NET,
	SA_NS_UTS,
	SA_NS_IPC,
	SA_NS_USER,
	SA_NS_CGROUP,
	SA_NS_TIME,
	SA_NS_COUNT,
};
#define SA_NS_ROOT SA_NS_COUNT /* bit of the root directory in sa_ns_event.changed */

struct sa_nsset {
	__u32 ns[SA_NS_COUNT]; /* inode numbers */
	/* The root directory's device, as the kernel keeps it (major << 20 |
	 * minor), and inode. */
	__u32 root_dev;
	__u32 pad;
	__u64 root_ino;
};

/*
 * The mark of a task of an audited container, in the task's storage: set
 * when the task is recognised (or by the agent for the tasks that exist
 * when the container becomes a target) and copied to every task it
 * creates. Valid while `targets` maps `key` to the same id and nsid: a
 * target removed takes the marks of its tasks with it.
 */
#define SA_MARK_UNSEEN 0x1 /* set by the agent: `seen` is taken at the next event */
/* stdin_ino and session_tty were taken, at the session root's first exec
 * seen (the root of a mark the agent made: session_tty at its first
 * terminal read): its later execs keep them (a root that execs again with
 * the pipe moved to another fd and /dev/null as stdin keeps its session's
 * pipe captured). */
#define SA_MARK_STDIN_SET 0x2
/* A terminal read of the task was past its rate: its next
 * record says so (SA_F_TTY_CUT). */
#define SA_MARK_TTY_CUT 0x4
/* The process (its leader's mark) made no process in its life: set when
 * its marked parent made it, or when it is first seen at its exec (what it
 * ran before was not seen as the container's), cleared when any of its
 * threads makes a process (or a child's mark cannot be made). Not set
 * again by an exec (what it made before runs the program it ran then). A
 * mark made any other way lacks it. */
#define SA_MARK_NO_FORK 0x8
struct sa_mark {
	__u32 target; /* sa_target_val.id */
	/* The session root: the tgid of the task that entered the container
	 * from outside (runc exec's child, nsenter) and that this one descends
	 * from; 0 for the container's own processes (its init's tree). */
	__u32 root;
	__u32 flags; /* SA_MARK_* */
	/* The inode number of the pipe or socket its session root was opened
	 * with as stdin (pipefs and sockfs number inodes from one 32-bit
	 * counter), set at the root's exec; 0: none. Reads from it are
	 * captured as a terminal's are (SA_F_TTY_STDIN). */
	__u32 stdin_ino;
	__u64 key; /* the target's key: the container's mount namespace inode */
	__u64 nsid; /* the target's nsid */
	/* When the session root started: clock ticks since boot, as in
	 * /proc/PID/stat. */
	__u64 root_start;
	struct sa_nsset seen; /* the namespaces and root the task was last seen in */
	/* The session's terminal: its root's controlling terminal at the
	 * root's first exec (the kernel's struct tty_struct address, as a
	 * name only), set with stdin_ino (SA_MARK_STDIN_SET); 0: none, or not
	 * known (a task the agent marked, but its session's root, which takes
	 * it at its first terminal read). Its reads have a rate of their own
	 * (see tty_admit). */
	__u64 session_tty;
};

/* Fields common to every event. Times are CLOCK_MONOTONIC nanoseconds;
 * pids are in the initial pid namespace. */
struct sa_event_hdr {
	__u32 type;
	__u32 flags;
	__u64 ts;
	__u64 mntns;
	__u64 cgroup;
	__u32 pid; /* thread id */
	__u32 tgid; /* process id */
	__u32 ppid; /* tgid of the real parent */
	__u32 uid;
	__u32 sid; /* pid of the session leader (see shellaudit.bpf.c) */
	__u32 target; /* sa_target_val.id */
	char comm[SA_COMM_LEN];
	/* From the mark: what the container was recognised by (checked by the
	 * agent against its target) and the task's session root. */
	__u64 nsid;
	__u64 root_start;
	__u32 root;
	__u32 pad;
};

struct sa_line_event {
	struct sa_event_hdr hdr;
	__u32 len; /* bytes in line, no NUL */
	/* Readline lines of its rate not recorded before this one (past the
	 * rate); with SA_F_TTY_COUNT the record carries this count only. */
	__u32 skipped;
	char line[SA_LINE_CAP];
};

/* sa_exec_event.stdio, set for a session root's own exec (what it was
 * opened with, to match it to what the API server admitted). */
#define SA_STDIO_KNOWN 0x1  /* the fields below were read */
#define SA_STDIO_TTY 0x2    /* it has a controlling terminal */
#define SA_STDIO_IN_SHIFT 8 /* bits 8..15: what fd 0 is, enum sa_stdin */

enum sa_stdin {
	SA_STDIN_UNKNOWN = 0,
	SA_STDIN_NONE = 1, /* /dev/null, or closed */
	SA_STDIN_PIPE = 2, /* a pipe, FIFO or socket */
	SA_STDIN_TTY = 3,  /* a terminal */
	SA_STDIN_OTHER = 4,
};

struct sa_exec_event {
	struct sa_event_hdr hdr;
	__u32 argc; /* from the kernel, may exceed what args holds */
	__u32 args_len; /* bytes in args */
	__u32 filename_len;
	__u32 stdio; /* SA_STDIO_* */
	__u32 unlinked_len; /* SA_F_UNLINKED: bytes in unlinked */
	__u32 pad;
	/* SA_F_UNLINKED: the file's own name (memfd:NAME for a memfd) */
	char unlinked[SA_UNLINKED_CAP];
	char filename[SA_FILENAME_CAP];
	char args[SA_ARGS_CAP]; /* NUL-separated, not NUL-terminated when truncated */
};

struct sa_exit_event {
	struct sa_event_hdr hdr;
	__s32 exit_code; /* as wait(2) reports it */
	__u32 pad;
};

/* How a namespace change was seen. */
enum sa_ns_how {
	/* At the task's next event after unshare(2), setns(2), chroot(2) or
	 * pivot_root(2): which one cannot be told apart there. */
	SA_NS_CHANGED = 1,
	/* At clone(2)/clone3(2): the new task is in other namespaces than its
	 * creator (CLONE_NEW* flags). */
	SA_NS_CLONED = 2,
	/* By the agent, when the container became a target: the process was
	 * already in other namespaces than the container's init. */
	SA_NS_FOUND = 3,
};

#define SA_ROOT_NAME_CAP 64

struct sa_ns_event {
	struct sa_event_hdr hdr; /* the task that changed, or the creator */
	__u32 how; /* enum sa_ns_how */
	__u32 changed; /* bit i: namespace i differs; bit SA_NS_ROOT: the root */
	__u32 child; /* SA_NS_CLONED: the new task's pid */
	__u32 pad;
	struct sa_nsset from, to;
	/* The last component of the new root directory's path, NUL-terminated. */
	char root_name[SA_ROOT_NAME_CAP];
};

/* Bytes of one terminal read kept (the tty layer's read buffer is 4096). */
#define SA_TTY_CAP 4096
/* Of a read of a session's stdin (SA_F_TTY_STDIN): a pipe holds 64 KiB
 * unless its writer made it larger. */
#define SA_STDIN_CAP 65536

/* What a process of a target read from a terminal (a pty slave, /dev/tty or
 * /dev/console), except what readline was reading: see shellaudit.bpf.c.
 * The record is only as long as the read needs (size classes up to
 * SA_TTY_CAP bytes of data). */
struct sa_tty_event {
	struct sa_event_hdr hdr;
	__u32 len; /* bytes in data */
	/* bytes the read returned past SA_TTY_CAP (SA_STDIN_CAP for a
	 * stdin) (SA_F_TRUNCATED) */
	__u32 lost;
	__u32 count; /* bytes asked for, at most 2^32 - 1 */
	__u32 tty;   /* the terminal: major << 20 | minor; 0 with SA_F_TTY_STDIN */
	/* SA_F_TTY_STDIN: bytes of the stream read since its last record and
	 * not recorded (past its rate, see shellaudit.bpf.c); else bytes of
	 * the container's terminals read before this one and not recorded
	 * (past their rate). */
	__u32 skipped;
	/* SA_F_TTY_AIO: io_submit reads of terminals and stdins in the
	 * container, before this one, that made no record (past their rate). */
	__u32 calls;
	char data[];
};

/*
 * The layout both compilers must agree on: clang -target bpf compiles this
 * header into the programs, the host's compiler into the agent, which reads
 * the records and the maps' values by these offsets. A field added, moved
 * or resized fails both builds here, not the decoding at run time. Implicit
 * padding is spelled out (pad): the offsets below have no holes.
 */
#define SA_ASSERT_SIZE(type, size)                                                                 \
	_Static_assert(sizeof(struct type) == (size), "struct " #type ": size changed")
#define SA_ASSERT_AT(type, field, off)                                                             \
	_Static_assert(__builtin_offsetof(struct type, field) == (off),                            \
		       "struct " #type ": " #field " moved")

SA_ASSERT_SIZE(sa_stdin_rate, 24);
SA_ASSERT_AT(sa_stdin_rate, skipped, 8);
SA_ASSERT_AT(sa_stdin_rate, aio, 12);
SA_ASSERT_AT(sa_stdin_rate, lines, 16);

SA_ASSERT_SIZE(sa_target_key, 8);
SA_ASSERT_SIZE(sa_target_val, 24);
SA_ASSERT_AT(sa_target_val, init, 4);
SA_ASSERT_AT(sa_target_val, nsid, 8);
SA_ASSERT_AT(sa_target_val, flags, 16);

SA_ASSERT_SIZE(sa_nsset, 48);
SA_ASSERT_AT(sa_nsset, root_dev, 32);
SA_ASSERT_AT(sa_nsset, root_ino, 40);

SA_ASSERT_SIZE(sa_mark, 96);
SA_ASSERT_AT(sa_mark, root, 4);
SA_ASSERT_AT(sa_mark, flags, 8);
SA_ASSERT_AT(sa_mark, stdin_ino, 12);
SA_ASSERT_AT(sa_mark, key, 16);
SA_ASSERT_AT(sa_mark, nsid, 24);
SA_ASSERT_AT(sa_mark, root_start, 32);
SA_ASSERT_AT(sa_mark, seen, 40);
SA_ASSERT_AT(sa_mark, session_tty, 88);

SA_ASSERT_SIZE(sa_event_hdr, 96);
SA_ASSERT_AT(sa_event_hdr, flags, 4);
SA_ASSERT_AT(sa_event_hdr, ts, 8);
SA_ASSERT_AT(sa_event_hdr, mntns, 16);
SA_ASSERT_AT(sa_event_hdr, cgroup, 24);
SA_ASSERT_AT(sa_event_hdr, pid, 32);
SA_ASSERT_AT(sa_event_hdr, tgid, 36);
SA_ASSERT_AT(sa_event_hdr, ppid, 40);
SA_ASSERT_AT(sa_event_hdr, uid, 44);
SA_ASSERT_AT(sa_event_hdr, sid, 48);
SA_ASSERT_AT(sa_event_hdr, target, 52);
SA_ASSERT_AT(sa_event_hdr, comm, 56);
SA_ASSERT_AT(sa_event_hdr, nsid, 72);
SA_ASSERT_AT(sa_event_hdr, root_start, 80);
SA_ASSERT_AT(sa_event_hdr, root, 88);

SA_ASSERT_SIZE(sa_line_event, 104 + SA_LINE_CAP);
SA_ASSERT_AT(sa_line_event, len, 96);
SA_ASSERT_AT(sa_line_event, skipped, 100);
SA_ASSERT_AT(sa_line_event, line, 104);

SA_ASSERT_SIZE(sa_exec_event, 120 + SA_UNLINKED_CAP + SA_FILENAME_CAP + SA_ARGS_CAP);
SA_ASSERT_AT(sa_exec_event, argc, 96);
SA_ASSERT_AT(sa_exec_event, args_len, 100);
SA_ASSERT_AT(sa_exec_event, filename_len, 104);
SA_ASSERT_AT(sa_exec_event, unlinked_len, 112);
SA_ASSERT_AT(sa_exec_event, unlinked, 120);
SA_ASSERT_AT(sa_exec_event, filename, 120 + SA_UNLINKED_CAP);
SA_ASSERT_AT(sa_exec_event, args, 120 + SA_UNLINKED_CAP + SA_FILENAME_CAP);

SA_ASSERT_SIZE(sa_exit_event, 104);
SA_ASSERT_AT(sa_exit_event, exit_code, 96);

SA_ASSERT_SIZE(sa_ns_event, 208 + SA_ROOT_NAME_CAP);
SA_ASSERT_AT(sa_ns_event, how, 96);
SA_ASSERT_AT(sa_ns_event, changed, 100);
SA_ASSERT_AT(sa_ns_event, child, 104);
SA_ASSERT_AT(sa_ns_event, from, 112);
SA_ASSERT_AT(sa_ns_event, to, 160);
SA_ASSERT_AT(sa_ns_event, root_name, 208);

/* The data follows the fixed part: the record's size is 120 + len. */
SA_ASSERT_SIZE(sa_tty_event, 120);
SA_ASSERT_AT(sa_tty_event, len, 96);
SA_ASSERT_AT(sa_tty_event, lost, 100);
SA_ASSERT_AT(sa_tty_event, count, 104);
SA_ASSERT_AT(sa_tty_event, tty, 108);
SA_ASSERT_AT(sa_tty_event, skipped, 112);
SA_ASSERT_AT(sa_tty_event, data, 120);

#undef SA_ASSERT_SIZE
#undef SA_ASSERT_AT

#endif
