// SPDX-License-Identifier: Apache-2.0
/* The spool's batcher, its checkpoints and their restore: the replay
 * engine (see spool.h for why a replay forms the same records). Owned by
 * the spool. Every decision here depends on the journals' contents and the
 * checkpointed state only, never on the clock (age cuts are journaled as
 * cut markers by spool_batcher_cut_aged before the batcher acts on them). */
#include "spool_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "clock.h"
#include "jsontext.h"
#include "timefmt.h"

static void spool_batch_free(struct spool_batch *b)
{
	size_t i;

	if (!b)
		return;
	free(b->cid);
	free(b->sk);
	cJSON_Delete(b->id);
	cJSON_Delete(b->sess);
	cJSON_Delete(b->entries);
	for (i = 0; i < SPOOL_RECENT_EXECS; i++)
		free(b->recent[i].text);
	free(b);
}

static void spool_batch_free_value(void *b)
{
	spool_batch_free(b);
}

int spool_batcher_init(struct spool_batcher *b, struct spool *s, bool dry)
{
	memset(b, 0, sizeof(*b));
	b->s = s;
	b->dry = dry;
	hmap_init_free(&b->batches, spool_batch_free_value);
	hmap_init_free(&b->chains, free);
	if (dry && !(b->out = cJSON_CreateArray()))
		return -ENOMEM;
	return 0;
}

void spool_batcher_clear(struct spool_batcher *b)
{
	spool_await_clear(&b->await);
	hmap_clear(&b->batches);
	hmap_clear(&b->chains);
	free(b->wanted);
	b->wanted = NULL;
	cJSON_Delete(b->wanted_id);
	b->wanted_id = NULL;
	cJSON_Delete(b->out);
	b->out = NULL;
}

static void spool_batcher_changed(struct spool_batcher *b)
{
	if (!b->dry)
		b->s->changed = true;
}

static void spool_chain_set_seed(struct spool_chain *c, const struct spool_head *head)
{
	c->seeded = c->from_api = true;
	c->seed_seq = UINT64_MAX;
	if (!head)
		return;
	c->seed_seq = head->seq;
	snprintf(c->seed_prev, sizeof(c->seed_prev), "%s", head->digest ? head->digest : "");
	snprintf(c->seed_until, sizeof(c->seed_until), "%s",
		 head->kept_until ? head->kept_until : "");
	c->next_seq = head->seq + 1;
	memcpy(c->prev, c->seed_prev, sizeof(c->prev));
	memcpy(c->prev_until, c->seed_until, sizeof(c->prev_until));
}

/* The chain of cid. Without resume a new one starts at sequence 0; with
 * it, NULL until its start is known (a dry batcher takes it from the
 * agent's, which asked the API server). */
static struct spool_chain *spool_chain_get(struct spool_batcher *b, const char *cid)
{
	struct spool_chain *c = hmap_get(&b->chains, cid);
	const struct spool_chain *m;

	if (c)
		return c;
	m = b->dry && b->seeds ? hmap_get(&b->seeds->chains, cid) : NULL;
	if (b->s->opts.resume && !(m && m->from_api))
		return NULL;
	if (!(c = calloc(1, sizeof(*c))))
		return NULL;
	c->seeded = true;
	if (m && m->from_api) {
		struct spool_head h = { m->seed_seq, m->seed_prev, m->seed_until };

		spool_chain_set_seed(c, m->seed_seq == UINT64_MAX ? NULL : &h);
	}
	if (hmap_put(&b->chains, cid, c, NULL) < 0) {
		free(c);
		return NULL;
	}
	return c;
}

/* Forms the record of batch bt; the batch stays the caller's (so that a
 * failure to journal it leaves it whole, for the next try), its entries
 * unchanged. */
static int spool_form(struct spool_batcher *b, const struct spool_batch *bt)
{
	struct spool_chain *c = hmap_get(&b->chains, bt->cid);
	struct record_identity id;
	struct record_session sess = { 0 };
	char digest[DIGEST_STR_LEN], until[RECORD_TIME_LEN];
	cJSON *rec, *item, *entries;
	uint64_t pos = 0;
	int ret;

	if (!c)
		return -ENOMEM;
	id = (struct record_identity){ spool_str(bt->id, "ns"), spool_str(bt->id, "pod"),
				       spool_str(bt->id, "podUID"), spool_str(bt->id, "container"),
				       bt->cid, spool_str(bt->id, "node"),
				       cJSON_GetObjectItemCaseSensitive(bt->id, "policies"),
				       spool_str(bt->id, "retention") };
	if (!id.ns || !id.pod || !id.pod_uid || !id.container || !id.node || !id.retention)
		return -EINVAL; /* nothing can be published of it */
	if (bt->sess) {
		sess.id = spool_str(bt->sess, "id");
		sess.pid = (int)cJSON_GetNumberValue(
			cJSON_GetObjectItemCaseSensitive(bt->sess, "pid"));
		sess.start = spool_str(bt->sess, "start");
		sess.attribution = cJSON_GetObjectItemCaseSensitive(bt->sess, "attribution");
		if (!cJSON_IsObject(sess.attribution))
			sess.attribution = NULL;
	}
	/* The record's entries are the batch's, by reference (not freed with
	 * the record: the batch stays whole for a next try), except in a dry
	 * run, whose records outlive the batch. A copy cost an allocation
	 * and a free for each field of each entry. */
	entries = b->dry ? cJSON_Duplicate(bt->entries, 1) :
			   cJSON_CreateArrayReference(bt->entries ? bt->entries->child : NULL);
	if (!entries)
		return -ENOMEM;
	rec = record_build(&id, bt->sess ? &sess : NULL, entries, c->next_seq, c->prev,
			   c->prev_until, b->s->opts.key, digest);
	if (!rec)
		return -ENOMEM;
	if (record_kept_until(cJSON_GetObjectItemCaseSensitive(rec, "spec"), until) < 0)
		until[0] = '\0';
	if (b->dry) {
		cJSON_AddItemToArray(b->out, rec);
	} else {
		item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "t", "r");
		cJSON_AddItemToObject(item, "r", rec);
		ret = spool_append(b->s->rj, item, &pos);
		cJSON_Delete(item);
		if (ret < 0)
			return ret;
		b->s->stats.records++;
		b->s->stats.records_waiting++;
	}
	c->next_seq++;
	c->last_rec = pos;
	memcpy(c->prev, digest, sizeof(digest));
	memcpy(c->prev_until, until, sizeof(until));
	spool_batcher_changed(b);
	return 0;
}

/* Turns the batch of key into a record. A batch without identity cannot
 * be published: it is dropped (-EINVAL, for the caller to count). */
static int spool_cut(struct spool_batcher *b, const char *key)
{
	struct spool_batch *bt = hmap_get(&b->batches, key);
	int ret;

	if (!bt)
		return 0;
	ret = spool_form(b, bt);
	if (ret == 0 || ret == -EINVAL) {
		hmap_remove(&b->batches, key);
		spool_batcher_changed(b);
	}
	return ret;
}

struct spool_oldest {
	const char *key;
	uint64_t first;
};

static void spool_oldest_cb(const char *key, void *value, void *arg)
{
	struct spool_oldest *o = arg;
	const struct spool_batch *bt = value;

	if (!o->key || bt->first < o->first) {
		o->key = key;
		o->first = bt->first;
	}
}

/* When a batch opened with entry e counts as opened, on the monotonic
 * clock: when e was captured, so that a batch that waited for its
 * session's attribution is not kept its whole age again; at most as long
 * ago as an entry may wait for one (await_max_ms). Age cuts are journaled:
 * replays never ask. */
static long spool_opened_ms(const struct spool_batcher *b, const cJSON *e)
{
	const char *when = spool_str(e, "time");
	long now = clock_now_ms(), age;
	struct timespec ts;
	int64_t wall_ms;

	if (!when || timefmt_parse(when, &ts) < 0)
		return now;
	wall_ms = ((int64_t)clock_now_ns() + clock_wall_offset_ns()) / 1000000;
	age = (long)(wall_ms - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
	if (age < 0)
		age = 0;
	if (age > b->s->opts.await_max_ms)
		age = b->s->opts.await_max_ms;
	return now - age;
}

/* The time of an entry from its text (its "time" member, a string with
 * no escape, as the spool writes it) into buf: 0, or -1 when it has none
 * so. */
static int spool_entry_time(const char *text, size_t len, char *buf, size_t cap)
{
	struct jsontext_iter it;
	struct jsontext_member m;

	jsontext_iter_init(&it, text, len);
	while (jsontext_iter_next(&it, &m) == 1) {
		if (m.keylen != 4 || memcmp(m.key, "time", 4))
			continue;
		if (m.vlen < 2 || m.vlen - 2 >= cap || m.v[0] != '"' ||
		    memchr(m.v + 1, '\\', m.vlen - 2))
			return -1;
		memcpy(buf, m.v + 1, m.vlen - 2);
		buf[m.vlen - 2] = '\0';
		return 0;
	}
	return -1;
}

bool spool_id_folds(const cJSON *id)
{
	return !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(id, "aggregateExecs"));
}

/* Whether the batch folds its execs (aggregateExecs, in its identity). */
static bool spool_batch_folds(const struct spool_batch *bt)
{
	return bt && spool_id_folds(bt->id);
}

/* An exec entry of text e (raw, len bytes) folded without parsing it,
 * where aggregate_exec folds it: one of bt's recent execs whose text is
 * the same but for time and process stands for it. false: it is to be
 * parsed (and may still fold). */
static bool spool_batch_fold_raw(const struct spool_batcher *b, struct spool_batch *bt,
				 const cJSON *e, size_t len)
{
	const struct spool_recent *r;
	char etime[64];
	size_t i;

	if (!cJSON_IsRaw(e) || !spool_batch_folds(bt))
		return false;
	for (i = 0; i < SPOOL_RECENT_EXECS; i++) {
		r = &bt->recent[i];
		if (r->e && aggregate_text_same(r->text, r->len, e->valuestring, len))
			return spool_entry_time(e->valuestring, len, etime, sizeof(etime)) == 0 &&
			       aggregate_exec_like(bt->entries, r->e, etime,
						   b->s->opts.aggregate_ms);
	}
	return false;
}

/* Keeps exec entry e, just added to bt, and its text among bt's recent
 * ones (the text is bt's from then on). */
static void spool_batch_recent(struct spool_batch *bt, cJSON *e, char *text, size_t len)
{
	struct spool_recent *r = &bt->recent[bt->next_recent];

	free(r->text);
	r->e = e;
	r->text = text;
	r->len = len;
	bt->next_recent = (bt->next_recent + 1) % SPOOL_RECENT_EXECS;
}

/* Adds one journaled entry to its batch, cutting on count and size. An
 * entry that goes in as one of its own is moved there from item (its
 * caller deletes the rest). Its "e" may be raw (spool_batch_read): an
 * exec alike one of the batch's recent ones (spool_batch_fold_raw) then
 * folds without being parsed. */
static int spool_batch_entry(struct spool_batcher *b, cJSON *item, uint64_t pos)
{
	const char *cid = spool_str(item, "cid"), *sk = spool_str(item, "sk");
	cJSON *e = cJSON_GetObjectItemCaseSensitive(item, "e");
	const cJSON *sess;
	struct spool_batch *bt;
	char key[600], *text = NULL;
	size_t len;
	int ret;

	if (!cid || !sk || !e || !spool_item_object(item, "id"))
		return -EINVAL;
	if (!spool_chain_get(b, cid)) {
		if (!b->s->opts.resume)
			return -ENOMEM;
		if (b->dry)
			return -EAGAIN; /* a chain it cannot start */
		/* A container this spool holds no chain of: ask where it is. */
		if (!b->wanted) {
			if (spool_item_expand(item) < 0)
				return -EINVAL;
			b->wanted = strdup(cid);
			b->wanted_id =
				cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(item, "id"), 1);
			if (!b->wanted || !b->wanted_id) {
				free(b->wanted);
				b->wanted = NULL;
				cJSON_Delete(b->wanted_id);
				b->wanted_id = NULL;
				return -ENOMEM;
			}
		}
		return -EAGAIN;
	}
	spool_key(cid, sk, key, sizeof(key));
	len = 0;
	/* The text as journaled is the text printed again. */
	if (cJSON_IsRaw(e))
		len = strlen(e->valuestring);
	else
		(void)jsontext_length(e, &len);
	bt = hmap_get(&b->batches, key);
	/* A batch being rebuilt is as it was checkpointed, whatever the
	 * options are now: the batcher cuts it on its next entry. */
	if (bt && !b->restoring && bt->bytes + len > b->s->opts.batch_bytes &&
	    (ret = spool_cut(b, key)) < 0 && ret != -EINVAL)
		return ret;
	if ((bt = hmap_get(&b->batches, key)) && spool_batch_fold_raw(b, bt, e, len)) {
		spool_batcher_changed(b);
		return 0;
	}
	if (cJSON_IsRaw(e) && !(e = jsontext_expand_member(item, e, &text)))
		return -EINVAL;
	if (!bt) {
		if (b->batches.size >= SPOOL_MAX_OPEN && !b->restoring) {
			struct spool_oldest o = { NULL, 0 };
			char victim[600];

			hmap_foreach(&b->batches, spool_oldest_cb, &o);
			snprintf(victim, sizeof(victim), "%s", o.key);
			if ((ret = spool_cut(b, victim)) < 0 && ret != -EINVAL)
				goto out;
		}
		/* Who and which session: read for the entry opening a batch. */
		ret = -EINVAL;
		if (spool_item_expand(item) < 0)
			goto out;
		sess = cJSON_GetObjectItemCaseSensitive(item, "sess");
		ret = -ENOMEM;
		if (!(bt = calloc(1, sizeof(*bt))))
			goto out;
		bt->cid = strdup(cid);
		bt->sk = strdup(sk);
		bt->id = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(item, "id"), 1);
		if (cJSON_IsObject(sess))
			bt->sess = cJSON_Duplicate(sess, 1);
		bt->entries = cJSON_CreateArray();
		bt->opened_ms = spool_opened_ms(b, e);
		bt->first = pos;
		if (!bt->cid || !bt->sk || !bt->id || !bt->entries ||
		    hmap_put(&b->batches, key, bt, NULL) < 0) {
			spool_batch_free(bt);
			goto out;
		}
	}
	ret = 0;
	/* Repeated identical execs fold into one entry, unless the target's
	 * policies turned it off (aggregateExecs: false in its identity).
	 * Decided from the entries alone, so a batch rebuilt from the
	 * journal (restoring, or a dry batcher) folds the same. */
	if (spool_batch_folds(bt) && aggregate_exec(bt->entries, e, b->s->opts.aggregate_ms)) {
		spool_batcher_changed(b);
		goto out;
	}
	cJSON_AddItemToArray(bt->entries, cJSON_DetachItemViaPointer(item, e));
	bt->n++;
	bt->bytes += len;
	if (text && spool_str(e, "kind") && !strcmp(spool_str(e, "kind"), "exec")) {
		spool_batch_recent(bt, e, text, len);
		text = NULL;
	}
	spool_batcher_changed(b);
	if (!b->restoring && bt->n >= (size_t)b->s->opts.batch_entries &&
	    (ret = spool_cut(b, key)) < 0 && ret != -EINVAL)
		goto out;
	ret = 0;
out:
	free(text);
	return ret;
}

/* The open batch the damaged bytes of a corrupt entry belong to, or NULL:
 * they must still read as an entry of a container session whose batch is
 * open with the very same identity. Never a guess: bytes damaged in their
 * identity name none, and a damaged entry never opens a batch. */
static struct spool_batch *spool_damaged_owner(struct spool_batcher *b, const void *data,
					       size_t len)
{
	cJSON *item = data ? cJSON_ParseWithLength(data, len) : NULL;
	const char *t = spool_str(item, "t"), *cid = spool_str(item, "cid"),
		   *sk = spool_str(item, "sk");
	struct spool_batch *bt = NULL;
	char key[600];

	if (t && !strcmp(t, "e") && cid && sk) {
		spool_key(cid, sk, key, sizeof(key));
		bt = hmap_get(&b->batches, key);
		if (bt &&
		    !cJSON_Compare(bt->id, cJSON_GetObjectItemCaseSensitive(item, "id"), true))
			bt = NULL;
	}
	cJSON_Delete(item);
	return bt;
}

/* The gap entry of a corrupt entry of `bytes` bytes, at time when. */
static cJSON *spool_gap_new(const char *when, size_t bytes, size_t count)
{
	cJSON *gap = cJSON_CreateObject();
	char note[160];

	if (!gap)
		return NULL;
	if (count > 1)
		snprintf(note, sizeof(note),
			 "%zu entries were lost: the %zu bytes of the node's spool that held them "
			 "were unreadable",
			 count, bytes);
	else
		snprintf(note, sizeof(note),
			 "an entry was lost: %zu bytes of it in the node's spool were unreadable",
			 bytes);
	cJSON_AddStringToObject(gap, "time", when ? when : SPOOL_EPOCH);
	cJSON_AddStringToObject(gap, "kind", "gap");
	cJSON_AddNumberToObject(gap, "count", (double)count);
	cJSON_AddStringToObject(gap, "text", note);
	return gap;
}

/* A gap entry for a corrupt entry into its batch, at the time of the
 * batch's last entry (the clock would not replay alike). */
static int spool_damaged_gap(struct spool_batcher *b, struct spool_batch *bt, size_t bytes)
{
	const cJSON *last = cJSON_GetArrayItem(bt->entries, cJSON_GetArraySize(bt->entries) - 1);
	cJSON *gap = spool_gap_new(spool_str(last, "time"), bytes, 1);
	char key[600], *text;
	int ret = 0;

	if (!gap)
		return -ENOMEM;
	text = jsontext_print(gap, NULL);
	bt->bytes += text ? strlen(text) : 0;
	free(text);
	/* No size cut before it: a batch is never opened by a gap. */
	cJSON_AddItemToArray(bt->entries, gap);
	bt->n++;
	spool_batcher_changed(b);
	if (!b->restoring && bt->n >= (size_t)b->s->opts.batch_entries) {
		spool_key(bt->cid, bt->sk, key, sizeof(key));
		if ((ret = spool_cut(b, key)) == -EINVAL)
			ret = 0;
	}
	return ret;
}

/* A corrupt entry whose identity check (spool_ident_crc) still matches,
 * as the item of its gap entry: the session it names is its own, even when
 * no batch of it is open (one just cut, or the one it opens). NULL when
 * the damage reaches who or when. */
static cJSON *spool_damaged_entry(const void *data, size_t len)
{
	cJSON *item = data ? cJSON_ParseWithLength(data, len) : NULL, *gap = NULL;
	cJSON *e = cJSON_DetachItemFromObjectCaseSensitive(item, "e");
	cJSON *ic = cJSON_DetachItemFromObjectCaseSensitive(item, "ic");
	const char *t = spool_str(item, "t");
	char *head = NULL, check[16];
	const cJSON *n;
	size_t count;

	if (t && !strcmp(t, "e") && cJSON_IsString(ic) && (head = jsontext_print(item, NULL))) {
		snprintf(check, sizeof(check), "%08" PRIx32,
			 spool_entry_crc(head, spool_str(e, "time")));
		/* A fold's head says how many execs its entry held. */
		n = cJSON_GetObjectItemCaseSensitive(item, "n");
		count = cJSON_IsNumber(n) && n->valuedouble >= 1 &&
					n->valuedouble <= SPOOL_FOLD_KEYS_MAX ?
				(size_t)n->valuedouble :
				1;
		if (!strcmp(check, ic->valuestring))
			gap = spool_gap_new(spool_str(e, "time"), len + 12, count);
	}
	free(head);
	cJSON_Delete(ic);
	cJSON_Delete(e);
	if (!gap) {
		cJSON_Delete(item);
		return NULL;
	}
	cJSON_AddItemToObject(item, "e", gap);
	cJSON_DeleteItemFromObjectCaseSensitive(item, "k");
	cJSON_DeleteItemFromObjectCaseSensitive(item, "ks");
	cJSON_DeleteItemFromObjectCaseSensitive(item, "n");
	return item;
}

/* Counts what became of a corrupt entry: a gap entry (ret 0) or, of no
 * known session or target identity (-EINVAL), lost; any other ret, not
 * decided yet (met again on the next run). */
static void spool_damaged_counted(struct spool_batcher *b, int ret)
{
	if (ret != 0 && ret != -EINVAL)
		return;
	if (!b->dry)
		b->s->stats.corrupt++;
	if (ret == -EINVAL) {
		b->unattributed++;
		if (!b->dry)
			b->s->stats.corrupt_unattributed++;
		return;
	}
	b->gaps++;
	if (!b->dry)
		b->s->stats.corrupt_gaps++;
}

static int spool_batch_damaged(struct spool_batcher *b, const void *data, size_t len)
{
	struct spool_batch *bt = spool_damaged_owner(b, data, len);

	spool_damaged_counted(b, bt ? 0 : -EINVAL);
	return bt ? spool_damaged_gap(b, bt, len + 12) : 0;
}

/* The item at b->bp: 0 with *item (NULL when it reads as no item) and
 * *next, *damaged set when it was read from damaged bytes; 1 when the
 * bytes there were a damaged region, handled (a gap): go on at *next;
 * -ENODATA at the end, or an error. */
static int spool_batch_read(struct spool_batcher *b, cJSON **item, uint64_t *next, bool *damaged)
{
	const void *mem;
	void *data;
	size_t len;
	int ret;

	*item = NULL;
	*damaged = false;
	/* Most items are still in the journal's memory copy: read in place
	 * (the copy stays until the journal changes, after the parse). */
	if (journal_peek(b->s->ej, b->bp, &mem, &len, next) == 0) {
		*item = spool_item_read(mem, len);
		return 0;
	}
	ret = journal_read(b->s->ej, b->bp, &data, &len, next);
	if (ret == -EBADMSG && !(*item = spool_damaged_entry(data, data ? len : 0))) {
		ret = spool_batch_damaged(b, data, data ? len : 0);
		free(data);
		return ret == -ENOSPC || ret == -ENOMEM ? ret : 1;
	}
	if (ret == -EBADMSG)
		*damaged = true;
	else if (ret == 0)
		*item = spool_item_read(data, len);
	free(data);
	return ret == -EBADMSG ? 0 : ret;
}

int spool_batcher_run(struct spool_batcher *b, uint64_t until)
{
	uint64_t next;
	cJSON *item;
	int ret;

	while (b->bp < until) {
		bool damaged;

		ret = spool_batch_read(b, &item, &next, &damaged);
		if (ret == -ENODATA)
			break;
		if (ret < 0)
			return ret;
		if (ret == 1) {
			b->bp = next;
			continue;
		}
		ret = 0;
		if (!spool_settle(b->s, item)) {
			/* Its session's attribution is not decided yet: the
			 * records wait for it (a dry batcher forms what came
			 * before). */
			if (!b->dry)
				spool_await_set(&b->await, item, b->bp);
			ret = -EAGAIN;
		} else if (spool_str(item, "t") && !strcmp(spool_str(item, "t"), "e")) {
			ret = spool_batch_entry(b, item, b->bp);
		} else if (spool_str(item, "t") && !strcmp(spool_str(item, "t"), "c") &&
			   spool_str(item, "cid") && spool_str(item, "sk")) {
			char key[600];

			spool_key(spool_str(item, "cid"), spool_str(item, "sk"), key, sizeof(key));
			ret = spool_cut(b, key);
		}
		cJSON_Delete(item);
		if (damaged)
			spool_damaged_counted(b, ret);
		if (ret == -EAGAIN || ret == -ENOSPC || ret == -ENOMEM)
			return ret; /* this item again on the next run */
		if (b->await.since_ms && b->await.pos == b->bp)
			spool_await_clear(&b->await);
		b->bp = next;
	}
	return 0;
}

struct spool_age {
	struct spool_batcher *b;
	long now;
	int ret;
};

static void spool_age_cb(const char *key, void *value, void *arg)
{
	struct spool_age *a = arg;
	struct spool_batch *bt = value;

	(void)key;
	if (bt->cut_requested || a->now - bt->opened_ms < a->b->s->opts.batch_age_ms || a->ret)
		return;
	a->ret = spool_append_cut(a->b->s->ej, bt->cid, bt->sk);
	if (!a->ret)
		bt->cut_requested = true;
}

int spool_batcher_cut_aged(struct spool_batcher *b, long now_ms)
{
	struct spool_age a = { b, now_ms, 0 };

	hmap_foreach(&b->batches, spool_age_cb, &a);
	return a.ret;
}

/* --- checkpoints ----------------------------------------------------------------- */

static void spool_ckpt_chain(const char *key, void *value, void *arg)
{
	struct spool_chain *c = value;
	cJSON *o = cJSON_AddObjectToObject(arg, key), *api;

	cJSON_AddNumberToObject(o, "seq", (double)c->next_seq);
	cJSON_AddStringToObject(o, "prev", c->prev);
	if (c->prev_until[0])
		cJSON_AddStringToObject(o, "until", c->prev_until);
	if (!c->from_api)
		return;
	api = cJSON_AddObjectToObject(o, "api");
	if (c->seed_seq == UINT64_MAX)
		return;
	cJSON_AddNumberToObject(api, "seq", (double)c->seed_seq);
	cJSON_AddStringToObject(api, "prev", c->seed_prev);
	if (c->seed_until[0])
		cJSON_AddStringToObject(api, "until", c->seed_until);
}

struct spool_ckpt_open {
	cJSON *open;
	uint64_t keep;
};

static void spool_ckpt_batch(const char *key, void *value, void *arg)
{
	struct spool_ckpt_open *o = arg;
	struct spool_batch *bt = value;
	cJSON *j = cJSON_CreateObject();

	(void)key;
	/* By reference: the entries are in the entries journal from first. */
	cJSON_AddStringToObject(j, "cid", bt->cid);
	cJSON_AddStringToObject(j, "sk", bt->sk);
	cJSON_AddNumberToObject(j, "first", (double)bt->first);
	cJSON_AddNumberToObject(j, "n", (double)bt->n);
	cJSON_AddItemToArray(o->open, j);
	if (bt->first < o->keep)
		o->keep = bt->first;
}

cJSON *spool_batcher_checkpoint(const struct spool_batcher *b, uint64_t *keep)
{
	cJSON *item = cJSON_CreateObject(), *chains;
	struct spool_ckpt_open o = { NULL, b->bp };

	if (!item)
		return NULL;
	cJSON_AddStringToObject(item, "t", "k");
	cJSON_AddNumberToObject(item, "bp", (double)b->bp);
	chains = cJSON_AddObjectToObject(item, "chains");
	hmap_foreach(&b->chains, spool_ckpt_chain, chains);
	o.open = cJSON_AddArrayToObject(item, "open");
	hmap_foreach(&b->batches, spool_ckpt_batch, &o);
	cJSON_AddNumberToObject(item, "keep", (double)o.keep);
	*keep = o.keep;
	return item;
}

static uint64_t spool_num(const cJSON *o, const char *k)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(n) && n->valuedouble >= 0 && n->valuedouble < 9e15 ?
		       (uint64_t)n->valuedouble :
		       0;
}

/* The entries of the checkpoint's open batches, read again from the
 * entries journal: every entry of a batch's container session from its
 * first up to bp belongs to it (a cut in between would have closed it),
 * and so do the gap entries of corrupt ones, decided as the batcher
 * decided them. */
static int spool_restore_batches(struct spool_batcher *b, const cJSON *open)
{
	uint64_t from = UINT64_MAX, pos, next;
	const cJSON *o;
	size_t len;
	void *data;
	int ret = 0;

	cJSON_ArrayForEach(o, open) {
		if (spool_str(o, "cid") && spool_str(o, "sk") &&
		    !cJSON_GetObjectItemCaseSensitive(o, "entries") && spool_num(o, "first") < from)
			from = spool_num(o, "first");
	}
	for (pos = from; pos < b->bp && !ret; pos = next) {
		cJSON *item;

		bool damaged = false;

		ret = journal_read(b->s->ej, pos, &data, &len, &next);
		if (ret == -ENODATA)
			break;
		/* A corrupt entry is decided as the batcher decided it; counted
		 * again: this process has not met it yet. */
		if (ret == -EBADMSG && !(item = spool_damaged_entry(data, data ? len : 0))) {
			ret = spool_batch_damaged(b, data, data ? len : 0);
			free(data);
			continue;
		}
		if (ret == -EBADMSG)
			damaged = true;
		else if (ret < 0)
			break;
		else
			item = cJSON_ParseWithLength(data, len);
		free(data);
		ret = 0;
		/* The batcher passed it decided: the decision is kept (unless
		 * its own item was corrupt: then the entry goes in without). */
		spool_settle(b->s, item);
		if (spool_str(item, "t") && !strcmp(spool_str(item, "t"), "e") &&
		    spool_str(item, "cid") && spool_str(item, "sk")) {
			cJSON_ArrayForEach(o, open) {
				if (!spool_str(o, "cid") ||
				    strcmp(spool_str(o, "cid"), spool_str(item, "cid")) ||
				    !spool_str(o, "sk") ||
				    strcmp(spool_str(o, "sk"), spool_str(item, "sk")) ||
				    pos < spool_num(o, "first") ||
				    cJSON_GetObjectItemCaseSensitive(o, "entries"))
					continue;
				ret = spool_batch_entry(b, item, pos);
				if (damaged)
					spool_damaged_counted(b, ret);
				break;
			}
		}
		cJSON_Delete(item);
	}
	return ret == -ENODATA ? 0 : ret;
}

int spool_batcher_restore(struct spool_batcher *b, const cJSON *ckpt)
{
	const cJSON *c, *o;
	int ret;

	b->bp = spool_num(ckpt, "bp");
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(ckpt, "chains")) {
		const cJSON *api = cJSON_GetObjectItemCaseSensitive(c, "api");
		struct spool_chain *ch = calloc(1, sizeof(*ch));

		if (!ch || !c->string || hmap_put(&b->chains, c->string, ch, NULL) < 0) {
			free(ch);
			return -ENOMEM;
		}
		ch->seeded = true;
		ch->next_seq = spool_num(c, "seq");
		snprintf(ch->prev, sizeof(ch->prev), "%s", spool_str(c, "prev") ?: "");
		snprintf(ch->prev_until, sizeof(ch->prev_until), "%s", spool_str(c, "until") ?: "");
		if (cJSON_IsObject(api)) {
			ch->from_api = true;
			ch->seed_seq = cJSON_GetObjectItemCaseSensitive(api, "seq") ?
					       spool_num(api, "seq") :
					       UINT64_MAX;
			snprintf(ch->seed_prev, sizeof(ch->seed_prev), "%s",
				 spool_str(api, "prev") ?: "");
			snprintf(ch->seed_until, sizeof(ch->seed_until), "%s",
				 spool_str(api, "until") ?: "");
		}
	}
	/* Open batches of an older agent's checkpoint hold their entries. */
	cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(ckpt, "open")) {
		const cJSON *entries = cJSON_GetObjectItemCaseSensitive(o, "entries");
		struct spool_batch *nb;
		char key[600];

		if (!cJSON_IsArray(entries) || !spool_str(o, "cid") || !spool_str(o, "sk"))
			continue;
		if (!(nb = calloc(1, sizeof(*nb))))
			return -ENOMEM;
		nb->cid = strdup(spool_str(o, "cid"));
		nb->sk = strdup(spool_str(o, "sk"));
		nb->id = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(o, "id"), 1);
		if (cJSON_GetObjectItemCaseSensitive(o, "sess"))
			nb->sess = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(o, "sess"), 1);
		nb->entries = cJSON_Duplicate(entries, 1);
		nb->n = (size_t)cJSON_GetArraySize(entries);
		nb->bytes = (size_t)spool_num(o, "bytes");
		nb->first = b->bp;
		nb->opened_ms = clock_now_ms();
		if (nb->cid && nb->sk) /* out of memory: no key, failed below */
			spool_key(nb->cid, nb->sk, key, sizeof(key));
		if (!nb->cid || !nb->sk || !nb->id || !nb->entries ||
		    hmap_put(&b->batches, key, nb, NULL) < 0) {
			spool_batch_free(nb);
			return -ENOMEM;
		}
	}
	b->restoring = true;
	ret = spool_restore_batches(b, cJSON_GetObjectItemCaseSensitive(ckpt, "open"));
	b->restoring = false;
	free(b->wanted);
	b->wanted = NULL;
	return ret == -EAGAIN ? 0 : ret;
}

int spool_batcher_seed(struct spool_batcher *b, const char *cid, const struct spool_head *head)
{
	struct spool_chain *c;

	if (hmap_get(&b->chains, cid))
		return 0; /* known already: what it formed stays */
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	spool_chain_set_seed(c, head);
	if (hmap_put(&b->chains, cid, c, NULL) < 0) {
		free(c);
		return -ENOMEM;
	}
	if (b->wanted && !strcmp(b->wanted, cid)) {
		free(b->wanted);
		b->wanted = NULL;
		cJSON_Delete(b->wanted_id);
		b->wanted_id = NULL;
	}
	spool_batcher_changed(b);
	return 1;
}

struct spool_prune {
	char **victims;
	size_t n, max;
};

static void spool_prune_open(const char *key, void *value, void *arg)
{
	struct hmap *open = arg;
	const struct spool_batch *bt = value;

	(void)key;
	hmap_add(open, bt->cid);
}

static void spool_prune_cb(const char *key, void *value, void *arg)
{
	struct spool_prune *p = arg;

	(void)value;
	if (p->n < p->max)
		p->victims[p->n++] = (char *)key;
}

void spool_batcher_prune(struct spool_batcher *b, uint64_t rp)
{
	struct spool_prune p = { NULL, 0, b->chains.size };
	struct hmap open;
	size_t i, drop;

	if (!b->s->opts.resume || b->chains.size <= b->s->opts.max_chains)
		return;
	if (!(p.victims = calloc(p.max, sizeof(*p.victims))))
		return;
	hmap_init(&open);
	hmap_foreach(&b->batches, spool_prune_open, &open);
	hmap_foreach(&b->chains, spool_prune_cb, &p);
	drop = b->chains.size - b->s->opts.max_chains;
	/* Only chains with nothing open whose records are all published: the
	 * API server's head is then what this chain says. */
	for (i = 0; i < p.n && drop; i++) {
		const struct spool_chain *c = hmap_get(&b->chains, p.victims[i]);

		if (hmap_has(&open, p.victims[i]) || c->last_rec >= rp)
			continue;
		hmap_remove(&b->chains, p.victims[i]);
		drop--;
		spool_batcher_changed(b);
	}
	hmap_clear(&open);
	free(p.victims);
}

/* --- records a corrupt records journal lost -------------------------------------- */

static int spool_readable_records(struct spool *s, uint64_t from, struct hmap *seen)
{
	uint64_t pos, next;
	size_t len;
	void *data;
	int ret;

	for (pos = from;; pos = next) {
		cJSON *item, *spec;
		char key[600];

		ret = journal_read(s->rj, pos, &data, &len, &next);
		if (ret == -ENODATA)
			return 0;
		if (ret == -EBADMSG) {
			free(data);
			continue;
		}
		if (ret < 0)
			return ret;
		item = cJSON_ParseWithLength(data, len);
		free(data);
		spec = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(item, "r"),
							"spec");
		if (spool_str(spec, "containerID")) {
			snprintf(key, sizeof(key), "%s\x1f%" PRIu64, spool_str(spec, "containerID"),
				 spool_num(spec, "sequence"));
			hmap_add(seen, key);
		}
		cJSON_Delete(item);
	}
}

int spool_regenerate(struct spool *s, uint64_t pos, size_t *present)
{
	struct spool_batcher d;
	struct hmap seen;
	cJSON *ckpt = NULL, *rec;
	uint64_t from = 0, next;
	size_t i, len;
	void *data;
	int ret, n = 0;
	bool whole = true;

	*present = 0;
	/* The newest readable checkpoint before pos. */
	for (i = s->nckpt; i-- > 0 && !ckpt;) {
		if (s->ckpt_pos[i] >= pos ||
		    journal_read(s->rj, s->ckpt_pos[i], &data, &len, &next) < 0)
			continue;
		ckpt = cJSON_ParseWithLength(data, len);
		free(data);
		from = s->ckpt_pos[i];
	}
	if (!ckpt)
		return -ENOENT;
	if ((ret = spool_batcher_init(&d, s, true)) < 0) {
		cJSON_Delete(ckpt);
		return ret;
	}
	d.seeds = &s->b;
	hmap_init(&seen);
	ret = spool_batcher_restore(&d, ckpt);
	cJSON_Delete(ckpt);
	if (!ret)
		ret = spool_readable_records(s, from, &seen);
	if (!ret) {
		ret = spool_batcher_run(&d, s->b.bp);
		if (ret == -EAGAIN) {
			ret = 0; /* a chain it cannot start: what came before it */
			whole = false;
		}
	}
	cJSON_ArrayForEach(rec, d.out) {
		const cJSON *spec = cJSON_GetObjectItemCaseSensitive(rec, "spec");
		char key[600];
		cJSON *item;

		if (ret < 0)
			break;
		snprintf(key, sizeof(key), "%s\x1f%" PRIu64, spool_str(spec, "containerID") ?: "",
			 spool_num(spec, "sequence"));
		if (hmap_has(&seen, key)) {
			*present += whole;
			continue;
		}
		item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "t", "r");
		cJSON_AddItemReferenceToObject(item, "r", rec);
		ret = spool_append(s->rj, item, NULL);
		cJSON_Delete(item);
		n += ret == 0;
	}
	hmap_clear(&seen);
	spool_batcher_clear(&d);
	return ret < 0 ? ret : n;
}
