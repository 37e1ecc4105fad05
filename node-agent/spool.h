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
 * batcher's state (open batches by reference: where they start in the
 * entries journal), so re-running the batcher after a crash re-forms the
 * very same records, whose deterministic names then meet AlreadyExists.
 *
 * Faults end in gaps, never in wedges. A corrupt entry becomes a gap entry
 * in its container session's batch when its damaged bytes still name one
 * that is open (with the same identity); else it is counted
 * (stats.corrupt_unattributed) for the agent to report in every chain. A
 * corrupt record is formed again from the entries journal, by the batcher
 * re-run from the checkpoint before it. A checkpoint that cannot be written
 * never stops syncing and acknowledging: an older one serves.
 *
 * Chains resume (opts.resume): the first time the batcher meets a container
 * it holds no chain of (a new container, or a spool that was wiped), it
 * waits until the caller has asked the API server for that chain's newest
 * record (spool_wanted_chain, spool_seed_chain); the chain goes on from
 * there, so that it still verifies.
 *
 * Attribution (who opened a session) is decided a moment after the session
 * starts, and every record of a session must say the same. Entries spooled
 * before the decision are journaled awaiting it (the session root's key
 * beside them); the decision is journaled after them (spool_attribute) and
 * known at once. The batcher does not pass an awaiting entry before its
 * decision: it then puts the decision in the entry's session (and so in its
 * records); the Events of those entries wait for it too, and name it. The
 * wait holds record forming for every container (one order for the whole
 * journal is what keeps replays exact); it is bounded by the decider, and
 * by the spool itself, which journals "no decision" after await_max_ms.
 * Decisions are kept in memory from the entries journal's acknowledged
 * start on (a replay, a restored batch or a record formed again after a
 * corrupt region meets their awaiting entries again), and a decision the
 * batcher or the Events wait for goes in even when the spool is full (it
 * frees room: journal_append_reserved).
 */
#ifndef SHELLAUDIT_SPOOL_H
#define SHELLAUDIT_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "journal.h"

struct sign_key;

#define SPOOL_AWAIT_MAX_MS 30000

struct spool_opts {
	const char *dir;	/* entries/ and records/ journals below it */
	size_t max_bytes;	/* per journal [256 MiB] */
	size_t segment_bytes;	/* per journal segment [4 MiB] */
	int batch_entries;	/* a record at this many entries [100] */
	size_t batch_bytes;	/* or this many bytes of entries [256 KiB] */
	long batch_age_ms;	/* or this old [1000] */
	long checkpoint_ms;	/* batcher checkpoints at least this often [2000] */
	/* The entries journal is synced at most this often [0: every tick]:
	 * under a flood, entries that came in a burst of turns share one
	 * fdatasync (spool_sync_wait_ms says when the next is due). */
	long sync_gap_ms;
	/* The same while every entry not yet synced is one no Event is
	 * wanted for (opts.event_wanted), decisions aside [sync_gap_ms]: no
	 * Event waits for their sync, so an exec flood need not sync the
	 * entries journal at the Events' pace. Whatever the gap, the entries
	 * are synced before a record formed of them, or a checkpoint, is
	 * (spool_tick): nothing is published before its entries are durable. */
	long sync_quiet_gap_ms;
	long await_max_ms;	/* an attribution not decided this long is "none"
				 * [SPOOL_AWAIT_MAX_MS] */
	/* Identical execs within this window become one entry (aggregate.h)
	 * [10000]; negative: never. */
	long aggregate_ms;
	/* Signs every record formed (record_build); NULL only in tests. The
	 * key must outlive the spool. */
	const struct sign_key *key;
	/* Chains of containers the spool has not seen start where the API
	 * server's records end (see above); false: at sequence 0. */
	bool resume;
	/* Chains kept at most when they resume [4096]: past it, chains with
	 * nothing open whose records are all published are forgotten (the
	 * API server's head brings one back when it is used again). */
	size_t max_chains;
	/* Whether an entry (of identity id) may become an Event [NULL: all
	 * may]. Those it says no for are journaled marked, and
	 * spool_next_event passes them without parsing them. */
	bool (*event_wanted)(const cJSON *id, const cJSON *entry);
	/* fdatasync(2) of both journals [NULL]; for unit tests. */
	int (*datasync)(int fd);
};

struct spool_stats {
	uint64_t entries, records, checkpoints;
	uint64_t records_waiting;	/* formed and not yet published */
	uint64_t rejected_full;		/* entries refused: spool full */
	uint64_t corrupt;		/* corrupt regions met in the entries journal */
	uint64_t corrupt_gaps;		/* of which became gap entries in their chain */
	uint64_t corrupt_unattributed;	/* of which no container session could be told */
	uint64_t records_regenerated;	/* records formed again after a corrupt region */
	uint64_t records_lost;		/* records that could not be (their chains show
					 * a missing sequence) */
	uint64_t checkpoint_failures;	/* checkpoints not written (older ones serve) */
	uint64_t seeds;			/* chains started from the API server's head */
	uint64_t undecided;		/* session roots no decision came for within
					 * await_max_ms: journaled Unattributed */
	uint64_t folds_lost;		/* folded execs whose item could not be written
					 * (spool_take_lost_folds) */
	struct journal_stats ej, rj;	/* the journals' own (torn tails, sync failures,
					 * cursor resets) */
};

struct spool;

/* Opens the spool and restores the batcher from its last checkpoint.
 * Caller frees *out with spool_close(). */
int spool_open(const struct spool_opts *opts, struct spool **out);
void spool_close(struct spool *s);

/* The execs of folds (see spool_gather) whose item could not be written (a
 * disk error, no memory: the gather's write returned it): fn is called once
 * per lost fold with its container, session key, identity, session, the
 * attribution its execs awaited (root, or NULL), how many execs and the
 * time of its first, or with cid NULL (and count only)
 * for those it could not keep apart; then they are forgotten. The caller
 * makes them a gap in their chains. */
typedef void (*spool_lost_fn)(void *arg, const char *cid, const char *sk, const cJSON *id,
			      const cJSON *sess, const char *root, uint64_t count,
			      const char *when);
void spool_take_lost_folds(struct spool *s, spool_lost_fn fn, void *arg);

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
/* The same for an entry of a session whose attribution is not decided
 * yet: root names the session's root ("pid-start"); the batcher waits for
 * spool_attribute() of (cid, root). Root NULL: an entry of no such wait.
 * id_text, when not NULL, is id as jsontext_print gives it (a caller that
 * adds many entries of one identity prints it once). */
int spool_add_awaiting(struct spool *s, const char *cid, const char *sk, const cJSON *id,
		       const char *id_text, const cJSON *sess, const cJSON *entry, const char *key,
		       const char *root);
/* Execs folded while the caller gathers (see spool_gather): in at most
 * this many groups at once, each a fold. */
#define SPOOL_FOLDS_MAX 8
/* The fold the last spool_add_awaiting put its exec into, as a token for
 * spool_fold_again (the fold's place is (token - 1) % SPOOL_FOLDS_MAX);
 * 0 when it was journaled as it is. */
uint64_t spool_fold_token(const struct spool *s);
/* One more exec, with key and time (as its entry's "key" and "time" would
 * be), into the fold of token, for a caller that knows it to be the same
 * exec as that fold's last in all but its pid, ppid and time (the same
 * container session, attribution and identity, the same bytes): what
 * spool_add_awaiting would have done with its entry, without the entry.
 * 1 when folded; 0 when the fold is gone (written since), full, or past
 * the aggregation window: the caller adds the entry as usual. */
int spool_fold_again(struct spool *s, uint64_t token, const char *key, const char *time);
/* Journals the attribution of the sessions of root (cid's): attr is the
 * attribution object, id the record identity. Their awaiting entries go on
 * with it, and the publisher makes a SessionOpened Event of it. */
int spool_attribute(struct spool *s, const char *cid, const char *root, const cJSON *id,
		    const cJSON *attr);
/* Calls fn for each root with awaiting entries and no decision (after a
 * restart: the agent that would have decided is gone), with an identity of
 * its container. */
void spool_undecided(struct spool *s,
		     void (*fn)(const char *cid, const char *root, const cJSON *id, void *arg),
		     void *arg);

/* True when the last item appended (in this run or, after a restart, the
 * journal's tail) is the entry keyed `key`: the one event a process killed
 * between spooling it and acknowledging it to the ring buffer meets twice. */
bool spool_is_last_key(const struct spool *s, const char *key);
/* Gathering (on): entries added are kept in memory and written together
 * when it ends (off) or at spool_write_gathered, not one write each; the caller
 * gathers only what it can have again after its death (ring buffer records
 * it has not released). Meanwhile identical execs of a container session
 * that no Event is wanted for (keyed, not awaiting an attribution, of an
 * identity whose execs fold) are folded as the batcher folds them
 * (aggregate.h) and journaled as one entry item per fold, the items naming
 * every exec's key in the order they came (spool_find_keys finds them all;
 * of a write cut short, the first ones): the records count every exec as
 * they would (a fold counts as one entry where a batch is cut at
 * batch_entries), and the journal holds an item per exec and gather, not
 * per exec. */
int spool_gather(struct spool *s, bool on);
/* Writes what was gathered (to the page cache: safe from the agent's
 * death); gathering goes on. */
int spool_write_gathered(struct spool *s);
/* Segments of the entries journal that spool_find_keys reads: the one
 * this run started and the two before. */
#define SPOOL_TAIL_SEGMENTS 3
/* Sets found[i] for each of the n keys an entry of the journal's last
 * segments carries (spool_add_keyed's key; a key ending "-t" matches its
 * parts "-tN" too). Reads up to SPOOL_TAIL_SEGMENTS segments: for a start,
 * not for every entry. */
void spool_find_keys(struct spool *s, const char *const *keys, size_t n, bool *found);
/* The session ended: its open batch becomes a record. */
int spool_end_session(struct spool *s, const char *cid, const char *sk);

/* Runs the batcher over what was appended, cuts batches past their age,
 * checkpoints when due, and makes everything durable (the entries journal
 * once sync_gap_ms, or sync_quiet_gap_ms, passed since it last was, and
 * before the records journal when a record or checkpoint was added to
 * it). Call every loop
 * turn, before publishing. A failure of one step (say a checkpoint) does
 * not skip the next (syncing, acknowledging): the first error is
 * returned. */
int spool_tick(struct spool *s);

/* Gives back what a burst grew and the spool keeps for the next one (its
 * journals' copies of recent items, the print buffer): for idle times.
 * Returns the bytes given back. */
size_t spool_trim(struct spool *s);

/* How long the next spool_tick may wait to sync what is not yet synced
 * (opts.sync_gap_ms): 0 and up, or -1 when all is synced. */
long spool_sync_wait_ms(const struct spool *s);

/* Syncs the entries journal when spool_sync_wait_ms says it is due (0),
 * between two spool_ticks: a publish step that outlasts sync_gap_ms (a
 * record's request under a flood) must not keep the Events waiting for
 * the sync that hands them out. 1 synced, 0 not due, or the sync's error
 * (the next spool_tick tries again, and says so). */
int spool_sync_due(struct spool *s);

/* The chain the batcher waits for (opts.resume): 1 with the container ID
 * and its record identity (both valid until the next spool call), 0 when
 * it waits for none. */
int spool_wanted_chain(struct spool *s, const char **cid, const cJSON **id);

/* The newest record of a chain, as the API server holds it. */
struct spool_head {
	uint64_t seq;
	const char *digest;	/* its spec.digest */
	const char *kept_until;	/* record_kept_until() of it, or NULL */
};

/* The chain of cid starts after head (NULL: the API server holds no record
 * of it: at sequence 0). Checkpointed and synced before the batcher forms
 * a record of it, so that a replay forms the same. */
int spool_seed_chain(struct spool *s, const char *cid, const struct spool_head *head);

/* 8 hex digits made at random when the spool's directory was made, kept
 * in it: what a spool derives names from (the Events' follow positions in
 * the entries journal) differs from a wiped spool's that had the same
 * positions. */
#define SPOOL_EPOCH_LEN 8
const char *spool_epoch(const struct spool *s);

/* The key that signs the spool's records (opts.key). */
const struct sign_key *spool_signing_key(const struct spool *s);

/* The next record to publish: *rec (caller frees) and its position; 0, or
 * -ENODATA when none waits. Only what is durable is handed out. */
int spool_next_record(struct spool *s, cJSON **rec, uint64_t *pos);

/* A pass over the records waiting, in spool order, that passes over the
 * chains the caller says wait (a hold, a backoff): each chain has its own
 * cursor, and one that waits holds up no other. Positions are given back
 * to spool_record_done in any order. A pass sees at most SPOOL_AHEAD_MAX
 * records past the first one waiting: beyond that, the rest wait for it. */
#define SPOOL_AHEAD_MAX 4096
struct spool_pass {
	uint64_t at;
};
/* Whether the records of container cid wait (are passed over) now. */
typedef bool (*spool_wait_fn)(const char *cid, void *arg);
void spool_pass_begin(struct spool *s, struct spool_pass *pass);
/* The pass's next record whose chain does not wait (wait may be NULL):
 * *rec (caller frees) and its position; 0, or -ENODATA at the end. The
 * caller must keep the chain order: once it passes over a record of a
 * chain, wait() must say so for that chain for the rest of the pass. */
int spool_pass_next(struct spool *s, struct spool_pass *pass, spool_wait_fn wait, void *arg,
		    cJSON **rec, uint64_t *pos);

/* The record at pos was accepted (or already existed), in any order. */
int spool_record_done(struct spool *s, uint64_t pos);

/* The next entry for Events, with its container, identity and position;
 * *item (caller frees) holds {t: "e", cid, id, e, attr} (attr: the
 * session's attribution, when it has one) or, for a decided attribution,
 * {t: "a", cid, rk, id, attr}. -ENODATA when none waits. Only durable
 * entries are handed out; corrupt ones are skipped, and so are those
 * opts.event_wanted said no for; an entry awaiting its attribution waits
 * for it. */
int spool_next_event(struct spool *s, cJSON **item, uint64_t *pos);
/* The item at pos, the last spool_next_event handed out, is done: the
 * next call goes past it. -EINVAL for any other pos. */
int spool_event_done(struct spool *s, uint64_t pos);
/* Goes back to pos, an item handed out (and done) since the last
 * spool_tick or since a hold at or before it: the next spool_next_event
 * hands it out again, and those after it. For a caller that sends several
 * Events at once and finds one of them not delivered. -EINVAL for a pos
 * not in that range. */
int spool_event_rewind(struct spool *s, uint64_t pos);
/* Events from pos on are on their way: spool_tick acknowledges none of
 * them (they may have to be handed out again) and spool_idle is false,
 * until spool_event_release (or another hold moves the bound). */
void spool_event_hold(struct spool *s, uint64_t pos);
void spool_event_release(struct spool *s);

void spool_get_stats(const struct spool *s, struct spool_stats *out);
/* Bytes of the entries journal not yet acknowledged; *max gets its bound
 * (opts.max_bytes). */
/* The bytes of the entries journal that container cid's entries hold
 * (spool_use.h: at most a 64th of the bound over). */
uint64_t spool_container_bytes(const struct spool *s, const char *cid);
uint64_t spool_used_bytes(const struct spool *s, uint64_t *max);
/* Entries and records waiting to be published. */
bool spool_idle(struct spool *s);

#endif
