// SPDX-License-Identifier: Apache-2.0
/* The spool: entries journal -> batcher -> records journal -> publisher.
 * Owned by the agent's main loop. See spool.h for the replay argument. */
#include "spool.h"

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "hmap.h"
#include "log.h"
#include "record.h"

#define SPOOL_MAX_CHECKPOINTS 1024

struct spool_batch {
	char *cid, *sk;
	cJSON *id, *sess, *entries;
	size_t bytes;
	long opened_ms;
	bool cut_requested;
};

struct spool_chain {
	uint64_t next_seq;
	char prev[DIGEST_STR_LEN];
	char prev_until[RECORD_TIME_LEN];	/* record_kept_until of prev */
};

struct spool {
	struct spool_opts opts;
	struct journal *ej, *rj;
	uint64_t bp;		/* batcher's next entry */
	uint64_t ep;		/* event publisher's next entry */
	uint64_t rp;		/* record publisher's next item */
	struct hmap batches;	/* "cid\x1fsk" -> struct spool_batch */
	struct hmap chains;	/* cid -> struct spool_chain */
	uint64_t ckpt_pos[SPOOL_MAX_CHECKPOINTS], ckpt_bp[SPOOL_MAX_CHECKPOINTS];
	size_t nckpt;		/* checkpoints since the records journal's cursor */
	long last_ckpt_ms;
	bool changed;		/* batcher state changed since the last checkpoint */
	/* The key of the last item of the entries journal when it is a keyed
	 * entry, else "": an agent killed after spooling an entry and before
	 * the ring buffer learnt it was read meets that event again. */
	char last_key[SPOOL_KEY_MAX];
	struct spool_stats stats;
};

static void spool_batch_free(struct spool_batch *b)
{
	if (!b)
		return;
	free(b->cid);
	free(b->sk);
	cJSON_Delete(b->id);
	cJSON_Delete(b->sess);
	cJSON_Delete(b->entries);
	free(b);
}

static void spool_batch_free_value(void *b)
{
	spool_batch_free(b);
}

static void spool_reset_state(struct spool *s)
{
	hmap_clear(&s->batches);
	hmap_clear(&s->chains);
}

void spool_close(struct spool *s)
{
	if (!s)
		return;
	spool_reset_state(s);
	journal_close(s->ej);
	journal_close(s->rj);
	free(s);
}

static void spool_key(const char *cid, const char *sk, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s\x1f%s", cid, sk);
}

static struct spool_chain *spool_chain(struct spool *s, const char *cid)
{
	struct spool_chain *c = hmap_get(&s->chains, cid);

	if (c)
		return c;
	if (!(c = calloc(1, sizeof(*c))))
		return NULL;
	if (hmap_put(&s->chains, cid, c, NULL) < 0) {
		free(c);
		return NULL;
	}
	return c;
}

/* Appends a JSON item to a journal. */
static int spool_append(struct journal *j, const cJSON *item, uint64_t *pos)
{
	char *text = cJSON_PrintUnformatted(item);
	int ret;

	if (!text)
		return -ENOMEM;
	ret = journal_append(j, text, strlen(text), pos);
	free(text);
	return ret;
}

static const char *spool_str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* Turns a batch into a record in the records journal and frees it. */
static int spool_cut(struct spool *s, const char *key)
{
	struct spool_batch *b = hmap_del(&s->batches, key);
	struct spool_chain *c;
	struct record_identity id;
	struct record_session sess = { 0 };
	char digest[DIGEST_STR_LEN], until[RECORD_TIME_LEN];
	cJSON *rec, *item;
	int ret;

	if (!b)
		return 0;
	if (!(c = spool_chain(s, b->cid))) {
		spool_batch_free(b);
		return -ENOMEM;
	}
	id = (struct record_identity){ spool_str(b->id, "ns"), spool_str(b->id, "pod"),
				       spool_str(b->id, "podUID"), spool_str(b->id, "container"),
				       b->cid, spool_str(b->id, "node"),
				       cJSON_GetObjectItemCaseSensitive(b->id, "policies"),
				       spool_str(b->id, "retention") };
	if (!id.ns || !id.pod || !id.pod_uid || !id.container || !id.node || !id.retention) {
		log_with(LOG_ERROR, LOG_KV("container", b->cid),
			 "spool: batch without identity; dropped");
		spool_batch_free(b);
		return -EINVAL;
	}
	if (b->sess) {
		sess.id = spool_str(b->sess, "id");
		sess.pid =
			(int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(b->sess, "pid"));
		sess.start = spool_str(b->sess, "start");
	}
	rec = record_build(&id, b->sess ? &sess : NULL, b->entries, c->next_seq, c->prev,
			   c->prev_until, s->opts.key, digest);
	b->entries = NULL; /* record_build took it */
	if (!rec) {
		spool_batch_free(b);
		return -ENOMEM;
	}
	if (record_kept_until(cJSON_GetObjectItemCaseSensitive(rec, "spec"), until) < 0)
		until[0] = '\0';
	item = cJSON_CreateObject();
	cJSON_AddStringToObject(item, "t", "r");
	cJSON_AddItemToObject(item, "r", rec);
	ret = spool_append(s->rj, item, NULL);
	cJSON_Delete(item);
	if (ret < 0) {
		log_with(LOG_ERROR, LOG_KV("container", b->cid),
			 "spool: cannot journal a record: %s", strerror(-ret));
		spool_batch_free(b);
		return ret;
	}
	c->next_seq++;
	memcpy(c->prev, digest, sizeof(digest));
	memcpy(c->prev_until, until, sizeof(until));
	s->stats.records++;
	s->changed = true;
	spool_batch_free(b);
	return 0;
}

/* Adds one journaled entry to its batch, cutting on count and size. */
static int spool_batch_entry(struct spool *s, const cJSON *item)
{
	const char *cid = spool_str(item, "cid"), *sk = spool_str(item, "sk");
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(item, "e");
	struct spool_batch *b;
	char key[600], *text;
	size_t len;
	int ret;

	if (!cid || !sk || !e)
		return -EINVAL;
	spool_key(cid, sk, key, sizeof(key));
	text = cJSON_PrintUnformatted(e);
	len = text ? strlen(text) : 0;
	free(text);
	b = hmap_get(&s->batches, key);
	if (b && b->bytes + len > s->opts.batch_bytes && (ret = spool_cut(s, key)) < 0)
		return ret;
	if (!(b = hmap_get(&s->batches, key))) {
		if (!(b = calloc(1, sizeof(*b))))
			return -ENOMEM;
		b->cid = strdup(cid);
		b->sk = strdup(sk);
		b->id = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(item, "id"), 1);
		if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(item, "sess")))
			b->sess =
				cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(item, "sess"), 1);
		b->entries = cJSON_CreateArray();
		b->opened_ms = clock_now_ms();
		if (!b->cid || !b->sk || !b->id || !b->entries ||
		    hmap_put(&s->batches, key, b, NULL) < 0) {
			spool_batch_free(b);
			return -ENOMEM;
		}
	}
	cJSON_AddItemToArray(b->entries, cJSON_Duplicate(e, 1));
	b->bytes += len;
	s->changed = true;
	if (cJSON_GetArraySize(b->entries) >= s->opts.batch_entries)
		return spool_cut(s, key);
	return 0;
}

/* Runs the batcher from bp to the end of the entries journal. */
static int spool_run_batcher(struct spool *s)
{
	uint64_t next;
	size_t len;
	void *data;
	cJSON *item;
	int ret = 0;

	while (journal_read(s->ej, s->bp, &data, &len, &next) == 0) {
		const char *t;
		char key[600];

		item = cJSON_ParseWithLength(data, len);
		free(data);
		t = spool_str(item, "t");
		if (t && !strcmp(t, "e")) {
			ret = spool_batch_entry(s, item);
		} else if (t && !strcmp(t, "c") && spool_str(item, "cid") &&
			   spool_str(item, "sk")) {
			spool_key(spool_str(item, "cid"), spool_str(item, "sk"), key, sizeof(key));
			ret = spool_cut(s, key);
		}
		cJSON_Delete(item);
		if (ret == -ENOSPC || ret == -ENOMEM)
			return ret; /* retry this entry on the next tick */
		s->bp = next;
	}
	return 0;
}

static void spool_ckpt_chain(const char *key, void *value, void *arg)
{
	struct spool_chain *c = value;
	cJSON *o = cJSON_AddObjectToObject(arg, key);

	cJSON_AddNumberToObject(o, "seq", (double)c->next_seq);
	cJSON_AddStringToObject(o, "prev", c->prev);
	if (c->prev_until[0])
		cJSON_AddStringToObject(o, "until", c->prev_until);
}

static void spool_ckpt_batch(const char *key, void *value, void *arg)
{
	struct spool_batch *b = value;
	cJSON *o = cJSON_CreateObject();

	(void)key;
	cJSON_AddStringToObject(o, "cid", b->cid);
	cJSON_AddStringToObject(o, "sk", b->sk);
	cJSON_AddItemToObject(o, "id", cJSON_Duplicate(b->id, 1));
	if (b->sess)
		cJSON_AddItemToObject(o, "sess", cJSON_Duplicate(b->sess, 1));
	cJSON_AddItemToObject(o, "entries", cJSON_Duplicate(b->entries, 1));
	cJSON_AddNumberToObject(o, "bytes", (double)b->bytes);
	cJSON_AddItemToArray(arg, o);
}

/* Journals the batcher's state; the entries before bp are then covered by
 * records and this checkpoint, so the entries journal may drop them once
 * their Events are out too. */
static int spool_checkpoint(struct spool *s)
{
	cJSON *item = cJSON_CreateObject(), *chains, *open;
	uint64_t pos;
	int ret;

	if (!item)
		return -ENOMEM;
	if (s->nckpt == SPOOL_MAX_CHECKPOINTS) {
		/* The publisher is far behind (API server down): keep the newest. */
		memmove(s->ckpt_pos, s->ckpt_pos + 1, (s->nckpt - 1) * sizeof(*s->ckpt_pos));
		memmove(s->ckpt_bp, s->ckpt_bp + 1, (s->nckpt - 1) * sizeof(*s->ckpt_bp));
		s->nckpt--;
	}
	cJSON_AddStringToObject(item, "t", "k");
	cJSON_AddNumberToObject(item, "bp", (double)s->bp);
	chains = cJSON_AddObjectToObject(item, "chains");
	hmap_foreach(&s->chains, spool_ckpt_chain, chains);
	open = cJSON_AddArrayToObject(item, "open");
	hmap_foreach(&s->batches, spool_ckpt_batch, open);
	ret = spool_append(s->rj, item, &pos);
	cJSON_Delete(item);
	if (ret < 0)
		return ret;
	s->ckpt_pos[s->nckpt] = pos;
	s->ckpt_bp[s->nckpt++] = s->bp;
	s->stats.checkpoints++;
	s->changed = false;
	s->last_ckpt_ms = clock_now_ms();
	return 0;
}

/* Drops what every consumer is done with. */
static int spool_ack(struct spool *s)
{
	uint64_t ack_bp = 0, ack_rp = 0;
	size_t i, keep = 0;
	int ret;

	/* The records journal restarts at a checkpoint before which every
	 * record is published; the entries journal at that checkpoint's bp. */
	for (i = 0; i < s->nckpt; i++) {
		if (s->ckpt_pos[i] > s->rp)
			break;
		ack_rp = s->ckpt_pos[i];
		ack_bp = s->ckpt_bp[i];
		keep = i;
	}
	if (i == 0)
		return 0;
	if ((ret = journal_ack(s->rj, ack_rp)) < 0)
		return ret;
	memmove(s->ckpt_pos, s->ckpt_pos + keep, (s->nckpt - keep) * sizeof(*s->ckpt_pos));
	memmove(s->ckpt_bp, s->ckpt_bp + keep, (s->nckpt - keep) * sizeof(*s->ckpt_bp));
	s->nckpt -= keep;
	return journal_ack(s->ej, ack_bp < s->ep ? ack_bp : s->ep);
}

struct spool_age {
	struct spool *s;
	long now;
	int ret;
};

static void spool_age_cb(const char *key, void *value, void *arg)
{
	struct spool_age *a = arg;
	struct spool_batch *b = value;
	cJSON *item;

	(void)key;
	if (b->cut_requested || a->now - b->opened_ms < a->s->opts.batch_age_ms || a->ret)
		return;
	item = cJSON_CreateObject();
	cJSON_AddStringToObject(item, "t", "c");
	cJSON_AddStringToObject(item, "cid", b->cid);
	cJSON_AddStringToObject(item, "sk", b->sk);
	a->ret = spool_append(a->s->ej, item, NULL);
	cJSON_Delete(item);
	if (!a->ret)
		b->cut_requested = true;
}

int spool_tick(struct spool *s)
{
	struct spool_age a = { s, clock_now_ms(), 0 };
	int ret;

	if ((ret = spool_run_batcher(s)) < 0)
		return ret;
	/* Age is wall-clock: journal it as a cut marker, so a replay cuts
	 * the batch at the same entry. */
	hmap_foreach(&s->batches, spool_age_cb, &a);
	if ((ret = spool_run_batcher(s)) < 0)
		return ret;
	if ((ret = journal_sync(s->ej)) < 0)
		return ret;
	if ((s->changed && a.now - s->last_ckpt_ms >= s->opts.checkpoint_ms) || s->nckpt == 0) {
		if ((ret = spool_checkpoint(s)) < 0)
			return ret;
	}
	if ((ret = journal_sync(s->rj)) < 0)
		return ret;
	return spool_ack(s);
}

int spool_add(struct spool *s, const char *cid, const char *sk, const cJSON *id,
	      const cJSON *sess, const cJSON *entry)
{
	return spool_add_keyed(s, cid, sk, id, sess, entry, NULL);
}

int spool_add_keyed(struct spool *s, const char *cid, const char *sk, const cJSON *id,
		    const cJSON *sess, const cJSON *entry, const char *key)
{
	cJSON *item = cJSON_CreateObject();
	int ret;

	if (!item)
		return -ENOMEM;
	if (key && strlen(key) >= SPOOL_KEY_MAX) {
		cJSON_Delete(item);
		return -EINVAL;
	}
	cJSON_AddStringToObject(item, "t", "e");
	/* Beside the entry, never in it: records and Events are built from
	 * "e" only. */
	if (key)
		cJSON_AddStringToObject(item, "k", key);
	cJSON_AddStringToObject(item, "cid", cid);
	cJSON_AddStringToObject(item, "sk", sk);
	cJSON_AddItemToObject(item, "id", cJSON_Duplicate(id, 1));
	if (sess)
		cJSON_AddItemToObject(item, "sess", cJSON_Duplicate(sess, 1));
	cJSON_AddItemToObject(item, "e", cJSON_Duplicate(entry, 1));
	ret = spool_append(s->ej, item, NULL);
	cJSON_Delete(item);
	if (ret == -ENOSPC)
		s->stats.rejected_full++;
	else if (ret == 0)
		s->stats.entries++;
	if (ret == 0)
		snprintf(s->last_key, sizeof(s->last_key), "%s", key ? key : "");
	return ret;
}

bool spool_is_last_key(const struct spool *s, const char *key)
{
	return s->last_key[0] && !strcmp(s->last_key, key);
}

/* The last item's key, from the journal's tail (acknowledged or not). */
static void spool_restore_last_key(struct spool *s)
{
	const char *k;
	cJSON *item;
	size_t len;
	void *data;

	s->last_key[0] = '\0';
	if (journal_last(s->ej, &data, &len) < 0)
		return;
	item = cJSON_ParseWithLength(data, len);
	free(data);
	k = spool_str(item, "k");
	if (k && strlen(k) < sizeof(s->last_key))
		snprintf(s->last_key, sizeof(s->last_key), "%s", k);
	cJSON_Delete(item);
}

int spool_end_session(struct spool *s, const char *cid, const char *sk)
{
	cJSON *item = cJSON_CreateObject();
	int ret;

	cJSON_AddStringToObject(item, "t", "c");
	cJSON_AddStringToObject(item, "cid", cid);
	cJSON_AddStringToObject(item, "sk", sk);
	ret = spool_append(s->ej, item, NULL);
	cJSON_Delete(item);
	if (ret == 0)
		s->last_key[0] = '\0';
	return ret;
}

int spool_next_record(struct spool *s, cJSON **rec, uint64_t *pos)
{
	uint64_t next;
	size_t len;
	void *data;
	cJSON *item;

	while (journal_read(s->rj, s->rp, &data, &len, &next) == 0) {
		const char *t;

		item = cJSON_ParseWithLength(data, len);
		free(data);
		t = spool_str(item, "t");
		if (t && !strcmp(t, "r") && cJSON_GetObjectItemCaseSensitive(item, "r")) {
			*rec = cJSON_DetachItemFromObjectCaseSensitive(item, "r");
			*pos = s->rp;
			cJSON_Delete(item);
			return 0;
		}
		cJSON_Delete(item);
		s->rp = next; /* checkpoints are not published */
	}
	return -ENODATA;
}

int spool_record_done(struct spool *s, uint64_t pos)
{
	uint64_t next;
	size_t len;
	void *data;

	if (pos != s->rp || journal_read(s->rj, pos, &data, &len, &next) < 0)
		return -EINVAL;
	free(data);
	s->rp = next;
	return 0;
}

int spool_next_event(struct spool *s, cJSON **item, uint64_t *pos)
{
	uint64_t next;
	size_t len;
	void *data;
	cJSON *it;

	while (s->ep < s->bp && journal_read(s->ej, s->ep, &data, &len, &next) == 0) {
		const char *t;

		it = cJSON_ParseWithLength(data, len);
		free(data);
		t = spool_str(it, "t");
		if (t && !strcmp(t, "e")) {
			*item = it;
			*pos = s->ep;
			return 0;
		}
		cJSON_Delete(it);
		s->ep = next;
	}
	return -ENODATA;
}

int spool_event_done(struct spool *s, uint64_t pos)
{
	uint64_t next;
	size_t len;
	void *data;

	if (pos != s->ep || journal_read(s->ej, pos, &data, &len, &next) < 0)
		return -EINVAL;
	free(data);
	s->ep = next;
	return 0;
}

/* Restores the batcher from the last checkpoint of the records journal. */
static int spool_restore(struct spool *s)
{
	uint64_t pos = journal_acked(s->rj), next, last = UINT64_MAX;
	const cJSON *c, *b;
	cJSON *item, *ckpt = NULL;
	size_t len;
	void *data;

	while (journal_read(s->rj, pos, &data, &len, &next) == 0) {
		const char *t;

		item = cJSON_ParseWithLength(data, len);
		free(data);
		t = spool_str(item, "t");
		if (t && !strcmp(t, "k")) {
			cJSON_Delete(ckpt);
			ckpt = item;
			last = pos;
			if (s->nckpt < SPOOL_MAX_CHECKPOINTS) {
				s->ckpt_pos[s->nckpt] = pos;
				s->ckpt_bp[s->nckpt++] = (uint64_t)cJSON_GetNumberValue(
					cJSON_GetObjectItemCaseSensitive(item, "bp"));
			}
		} else {
			cJSON_Delete(item);
		}
		pos = next;
	}
	s->bp = s->ep = journal_acked(s->ej);
	s->rp = journal_acked(s->rj);
	if (!ckpt)
		return 0;
	s->bp = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(ckpt, "bp"));
	if (s->bp < s->ep)
		s->bp = s->ep;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(ckpt, "chains")) {
		struct spool_chain *ch = spool_chain(s, c->string);

		if (!ch)
			goto nomem;
		ch->next_seq =
			(uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "seq"));
		snprintf(ch->prev, sizeof(ch->prev), "%s", spool_str(c, "prev") ?: "");
		snprintf(ch->prev_until, sizeof(ch->prev_until), "%s", spool_str(c, "until") ?: "");
	}
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(ckpt, "open")) {
		struct spool_batch *nb = calloc(1, sizeof(*nb));
		char key[600];

		if (!nb)
			goto nomem;
		nb->cid = strdup(spool_str(b, "cid") ?: "");
		nb->sk = strdup(spool_str(b, "sk") ?: "");
		nb->id = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(b, "id"), 1);
		if (cJSON_GetObjectItemCaseSensitive(b, "sess"))
			nb->sess = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(b, "sess"), 1);
		nb->entries = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(b, "entries"), 1);
		nb->bytes =
			(size_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(b, "bytes"));
		nb->opened_ms = clock_now_ms();
		if (nb->cid && nb->sk) /* out of memory: no key, failed below */
			spool_key(nb->cid, nb->sk, key, sizeof(key));
		if (!nb->cid || !nb->sk || !nb->id || !nb->entries ||
		    hmap_put(&s->batches, key, nb, NULL) < 0) {
			spool_batch_free(nb);
			goto nomem;
		}
	}
	log_with(LOG_INFO, NULL,
		 "spool: restored %zu open batches and %zu chains from the checkpoint",
		 s->batches.size, s->chains.size);
	(void)last;
	cJSON_Delete(ckpt);
	return 0;
nomem:
	cJSON_Delete(ckpt);
	return -ENOMEM;
}

int spool_open(const struct spool_opts *opts, struct spool **out)
{
	struct spool *s = calloc(1, sizeof(*s));
	struct journal_opts jo = { 0 };
	char dir[PATH_MAX];
	int ret;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->opts = *opts;
	if (s->opts.batch_entries <= 0 || s->opts.batch_entries > RECORD_MAX_ENTRIES)
		s->opts.batch_entries = 100;
	if (!s->opts.batch_bytes)
		s->opts.batch_bytes = 256u << 10;
	if (s->opts.batch_age_ms <= 0)
		s->opts.batch_age_ms = 5000;
	if (s->opts.checkpoint_ms <= 0)
		s->opts.checkpoint_ms = 2000;
	hmap_init_free(&s->batches, spool_batch_free_value);
	hmap_init_free(&s->chains, free);
	jo.max_bytes = opts->max_bytes;
	if (mkdir(opts->dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		log_with(LOG_ERROR, LOG_KV("dir", opts->dir), "spool: cannot create: %s",
			 strerror(errno));
		goto fail;
	}
	snprintf(dir, sizeof(dir), "%s/entries", opts->dir);
	jo.dir = dir;
	if ((ret = journal_open(&jo, &s->ej)) < 0)
		goto fail;
	snprintf(dir, sizeof(dir), "%s/records", opts->dir);
	if ((ret = journal_open(&jo, &s->rj)) < 0)
		goto fail;
	if ((ret = spool_restore(s)) < 0)
		goto fail;
	spool_restore_last_key(s);
	*out = s;
	return 0;
fail:
	spool_close(s);
	return ret;
}

void spool_get_stats(const struct spool *s, struct spool_stats *out)
{
	*out = s->stats;
}

bool spool_idle(struct spool *s)
{
	return s->bp == journal_end(s->ej) && s->ep == s->bp && s->rp == journal_end(s->rj) &&
	       s->batches.size == 0;
}
