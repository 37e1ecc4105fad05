/* SPDX-License-Identifier: Apache-2.0 */
/* The BPF side as one object: load the skeleton, program the target map,
 * attach uretprobes, poll the ring buffer. The only user of the skeleton. */
#ifndef SHELLAUDIT_CAPTURE_H
#define SHELLAUDIT_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../bpf/shellaudit.h"

struct capture;
struct bpf_link;

/* The kernel hook of terminal capture (see bpf/shellaudit.bpf.c). */
enum capture_tty_hook {
	CAPTURE_TTY_AUTO, /* opts only: the tracepoints when this kernel has them */
	CAPTURE_TTY_TRACEPOINT, /* syscalls/sys_exit_read, _readv, _preadv2 */
	CAPTURE_TTY_SYS_EXIT, /* the raw tracepoint sys_exit: 32-bit syscalls too */
	CAPTURE_TTY_OFF, /* no terminal capture */
};

struct capture_opts {
	uint32_t line_max; /* bytes of a line kept, <= SA_LINE_CAP - 2 */
	uint32_t args_max; /* bytes of argv kept, <= SA_ARGS_CAP */
	uint32_t ringbuf_bytes; /* power of two, >= page size */
	/* A directory on a BPF file system where the maps and links are
	 * pinned, so capture outlives a crashed agent; NULL: not pinned. */
	const char *pin_dir;
	/* Load without the line-recovery programs, as on kernels before 6.6
	 * (which refuse them): tests of that path. */
	bool no_recovery;
	enum capture_tty_hook tty_hook;
	/* Called (with the handler's ctx) before records handled are
	 * released to the kernel, which then forgets them: what the handler
	 * made of them must then be where the agent's crash cannot lose it
	 * (written to a file). Records handled and not released are read
	 * again by the next agent (capture_skip_handled). NULL: none. */
	void (*before_release)(void *ctx);
};

/* One decoded, size-checked record; pointers are valid during the callback. */
struct capture_event {
	const struct sa_event_hdr *hdr;
	const char *text; /* line bytes, or argv bytes for exec */
	size_t text_len;
	const char *filename; /* exec only */
	size_t filename_len;
	/* exec of a file without a link (SA_F_UNLINKED): its own name, else NULL */
	const char *unlinked;
	size_t unlinked_len;
	uint32_t argc; /* exec only */
	uint32_t stdio;	   /* exec of a session root: SA_STDIO_* */
	int32_t exit_code; /* exit only */
	uint32_t tty; /* terminal reads: the terminal (major << 20 | minor) */
	uint32_t asked; /* terminal reads: bytes the read asked for */
	uint32_t lost; /* terminal reads: bytes read past what text holds */
	/* terminal reads of a session's stdin (SA_F_TTY_STDIN): bytes of it
	 * read before this read and not recorded (past its rate); lines:
	 * readline lines before this one not recorded (past their rate;
	 * with SA_F_TTY_COUNT the record has no line of its own) */
	uint32_t skipped;
	/* io_submit reads (SA_F_TTY_AIO): those of the container before
	 * this one that made no record (past their rate) */
	uint32_t calls;
	const struct sa_ns_event *ns; /* namespace change only */
};

typedef void (*capture_handler_fn)(void *ctx, const struct capture_event *ev);

/* Loads and attaches the BPF programs, or takes over those a previous agent
 * left pinned in opts->pin_dir. On success *out is owned by the caller,
 * freed with capture_close(). Logs why on failure. */
int capture_open(const struct capture_opts *opts, capture_handler_fn fn, void *ctx,
		 struct capture **out);
/* Lets go of the BPF object. What is pinned stays attached and keeps
 * capturing for the next agent, after a clean stop as after a crash;
 * without pins (or after capture_unpin) capture stops here. */
void capture_close(struct capture *c);
/* Removes this agent's pins, so that capture ends with capture_close(). */
void capture_unpin(struct capture *c);
/* Removes every agent build's pinned state under pin_dir, and pin_dir:
 * capture ends on the node. Returns how many states were removed, or a
 * negative errno. */
int capture_uninstall(const char *pin_dir);
/* True when capture_open took over pinned state: the ring buffer holds what
 * was captured while no agent ran, tagged with the previous agent's target
 * ids, and the target map holds its targets until swept. */
bool capture_resumed(const struct capture *c);
/* True when capture_open removed the pinned state of another build or other
 * settings; *unread gets how many events it held that no agent read. */
bool capture_replaced(const struct capture *c, uint64_t *unread);
/* True when this agent's state is pinned (it outlives the agent). */
bool capture_pinned(const struct capture *c);
/* Removes the pinned uprobe links (names "rl-...") keep() does not claim,
 * and the target map entries keep() does not claim. Return the count. */
int capture_sweep_links(struct capture *c, bool (*keep)(const char *pin, void *arg), void *arg);
int capture_sweep_targets(struct capture *c, bool (*keep)(uint64_t mntns, void *arg), void *arg);
/* Removes the rates of streams (a session's stdin, SA_STDIN_STREAMS of
 * them) that can go: idle since before idle_before (CLOCK_MONOTONIC ns)
 * with no count of bytes not recorded, or of a target no longer in the
 * target map. Returns how many were removed, or a negative errno. */
int capture_sweep_streams(struct capture *c, uint64_t idle_before);
/* Reads (set false: -ENOENT when the kernel keeps none) or writes (set
 * true) the rate of stream key (target id << 32 | stdin inode number). */
int capture_stream(struct capture *c, uint64_t key, struct sa_stdin_rate *v, bool set);
/* Reads (set false) or writes (set true) the drop counts last reported,
 * kept in the kernel next to the counters. */
int capture_reported(struct capture *c, uint64_t v[SA_CNT_MAX], bool set);

/* An epoll file descriptor that becomes readable when events are waiting
 * (the agent's capture thread waits on it). */
int capture_fd(struct capture *c);
/* How full the ring buffer is, in parts per 1024 (ringbuf_fill). */
unsigned capture_fill(const struct capture *c);

/* How far the ring buffer's records go: reserved by the programs, and
 * released by capture_drain() (ringbuf_reserved, ringbuf_released; any
 * thread). */
uint64_t capture_reserved(const struct capture *c);
uint64_t capture_released(const struct capture *c);
/* Hands every event already in the buffer to the handler, without waiting,
 * and releases them (see before_release) at least every CAPTURE_CHUNK
 * records and at the end. Returns the number of records read. Not to be
 * called from two threads at once. */
int capture_drain(struct capture *c);
/* Before the first drain of an agent that took over pinned state: the
 * records its predecessor handled and did not release (it died between
 * the two) come first in the ring. handled() gets the first of them
 * (events valid during the call) and sets out[i] for each whose result
 * is kept already (spooled); the records through the last such one are
 * released unhandled, the rest are handled as usual. Returns how many
 * records were skipped. */
int capture_skip_handled(struct capture *c,
			 void (*handled)(const struct capture_event *evs, size_t n, bool *out,
					 void *arg),
			 void *arg);

/* The kernel's target map: mount namespace inode -> target. Removing a
 * target also voids the marks of its tasks. */
int capture_target_add(struct capture *c, uint64_t mntns, const struct sa_target_val *val);
int capture_target_get(struct capture *c, uint64_t mntns, struct sa_target_val *out);
int capture_target_del(struct capture *c, uint64_t mntns);
/* Calls fn for each entry of the target map. */
typedef void (*capture_target_fn)(uint64_t mntns, const struct sa_target_val *v, void *arg);
int capture_targets(struct capture *c, capture_target_fn fn, void *arg);

/* The mark of the task pidfd refers to (see struct sa_mark): set when it
 * has none (1 set now, 0 it had one, or a negative errno), or read (0 or
 * -ENOENT). */
int capture_mark_task(struct capture *c, int pidfd, const struct sa_mark *m);
int capture_task_mark(struct capture *c, int pidfd, struct sa_mark *out);
/* The target id process pid is marked with, or 0 (none, or gone). */
uint32_t capture_target_of_pid(struct capture *c, pid_t pid);

enum capture_probe {
	CAPTURE_READLINE_RET,	/* uretprobe on readline: the line it returns */
	CAPTURE_READLINE_ENTER, /* uprobe on readline: marks calls seen */
	CAPTURE_DEPREP_ENTER,	/* uprobe on rl_deprep_terminal: recovers unseen calls;
				 * cookie: &rl_line_buffer - &rl_deprep_terminal */
	CAPTURE_PREP_ENTER,	/* uprobe on rl_prep_terminal: arms callback-read lines */
	CAPTURE_BIND_X_RET,	/* uretprobe on bash_execute_unix_command: back to readline */
	CAPTURE_BIND_X_ENTER,	/* uprobe on it: a `bind -x` command runs on the line;
				 * cookie: &rl_line_buffer - &bash_execute_unix_command */
};

/* Attaches one of the readline programs to the function at file offset
 * `offset` of the file at `path` (for all processes; the target map
 * filters). With pin (a name starting "rl-" that identifies file, offset
 * and program) and pinning on, a link pinned under that name is taken over
 * (*adopted set) instead, and a new one is pinned. */
int capture_attach_uprobe(struct capture *c, enum capture_probe which, const char *path,
			  uint64_t offset, uint64_t cookie, const char *pin, bool *adopted,
			  struct bpf_link **out);
/* Unpins and detaches. */
void capture_detach(struct bpf_link *link);
/* Lets go of the link: pinned, it stays attached. */
void capture_link_close(struct bpf_link *link);

/* The hook terminal capture uses, decided when capture_open loaded the
 * programs; CAPTURE_TTY_OFF with *why (static or valid until
 * capture_close) saying why not. */
enum capture_tty_hook capture_tty_hook(const struct capture *c, const char **why);
const char *capture_tty_hook_name(enum capture_tty_hook h);
/* Attaches (on) or detaches the terminal hook; attached only while a target
 * wants it, since while it is the kernel sends every syscall of every
 * process through its slower path. With pinning on, pinned links are taken
 * over and new ones pinned. 1 changed, 0 already so, -errno (-EOPNOTSUPP:
 * no hook). */
int capture_tty_set(struct capture *c, bool on);
/* True while terminal capture runs through the raw sys_exit programs in
 * place of the tracepoints, moved there by a 32-bit program in a target
 * (their programs never see its syscalls); until it is detached. */
bool capture_tty_moved(const struct capture *c);

/* Sums of the per-CPU counters, indexed by enum sa_counter. */
int capture_counters(struct capture *c, uint64_t out[SA_CNT_MAX]);

#endif
