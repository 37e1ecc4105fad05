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
};

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
	int ret;

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
	if (e->kind == SINK_SESSION_START || (e->kind == SINK_EXEC && !t->exec) ||
	    (e->kind == SINK_LINE && e->source == SINK_SOURCE_READLINE &&
	     (!t->readline || e->eof)) ||
	    (e->kind == SINK_LINE && e->source == SINK_SOURCE_TERMINAL && !t->terminal))
		return 0;
	/* The kernel's time and thread make the event's identity; one
	 * terminal read can complete several lines. */
	if (e->kind == SINK_LINE && e->source == SINK_SOURCE_TERMINAL)
		snprintf(key, sizeof(key), "%" PRIx64 "-%" PRIx32 "-t%" PRIx32, e->ts, e->tid,
			 e->part);
	else
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
		cJSON_AddItemToObject(
			entry, "filename",
			sink_spool_text(e->filename ? e->filename : "", e->filename_len, &cut));
	}
	if (e->kind == SINK_LINE)
		cJSON_AddStringToObject(entry, "source",
					e->source == SINK_SOURCE_TERMINAL ? "terminal" :
									    "readline");
	cJSON_AddNumberToObject(entry, "pid", e->pid);
	cJSON_AddNumberToObject(entry, "ppid", e->ppid);
	cJSON_AddNumberToObject(entry, "uid", e->uid);
	if (e->session_root)
		cJSON_AddNumberToObject(entry, "sessionRoot", e->session_root);
	if (cut)
		cJSON_AddTrueToObject(entry, "truncated");
	if (e->kind == SINK_LINE && e->inexact)
		cJSON_AddTrueToObject(entry, "inexact");
	if (hits || (e->kind == SINK_LINE && e->echo_off)) {
		redacted = cJSON_AddArrayToObject(entry, "redacted");
		if (hits)
			cJSON_AddItemToArray(redacted, cJSON_CreateString("redact"));
		/* The text is the placeholder: typed with echo off (a password). */
		if (e->kind == SINK_LINE && e->echo_off)
			cJSON_AddItemToArray(redacted, cJSON_CreateString("echo-off"));
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

static int sink_spool_flush(struct sink *base)
{
	(void)base;
	return 0; /* the agent's loop ticks the spool */
}

static void sink_spool_close(struct sink *base)
{
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
	*out = &s->base;
	return 0;
}
