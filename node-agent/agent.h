/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's event loop. Standalone: targets from flags or a file, entries
 * to a JSON-lines sink. Kubernetes: targets from the node's ShellAuditNode,
 * entries through the durable spool to AuditRecords and Events. Owns every
 * piece of the capture engine. */
#ifndef SHELLAUDIT_AGENT_H
#define SHELLAUDIT_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "capture.h"

struct agent_opts {
	const pid_t *pids; /* --target-pid, npids of them */
	size_t npids;
	const char *targets_file; /* re-read when it changes, or NULL */
	const char *output; /* NULL or "-" for stdout */
	uint32_t line_max;
	uint32_t args_max;
	uint32_t ringbuf_bytes;
	/* A directory on a BPF file system keeping capture running while the
	 * agent is down (after a crash); NULL or "": not kept. */
	const char *bpf_dir;
	int no_recovery; /* SHELLAUDIT_NO_LINE_RECOVERY: as on kernels before 6.6 */
	/* Capture what targets read from their terminals (standalone: every
	 * target; Kubernetes mode: the targets whose spec wants it). 0 turns
	 * it off on this node. */
	int terminal;
	enum capture_tty_hook tty_hook; /* --terminal-hook */
	/* Where the agent keeps what outlives it besides the spool (the ELF
	 * files it refused); NULL or "": nothing kept. */
	const char *state_dir;
	/* Where container runtimes keep their state (colon-separated), to find
	 * a container ID's init; NULL: only by cgroup. */
	const char *runtime_roots;
	/* Kubernetes mode, when node_name is set: targets from the node's
	 * ShellAuditNode, entries to the spool and on to the API server. */
	const char *node_name;
	const char *kubeconfig;	/* NULL: in-cluster */
	const char *spool_dir;
	/* The node's Ed25519 signing key, made at first start ([the spool
	 * dir's parent]/node.key). */
	const char *key_file;
	size_t spool_max_bytes;
	int port;		/* /healthz, /readyz, /metrics; 0: off */
	const char *http_addr;	/* their bind address; NULL: all */
	long drain_s;		/* SIGTERM: publish what is spooled for at most this long */
	int batch_entries;	/* AuditRecord at N entries, S bytes or T ms */
	size_t batch_bytes;
	long batch_ms;
	int websocket;		/* watch transport */
	/* Who opened a session (Kubernetes mode): a pending session counts
	 * when received up to window_s before a session's exec; the session
	 * is decided delay_ms after its exec, or, when its pending session
	 * expects the API server's audit log, audit_wait_s at most. */
	long attribution_window_s;
	long attribution_delay_ms;
	long audit_wait_s;
};

/* Runs until SIGINT or SIGTERM. Returns 0, or a negative errno when the
 * capture could not start. */
int agent_run(const struct agent_opts *opts);

#endif
