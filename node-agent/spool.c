// SPDX-License-Identifier: Apache-2.0
/* The spool: entries journal -> batcher (spool_batch.c) -> records journal
 * -> publisher. Owned by the agent's main loop. See spool.h for the replay
 * argument. Errors are returned, never logged: the agent logs them. */
#include "spool_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "aggregate.h"
#include "clock.h"
#include "eventkey.h"
#include "jsontext.h"

/* A decided attribution, kept while its awaiting entries may be read
 * again (its own item is not acknowledged yet). */
struct spool_decision {
	cJSON *attr;
	uint64_t pos; /* of its "a" item in the entries journal */
};

static void spool_decision_free(void *v)
{
	struct spool_decision *d = v;

	if (!d)
		return;
	cJSON_Delete(d->attr);
	free(d);
}

void spool_key(const char *cid, const char *sk, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s\x1f%s", cid, sk);
}

const char *spool_str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* The members of an entry item spool_item_expand parses. */
static const char *const spool_item_raw[] = { "id", "sess", NULL };

cJSON *spool_item_read(const void *data, size_t len)
{
	static const char *const raw[] = { "id", "sess", "e", NULL };
	cJSON *item = jsontext_parse_lazy(data, len, raw);

	if (spool_str(item, "w") && spool_item_expand(item) < 0) {
		cJSON_Delete(item);
		return NULL;
	}
	return item;
}

int spool_item_expand(cJSON *item)
{
	const char *const *k;
	int ret = 0;

	for (k = spool_item_raw; *k && ret == 0; k++)
		ret = jsontext_expand(item, *k);
	return ret;
}

bool spool_item_object(const cJSON *item, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, k);

	return cJSON_IsObject(v) || (cJSON_IsRaw(v) && v->valuestring && v->valuestring[0] == '{');
}

int spool_append(struct journal *j, const cJSON *item, uint64_t *pos)
{
	size_t len = 0;
	char *text = jsontext_print(item, &len);
	int ret;

	if (!text)
		return -ENOMEM;
	ret = journal_append(j, text, len, pos);
	free(text);
	return ret;
}

/* spool_entry_crc, from crc, the CRC of the head. */
static uint32_t spool_entry_crc_of(uLong crc, const char *time)
{
	time = time ? time : "";
	/* With its NUL: no two splits of the same bytes check alike. */
	return (uint32_t)crc32(crc, (const Bytef *)time, (uInt)strlen(time) + 1);
}

uint32_t spool_entry_crc(const char *head, const char *time)
{
	return spool_entry_crc_of(crc32(0L, (const Bytef *)head, (uInt)strlen(head)), time);
}

/* The print buffer kept between entries, at most (one large entry's is
 * freed after it). */
#define SPOOL_OUT_KEEP (64u << 10)

/* An entry item as journaled: head (the item without its entry) printed,
 * then "e", then "ic", the check of head and of e's time. Printed in
 * parts into one buffer kept for the next entry, the check costs a CRC of
 * bytes printed anyway: the CRC of the head but its closing brace is
 * where both the check and the journal's CRC of the item start. */
int spool_append_entry(struct spool *s, const cJSON *head, const cJSON *e, uint64_t *pos)
{
	struct jsontext_out *o = &s->out;
	size_t open;
	uLong crc;
	char ic[32];
	int ret, n;

	o->len = 0;
	if ((ret = jsontext_append(o, head)) < 0)
		goto out;
	open = o->len - 1; /* the head's closing brace: "e" and "ic" come before it */
	crc = crc32(0L, (const Bytef *)o->p, (uInt)open);
	n = snprintf(ic, sizeof(ic), ",\"ic\":\"%08" PRIx32 "\"}",
		     spool_entry_crc_of(crc32(crc, (const Bytef *)"}", 1), spool_str(e, "time")));
	o->len = open;
	if ((ret = jsontext_append_bytes(o, ",\"e\":", 5)) < 0 ||
	    (ret = jsontext_append(o, e)) < 0 ||
	    (ret = jsontext_append_bytes(o, ic, (size_t)n)) < 0)
		goto out;
	ret = journal_append_crc(s->ej, o->p, o->len, open, (uint32_t)crc, pos);
out:
	if (o->cap > SPOOL_OUT_KEEP)
		jsontext_out_free(o);
	return ret;
}

int spool_append_cut(struct journal *j, const char *cid, const char *sk)
{
	cJSON *item = cJSON_CreateObject();
	char *text;
	int ret;

	if (!item)
		return -ENOMEM;
	cJSON_AddStringToObject(item, "t", "c");
	cJSON_AddStringToObject(item, "cid", cid);
	cJSON_AddStringToObject(item, "sk", sk);
	text = jsontext_print(item, NULL);
	cJSON_Delete(item);
	if (!text)
		return -ENOMEM;
	ret = journal_append_reserved(j, text, strlen(text), NULL);
	free(text);
	return ret;
}

void spool_await_clear(struct spool_await *w)
{
	w->since_ms = 0;
	free(w->cid);
	free(w->root);
	cJSON_Delete(w->id);
	w->cid = w->root = NULL;
	w->id = NULL;
}

void spool_await_set(struct spool_await *w, const cJSON *item, uint64_t pos)
{
	if (w->since_ms && w->pos == pos)
		return;
	spool_await_clear(w);
	w->cid = strdup(spool_str(item, "cid") ?: "");
	w->root = strdup(spool_str(item, "w") ?: "");
	w->id = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(item, "id"), 1);
	if (!w->cid || !w->root) {
		spool_await_clear(w);
		return; /* tried again on the next stop */
	}
	w->pos = pos;
	w->since_ms = clock_now_ms();
}

static const struct spool_decision *spool_decision(const struct spool *s, const char *cid,
						   const char *root)
{
	char key[600];

	spool_key(cid, root, key, sizeof(key));
	return hmap_get(&s->decided, key);
}

int spool_settle(const struct spool *s, cJSON *item)
{
	const char *cid = spool_str(item, "cid"), *root = spool_str(item, "w");
	const struct spool_decision *d;
	cJSON *sess;

	if (!root || !spool_str(item, "t") || strcmp(spool_str(item, "t"), "e"))
		return 1;
	if (!cid || !(d = spool_decision(s, cid, root)))
		return 0;
	sess = cJSON_GetObjectItemCaseSensitive(item, "sess");
	if (!cJSON_IsObject(sess))
		return 1; /* entries outside a session carry no attribution */
	cJSON_DeleteItemFromObjectCaseSensitive(sess, "attribution");
	cJSON_AddItemToObject(sess, "attribution", cJSON_Duplicate(d->attr, 1));
	return 1;
}

static void spool_ahead_clear(struct spool *s)
{
	size_t i;

	for (i = 0; i < s->nahead; i++)
		free(s->ahead[i].cid);
	free(s->ahead);
	s->ahead = NULL;
	s->nahead = s->capahead = 0;
}

void spool_close(struct spool *s)
{
	if (!s)
		return;
	/* What a gather left unwritten (spool_gather ends it); freed. */
	(void)spool_folds_write(s);
	spool_lost_clear(s);
	spool_await_clear(&s->ev_await);
	hmap_clear(&s->decided);
	spool_ahead_clear(s);
	spool_use_free(s->use);
	spool_batcher_clear(&s->b);
	journal_close(s->ej);
	journal_close(s->rj);
	jsontext_out_free(&s->out);
	free(s);
}

/* Syncs the entries journal. */
static int spool_sync_entries(struct spool *s)
{
	int ret = journal_sync(s->ej);

	if (ret == 0)
		s->unsynced_loud = false;
	s->last_sync_ms = clock_now_ms();
	return ret;
}

/* Journals the batcher's state; the entries before its keep position are
 * then covered by records and this checkpoint, so the entries journal may
 * drop them once their Events are out too. */
static int spool_checkpoint(struct spool *s)
{
	uint64_t pos, keep;
	cJSON *item;
	char *text;
	int ret;

	/* It names positions of the entries journal (where the batcher goes
	 * on, what its open batches hold): they are durable first, or a
	 * restart after a crash would look for entries past the end. */
	if (journal_synced(s->ej) != journal_end(s->ej) && (ret = spool_sync_entries(s)) < 0)
		return ret;
	spool_batcher_prune(&s->b, s->rp);
	if (!(item = spool_batcher_checkpoint(&s->b, &keep)))
		return -ENOMEM;
	text = jsontext_print(item, NULL);
	cJSON_Delete(item);
	if (!text)
		return -ENOMEM;
	/* It lets the journals be acknowledged: room is kept for it. */
	ret = journal_append_reserved(s->rj, text, strlen(text), &pos);
	free(text);
	if (ret < 0) {
		s->stats.checkpoint_failures++;
		return ret;
	}
	if (s->nckpt == SPOOL_MAX_CHECKPOINTS) {
		/* The publisher is far behind (API server down): keep the newest. */
		memmove(s->ckpt_pos, s->ckpt_pos + 1, (s->nckpt - 1) * sizeof(*s->ckpt_pos));
		memmove(s->ckpt_keep, s->ckpt_keep + 1, (s->nckpt - 1) * sizeof(*s->ckpt_keep));
		s->nckpt--;
	}
	s->ckpt_pos[s->nckpt] = pos;
	s->ckpt_keep[s->nckpt++] = keep;
	s->stats.checkpoints++;
	s->changed = false;
	s->last_ckpt_ms = clock_now_ms();
	return 0;
}

struct spool_prune_decided {
	uint64_t acked;
	char **keys;
	size_t n;
};

static void spool_prune_decided_cb(const char *key, void *value, void *arg)
{
	struct spool_prune_decided *p = arg;
	const struct spool_decision *d = value;

	if (d->pos < p->acked)
		p->keys[p->n++] = (char *)key;
}

/* Decisions whose item is acknowledged: their awaiting entries, which come
 * before it, are never read again. */
static void spool_prune_decisions(struct spool *s, uint64_t acked)
{
	struct spool_prune_decided p = { acked, NULL, 0 };
	size_t i;

	if (!s->decided.size || !(p.keys = calloc(s->decided.size, sizeof(*p.keys))))
		return; /* kept until the next acknowledgement */
	hmap_foreach(&s->decided, spool_prune_decided_cb, &p);
	for (i = 0; i < p.n; i++)
		hmap_remove(&s->decided, p.keys[i]);
	free(p.keys);
}

/* Drops what every consumer is done with. */
static int spool_ack(struct spool *s)
{
	uint64_t ack_keep = 0, ack_rp = 0, ep = s->ep;
	size_t i, keep = 0;
	int ret;

	/* The records journal restarts at a durable checkpoint before which
	 * every record is published; the entries journal where that
	 * checkpoint's open batches start. */
	for (i = 0; i < s->nckpt; i++) {
		if (s->ckpt_pos[i] > s->rp || s->ckpt_pos[i] >= journal_synced(s->rj))
			break;
		ack_rp = s->ckpt_pos[i];
		ack_keep = s->ckpt_keep[i];
		keep = i;
	}
	if (i == 0)
		return 0;
	if ((ret = journal_ack(s->rj, ack_rp)) < 0)
		return ret;
	memmove(s->ckpt_pos, s->ckpt_pos + keep, (s->nckpt - keep) * sizeof(*s->ckpt_pos));
	memmove(s->ckpt_keep, s->ckpt_keep + keep, (s->nckpt - keep) * sizeof(*s->ckpt_keep));
	s->nckpt -= keep;
	/* Events still on their way (spool_event_hold) may be sent again. */
	if (s->ep_hold && s->ep_hold - 1 < ep)
		ep = s->ep_hold - 1;
	if ((ret = journal_ack(s->ej, ack_keep < ep ? ack_keep : ep)) < 0)
		return ret;
	spool_prune_decisions(s, journal_acked(s->ej));
	spool_use_ack(s->use, journal_acked(s->ej));
	return 0;
}

/* An awaiting entry no decision came for within await_max_ms: the spool
 * decides "none", so that no record and no Event waits for ever. */
static int spool_give_up(struct spool *s, struct spool_await *w, long now)
{
	cJSON *attr;
	char why[160];
	int ret;

	if (!w->since_ms || now - w->since_ms < s->opts.await_max_ms)
		return 0;
	if (spool_decision(s, w->cid, w->root)) {
		spool_await_clear(w); /* decided meanwhile: the cursor goes on */
		return 0;
	}
	if (!(attr = cJSON_CreateObject()))
		return -ENOMEM;
	cJSON_AddStringToObject(attr, "status", "Unattributed");
	snprintf(why, sizeof(why),
		 "no decision on who opened the session within %ld s (the agent restarted or fell "
		 "behind)",
		 s->opts.await_max_ms / 1000);
	cJSON_AddStringToObject(attr, "reason", why);
	ret = spool_attribute(s, w->cid, w->root, w->id, attr);
	cJSON_Delete(attr);
	if (ret == 0)
		s->stats.undecided++;
	return ret;
}

size_t spool_trim(struct spool *s)
{
	size_t n = s->out.cap;

	jsontext_out_free(&s->out);
	return n + journal_trim(s->ej) + journal_trim(s->rj);
}

int spool_tick(struct spool *s)
{
	long now = clock_now_ms();
	int ret, first = 0;
	long wait;
	bool ckpt;

	/* Each step runs whatever the one before did: a checkpoint that
	 * cannot be written must not stop syncing and acknowledging. A
	 * checkpoint comes before the first record: a record is formed again
	 * from the checkpoint before it. */
	if (s->nckpt == 0 && (ret = spool_checkpoint(s)) < 0)
		first = ret;
	/* None outside a gather, where the caller does not tick. */
	if ((ret = spool_folds_write(s)) < 0 && !first)
		first = ret;
	ret = spool_batcher_run(&s->b, journal_end(s->ej));
	if (ret < 0 && ret != -EAGAIN && !first)
		first = ret;
	/* A decision that never came is journaled as none; the batcher and
	 * the Events go on. */
	if ((ret = spool_give_up(s, &s->b.await, now)) < 0 && !first)
		first = ret;
	if ((ret = spool_give_up(s, &s->ev_await, now)) < 0 && !first)
		first = ret;
	/* Age is wall-clock: journal it as a cut marker, so a replay cuts
	 * the batch at the same entry. */
	if ((ret = spool_batcher_cut_aged(&s->b, now)) < 0 && !first)
		first = ret;
	ret = spool_batcher_run(&s->b, journal_end(s->ej));
	if (ret < 0 && ret != -EAGAIN && !first)
		first = ret;
	ckpt = (s->changed && now - s->last_ckpt_ms >= s->opts.checkpoint_ms) || s->nckpt == 0;
	/* Records come of entries, and a checkpoint names positions of the
	 * entries journal (where the batcher goes on): the entries are
	 * durable before anything new of the records journal is, and so
	 * before a record is published, whatever the gap. */
	wait = spool_sync_wait_ms(s);
	if ((wait == 0 || (wait > 0 && (ckpt || journal_synced(s->rj) != journal_end(s->rj)))) &&
	    (ret = spool_sync_entries(s)) < 0) {
		/* Then nothing new of the records journal is made durable,
		 * nor handed out: the next tick tries again. What is
		 * acknowledged already (durable, published) still frees its
		 * room, which may be what the disk lacks. */
		if (!first)
			first = ret;
	} else {
		if (ckpt && (ret = spool_checkpoint(s)) < 0 && !first)
			first = ret;
		if ((ret = journal_sync(s->rj)) < 0) {
			/* What may be gone must not be acknowledged as done. */
			return first ? first : ret;
		}
	}
	if ((ret = spool_ack(s)) < 0 && !first)
		first = ret;
	return first;
}

long spool_sync_wait_ms(const struct spool *s)
{
	long left;

	if (journal_synced(s->ej) == journal_end(s->ej))
		return -1;
	left = s->last_sync_ms +
	       (s->unsynced_loud ? s->opts.sync_gap_ms : s->opts.sync_quiet_gap_ms) -
	       clock_now_ms();
	return left > 0 ? left : 0;
}

int spool_sync_due(struct spool *s)
{
	int ret;

	if (spool_sync_wait_ms(s) != 0)
		return 0;
	return (ret = spool_sync_entries(s)) < 0 ? ret : 1;
}

int spool_wanted_chain(struct spool *s, const char **cid, const cJSON **id)
{
	if (!s->b.wanted)
		return 0;
	*cid = s->b.wanted;
	*id = s->b.wanted_id;
	return 1;
}

int spool_seed_chain(struct spool *s, const char *cid, const struct spool_head *head)
{
	char *c = strdup(cid); /* cid may be the batcher's own wanted */
	int ret;

	if (!c)
		return -ENOMEM;
	ret = spool_batcher_seed(&s->b, c, head);
	if (ret <= 0) {
		free(c);
		return ret;
	}
	s->stats.seeds++;
	/* Durable before any record of the chain is formed from it. */
	if ((ret = spool_checkpoint(s)) < 0 || (ret = journal_sync(s->rj)) < 0) {
		hmap_remove(&s->b.chains, c);
		s->stats.seeds--;
	}
	free(c);
	return ret < 0 ? ret : 0;
}

const char *spool_epoch(const struct spool *s)
{
	return s->epoch;
}

/* The spool's epoch: read from dir/epoch, or made once (a damaged one is
 * made again: names derived from it change, replays may then repeat an
 * Event, never lose one). */
static int spool_load_epoch(struct spool *s, const char *dir)
{
	char path[PATH_MAX], tmp[PATH_MAX], buf[SPOOL_EPOCH_LEN + 2];
	unsigned char r[SPOOL_EPOCH_LEN / 2];
	ssize_t n = -1;
	size_t i;
	int fd;

	snprintf(path, sizeof(path), "%s/epoch", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, sizeof(buf));
		close(fd);
	}
	if (n == SPOOL_EPOCH_LEN + 1 && buf[SPOOL_EPOCH_LEN] == '\n' &&
	    strspn(buf, "0123456789abcdef") == SPOOL_EPOCH_LEN) {
		memcpy(s->epoch, buf, SPOOL_EPOCH_LEN);
		s->epoch[SPOOL_EPOCH_LEN] = '\0';
		return 0;
	}
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -EIO;
	for (i = 0; i < sizeof(r); i++)
		snprintf(s->epoch + 2 * i, 3, "%02x", r[i]);
	snprintf(tmp, sizeof(tmp), "%s/epoch.tmp", dir);
	snprintf(buf, sizeof(buf), "%s\n", s->epoch);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return -errno;
	if (write(fd, buf, SPOOL_EPOCH_LEN + 1) != SPOOL_EPOCH_LEN + 1 || fsync(fd) < 0) {
		close(fd);
		return -EIO;
	}
	close(fd);
	if (rename(tmp, path) < 0)
		return -errno;
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		n = fsync(fd);
		close(fd);
	}
	return n < 0 ? -EIO : 0;
}

const struct sign_key *spool_signing_key(const struct spool *s)
{
	return s->opts.key;
}

int spool_add(struct spool *s, const char *cid, const char *sk, const cJSON *id,
	      const cJSON *sess, const cJSON *entry)
{
	return spool_add_keyed(s, cid, sk, id, sess, entry, NULL);
}

int spool_add_keyed(struct spool *s, const char *cid, const char *sk, const cJSON *id,
		    const cJSON *sess, const cJSON *entry, const char *key)
{
	return spool_add_awaiting(s, cid, sk, id, NULL, sess, entry, key, NULL);
}

/* What spool_settle makes of an entry's session sess (an object) with
 * decision attr, without copying either: an object of references to
 * sess's members but its attribution, then attr (printed alike; a copy
 * of both cost an allocation for each of their fields with each entry of
 * a decided session). NULL on ENOMEM. */
static cJSON *spool_sess_settled(const cJSON *sess, const cJSON *attr)
{
	cJSON *o = cJSON_CreateObject();
	const cJSON *c;
	bool ok = o != NULL;

	cJSON_ArrayForEach(c, sess)
		if (ok && c->string && strcmp(c->string, "attribution"))
			ok = cJSON_AddItemReferenceToObject(o, c->string, (cJSON *)c);
	if (ok)
		ok = cJSON_AddItemReferenceToObject(o, "attribution", (cJSON *)attr);
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

int spool_add_awaiting(struct spool *s, const char *cid, const char *sk, const cJSON *id,
		       const char *id_text, const cJSON *sess, const cJSON *entry, const char *key,
		       const char *root)
{
	const struct spool_decision *d = root ? spool_decision(s, cid, root) : NULL;
	bool quiet = s->opts.event_wanted && !s->opts.event_wanted(id, entry);
	cJSON *item, *settled = NULL;
	uint64_t pos = 0;
	int ret;

	s->fold_last = 0;
	if (key && strlen(key) >= SPOOL_KEY_MAX)
		return -EINVAL;
	/* Decided already (the caller did not know yet): journaled settled,
	 * as spool_settle would have it. */
	if (sess && d && cJSON_IsObject(sess) && !(settled = spool_sess_settled(sess, d->attr)))
		return -ENOMEM;
	/* An exec alike one of this gather's (awaiting the same decision, or
	 * settled alike): one item for them. */
	ret = spool_fold_add(s, cid, sk, id, id_text, settled ? settled : sess, entry, key,
			     root && !d ? root : NULL, quiet);
	if (ret == 1) {
		cJSON_Delete(settled);
		s->stats.entries++;
		snprintf(s->last_key, sizeof(s->last_key), "%s", key);
		return 0;
	}
	/* What came before goes first; its failure is not this entry's (a
	 * lost fold is spool_take_lost_folds'). */
	if (ret == 0)
		(void)spool_folds_write(s);
	if (ret < 0 || !(item = cJSON_CreateObject())) {
		cJSON_Delete(settled);
		return ret < 0 ? ret : -ENOMEM;
	}
	/* Printed and deleted here: its names and strings are not copied
	 * (jsontext_add_*). */
	jsontext_add_ref(item, "t", "e");
	/* Right after "t": spool_next_event tells it by its first bytes. */
	if (quiet)
		jsontext_add_true(item, "q");
	/* Beside the entry, never in it: records and Events are built from
	 * "e" only. */
	if (key)
		jsontext_add_ref(item, "k", key);
	if (root && !d)
		jsontext_add_ref(item, "w", root);
	jsontext_add_ref(item, "cid", cid);
	jsontext_add_ref(item, "sk", sk);
	/* By reference or as its text, only printed. */
	if (id_text)
		jsontext_add_raw_ref(item, "id", id_text);
	else
		jsontext_add_tree_ref(item, "id", id);
	if (settled) {
		jsontext_add_item(item, "sess", settled);
	} else if (sess) {
		jsontext_add_tree_ref(item, "sess", sess);
	}
	ret = spool_append_entry(s, item, entry, &pos);
	cJSON_Delete(item);
	s->unsynced_loud |= ret == 0 && !quiet;
	/* Counted for its container (an uncounted entry only lets the
	 * container take a little more). */
	if (ret == 0)
		(void)spool_use_add(s->use, cid, pos, journal_end(s->ej) - pos);
	if (ret == -ENOSPC)
		s->stats.rejected_full++;
	else if (ret == 0)
		s->stats.entries++;
	if (ret == 0)
		snprintf(s->last_key, sizeof(s->last_key), "%s", key ? key : "");
	return ret;
}

static int spool_decide(struct spool *s, const char *cid, const char *root, const cJSON *attr,
			uint64_t pos)
{
	struct spool_decision *d = calloc(1, sizeof(*d));
	char key[600];

	if (!d || !(d->attr = cJSON_Duplicate(attr, 1))) {
		free(d);
		return -ENOMEM;
	}
	d->pos = pos;
	spool_key(cid, root, key, sizeof(key));
	if (hmap_put(&s->decided, key, d, NULL) < 0) {
		spool_decision_free(d);
		return -ENOMEM;
	}
	return 0;
}

static bool spool_awaited(const struct spool_await *w, const char *cid, const char *root)
{
	return w->since_ms && !strcmp(w->cid, cid) && !strcmp(w->root, root);
}

int spool_attribute(struct spool *s, const char *cid, const char *root, const cJSON *id,
		    const cJSON *attr)
{
	uint64_t pos;
	cJSON *item;
	char *text;
	int ret;

	if (!cid || !root || !cJSON_IsObject(attr))
		return -EINVAL;
	if (spool_decision(s, cid, root))
		return 0; /* once per session root */
	if ((ret = spool_folds_write(s)) < 0)
		return ret;
	if (!(item = cJSON_CreateObject()))
		return -ENOMEM;
	cJSON_AddStringToObject(item, "t", "a");
	cJSON_AddStringToObject(item, "cid", cid);
	cJSON_AddStringToObject(item, "rk", root);
	cJSON_AddItemToObject(item, "id", cJSON_Duplicate(id, 1));
	cJSON_AddItemToObject(item, "attr", cJSON_Duplicate(attr, 1));
	text = jsontext_print(item, NULL);
	cJSON_Delete(item);
	if (!text)
		return -ENOMEM;
	ret = journal_append(s->ej, text, strlen(text), &pos);
	/* A decision a cursor waits for frees room (the batcher goes on and
	 * its records let the journal be acknowledged): it goes in even when
	 * the spool is full, else a full spool would wedge. At most one per
	 * cursor at a time. */
	if (ret == -ENOSPC && (spool_awaited(&s->b.await, cid, root) ||
			       spool_awaited(&s->ev_await, cid, root)))
		ret = journal_append_reserved(s->ej, text, strlen(text), &pos);
	free(text);
	if (ret < 0)
		return ret;
	s->unsynced_loud = true; /* its SessionOpened Event */
	s->last_key[0] = '\0';
	return spool_decide(s, cid, root, attr, pos);
}

/* What a quiet entry item (data, len bytes at pos) holds for its
 * container, as if this run had spooled it, without parsing it: its head
 * is the agent's own (keys, then "cid"; what the container's user typed
 * or ran comes after, in "e"), so the first "cid" is its container. */
static void spool_quiet_use(struct spool *s, const void *data, size_t len, uint64_t pos,
			    uint64_t next)
{
	static const char tag[] = "\"cid\":\"";
	const char *at = memmem(data, len, tag, sizeof(tag) - 1), *end;
	char cid[256];

	if (!at)
		return;
	at += sizeof(tag) - 1;
	end = memchr(at, '"', len - (size_t)(at - (const char *)data));
	if (!end || (size_t)(end - at) >= sizeof(cid))
		return;
	memcpy(cid, at, (size_t)(end - at));
	cid[end - at] = '\0';
	(void)spool_use_add(s->use, cid, pos, next - pos);
}

/* The decisions journaled from the entries journal's acknowledged start
 * on: what a replay, a restored batch and the Events will look up, as if
 * this run had made them. */
static int spool_restore_decisions(struct spool *s)
{
	uint64_t pos = journal_acked(s->ej), next;
	size_t len;
	void *data;
	int ret = 0;

	for (; ret == 0; pos = next) {
		cJSON *it;
		const char *t;

		ret = journal_read(s->ej, pos, &data, &len, &next);
		if (ret == -EBADMSG) {
			free(data); /* its awaiting entries are decided again */
			ret = 0;
			continue;
		}
		if (ret < 0)
			break;
		/* An entry no Event can come of (opts.event_wanted), unparsed;
		 * the check of the journal's frame vouches for its bytes. */
		if (len > sizeof(SPOOL_QUIET) - 1 &&
		    !memcmp(data, SPOOL_QUIET, sizeof(SPOOL_QUIET) - 1)) {
			spool_quiet_use(s, data, len, pos, next);
			free(data);
			s->ep = next;
			continue;
		}
		it = cJSON_ParseWithLength(data, len);
		free(data);
		t = spool_str(it, "t");
		/* What each container holds, as if this run had spooled it. */
		if (t && !strcmp(t, "e") && spool_str(it, "cid"))
			(void)spool_use_add(s->use, spool_str(it, "cid"), pos, next - pos);
		if (t && !strcmp(t, "a") && spool_str(it, "cid") && spool_str(it, "rk") &&
		    cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(it, "attr")) &&
		    !spool_decision(s, spool_str(it, "cid"), spool_str(it, "rk")))
			ret = spool_decide(s, spool_str(it, "cid"), spool_str(it, "rk"),
					   cJSON_GetObjectItemCaseSensitive(it, "attr"), pos);
		cJSON_Delete(it);
	}
	return ret == -ENODATA ? 0 : ret;
}

void spool_undecided(struct spool *s,
		     void (*fn)(const char *cid, const char *root, const cJSON *id, void *arg),
		     void *arg)
{
	uint64_t pos = s->b.bp < s->ep ? s->b.bp : s->ep, next;
	struct hmap seen;
	size_t len;
	void *data;
	int ret;

	hmap_init(&seen);
	for (;; pos = next) {
		const char *cid, *root;
		char key[600];
		cJSON *it;

		ret = journal_read(s->ej, pos, &data, &len, &next);
		if (ret == -EBADMSG) {
			free(data);
			continue;
		}
		if (ret < 0)
			break;
		it = cJSON_ParseWithLength(data, len);
		free(data);
		cid = spool_str(it, "cid");
		root = spool_str(it, "w");
		if (cid && root && !spool_decision(s, cid, root)) {
			spool_key(cid, root, key, sizeof(key));
			if (hmap_add(&seen, key) == 1)
				fn(cid, root, cJSON_GetObjectItemCaseSensitive(it, "id"), arg);
		}
		cJSON_Delete(it);
	}
	hmap_clear(&seen);
}

bool spool_is_last_key(const struct spool *s, const char *key)
{
	return s->last_key[0] && !strcmp(s->last_key, key);
}

int spool_gather(struct spool *s, bool on)
{
	int ret = on ? 0 : spool_folds_write(s), r;

	s->gathering = on;
	r = journal_gather(s->ej, on);
	return ret < 0 ? ret : r;
}

int spool_write_gathered(struct spool *s)
{
	int ret = spool_folds_write(s), r = journal_flush(s->ej);

	return ret < 0 ? ret : r;
}

bool spool_item_has_key(const cJSON *item, const char *want)
{
	const char *k = spool_str(item, "k");
	const cJSON *c;

	if (!k)
		return false;
	if (eventkey_is(k, want))
		return true;
	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(item, "ks")) {
		if (cJSON_IsString(c) && eventkey_is(c->valuestring, want))
			return true;
	}
	return false;
}

const char *spool_item_last_key(const cJSON *item)
{
	const cJSON *ks = cJSON_GetObjectItemCaseSensitive(item, "ks");
	const cJSON *last = cJSON_IsArray(ks) && ks->child ? ks->child->prev : NULL;

	return last && cJSON_IsString(last) ? last->valuestring : spool_str(item, "k");
}

void spool_find_keys(struct spool *s, const char *const *keys, size_t n, bool *found)
{
	uint64_t pos = journal_tail(s->ej, SPOOL_TAIL_SEGMENTS), next;
	cJSON *item;
	size_t len, i;
	void *data;
	int ret;

	(void)spool_folds_write(s); /* none at a start, where it is called */
	while ((ret = journal_read(s->ej, pos, &data, &len, &next)) != -ENODATA) {
		/* A damaged item is passed over; any other error ends the walk
		 * (what it did not find is handled again: kept twice, not lost). */
		if (ret < 0 && ret != -EBADMSG)
			break;
		item = ret == 0 ? cJSON_ParseWithLength(data, len) : NULL;
		free(data);
		for (i = 0; item && i < n; i++)
			found[i] |= spool_item_has_key(item, keys[i]);
		cJSON_Delete(item);
		if (ret < 0 && next <= pos)
			break;
		pos = next;
	}
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
	k = spool_item_last_key(item);
	if (k && strlen(k) < sizeof(s->last_key))
		snprintf(s->last_key, sizeof(s->last_key), "%s", k);
	cJSON_Delete(item);
}

int spool_end_session(struct spool *s, const char *cid, const char *sk)
{
	int ret = spool_folds_write(s);

	if (ret == 0)
		ret = spool_append_cut(s->ej, cid, sk);
	if (ret == 0)
		s->last_key[0] = '\0';
	return ret;
}

/* A corrupt region of the records journal: a checkpoint lost costs nothing
 * (an older one serves), a record is formed again from the entries. */
static void spool_records_damaged(struct spool *s, uint64_t pos, void *data, size_t len)
{
	cJSON *item = data ? cJSON_ParseWithLength(data, len) : NULL;
	const char *t = spool_str(item, "t");
	size_t present;
	int n;

	if (t && !strcmp(t, "k")) {
		cJSON_Delete(item);
		return;
	}
	cJSON_Delete(item);
	/* The damaged record was counted waiting when formed (one damaged
	 * before a restart was not: the count stops at 0). */
	if (s->stats.records_waiting)
		s->stats.records_waiting--;
	n = spool_regenerate(s, pos, &present);
	if (n > 0) {
		s->stats.records_regenerated += (uint64_t)n;
		s->stats.records_waiting += (uint64_t)n;
	} else if (n < 0 || !present) {
		s->stats.records_lost++;
	}
	/* else the records it held are readable further on: a restart
	 * formed them again from the entries before the publisher got here */
}

/* Forgets the done records at the front of the pass window: rp moves past
 * them, and past what is not a record (checkpoints, damaged regions). */
static void spool_ahead_settle(struct spool *s)
{
	size_t k = 0;

	while (k < s->nahead && s->ahead[k].done)
		free(s->ahead[k++].cid);
	if (k) {
		memmove(s->ahead, s->ahead + k, (s->nahead - k) * sizeof(*s->ahead));
		s->nahead -= k;
		s->popped += k;
	}
	s->rp = s->nahead ? s->ahead[0].pos : s->scan;
}

/* Reads the item at scan into the window: 1 a record (*rec, the caller
 * frees: read once on the way in), 0 something else (passed), -ENODATA
 * nothing durable there, or a negative errno. */
static int spool_ahead_read(struct spool *s, cJSON **rec)
{
	const char *t, *cid;
	uint64_t next;
	size_t len;
	void *data;
	cJSON *item;
	int ret, got = 0;

	if (s->scan >= journal_synced(s->rj))
		return -ENODATA;
	ret = journal_read(s->rj, s->scan, &data, &len, &next);
	if (ret == -EBADMSG) {
		spool_records_damaged(s, s->scan, data, data ? len : 0);
		free(data);
		s->scan = next;
		spool_ahead_settle(s);
		return 0;
	}
	if (ret < 0)
		return ret;
	if (s->nahead == s->capahead) {
		size_t cap = s->capahead ? s->capahead * 2 : 64;
		struct spool_ahead *a = realloc(s->ahead, cap * sizeof(*a));

		if (!a) {
			free(data);
			return -ENOMEM;
		}
		s->ahead = a;
		s->capahead = cap;
	}
	item = cJSON_ParseWithLength(data, len);
	free(data);
	t = spool_str(item, "t");
	if (t && !strcmp(t, "r") && cJSON_GetObjectItemCaseSensitive(item, "r")) {
		cid = spool_str(cJSON_GetObjectItemCaseSensitive(
					cJSON_GetObjectItemCaseSensitive(item, "r"), "spec"),
				"containerID");
		s->ahead[s->nahead] =
			(struct spool_ahead){ s->scan, next, strdup(cid ? cid : ""), false };
		if (!s->ahead[s->nahead].cid) {
			cJSON_Delete(item);
			return -ENOMEM;
		}
		s->nahead++;
		*rec = cJSON_DetachItemFromObjectCaseSensitive(item, "r");
		got = 1;
	}
	cJSON_Delete(item);
	s->scan = next;
	spool_ahead_settle(s);
	return got;
}

void spool_pass_begin(struct spool *s, struct spool_pass *pass)
{
	pass->at = s->popped;
}

int spool_pass_next(struct spool *s, struct spool_pass *pass, spool_wait_fn wait, void *arg,
		    cJSON **rec, uint64_t *pos)
{
	uint64_t next;
	size_t len;
	void *data;
	cJSON *item;
	int ret;

	for (;;) {
		struct spool_ahead *a;
		size_t i;

		/* The window's front moves as records are done: the pass
		 * counts from the first record the window ever held. */
		if (pass->at < s->popped)
			pass->at = s->popped;
		i = pass->at - s->popped;
		if (i >= s->nahead) {
			cJSON *r = NULL;

			if (s->nahead >= SPOOL_AHEAD_MAX || (ret = spool_ahead_read(s, &r)) < 0)
				return -ENODATA;
			if (ret == 0)
				continue;
			/* The record just read is the window's last: handed
			 * out as it was read, unless its chain waits. */
			a = &s->ahead[s->nahead - 1];
			pass->at = s->popped + s->nahead;
			if (wait && wait(a->cid, arg)) {
				cJSON_Delete(r);
				continue;
			}
			*rec = r;
			*pos = a->pos;
			return 0;
		}
		pass->at++;
		a = &s->ahead[i];
		if (a->done || (wait && wait(a->cid, arg)))
			continue;
		ret = journal_read(s->rj, a->pos, &data, &len, &next);
		if (ret == -EBADMSG) {
			/* Damaged since it was read: formed again at the end
			 * of the journal, where the pass meets it later. */
			a->done = true;
			spool_records_damaged(s, a->pos, data, data ? len : 0);
			free(data);
			spool_ahead_settle(s);
			continue;
		}
		if (ret < 0)
			return -ENODATA;
		item = cJSON_ParseWithLength(data, len);
		free(data);
		*rec = cJSON_DetachItemFromObjectCaseSensitive(item, "r");
		cJSON_Delete(item);
		if (!*rec)
			return -ENOMEM;
		*pos = a->pos;
		return 0;
	}
}

int spool_next_record(struct spool *s, cJSON **rec, uint64_t *pos)
{
	struct spool_pass pass;

	spool_pass_begin(s, &pass);
	return spool_pass_next(s, &pass, NULL, NULL, rec, pos);
}

int spool_record_done(struct spool *s, uint64_t pos)
{
	size_t i;

	for (i = 0; i < s->nahead; i++) {
		if (s->ahead[i].pos != pos || s->ahead[i].done)
			continue;
		s->ahead[i].done = true;
		if (s->stats.records_waiting)
			s->stats.records_waiting--;
		spool_ahead_settle(s);
		return 0;
	}
	return -EINVAL;
}

int spool_next_event(struct spool *s, cJSON **item, uint64_t *pos)
{
	uint64_t next;
	size_t len;
	void *data;
	cJSON *it;
	int ret;

	/* Events need no record: they follow what is durable, not the
	 * batcher (which may wait for a chain's start). */
	while (s->ep < journal_synced(s->ej)) {
		const char *t;

		ret = journal_read(s->ej, s->ep, &data, &len, &next);
		if (ret == -EBADMSG) {
			free(data); /* the batcher makes it a gap */
			s->ep = next;
			continue;
		}
		if (ret < 0)
			break;
		/* An entry no Event can come of (opts.event_wanted), unparsed;
		 * the check of the journal's frame vouches for its bytes. */
		if (len > sizeof(SPOOL_QUIET) - 1 &&
		    !memcmp(data, SPOOL_QUIET, sizeof(SPOOL_QUIET) - 1)) {
			free(data);
			s->ep = next;
			continue;
		}
		it = cJSON_ParseWithLength(data, len);
		free(data);
		t = spool_str(it, "t");
		if (!t || (strcmp(t, "a") && strcmp(t, "e"))) {
			cJSON_Delete(it);
			s->ep = next;
			continue;
		}
		if (!strcmp(t, "e")) {
			const cJSON *attr;

			/* Its Event names who typed it: it waits for the
			 * decision, as the batcher does. */
			if (!spool_settle(s, it)) {
				spool_await_set(&s->ev_await, it, s->ep);
				cJSON_Delete(it);
				return -ENODATA;
			}
			/* As "attr" too, by reference (freed with "sess"). */
			attr = cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(it, "sess"), "attribution");
			if (cJSON_IsObject(attr))
				cJSON_AddItemReferenceToObject(it, "attr", (cJSON *)attr);
		}
		*item = it;
		*pos = s->ep;
		s->ep_next = next;
		return 0;
	}
	return -ENODATA;
}

int spool_event_done(struct spool *s, uint64_t pos)
{
	/* Only the item spool_next_event handed out last: its successor is
	 * known, no second read. */
	if (pos != s->ep || !s->ep_next)
		return -EINVAL;
	if (s->ev_await.since_ms && s->ev_await.pos == pos)
		spool_await_clear(&s->ev_await);
	s->ep = s->ep_next;
	s->ep_next = 0;
	return 0;
}

void spool_event_hold(struct spool *s, uint64_t pos)
{
	s->ep_hold = pos + 1;
}

void spool_event_release(struct spool *s)
{
	s->ep_hold = 0;
}

int spool_event_rewind(struct spool *s, uint64_t pos)
{
	/* Nothing before the cursor was acknowledged since it passed pos
	 * (only spool_tick acknowledges, never past a hold): the items
	 * from pos on are there. */
	if (pos > s->ep || pos < journal_acked(s->ej))
		return -EINVAL;
	s->ep = pos;
	s->ep_next = 0;
	return 0;
}

/* Restores the batcher from the last readable checkpoint of the records
 * journal. */
static int spool_restore(struct spool *s)
{
	uint64_t pos = journal_acked(s->rj), next;
	cJSON *item, *ckpt = NULL;
	size_t len, i;
	void *data;
	int ret;

	s->b.bp = s->ep = journal_acked(s->ej);
	s->ep_hold = 0;
	s->rp = s->scan = journal_acked(s->rj);
	spool_ahead_clear(s);
	for (;; pos = next) {
		const char *t;

		ret = journal_read(s->rj, pos, &data, &len, &next);
		if (ret == -EBADMSG) {
			free(data); /* a record is formed again when the publisher gets there */
			continue;
		}
		if (ret < 0)
			break;
		item = cJSON_ParseWithLength(data, len);
		free(data);
		t = spool_str(item, "t");
		if (t && !strcmp(t, "k") &&
		    cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(item, "bp"))) {
			const cJSON *keep = cJSON_GetObjectItemCaseSensitive(item, "keep");

			cJSON_Delete(ckpt);
			ckpt = item;
			if (s->nckpt == SPOOL_MAX_CHECKPOINTS) {
				memmove(s->ckpt_pos, s->ckpt_pos + 1,
					(s->nckpt - 1) * sizeof(*s->ckpt_pos));
				memmove(s->ckpt_keep, s->ckpt_keep + 1,
					(s->nckpt - 1) * sizeof(*s->ckpt_keep));
				s->nckpt--;
			}
			s->ckpt_pos[s->nckpt] = pos;
			/* An older agent's checkpoint holds its open batches. */
			s->ckpt_keep[s->nckpt++] = (uint64_t)cJSON_GetNumberValue(
				cJSON_IsNumber(keep) ?
					keep :
					cJSON_GetObjectItemCaseSensitive(item, "bp"));
		} else {
			if (t && !strcmp(t, "r"))
				s->stats.records_waiting++;
			cJSON_Delete(item);
		}
	}
	if (!ckpt)
		return 0;
	ret = spool_batcher_restore(&s->b, ckpt);
	cJSON_Delete(ckpt);
	if (s->b.bp < s->ep)
		s->b.bp = s->ep;
	/* A checkpoint of an agent that made it durable before the entries
	 * it names (before this one did not): what a crash took of them. */
	if (s->b.bp > journal_end(s->ej))
		s->b.bp = journal_end(s->ej);
	for (i = 0; i < s->nckpt; i++)
		if (s->ckpt_keep[i] > journal_end(s->ej))
			s->ckpt_keep[i] = journal_end(s->ej);
	return ret;
}

/* The entries journal's bound, as spool_used_bytes reports it. */
uint64_t spool_bound(const struct spool *s)
{
	return s->opts.max_bytes ? s->opts.max_bytes : 256u << 20;
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
		s->opts.batch_age_ms = 1000;
	if (s->opts.checkpoint_ms <= 0)
		s->opts.checkpoint_ms = 2000;
	if (!s->opts.max_chains)
		s->opts.max_chains = 4096;
	if (!s->opts.aggregate_ms)
		s->opts.aggregate_ms = AGGREGATE_WINDOW_MS;
	if (s->opts.await_max_ms <= 0)
		s->opts.await_max_ms = SPOOL_AWAIT_MAX_MS;
	/* No sync yet: the first is due at once, however long ago the
	 * monotonic clock started (a machine up for less than the gap). */
	if (s->opts.sync_quiet_gap_ms < s->opts.sync_gap_ms)
		s->opts.sync_quiet_gap_ms = s->opts.sync_gap_ms;
	s->last_sync_ms = clock_now_ms() - s->opts.sync_quiet_gap_ms;
	hmap_init_free(&s->decided, spool_decision_free);
	/* A 64th of the bound: a container's figure is at most that much over. */
	if ((ret = spool_use_new((spool_bound(s) >> 6) + 1, &s->use)) < 0 ||
	    (ret = spool_batcher_init(&s->b, s, false)) < 0)
		goto fail;
	jo.max_bytes = opts->max_bytes;
	jo.segment_bytes = opts->segment_bytes;
	jo.datasync = opts->datasync;
	if (mkdir(opts->dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		goto fail;
	}
	if ((ret = spool_load_epoch(s, opts->dir)) < 0)
		goto fail;
	snprintf(dir, sizeof(dir), "%s/entries", opts->dir);
	jo.dir = dir;
	/* The batcher and the Events read each entry soon after it came: from
	 * memory. A record is read once, long after: from the file. */
	jo.read_recent = true;
	if ((ret = journal_open(&jo, &s->ej)) < 0)
		goto fail;
	snprintf(dir, sizeof(dir), "%s/records", opts->dir);
	jo.read_recent = false;
	if ((ret = journal_open(&jo, &s->rj)) < 0)
		goto fail;
	/* Decisions first: restoring open batches reads their entries. */
	if ((ret = spool_restore_decisions(s)) < 0 || (ret = spool_restore(s)) < 0)
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
	journal_get_stats(s->ej, &out->ej);
	journal_get_stats(s->rj, &out->rj);
}

uint64_t spool_container_bytes(const struct spool *s, const char *cid)
{
	return spool_use_of(s->use, cid);
}

uint64_t spool_used_bytes(const struct spool *s, uint64_t *max)
{
	*max = spool_bound(s);
	return journal_end(s->ej) - journal_acked(s->ej);
}

bool spool_idle(struct spool *s)
{
	return s->b.bp == journal_end(s->ej) && s->ep == journal_end(s->ej) && !s->ep_hold &&
	       s->rp == journal_end(s->rj) && s->b.batches.size == 0 && !s->b.wanted &&
	       journal_synced(s->ej) == journal_end(s->ej);
}
