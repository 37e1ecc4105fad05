/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by spool.c (the journals, the publisher's cursors, acknowledgement)
 * and spool_batch.c (the batcher: the replay engine). Not for other
 * modules: see spool.h. */
#ifndef SHELLAUDIT_SPOOL_INTERNAL_H
#define SHELLAUDIT_SPOOL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "hmap.h"
#include "journal.h"
#include "jsontext.h"
#include "record.h"
#include "spool.h"
#include "spool_use.h"

#define SPOOL_MAX_CHECKPOINTS 1024
/* Open batches at most: past it the one opened first is cut. */
#define SPOOL_MAX_OPEN 4096
/* How an entry item no Event can come of begins, as journaled ("q" right
 * after "t"; cJSON prints members in the order they were added). */
#define SPOOL_QUIET "{\"t\":\"e\",\"q\":true,"
/* The time of a gap entry that has no other to go by. */
#define SPOOL_EPOCH "1970-01-01T00:00:00Z"

/* How many of a batch's last exec entries an exec is compared with by
 * its text (struct spool_batch.recent). */
#define SPOOL_RECENT_EXECS 4

/* One container session's entries on their way to a record. */
struct spool_batch {
	char *cid, *sk;
	cJSON *id, *sess, *entries;
	size_t bytes, n; /* n: entries */
	/* Its last exec entries added as their own, each with its text as
	 * journaled: an exec whose text is one of these but for its time and
	 * process (aggregate_text_same) is folded unparsed, that entry
	 * standing for it (aggregate_exec_like). Several: the execs of loops
	 * running side by side in one session alternate. */
	struct spool_recent {
		cJSON *e; /* in entries */
		char *text;
		size_t len;
	} recent[SPOOL_RECENT_EXECS];
	size_t next_recent;
	uint64_t first;		/* entries journal position of its first entry */
	long opened_ms;
	bool cut_requested;
};

/* Execs folded before they are journaled (spool_fold.c): execs at most in
 * one group (its item carries each one's key); SPOOL_FOLDS_MAX groups. */
#define SPOOL_FOLD_KEYS_MAX 256
#define SPOOL_LOST_MAX 16

/* Identical execs of one container session added while gathering: one
 * entry with count, first and last (aggregate_exec_into), journaled as one
 * item when the gather is written or anything else is appended. */
struct spool_fold {
	char *cid, *sk, *id_text; /* id_text or id */
	char *root;		  /* the attribution its execs await ("w"), or NULL */
	cJSON *id, *sess, *e;
	/* The keys of its execs, its own first, and when each came (struct
	 * spool's fold_seq): the items of a gather's folds name them in the
	 * order they came (spool_folds_write). */
	struct spool_fold_key {
		char key[SPOOL_KEY_MAX];
		uint64_t seq;
	} * keys;
	size_t nkeys, capkeys;
	size_t bytes;	    /* its item's size, at most */
	long long first_ms; /* e's time, for aggregate_exec_again; -1: not read yet */
};

/* One container's chain of records. */
struct spool_chain {
	uint64_t next_seq;
	char prev[DIGEST_STR_LEN];
	char prev_until[RECORD_TIME_LEN];	/* record_kept_until of prev */
	bool seeded;		/* its start is known (else the batcher waits for it) */
	bool from_api;		/* seeded from the API server: these are its values */
	uint64_t seed_seq;
	char seed_prev[DIGEST_STR_LEN], seed_until[RECORD_TIME_LEN];
	uint64_t last_rec;	/* records journal position of its last record */
};

/* An entry awaiting its attribution that a cursor (the batcher, the
 * Events) stopped at, since when. */
struct spool_await {
	long since_ms;		/* 0: none */
	uint64_t pos;
	char *cid, *root;
	cJSON *id;
};

/* The batcher: what the entries journal makes of records. The agent's runs
 * one; regenerating records a corrupt records journal lost runs a second,
 * "dry" one from an older checkpoint, whose records go to `out`. */
struct spool_batcher {
	struct spool *s;
	struct hmap batches;	/* "cid\x1fsk" -> struct spool_batch */
	struct hmap chains;	/* cid -> struct spool_chain */
	uint64_t bp;		/* next entries journal position */
	char *wanted;		/* the container whose chain it waits for, or NULL */
	cJSON *wanted_id;
	bool dry;
	bool restoring;		/* rebuilding open batches: as they were, no cut */
	cJSON *out;		/* dry: the records formed */
	const struct spool_batcher *seeds; /* dry: the chains' starts */
	uint64_t unattributed;	/* corrupt entries of no known container session */
	uint64_t gaps;		/* corrupt entries that became gap entries */
	struct spool_await await; /* not dry: the undecided entry it stopped at */
};

/* A record read by the publisher's pass (spool_records_next): which
 * chain it is of, and whether it was published ahead of an earlier one. */
struct spool_ahead {
	uint64_t pos, next;
	char *cid;
	bool done;
};

struct spool {
	struct spool_opts opts;
	struct journal *ej, *rj;
	struct spool_batcher b;
	uint64_t ep;		/* event publisher's next entry */
	uint64_t ep_next;	/* the one after it, once handed out (else 0) */
	uint64_t ep_hold;	/* spool_event_hold's pos + 1 (0: none) */
	uint64_t rp;		/* record publisher's next item: every record
				 * before it is published */
	/* The records from rp on that a pass read, in spool order (at most
	 * SPOOL_AHEAD_MAX): those of other chains are published while a
	 * chain waits (held, backing off); rp moves past the done ones only
	 * once every record before them is done. */
	struct spool_ahead *ahead;
	size_t nahead, capahead;
	uint64_t popped; /* records ever taken off its front */
	uint64_t scan;	 /* the records journal position after them */
	uint64_t ckpt_pos[SPOOL_MAX_CHECKPOINTS], ckpt_keep[SPOOL_MAX_CHECKPOINTS];
	size_t nckpt;		/* checkpoints since the records journal's cursor */
	long last_ckpt_ms;
	long last_sync_ms;	/* of the entries journal */
	/* Appended since its last sync: an item the Events wait for (not a
	 * quiet entry, nor a cut): opts.sync_gap_ms, else sync_quiet_gap_ms. */
	bool unsynced_loud;
	bool changed;		/* batcher state changed since the last checkpoint */
	/* The key of the last item of the entries journal when it is a keyed
	 * entry, else "": an agent killed after spooling an entry and before
	 * the ring buffer learnt it was read meets that event again. */
	char last_key[SPOOL_KEY_MAX];
	char epoch[SPOOL_EPOCH_LEN + 1];
	/* Attribution decisions journaled from the entries journal's
	 * acknowledged start on: "cid\x1froot" -> struct spool_decision. */
	struct hmap decided;
	struct spool_use *use;		/* the bytes of each container */
	struct spool_await ev_await;	/* the undecided entry Events stopped at */
	struct jsontext_out out;	/* where entries are printed */
	struct spool_stats stats;
	bool gathering; /* spool_gather: folds are kept */
	struct spool_fold folds[SPOOL_FOLDS_MAX];
	size_t nfolds;
	/* Folds their write lost (a disk error, no memory): their execs are
	 * a gap in their chains, which the caller writes
	 * (spool_take_lost_folds); past SPOOL_LOST_MAX, only counted. */
	struct spool_fold lost[SPOOL_LOST_MAX];
	size_t nlost;
	uint64_t lost_uncounted; /* execs of lost folds past SPOOL_LOST_MAX */
	uint64_t fold_seq; /* execs folded, ever */
	size_t fold_bytes; /* their items' sizes, at most */
	uint64_t fold_gen; /* times the folds were cleared: a token's age */
	uint64_t fold_last; /* spool_fold_token's */
};

void spool_key(const char *cid, const char *sk, char *buf, size_t cap);
const char *spool_str(const cJSON *o, const char *k);
int spool_append(struct journal *j, const cJSON *item, uint64_t *pos);
/* Journals an entry item: head (the item but its entry) and e. */
int spool_append_entry(struct spool *s, const cJSON *head, const cJSON *e, uint64_t *pos);
/* The entries journal's bound (opts.max_bytes or its default). */
uint64_t spool_bound(const struct spool *s);

/* Folding identical execs before they are journaled (spool_fold.c), while
 * the caller gathers (spool_gather): 1 when the entry was taken into a
 * fold (journaled by spool_folds_write), else 0: it is to be journaled as
 * it is (after spool_folds_write; so is one no memory could be found to
 * fold). Only
 * execs no Event is wanted for (quiet), with a key and of an identity that
 * lets its execs fold are; those awaiting the attribution of root (not
 * NULL) fold with those awaiting the same, their item awaiting it too. */
int spool_fold_add(struct spool *s, const char *cid, const char *sk, const cJSON *id,
		   const char *id_text, const cJSON *sess, const cJSON *entry, const char *key,
		   const char *root, bool quiet);
/* Journals the folds, in the order they were opened: 0 or the first
 * error (the execs of a fold not journaled are lost, counted as refused
 * when the spool is full). */
int spool_folds_write(struct spool *s);
/* Whether the execs of identity id fold (aggregateExecs not false). */
bool spool_id_folds(const cJSON *id);
/* Forgets the folds (closing). */
void spool_folds_clear(struct spool *s);
/* Frees the lost folds not taken (spool_close). */
void spool_lost_clear(struct spool *s);
/* The last key an item carries: its "ks"' last, else its "k". */
const char *spool_item_last_key(const cJSON *item);
/* Whether an item carries key want (eventkey_is), as "k" or in "ks". */
bool spool_item_has_key(const cJSON *item, const char *want);
/* A cut marker: it frees room (the batch it closes stops holding entries),
 * so it goes in even when the journal is full (journal_append_reserved). */
int spool_append_cut(struct journal *j, const char *cid, const char *sk);

/* A journal item read for the batcher: an entry's identity and session
 * ("id", "sess"), most of its bytes, are left raw (jsontext_parse_lazy)
 * until spool_item_expand, since only the entry that opens a batch needs
 * them (an entry awaiting its attribution, "w", has them read); the entry
 * itself ("e") is left raw for the batcher, which folds a repeated exec
 * without parsing it. NULL when the text is no JSON object. */
cJSON *spool_item_read(const void *data, size_t len);
/* Parses the identity and session spool_item_read left raw: 0, or
 * -EINVAL. */
int spool_item_expand(cJSON *item);
/* Whether member k of an item is an object, raw or read. */
bool spool_item_object(const cJSON *item, const char *k);

/* The check of an entry item's identity, journaled as its last member "ic"
 * in 8 hex digits: a CRC-32 of the item printed without "e" and "ic" (its
 * head: whose it is, its container, session, awaited attribution, target
 * and session objects) and of its entry's time. A damaged item whose check
 * still matches is known to be of that session (spool_batch.c). */
uint32_t spool_entry_crc(const char *head, const char *time);

/* An entry's attribution: for an entry awaiting one ("w"), 1 with the
 * decision put into its session, 0 when it is not decided yet; 1 for any
 * other item. */
int spool_settle(const struct spool *s, cJSON *item);
/* Notes that a cursor stopped at the awaiting entry item at pos (the time
 * counts from the first stop there). */
void spool_await_set(struct spool_await *w, const cJSON *item, uint64_t pos);
void spool_await_clear(struct spool_await *w);

int spool_batcher_init(struct spool_batcher *b, struct spool *s, bool dry);
void spool_batcher_clear(struct spool_batcher *b);
/* Runs the batcher over the entries journal from b->bp to `until`: 0 there,
 * -EAGAIN when it waits for a chain's start (b->wanted), -ENOSPC or
 * -ENOMEM to retry (the item is met again). */
int spool_batcher_run(struct spool_batcher *b, uint64_t until);
/* Journals cut markers for the batches older than the batch age. */
int spool_batcher_cut_aged(struct spool_batcher *b, long now_ms);
/* The checkpoint item of the batcher's state; *keep gets the first entries
 * journal position it needs. */
cJSON *spool_batcher_checkpoint(const struct spool_batcher *b, uint64_t *keep);
/* Restores a batcher from a checkpoint item (open batches are re-read from
 * the entries journal). */
int spool_batcher_restore(struct spool_batcher *b, const cJSON *ckpt);
int spool_batcher_seed(struct spool_batcher *b, const char *cid, const struct spool_head *head);
/* Forgets chains past opts.max_chains whose records are all before rp. */
void spool_batcher_prune(struct spool_batcher *b, uint64_t rp);
/* Forms again the records a corrupt records journal region at pos lost;
 * returns how many it journaled again, or a negative errno. *present: how
 * many it formed that the journal holds readable already (a restart's
 * batcher formed them again before the publisher met the region), counted
 * only when it formed all it could (0 otherwise). */
int spool_regenerate(struct spool *s, uint64_t pos, size_t *present);

#endif
