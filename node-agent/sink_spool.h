/* SPDX-License-Identifier: Apache-2.0 */
/* The Kubernetes agent's sink: entries of targeted containers, redacted by
 * their rules, as typed (or escaped and marked so), into the durable spool
 * as AuditRecord entries. Its flush writes the gap entries of what the full
 * spool (or a held container's share of it) refused, once there is room
 * (and the hold has ended): call it every loop turn. */
#ifndef SHELLAUDIT_SINK_SPOOL_H
#define SHELLAUDIT_SINK_SPOOL_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "capture.h"
#include "export.h"
#include "redact.h"
#include "sink.h"
#include "spool.h"

/* What the sink needs to know of one target, by container ID (the name the
 * capture engine gives its entries). */
struct sink_spool_target {
	const cJSON *id;	/* record identity: ns, pod, podUID, container,
				 * containerID, node, policies, retention, events */
	const struct redact_set *redact;
	bool readline, exec, terminal;	/* what the policies capture */
	bool exec_sessions;		/* only the execs with a session root */
	const char *id_text;		/* id as jsontext_print gives it, printed
					 * once for all its entries; NULL: per entry */
};

typedef const struct sink_spool_target *(*sink_spool_lookup_fn)(const char *container, void *arg);

struct sink_spool_stats {
	uint64_t entries;
	uint64_t again;			/* of which execs folded with no entry made */
	uint64_t dropped_full;		/* entries the full spool refused */
	uint64_t dropped_held;		/* of which past a held container's share */
	uint64_t dropped_failed;	/* execs of folds the spool could not write */
	uint64_t withheld;		/* entries whose redaction could not finish */
	uint64_t gaps;			/* gap entries written */
	uint64_t pending;		/* containers and sessions whose losses wait for room */
	uint64_t lost_unattributed;	/* losses past SINK_SPOOL_PENDING_MAX: the agent
					 * reports them in every chain */
	uint64_t export_failed;		/* entries not exported: out of memory */
};

/* Losses wait for room in the spool per container and session: at most
 * SINK_SPOOL_PENDING_SESSIONS sessions (past them, a session's losses count
 * for its container outside sessions, so that a tenant making sessions
 * cannot grow the table) and SINK_SPOOL_PENDING_MAX keys in all (past them,
 * lost_unattributed). */
#define SINK_SPOOL_PENDING_SESSIONS 1024
#define SINK_SPOOL_PENDING_MAX 4096

/* Who opened an entry's session (root, root_start: its session root, 0 for
 * the container's own processes): 0 with *attr the attribution to journal
 * with it (NULL: none); 1 when not decided yet: the entry is journaled
 * awaiting root (filled, e.g. "812-4471"), whose decision comes with
 * sink_spool_attribute(). */
typedef int (*sink_spool_attr_fn)(void *arg, const char *cid, const cJSON *id, uint32_t root,
				  uint64_t root_start, const cJSON **attr, char *root_key,
				  size_t cap);

/* The spool and the lookup's targets stay the caller's. Caller frees with
 * sink_close(). */
int sink_spool_open(struct spool *sp, sink_spool_lookup_fn lookup, void *arg, struct sink **out);
void sink_spool_get_stats(const struct sink *base, struct sink_spool_stats *out);
/* Entries of sessions carry who opened them (fn), from now on. */
void sink_spool_attribution(struct sink *sink, sink_spool_attr_fn fn, void *arg);
/* The decision for root of container cid (see spool_attribute()); with an
 * export, also a line of kind "attribution" whose session names root as
 * "awaiting", as the exported entries that awaited it do. */
int sink_spool_attribute(struct sink *sink, const char *cid, const char *root, const cJSON *id,
			 const cJSON *attr);
/* Every entry spooled from now on is also written to x (NULL: none), which
 * stays the caller's and must outlive the sink. */
void sink_spool_set_export(struct sink *base, struct export *x);
/* Sets out[i] for each of the n events whose entry is in the spool already
 * (capture_skip_handled's question, after a restart). */
void sink_spool_handled(struct sink *base, const struct capture_event *evs, size_t n, bool *out);
/* Whether the records of a container are held (nodecfg_held). While it
 * is held, a container adds entries only while its entries (those spooled
 * before the hold included) hold less than SINK_SPOOL_HOLD_PCT of the
 * spool's bound, so that a held flood leaves the rest of the spool to the
 * other containers (held or not) and to the decisions on who opened their
 * sessions; past it its entries are lost and counted as the full spool's
 * are (per container and session, stats.dropped_full and dropped_held),
 * and their gap entry waits until the hold ends. Exported entries are
 * written all the same. */
#define SINK_SPOOL_HOLD_PCT 50
/* Any container adds entries only while its entries hold less than this
 * much of the spool's bound: one pod's flood, its records not published
 * yet, leaves the rest to the others; past it they are lost and counted
 * as the full spool's are. */
#define SINK_SPOOL_SHARE_PCT 75
typedef bool (*sink_spool_hold_fn)(const char *container, void *arg);
void sink_spool_on_hold(struct sink *base, sink_spool_hold_fn fn, void *arg);
/* Appends a gap entry to the target's stream (events lost before they
 * reached the spool: ring buffer full, spool full). */
int sink_spool_gap(struct sink *base, const char *container, uint64_t count, const char *why);
/* Ends the container's stream: an audit_stopped entry saying why auditing
 * stopped while the container still runs (identity id, as a target's),
 * and a cut of its batch outside sessions, so that the entry is in a
 * record now and the publisher raises the Warning Event AuditStopped. */
int sink_spool_stopped(struct sink *base, const char *container, const cJSON *id, const char *why);

#endif
