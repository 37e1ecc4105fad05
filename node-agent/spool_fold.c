// SPDX-License-Identifier: Apache-2.0
/* Identical execs folded before the spool journals them (see
 * spool_internal.h). A loop that runs one program thousands of times a
 * second made an item of about a kilobyte for each exec (its identity and
 * session printed again each time), written, checked, synced and read
 * again by the batcher, which then folded them into one entry anyway
 * (aggregate.h). The execs of one gather (what the capture thread drains
 * before it releases the ring buffer's records) are folded here as the
 * batcher would fold them, and journaled as one item per fold. The items
 * name every exec's key (after a restart, spool_find_keys finds every
 * one), each in the first item written after it came: an agent killed in
 * the middle of writing them leaves items whose keys are those of the
 * first execs that came, none after one that is missing, so that the
 * records the next agent skips as spooled (capture_skip_handled: through
 * the last one found) were all spooled. One it reads again may then be
 * counted twice, never one lost. Nothing is held past the gather: the
 * ring buffer keeps its records until then. */
#include "spool_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "journal.h"

/* What an item adds to its head and entry: "t", "q", "k", "n", "cid", "sk",
 * "ic", the folded entry's count, first and last, the journal's header. */
#define SPOOL_FOLD_ITEM_EXTRA 256

static void spool_fold_free(struct spool_fold *f)
{
	free(f->cid);
	free(f->sk);
	free(f->id_text);
	free(f->root);
	cJSON_Delete(f->id);
	cJSON_Delete(f->sess);
	cJSON_Delete(f->e);
	free(f->keys);
	memset(f, 0, sizeof(*f));
}

void spool_folds_clear(struct spool *s)
{
	size_t i;

	for (i = 0; i < s->nfolds; i++)
		spool_fold_free(&s->folds[i]);
	s->nfolds = 0;
	s->fold_bytes = 0;
	s->fold_gen++;
	s->fold_last = 0;
}

/* Whether e may be folded: an exec, of an identity whose execs fold
 * (aggregateExecs not false), not folded already. */
static bool spool_fold_wanted(const struct spool *s, const cJSON *id, const cJSON *e)
{
	const char *kind = spool_str(e, "kind");

	return s->gathering && s->opts.aggregate_ms > 0 && kind && !strcmp(kind, "exec") &&
	       !cJSON_GetObjectItemCaseSensitive(e, "count") && spool_id_folds(id);
}

/* Whether fold f is of the same container session, awaited attribution,
 * identity and session object (as printed: a session laid out otherwise
 * opens a fold of its own, which only costs an item). */
static bool spool_fold_same(const struct spool_fold *f, const char *cid, const char *sk,
			    const cJSON *id, const char *id_text, const cJSON *sess,
			    const char *root)
{
	if (strcmp(f->cid, cid) || strcmp(f->sk, sk))
		return false;
	if (!f->root != !root || (root && strcmp(f->root, root)))
		return false;
	if (!f->id_text != !id_text || (id_text && strcmp(f->id_text, id_text)) ||
	    (!id_text && !jsontext_same(f->id, id)))
		return false;
	return jsontext_same(f->sess, sess);
}

/* The size of the item of a new fold of entry e, at most (with its own
 * key; each key folded into it adds SPOOL_KEY_MAX + 3). 0 when it cannot be
 * told (the entry is journaled as it is). */
static size_t spool_fold_size(const char *cid, const char *sk, const cJSON *id, const char *id_text,
			      const cJSON *sess, const cJSON *e, const char *root)
{
	size_t n = 0, total = strlen(cid) + strlen(sk) + SPOOL_KEY_MAX + SPOOL_FOLD_ITEM_EXTRA;

	if (root)
		total += strlen(root);

	if (id_text)
		total += strlen(id_text);
	else if (jsontext_length(id, &n) == 0)
		total += n;
	else
		return 0;
	if (sess && jsontext_length(sess, &n) < 0)
		return 0;
	total += sess ? n : 0;
	if (jsontext_length(e, &n) < 0)
		return 0;
	return total + n;
}

/* Whether the entries journal has room for `more` bytes besides what it
 * holds and the folds will take: a fold never fails for room later. */
static bool spool_fold_room(const struct spool *s, size_t more)
{
	uint64_t used = journal_end(s->ej) - journal_acked(s->ej);

	return used + s->fold_bytes + more <= spool_bound(s);
}

/* Adds key to f's, as the latest: 0 or -ENOMEM. */
static int spool_fold_key(struct spool *s, struct spool_fold *f, const char *key)
{
	/* A gather of a loop's execs folds tens of them: room for those
	 * from the start (one allocation per fold, not one per doubling). */
	size_t cap = f->capkeys ? f->capkeys * 2 : 64, n;
	struct spool_fold_key *keys;

	if (f->nkeys == f->capkeys) {
		if (!(keys = realloc(f->keys, cap * sizeof(*keys))))
			return -ENOMEM;
		f->keys = keys;
		f->capkeys = cap;
	}
	n = strnlen(key, SPOOL_KEY_MAX - 1);
	memcpy(f->keys[f->nkeys].key, key, n);
	f->keys[f->nkeys].key[n] = '\0';
	f->keys[f->nkeys++].seq = ++s->fold_seq;
	return 0;
}

/* A new fold of entry e (its first exec). */
static int spool_fold_open(struct spool *s, const char *cid, const char *sk, const cJSON *id,
			   const char *id_text, const cJSON *sess, const cJSON *e, const char *key,
			   const char *root, size_t bytes)
{
	struct spool_fold *f = &s->folds[s->nfolds];

	memset(f, 0, sizeof(*f));
	f->first_ms = -1;
	f->cid = strdup(cid);
	f->sk = strdup(sk);
	if (id_text)
		f->id_text = strdup(id_text);
	else
		f->id = cJSON_Duplicate(id, true);
	f->root = root ? strdup(root) : NULL;
	f->sess = sess ? cJSON_Duplicate(sess, true) : NULL;
	f->e = cJSON_Duplicate(e, true);
	if (!f->cid || !f->sk || (id_text && !f->id_text) || (!id_text && !f->id) ||
	    (root && !f->root) || (sess && !f->sess) || !f->e || spool_fold_key(s, f, key) < 0) {
		spool_fold_free(f);
		return -ENOMEM;
	}
	f->bytes = bytes;
	s->fold_bytes += bytes;
	s->nfolds++;
	return 1;
}

/* Fold i's token: its place and the folds' age. */
static uint64_t spool_fold_mint(const struct spool *s, size_t i)
{
	return s->fold_gen * SPOOL_FOLDS_MAX + i + 1;
}

uint64_t spool_fold_token(const struct spool *s)
{
	return s->fold_last;
}

/* One more exec, key, into fold i: its entry aggregated into the fold's
 * (entry, or by its time alone for an exec known to be the same). 1 when
 * it went in; 0 when the fold has no room, no key left, or the exec is
 * not within its window; -ENOMEM when its key could not be kept. The fold
 * is as it was unless 1. */
static int spool_fold_grow(struct spool *s, size_t i, const char *key, const cJSON *entry,
			   const char *time)
{
	const size_t more = SPOOL_KEY_MAX + 3;
	struct spool_fold *f = &s->folds[i];
	bool in;

	if (f->nkeys >= SPOOL_FOLD_KEYS_MAX || !spool_fold_room(s, more))
		return 0;
	/* Kept first: a key not kept must not be folded (the entry is
	 * journaled as it is). */
	if (spool_fold_key(s, f, key) < 0)
		return -ENOMEM;
	in = entry ? aggregate_exec_into(f->e, entry, s->opts.aggregate_ms) :
		     aggregate_exec_again(f->e, time, s->opts.aggregate_ms, &f->first_ms);
	if (!in) {
		f->nkeys--;
		s->fold_seq--;
		return 0;
	}
	f->bytes += more;
	s->fold_bytes += more;
	s->fold_last = spool_fold_mint(s, i);
	return 1;
}

int spool_fold_again(struct spool *s, uint64_t token, const char *key, const char *time)
{
	size_t i = (token - 1) % SPOOL_FOLDS_MAX;

	if (!token || !s->gathering || !key || strlen(key) >= SPOOL_KEY_MAX || !time ||
	    (token - 1) / SPOOL_FOLDS_MAX != s->fold_gen || i >= s->nfolds ||
	    spool_fold_grow(s, i, key, NULL, time) != 1)
		return 0;
	s->stats.entries++;
	memcpy(s->last_key, key, strlen(key) + 1); /* shorter than SPOOL_KEY_MAX: above */
	return 1;
}

int spool_fold_add(struct spool *s, const char *cid, const char *sk, const cJSON *id,
		   const char *id_text, const cJSON *sess, const cJSON *entry, const char *key,
		   const char *root, bool quiet)
{
	size_t i, bytes;
	int grown;

	if (!quiet || !key || !cid || !sk || !spool_fold_wanted(s, id, entry))
		return 0;
	for (i = 0; i < s->nfolds; i++) {
		if (!spool_fold_same(&s->folds[i], cid, sk, id, id_text, sess, root))
			continue;
		if ((grown = spool_fold_grow(s, i, key, entry, NULL)) != 0)
			return grown > 0 ? 1 : 0;
	}
	bytes = spool_fold_size(cid, sk, id, id_text, sess, entry, root);
	if (!bytes || !spool_fold_room(s, bytes))
		return 0;
	/* No slot: the folds so far go out (what cannot is
	 * spool_take_lost_folds'), this one opens the next. */
	if (s->nfolds == SPOOL_FOLDS_MAX)
		(void)spool_folds_write(s);
	if (spool_fold_open(s, cid, sk, id, id_text, sess, entry, key, root, bytes) < 0)
		return 0;
	s->fold_last = spool_fold_mint(s, s->nfolds - 1);
	return 1;
}

/* The keys item i of the folds names: those of every fold's execs that
 * came from fold i's first on and before fold i+1's first (the last item:
 * from its first on). Each exec that came before one of these is in an
 * item written before this one or in it (folds are in the order of their
 * first). In the order they came, its own first key ("k") left out. NULL
 * when out of memory. */
static cJSON *spool_fold_keys(const struct spool *s, size_t i)
{
	uint64_t lo = s->folds[i].keys[0].seq,
		 hi = i + 1 < s->nfolds ? s->folds[i + 1].keys[0].seq : UINT64_MAX;
	size_t cur[SPOOL_FOLDS_MAX] = { 0 }, j, best;
	cJSON *ks = cJSON_CreateArray(), *k;
	const struct spool_fold *f;

	/* Each fold's keys came in order: merged, a pass over them all. */
	for (j = 0; j <= i; j++)
		while (cur[j] < s->folds[j].nkeys && s->folds[j].keys[cur[j]].seq < lo)
			cur[j]++;
	while (ks) {
		for (j = 0, best = SPOOL_FOLDS_MAX; j <= i; j++) {
			f = &s->folds[j];
			if (cur[j] < f->nkeys && f->keys[cur[j]].seq < hi &&
			    (best == SPOOL_FOLDS_MAX ||
			     f->keys[cur[j]].seq < s->folds[best].keys[cur[best]].seq))
				best = j;
		}
		if (best == SPOOL_FOLDS_MAX)
			break;
		f = &s->folds[best];
		if (f->keys[cur[best]].seq != lo &&
		    (!(k = cJSON_CreateString(f->keys[cur[best]].key)) ||
		     !cJSON_AddItemToArray(ks, k))) {
			cJSON_Delete(k);
			cJSON_Delete(ks);
			return NULL;
		}
		cur[best]++;
	}
	return ks;
}

/* Journals fold i as one entry item, laid out as spool_add_awaiting lays
 * out a quiet entry, "ks" after "k". */
static int spool_fold_write(struct spool *s, size_t i)
{
	const struct spool_fold *f = &s->folds[i];
	cJSON *item = cJSON_CreateObject(), *ks = spool_fold_keys(s, i);
	uint64_t pos = 0;
	char n[24];
	int ret;

	if (!item || !ks) {
		cJSON_Delete(item);
		cJSON_Delete(ks);
		return -ENOMEM;
	}
	jsontext_add_ref(item, "t", "e");
	jsontext_add_true(item, "q");
	jsontext_add_ref(item, "k", f->keys[0].key);
	if (ks->child)
		jsontext_add_tree_ref(item, "ks", ks);
	/* How many execs: in the head, which its check covers apart from the
	 * entry, so that a damaged entry is a gap of as many. */
	snprintf(n, sizeof(n), "%zu", f->nkeys);
	jsontext_add_raw_ref(item, "n", n);
	if (f->root)
		jsontext_add_ref(item, "w", f->root);
	jsontext_add_ref(item, "cid", f->cid);
	jsontext_add_ref(item, "sk", f->sk);
	if (f->id_text)
		jsontext_add_raw_ref(item, "id", f->id_text);
	else
		jsontext_add_tree_ref(item, "id", f->id);
	if (f->sess)
		jsontext_add_tree_ref(item, "sess", f->sess);
	ret = spool_append_entry(s, item, f->e, &pos);
	cJSON_Delete(item);
	cJSON_Delete(ks);
	if (ret == 0)
		(void)spool_use_add(s->use, f->cid, pos, journal_end(s->ej) - pos);
	else if (ret == -ENOSPC)
		s->stats.rejected_full += f->nkeys;
	return ret;
}

/* Fold i, which its write lost: kept for spool_take_lost_folds (its slot
 * is left empty), or past SPOOL_LOST_MAX counted. */
static void spool_fold_lose(struct spool *s, size_t i)
{
	struct spool_fold *f = &s->folds[i];

	s->stats.folds_lost += f->nkeys;
	if (s->nlost == SPOOL_LOST_MAX) {
		s->lost_uncounted += f->nkeys;
		return;
	}
	s->lost[s->nlost++] = *f;
	memset(f, 0, sizeof(*f));
}

int spool_folds_write(struct spool *s)
{
	bool failed[SPOOL_FOLDS_MAX] = { false };
	size_t i;
	int ret, first = 0;

	/* In the order they were opened: that of their first execs. Each
	 * item names keys of the folds before it too: none leaves before all
	 * are written. */
	for (i = 0; i < s->nfolds; i++)
		if ((ret = spool_fold_write(s, i)) < 0) {
			failed[i] = true;
			if (!first)
				first = ret;
		}
	for (i = 0; i < s->nfolds; i++)
		if (failed[i])
			spool_fold_lose(s, i);
	spool_folds_clear(s);
	return first;
}

void spool_take_lost_folds(struct spool *s, spool_lost_fn fn, void *arg)
{
	struct spool_fold *f;
	cJSON *parsed;
	size_t i;

	for (i = 0; i < s->nlost; i++) {
		f = &s->lost[i];
		parsed = f->id ? NULL : cJSON_Parse(f->id_text);
		if (f->id || parsed)
			fn(arg, f->cid, f->sk, f->id ? f->id : parsed, f->sess, f->root, f->nkeys,
			   spool_str(f->e, "time"));
		else
			fn(arg, NULL, NULL, NULL, NULL, NULL, f->nkeys, NULL);
		cJSON_Delete(parsed);
		spool_fold_free(f);
	}
	s->nlost = 0;
	if (s->lost_uncounted)
		fn(arg, NULL, NULL, NULL, NULL, NULL, s->lost_uncounted, NULL);
	s->lost_uncounted = 0;
}

void spool_lost_clear(struct spool *s)
{
	size_t i;

	for (i = 0; i < s->nlost; i++)
		spool_fold_free(&s->lost[i]);
	s->nlost = 0;
}
