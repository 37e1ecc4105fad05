// SPDX-License-Identifier: Apache-2.0
/* sink_spool: capture entries to AuditRecord entries in the spool. Text is
 * redacted on the raw bytes (so patterns see what was typed), then escaped
 * (valid UTF-8, no control characters) and bounded to the CRD's 4096
 * bytes, with truncated set. */
#include "sink_spool.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "escape.h"
#include "hmap.h"
#include "log.h"
#include "timefmt.h"

#define SINK_SPOOL_TEXT_MAX 4096
#define SINK_SPOOL_ARGV_MAX 64

struct sink_spool {
	struct sink base;
	struct spool *sp;
	sink_spool_lookup_fn lookup;
	void *arg;
	int64_t wall_minus_mono;	/* ns */
	uint64_t pending_full;		/* entries the full spool refused, not yet in a gap */
	struct sink_spool_stats stats;
	sink_spool_hold_fn hold;
	void *hold_arg;
	struct hmap held; /* container -> struct sink_spool_held, while held */
};

/* What a hold let a container add, and what it cost it. */
struct sink_spool_held {
	uint64_t bytes; /* spooled while held */
	uint64_t lost;	/* refused past its share, not yet in a gap */
};

void sink_spool_on_hold(struct sink *base, sink_spool_hold_fn fn, void *arg)
{
	struct sink_spool *s = (struct sink_spool *)base;

	s->hold = fn;
	s->hold_arg = arg;
}

/* The container's hold state: created while it is held, NULL when it is
 * not held and owes no gap. */
static struct sink_spool_held *sink_spool_held_state(struct sink_spool *s, const char *container)
{
	struct sink_spool_held *h = hmap_get(&s->held, container);

	if (!s->hold || !s->hold(container, s->hold_arg)) {
		if (h && !h->lost) {
			hmap_remove(&s->held, container);
			h = NULL;
		} else if (h) {
			h->bytes = 0; /* released: only the gap is owed */
		}
		return h;
	}
	if (!h && (h = calloc(1, sizeof(*h))) && hmap_put(&s->held, container, h, NULL) < 0) {
		free(h);
		h = NULL;
	}
	return h;
}

/* Whether a held container used its share of the spool. */
static bool sink_spool_held_out(struct sink_spool *s, const struct sink_spool_held *h)
{
	uint64_t max;

	spool_used_bytes(s->sp, &max);
	return h && h->bytes >= max * SINK_SPOOL_HOLD_PCT / 100;
}

/* The gap of what a hold cost the container, in its own chain, once it
 * has room again. */
static int sink_spool_held_gap(struct sink_spool *s, const char *container, const cJSON *id)
{
	struct sink_spool_held *h = hmap_get(&s->held, container);
	char ts[40], note[160];
	struct timespec now;
	cJSON *gap;
	int ret;

	if (!h || !h->lost || sink_spool_held_out(s, h))
		return 0;
	clock_gettime(CLOCK_REALTIME, &now);
	timefmt_micro(&now, ts, sizeof(ts));
	snprintf(note, sizeof(note),
		 "%" PRIu64 " entries lost: records were held (storage budget) and the node's "
		 "spool had no room left for this container",
		 h->lost);
	gap = cJSON_CreateObject();
	cJSON_AddStringToObject(gap, "time", ts);
	cJSON_AddStringToObject(gap, "kind", "gap");
	cJSON_AddNumberToObject(gap, "count", (double)h->lost);
	cJSON_AddStringToObject(gap, "text", note);
	ret = spool_add(s->sp, container, "", id, NULL, gap);
	cJSON_Delete(gap);
	if (ret == 0) {
		s->stats.gaps++;
		h->lost = 0;
	}
	return ret;
}

static void sink_spool_time(const struct sink_spool *s, uint64_t mono, char *buf, size_t cap)
{
	int64_t ns = (int64_t)mono + s->wall_minus_mono;
	struct timespec ts = { (time_t)(ns / 1000000000), (long)(ns % 1000000000) };

	timefmt_micro(&ts, buf, cap);
}

/* Escapes n bytes into a JSON string item, at most SINK_SPOOL_TEXT_MAX;
 * sets *cut when it had to shorten. */
static cJSON *sink_spool_text(const char *src, size_t n, bool *cut)
{
	char *buf = malloc(SINK_SPOOL_TEXT_MAX + 1);
	cJSON *j;

	if (!buf)
		return NULL;
	if (escape_text(buf, SINK_SPOOL_TEXT_MAX + 1, src, n) > SINK_SPOOL_TEXT_MAX)
		*cut = true;
	j = cJSON_CreateString(buf);
	free(buf);
	return j;
}

/* Redacts n bytes of text for target t: *out (caller frees). A rule that
 * cannot finish withholds the whole text rather than risk a secret. */
static int sink_spool_redact(struct sink_spool *s, const struct sink_spool_target *t,
			     const char *text, size_t n, char **out, size_t *outlen, unsigned *hits)
{
	int ret = redact_apply(t->redact, text, n, out, outlen, hits);

	if (ret == -E2BIG || ret == -EINVAL) {
		s->stats.withheld++;
		*out = strdup("[WITHHELD: a redact rule could not finish]");
		*outlen = *out ? strlen(*out) : 0;
		*hits = 1;
		return *out ? 0 : -ENOMEM;
	}
	return ret;
}

static cJSON *sink_spool_session(const struct sink_entry *e, char *sk, size_t cap)
{
	cJSON *sess = cJSON_CreateObject();
	char id[48];

	snprintf(id, sizeof(id), "%" PRIu32, e->session);
	snprintf(sk, cap, "%s", id);
	cJSON_AddStringToObject(sess, "id", id);
	if (e->session)
		cJSON_AddNumberToObject(sess, "pid", e->session);
	return sess;
}

static int sink_spool_add(struct sink_spool *s, const char *container, const char *sk,
			  const cJSON *id, const cJSON *sess, const cJSON *entry, const char *key)
{
	struct sink_spool_held *h = sink_spool_held_state(s, container);
	uint64_t before = 0, after, max;
	int ret;

	if (sink_spool_held_out(s, h)) {
		if (!h->lost++)
			log_with(LOG_WARN, LOG_KV("container", container),
				 "records held and this container's share of the spool used: its "
				 "new entries are lost, counted, until the hold ends");
		s->stats.dropped_full++;
		return -ENOSPC;
	}
	if ((ret = sink_spool_held_gap(s, container, id)) < 0 && ret != -ENOSPC)
		return ret;
	if (h)
		before = spool_used_bytes(s->sp, &max);
	/* Entries refused while the spool was full come back as one gap. */
	if (s->pending_full) {
		cJSON *gap = cJSON_CreateObject();
		char ts[40], note[96];
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		timefmt_micro(&now, ts, sizeof(ts));
		snprintf(note, sizeof(note), "%" PRIu64 " entries lost: the node's spool was full",
			 s->pending_full);
		cJSON_AddStringToObject(gap, "time", ts);
		cJSON_AddStringToObject(gap, "kind", "gap");
		cJSON_AddNumberToObject(gap, "count", (double)s->pending_full);
		cJSON_AddStringToObject(gap, "text", note);
		ret = spool_add(s->sp, container, "", id, NULL, gap);
		cJSON_Delete(gap);
		if (ret == 0) {
			s->stats.gaps++;
			s->pending_full = 0;
		}
	}
	ret = spool_add_keyed(s->sp, container, sk, id, sess, entry, key);
	if (h && (after = spool_used_bytes(s->sp, &max)) > before)
		h->bytes += after - before;
	if (ret == -ENOSPC) {
		s->pending_full++;
		s->stats.dropped_full++;
	} else if (ret == 0) {
		s->stats.entries++;
	}
	return ret;
}

/* A namespace entry's fields: how, the namespaces (inode numbers, exact in
 * a double), the child of a clone, and the summary as text. */
static void sink_spool_namespace(cJSON *entry, const struct sink_entry *e, bool *cut)
{
	cJSON *list = cJSON_CreateArray(), *item;
	size_t i;

	cJSON_AddStringToObject(entry, "how", e->how ? e->how : "changed");
	for (i = 0; i < e->nns && i < SINK_NS_MAX; i++) {
		item = cJSON_CreateObject();
		cJSON_AddStringToObject(item, "type", e->ns[i].type);
		cJSON_AddNumberToObject(item, "from", (double)e->ns[i].from);
		cJSON_AddNumberToObject(item, "to", (double)e->ns[i].to);
		cJSON_AddItemToArray(list, item);
	}
	cJSON_AddItemToObject(entry, "namespaces", list);
	if (e->child)
		cJSON_AddNumberToObject(entry, "child", e->child);
	cJSON_AddItemToObject(entry, "text",
			      sink_spool_text(e->text ? e->text : "", e->text_len, cut));
}

/* Capture was off for the container: an entry of its chain outside any
 * session, saying since when (if known) and why. */
static int sink_spool_off(struct sink_spool *s, const struct sink_spool_target *t,
			  const struct sink_entry *e)
{
	cJSON *entry = cJSON_CreateObject();
	char ts[40];
	bool cut = false;
	int ret;

	sink_spool_time(s, e->ts, ts, sizeof(ts));
	cJSON_AddStringToObject(entry, "time", ts);
	cJSON_AddStringToObject(entry, "kind", "off");
	if (e->since) {
		sink_spool_time(s, e->since, ts, sizeof(ts));
		cJSON_AddStringToObject(entry, "since", ts);
	}
	cJSON_AddStringToObject(entry, "reason", e->reason ? e->reason : "unknown");
	cJSON_AddItemToObject(entry, "text",
			      sink_spool_text(e->text ? e->text : "", e->text_len, &cut));
	ret = sink_spool_add(s, e->container, "", t->id, NULL, entry, NULL);
	cJSON_Delete(entry);
	if (ret == 0)
		s->stats.gaps++;
	return ret == -ENOSPC ? 0 : ret;
}

static int sink_spool_write(struct sink *base, const struct sink_entry *e)
{
	struct sink_spool *s = (struct sink_spool *)base;
	const struct sink_spool_target *t;
	cJSON *entry = NULL, *sess = NULL, *redacted = NULL;
	char ts[40], sk[48], key[SPOOL_KEY_MAX], *text = NULL;
	size_t textlen = 0;
	unsigned hits = 0;
	bool cut = e->truncated;
	int ret = 0;

	if (e->kind == SINK_LOST)
		return 0; /* reported per target by the agent through sink_spool_gap */
	if (!e->container || !(t = s->lookup(e->container, s->arg)))
		return 0; /* untargeted while in flight */
	if (e->kind == SINK_OFF)
		return sink_spool_off(s, t, e);
	if (e->kind == SINK_SESSION_END) {
		snprintf(sk, sizeof(sk), "%" PRIu32, e->session);
		return spool_end_session(s->sp, e->container, sk);
	}
	if (e->kind == SINK_SESSION_START || (e->kind == SINK_LINE && (!t->readline || e->eof)) ||
	    (e->kind == SINK_EXEC && !t->exec))
		return 0;
	/* The kernel's time and thread make the event's identity. */
	snprintf(key, sizeof(key), "%" PRIx64 "-%" PRIx32 "-%c", e->ts, e->tid,
		 e->kind == SINK_LINE ? 'l' : e->kind == SINK_NAMESPACE ? 'n' : 'x');
	if (spool_is_last_key(s->sp, key)) {
		log_with(LOG_INFO, LOG_KV("container", e->container),
			 "an event spooled just before the agent stopped came again; kept once");
		return 0;
	}
	sink_spool_time(s, e->ts, ts, sizeof(ts));
	entry = cJSON_CreateObject();
	cJSON_AddStringToObject(entry, "time", ts);
	cJSON_AddStringToObject(entry, "kind", e->kind == SINK_LINE	 ? "line" :
						e->kind == SINK_NAMESPACE ? "namespace" :
									    "exec");
	if (e->kind == SINK_NAMESPACE) {
		sink_spool_namespace(entry, e, &cut);
	} else if (e->kind == SINK_LINE) {
		if ((ret = sink_spool_redact(s, t, e->text ? e->text : "", e->text_len, &text,
					     &textlen, &hits)) < 0)
			goto out;
		cJSON_AddItemToObject(entry, "text", sink_spool_text(text, textlen, &cut));
	} else {
		/* argv arrives NUL-separated; each argument is redacted on its
		 * own, so no pattern can run across two of them. The text field
		 * is the command line they make. */
		cJSON *argv = cJSON_AddArrayToObject(entry, "argv");
		const char *src = e->text ? e->text : "";
		/* Escaping at most quadruples a byte: more cannot fit the field. */
		size_t i = 0, n = 0, used = 0, cap = 4 * SINK_SPOOL_TEXT_MAX;
		char *line = malloc(cap), *arg;
		size_t arglen;
		unsigned h;

		if (!line) {
			ret = -ENOMEM;
			goto out;
		}
		while (i < e->text_len) {
			size_t l = strnlen(src + i, e->text_len - i), c;

			if ((ret = sink_spool_redact(s, t, src + i, l, &arg, &arglen, &h)) < 0) {
				free(line);
				goto out;
			}
			hits += h;
			if (n < SINK_SPOOL_ARGV_MAX)
				cJSON_AddItemToArray(argv, sink_spool_text(arg, arglen, &cut));
			else
				cut = true;
			n++;
			if (used && used < cap)
				line[used++] = ' ';
			c = arglen < cap - used ? arglen : cap - used;
			memcpy(line + used, arg, c);
			used += c;
			cut |= c < arglen;
			free(arg);
			i += l + 1;
		}
		if (e->argc > n)
			cut = true;
		cJSON_AddItemToObject(entry, "text", sink_spool_text(line, used, &cut));
		free(line);
		cJSON_AddItemToObject(entry, "filename",
				      sink_spool_text(e->filename ? e->filename : "", e->filename_len, &cut));
	}
	cJSON_AddNumberToObject(entry, "pid", e->pid);
	cJSON_AddNumberToObject(entry, "ppid", e->ppid);
	cJSON_AddNumberToObject(entry, "uid", e->uid);
	if (e->session_root)
		cJSON_AddNumberToObject(entry, "sessionRoot", e->session_root);
	if (cut)
		cJSON_AddTrueToObject(entry, "truncated");
	if (hits) {
		redacted = cJSON_AddArrayToObject(entry, "redacted");
		cJSON_AddItemToArray(redacted, cJSON_CreateString("redact"));
	}
	/* Lines and the programs run from a shell go to that session's records. */
	sess = e->session ? sink_spool_session(e, sk, sizeof(sk)) : NULL;
	if (!sess)
		sk[0] = '\0';
	ret = sink_spool_add(s, e->container, sk, t->id, sess, entry, key);
out:
	free(text);
	cJSON_Delete(entry);
	cJSON_Delete(sess);
	return ret == -ENOSPC ? 0 : ret;
}

int sink_spool_gap(struct sink *base, const char *container, uint64_t count, const char *why)
{
	struct sink_spool *s = (struct sink_spool *)base;
	const struct sink_spool_target *t = s->lookup(container, s->arg);
	struct timespec now;
	char ts[40], note[160];
	cJSON *gap;
	int ret;

	if (!t || !count)
		return 0;
	clock_gettime(CLOCK_REALTIME, &now);
	timefmt_micro(&now, ts, sizeof(ts));
	snprintf(note, sizeof(note), "%" PRIu64 " events lost: %s", count, why);
	gap = cJSON_CreateObject();
	cJSON_AddStringToObject(gap, "time", ts);
	cJSON_AddStringToObject(gap, "kind", "gap");
	cJSON_AddNumberToObject(gap, "count", (double)count);
	cJSON_AddStringToObject(gap, "text", note);
	ret = sink_spool_add(s, container, "", t->id, NULL, gap, NULL);
	cJSON_Delete(gap);
	if (ret == 0)
		s->stats.gaps++;
	return ret;
}

int sink_spool_stopped(struct sink *base, const char *container, const cJSON *id, const char *why)
{
	struct sink_spool *s = (struct sink_spool *)base;
	struct timespec now;
	char ts[40];
	cJSON *e;
	int ret;

	clock_gettime(CLOCK_REALTIME, &now);
	timefmt_micro(&now, ts, sizeof(ts));
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "time", ts);
	cJSON_AddStringToObject(e, "kind", "audit_stopped");
	cJSON_AddStringToObject(e, "text", why);
	ret = sink_spool_add(s, container, "", id, NULL, e, NULL);
	cJSON_Delete(e);
	if (ret == 0)
		ret = spool_end_session(s->sp, container, "");
	return ret;
}

struct sink_spool_flushing {
	struct sink_spool *s;
	const char *done[16];
	size_t n;
};

static void sink_spool_flush_one(const char *container, void *value, void *arg)
{
	struct sink_spool_flushing *f = arg;
	const struct sink_spool_target *t = f->s->lookup(container, f->s->arg);
	const struct sink_spool_held *h = value;

	if (f->n < 16 && t && h->lost && (!f->s->hold(container, f->s->hold_arg)))
		f->done[f->n++] = container;
}

static int sink_spool_flush(struct sink *base)
{
	struct sink_spool *s = (struct sink_spool *)base;
	struct sink_spool_flushing f = { s, { NULL }, 0 };
	size_t i;

	/* The agent's loop ticks the spool; what a hold cost a container
	 * that has room again is said now, even if it is quiet. */
	if (!s->hold)
		return 0;
	hmap_foreach(&s->held, sink_spool_flush_one, &f);
	for (i = 0; i < f.n; i++) {
		const struct sink_spool_target *t = s->lookup(f.done[i], s->arg);
		char container[256];

		snprintf(container, sizeof(container), "%s", f.done[i]);
		sink_spool_held_state(s, container); /* released: its share is back */
		if (sink_spool_held_gap(s, container, t->id) < 0)
			break;
		sink_spool_held_state(s, container); /* nothing owed: forgotten */
	}
	return 0;
}

static void sink_spool_close(struct sink *base)
{
	struct sink_spool *s = (struct sink_spool *)base;

	hmap_clear(&s->held);
	free(base);
}

void sink_spool_get_stats(const struct sink *base, struct sink_spool_stats *out)
{
	*out = ((const struct sink_spool *)base)->stats;
}

int sink_spool_open(struct spool *sp, sink_spool_lookup_fn lookup, void *arg, struct sink **out)
{
	struct sink_spool *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->base.write = sink_spool_write;
	s->base.flush = sink_spool_flush;
	s->base.close = sink_spool_close;
	s->sp = sp;
	s->lookup = lookup;
	s->arg = arg;
	s->wall_minus_mono = clock_wall_offset_ns();
	hmap_init_free(&s->held, free);
	*out = &s->base;
	return 0;
}
