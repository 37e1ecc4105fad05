// SPDX-License-Identifier: Apache-2.0
/* The spool: entries journal -> batcher (spool_batch.c) -> records journal
 * -> publisher. Owned by the agent's main loop. See spool.h for the replay
 * argument. Errors are returned, never logged: the agent logs them. */
#include "spool_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

void spool_key(const char *cid, const char *sk, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s\x1f%s", cid, sk);
}

const char *spool_str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

int spool_append(struct journal *j, const cJSON *item, uint64_t *pos)
{
	char *text = cJSON_PrintUnformatted(item);
	int ret;

	if (!text)
		return -ENOMEM;
	ret = journal_append(j, text, strlen(text), pos);
	free(text);
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
	text = cJSON_PrintUnformatted(item);
	cJSON_Delete(item);
	if (!text)
		return -ENOMEM;
	ret = journal_append_reserved(j, text, strlen(text), NULL);
	free(text);
	return ret;
}

void spool_close(struct spool *s)
{
	if (!s)
		return;
	spool_batcher_clear(&s->b);
	journal_close(s->ej);
	journal_close(s->rj);
	free(s);
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

	spool_batcher_prune(&s->b, s->rp);
	if (!(item = spool_batcher_checkpoint(&s->b, &keep)))
		return -ENOMEM;
	text = cJSON_PrintUnformatted(item);
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

/* Drops what every consumer is done with. */
static int spool_ack(struct spool *s)
{
	uint64_t ack_keep = 0, ack_rp = 0;
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
	return journal_ack(s->ej, ack_keep < s->ep ? ack_keep : s->ep);
}

int spool_tick(struct spool *s)
{
	long now = clock_now_ms();
	int ret, first = 0;

	/* Each step runs whatever the one before did: a checkpoint that
	 * cannot be written must not stop syncing and acknowledging. A
	 * checkpoint comes before the first record: a record is formed again
	 * from the checkpoint before it. */
	if (s->nckpt == 0 && (ret = spool_checkpoint(s)) < 0)
		first = ret;
	ret = spool_batcher_run(&s->b, journal_end(s->ej));
	if (ret < 0 && ret != -EAGAIN && !first)
		first = ret;
	/* Age is wall-clock: journal it as a cut marker, so a replay cuts
	 * the batch at the same entry. */
	if ((ret = spool_batcher_cut_aged(&s->b, now)) < 0 && !first)
		first = ret;
	ret = spool_batcher_run(&s->b, journal_end(s->ej));
	if (ret < 0 && ret != -EAGAIN && !first)
		first = ret;
	if ((ret = journal_sync(s->ej)) < 0 && !first)
		first = ret;
	if ((s->changed && now - s->last_ckpt_ms >= s->opts.checkpoint_ms) || s->nckpt == 0) {
		if ((ret = spool_checkpoint(s)) < 0 && !first)
			first = ret;
	}
	if ((ret = journal_sync(s->rj)) < 0) {
		/* What may be gone must not be acknowledged as done. */
		return first ? first : ret;
	}
	if ((ret = spool_ack(s)) < 0 && !first)
		first = ret;
	return first;
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
	int ret = spool_append_cut(s->ej, cid, sk);

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
	int n;

	if (t && !strcmp(t, "k")) {
		cJSON_Delete(item);
		return;
	}
	cJSON_Delete(item);
	n = spool_regenerate(s, pos);
	if (n > 0)
		s->stats.records_regenerated += (uint64_t)n;
	else
		s->stats.records_lost++;
}

int spool_next_record(struct spool *s, cJSON **rec, uint64_t *pos)
{
	uint64_t next;
	size_t len;
	void *data;
	cJSON *item;
	int ret;

	while (s->rp < journal_synced(s->rj)) {
		const char *t;

		ret = journal_read(s->rj, s->rp, &data, &len, &next);
		if (ret == -EBADMSG) {
			spool_records_damaged(s, s->rp, data, data ? len : 0);
			free(data);
			s->rp = next;
			continue;
		}
		if (ret < 0)
			break;
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

/* Restores the batcher from the last readable checkpoint of the records
 * journal. */
static int spool_restore(struct spool *s)
{
	uint64_t pos = journal_acked(s->rj), next;
	cJSON *item, *ckpt = NULL;
	size_t len;
	void *data;
	int ret;

	s->b.bp = s->ep = journal_acked(s->ej);
	s->rp = journal_acked(s->rj);
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
			cJSON_Delete(item);
		}
	}
	if (!ckpt)
		return 0;
	ret = spool_batcher_restore(&s->b, ckpt);
	cJSON_Delete(ckpt);
	if (s->b.bp < s->ep)
		s->b.bp = s->ep;
	return ret;
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
	if (!s->opts.max_chains)
		s->opts.max_chains = 4096;
	if ((ret = spool_batcher_init(&s->b, s, false)) < 0)
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
	journal_get_stats(s->ej, &out->ej);
	journal_get_stats(s->rj, &out->rj);
}

bool spool_idle(struct spool *s)
{
	return s->b.bp == journal_end(s->ej) && s->ep == journal_end(s->ej) &&
	       s->rp == journal_end(s->rj) && s->b.batches.size == 0 && !s->b.wanted &&
	       journal_synced(s->ej) == journal_end(s->ej);
}
