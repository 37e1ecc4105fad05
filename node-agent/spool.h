/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's durable spool. Captured entries are appended to an entries
 * journal before anything else happens to them; a batcher turns them into
 * AuditRecords (per container and session, chained per container) in a
 * records journal; the publisher creates the records and Events from the
 * two journals and acknowledges what the API server accepted.
 *
 * Replays are exact: record boundaries depend only on journal contents
 * (entry count and size, and cut markers the spool itself journals for
 * age and session end), and checkpoints in the records journal hold the
 * batcher's state, so re-running the batcher after a crash re-forms the
 * very same records, whose deterministic names then meet AlreadyExists.
 */
#ifndef SHELLAUDIT_SPOOL_H
#define SHELLAUDIT_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "journal.h"

struct sign_key;

struct spool_opts {
	const char *dir;	/* entries/ and records/ journals below it */
	size_t max_bytes;	/* per journal [256 MiB] */
	int batch_entries;	/* a record at this many entries [100] */
	size_t batch_bytes;	/* or this many bytes of entries [256 KiB] */
	long batch_age_ms;	/* or this old [5000] */
	long checkpoint_ms;	/* batcher checkpoints at least this often [2000] */
	/* Signs every record formed (record_build); NULL only in tests. The
	 * key must outlive the spool. */
	const struct sign_key *key;
};

struct spool_stats {
	uint64_t entries, records, checkpoints;
	uint64_t rejected_full;		/* entries refused: spool full */
};

struct spool;

/* Opens the spool and restores the batcher from its last checkpoint.
 * Caller frees *out with spool_close(). */
int spool_open(const struct spool_opts *opts, struct spool **out);
void spool_close(struct spool *s);

/*
 * Appends one entry (an AuditRecord entry object: time, kind, text...) of
 * container cid, session key sk ("" for entries outside a session), with
 * the record identity `id` ({ns, pod, podUID, container, containerID, node,
 * policies, retention}) and session `sess` ({id, pid, start}, or NULL).
 * -ENOSPC when the spool is full: the caller counts it and appends a gap
 * entry once there is room again.
 */
int spool_add(struct spool *s, const char *cid, const char *sk, const cJSON *id,
	      const cJSON *sess, const cJSON *entry);

#define SPOOL_KEY_MAX 64
/* The same with the capture event's identity `key` (shorter than
 * SPOOL_KEY_MAX), kept beside the entry for spool_is_last_key(). */
int spool_add_keyed(struct spool *s, const char *cid, const char *sk, const cJSON *id,
		    const cJSON *sess, const cJSON *entry, const char *key);
/* True when the last item appended (in this run or, after a restart, the
 * journal's tail) is the entry keyed `key`: the one event a process killed
 * between spooling it and acknowledging it to the ring buffer meets twice. */
bool spool_is_last_key(const struct spool *s, const char *key);
/* The session ended: its open batch becomes a record. */
int spool_end_session(struct spool *s, const char *cid, const char *sk);

/* Runs the batcher over what was appended, cuts batches past their age,
 * checkpoints when due, and makes everything durable. Call every loop
 * turn, before publishing. */
int spool_tick(struct spool *s);

/* The next record to publish: *rec (caller frees) and its position; 0, or
 * -ENODATA when none waits. */
int spool_next_record(struct spool *s, cJSON **rec, uint64_t *pos);
/* The record at pos was accepted (or already existed). */
int spool_record_done(struct spool *s, uint64_t pos);

/* The next entry for Events, with its container, identity and position;
 * *item (caller frees) holds {cid, id, e}. -ENODATA when none waits. */
int spool_next_event(struct spool *s, cJSON **item, uint64_t *pos);
int spool_event_done(struct spool *s, uint64_t pos);

void spool_get_stats(const struct spool *s, struct spool_stats *out);
/* Entries and records waiting to be published. */
bool spool_idle(struct spool *s);

#endif
