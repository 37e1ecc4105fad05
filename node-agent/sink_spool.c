// SPDX-License-Identifier: Apache-2.0
/* sink_spool: capture entries to AuditRecord entries in the spool. Text is
 * redacted on the raw bytes (so patterns see what was typed; a line after
 * one ending in a backslash, together with it, as the shell joins them),
 * then kept as it is when it can be shown as it is (escape_needed), else
 * escaped and the entry marked "escaped"; bounded to the CRD's 4096 bytes, with
 * truncated set. Entries the full spool refuses are counted per container
 * and session and come back as one gap entry in that session's stream;
 * so do those a held container (a storage budget) could not add past its
 * share of the spool, once the hold ends. Entries of a session carry who
 * opened it (attr_fn), or are journaled awaiting that decision
 * (spool_add_awaiting). */
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
#include "jsontext.h"
#include "log.h"
#include "timefmt.h"

#define SINK_SPOOL_TEXT_MAX 4096
#define SINK_SPOOL_ARGV_MAX 64
/* A withheld entry keeps at most this much of its command name. */
#define SINK_SPOOL_COMMAND_MAX 256

/* Entries the full spool refused, for one container and session. */
struct sink_spool_pending {
	char *cid, *sk;
	char *root;	/* the session root its attribution awaits, or NULL */
	cJSON *id, *sess;
	uint64_t count;
	uint64_t held;	/* of count, refused while held, the held share used */
	uint64_t failed; /* of count, that the spool could not write */
	char first[40];	/* time of the first one lost */
};

/* A held container's state while the hold lasts. */
struct sink_spool_held {
	bool warned; /* out of room: logged once per hold */
};

struct sink_spool {
	struct sink base;
	struct spool *sp;
	sink_spool_lookup_fn lookup;
	void *arg;
	struct export *export;		/* a JSON-lines copy of each entry, or NULL */
	struct hmap pending;		/* "cid\x1fsk" -> struct sink_spool_pending */
	uint64_t pending_sessions;	/* of pending: keys with a session */
	sink_spool_hold_fn hold;
	void *hold_arg;
	struct hmap held; /* container -> struct sink_spool_held, while held */
	struct hmap over; /* containers past their share, warned (a set) */
	struct sink_spool_stats stats;
	sink_spool_attr_fn attr_fn;
	void *attr_arg;
	/* "cid\x1fsession\x1ftid" -> struct sink_spool_cont: the command a
	 * thread is typing over several lines, so far */
	struct hmap cont;
	/* Per fold of the spool's gather (SPOOL_FOLDS_MAX, in their order):
	 * what the last exec that went into it was made of (sink_spool_print)
	 * and who opened its session (attr, a copy, or NULL). An exec made of
	 * the same goes into that fold as it is (sink_spool_exec_again). */
	struct sink_spool_again {
		uint64_t token; /* spool_fold_token's; 0: none */
		struct jsontext_out print;
		cJSON *attr;
	} again[SPOOL_FOLDS_MAX];
	struct jsontext_out scratch; /* the print of the exec at hand */
};

/* A command typed over several lines (each but the last ending in a
 * backslash): what came so far, as the shell joins it. Bounded: a longer
 * one, or more threads typing so at once, go on without what came before. */
#define SINK_SPOOL_CONT_MAX 16384
#define SINK_SPOOL_CONT_KEYS 64

struct sink_spool_cont {
	size_t len;
	bool dq; /* the command goes on inside double quotes */
	char text[];
};

static void sink_spool_pending_free(void *v)
{
	struct sink_spool_pending *p = v;

	if (!p)
		return;
	free(p->cid);
	free(p->sk);
	free(p->root);
	cJSON_Delete(p->id);
	cJSON_Delete(p->sess);
	free(p);
}

void sink_spool_on_hold(struct sink *base, sink_spool_hold_fn fn, void *arg)
{
	struct sink_spool *s = (struct sink_spool *)base;

	s->hold = fn;
	s->hold_arg = arg;
}

/* The container's hold state, asked of the hold function: kept while it is
 * held, forgotten (its share back) once it is not; NULL when not held. */
static struct sink_spool_held *sink_spool_held_state(struct sink_spool *s, const char *container)
{
	struct sink_spool_held *h = hmap_get(&s->held, container);

	if (!s->hold || !s->hold(container, s->hold_arg)) {
		if (h)
			hmap_remove(&s->held, container);
		return NULL;
	}
	if (!h && (h = calloc(1, sizeof(*h))) && hmap_put(&s->held, container, h, NULL) < 0) {
		free(h);
		h = NULL;
	}
	return h;
}

/* Whether a container may add no more to the spool for now: it holds
 * SINK_SPOOL_SHARE_PCT of the bound, or SINK_SPOOL_HOLD_PCT while held (h),
 * counting all its entries there, those spooled before a hold included
 * (spool_container_bytes). Not the spool being full: that is for everyone. */
static bool sink_spool_out(const struct sink_spool *s, const char *container,
			   const struct sink_spool_held *h)
{
	uint64_t max, pct = h ? SINK_SPOOL_HOLD_PCT : SINK_SPOOL_SHARE_PCT;

	spool_used_bytes(s->sp, &max);
	return spool_container_bytes(s->sp, container) >= max / 100 * pct;
}

static void sink_spool_time(uint64_t mono, char *buf, size_t cap)
{
	int64_t ns = (int64_t)mono + clock_wall_offset_ns();
	struct timespec ts = { (time_t)(ns / 1000000000), (long)(ns % 1000000000) };

	timefmt_micro(&ts, buf, cap);
}

static void sink_spool_now(char *buf, size_t cap)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	timefmt_micro(&now, buf, cap);
}

/* n bytes of src as an entry's string, at most SINK_SPOOL_TEXT_MAX bytes:
 * as they are (cut at a character boundary) or, when escape is set,
 * escaped. Sets *cut when it had to shorten. */
static cJSON *sink_spool_text(const char *src, size_t n, bool escape, bool *cut)
{
	/* On the stack: a malloc this large made glibc consolidate its
	 * small free chunks, several times per exec entry. */
	char buf[SINK_SPOOL_TEXT_MAX + 1];
	size_t k;

	if (escape) {
		if (escape_text(buf, SINK_SPOOL_TEXT_MAX + 1, src, n) > SINK_SPOOL_TEXT_MAX)
			*cut = true;
	} else {
		k = escape_utf8_prefix(src, n, SINK_SPOOL_TEXT_MAX);
		*cut |= k < n;
		memcpy(buf, src, k);
		buf[k] = '\0';
	}
	return cJSON_CreateString(buf);
}

static cJSON *sink_spool_session(const struct sink_entry *e, char *sk, size_t cap)
{
	cJSON *sess = cJSON_CreateObject();
	char id[48];

	snprintf(id, sizeof(id), "%" PRIu32, e->session);
	snprintf(sk, cap, "%s", id);
	jsontext_add_str(sess, "id", id);
	if (e->session)
		jsontext_add_num(sess, "pid", e->session);
	return sess;
}

static void sink_spool_key(const char *cid, const char *sk, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s\x1f%s", cid, sk);
}

/* Counts `count` entries of (cid, sk) that the full spool refused. Past
 * SINK_SPOOL_PENDING_SESSIONS sessions with losses, a session's losses
 * count for its container outside sessions; past SINK_SPOOL_PENDING_MAX
 * keys, for nobody (stats.lost_unattributed: the agent reports them in
 * every chain). */
static struct sink_spool_pending *sink_spool_lost(struct sink_spool *s, const char *cid,
						  const char *sk, const cJSON *id,
						  const cJSON *sess, const char *root,
						  uint64_t count, bool held, const char *when)
{
	struct sink_spool_pending *p;
	char key[600];

	sink_spool_key(cid, sk, key, sizeof(key));
	if (!(p = hmap_get(&s->pending, key)) && *sk &&
	    s->pending_sessions >= SINK_SPOOL_PENDING_SESSIONS) {
		sk = "";
		sess = NULL;
		root = NULL;
		sink_spool_key(cid, sk, key, sizeof(key));
		p = hmap_get(&s->pending, key);
	}
	if (!p) {
		if (s->pending.size >= SINK_SPOOL_PENDING_MAX || !(p = calloc(1, sizeof(*p)))) {
			s->stats.lost_unattributed += count;
			return NULL;
		}
		p->cid = strdup(cid);
		p->sk = strdup(sk);
		p->id = cJSON_Duplicate(id, 1);
		p->sess = sess ? cJSON_Duplicate(sess, 1) : NULL;
		p->root = root ? strdup(root) : NULL;
		snprintf(p->first, sizeof(p->first), "%s", when);
		if (!p->cid || !p->sk || !p->id || (sess && !p->sess) || (root && !p->root) ||
		    hmap_put(&s->pending, key, p, NULL) < 0) {
			sink_spool_pending_free(p);
			s->stats.lost_unattributed += count;
			return NULL;
		}
		s->pending_sessions += *sk != '\0';
	}
	p->count += count;
	if (held)
		p->held += count;
	return p;
}

/* The execs of a fold the spool could not write (spool_take_lost_folds):
 * a gap in their chain, as entries the full spool refused. */
static void sink_spool_fold_lost(void *arg, const char *cid, const char *sk, const cJSON *id,
				 const cJSON *sess, const char *root, uint64_t count,
				 const char *when)
{
	struct sink_spool *s = arg;
	struct sink_spool_pending *p;

	s->stats.dropped_failed += count;
	if (!cid) {
		s->stats.lost_unattributed += count;
		return;
	}
	if ((p = sink_spool_lost(s, cid, sk, id, sess, root, count, false, when ? when : "")))
		p->failed += count;
}

struct sink_spool_keys {
	char **keys;
	size_t n;
};

static void sink_spool_collect(const char *key, void *value, void *arg)
{
	struct sink_spool_keys *k = arg;

	(void)value;
	k->keys[k->n++] = (char *)key;
}

/* The text of p's gap entry: why its entries were lost. */
static void sink_spool_gap_note(const struct sink_spool_pending *p, char *note, size_t cap)
{
	if (p->failed == p->count)
		snprintf(note, cap,
			 "%" PRIu64 " entries lost: the node's spool could not write them (a disk "
			 "error, or no memory)",
			 p->count);
	else if (p->failed)
		snprintf(note, cap,
			 "%" PRIu64 " entries lost: the node's spool was full, or (%" PRIu64
			 " of them) could not write them",
			 p->count, p->failed);
	else if (!p->held)
		snprintf(note, cap, "%" PRIu64 " entries lost: the node's spool was full",
			 p->count);
	else if (p->held == p->count)
		snprintf(note, cap,
			 "%" PRIu64 " entries lost: records were held (storage budget) and the "
			 "node's spool had no room left for this container",
			 p->count);
	else
		snprintf(note, cap,
			 "%" PRIu64 " entries lost: the node's spool was full, or (%" PRIu64
			 " of them) records were held (storage budget) and it had no room left for "
			 "this container",
			 p->count, p->held);
}

/* Writes a gap entry for each container and session whose entries the
 * full spool refused, as long as it has room; a container still held past
 * its share waits until its hold ends (sink_spool_flush notices). */
static int sink_spool_write_gaps(struct sink_spool *s)
{
	struct sink_spool_keys k = { NULL, 0 };
	size_t i;
	int ret = 0;

	spool_take_lost_folds(s->sp, sink_spool_fold_lost, s);
	if (!s->pending.size)
		return 0;
	if (!(k.keys = calloc(s->pending.size, sizeof(*k.keys))))
		return -ENOMEM;
	hmap_foreach(&s->pending, sink_spool_collect, &k);
	for (i = 0; i < k.n && !ret; i++) {
		struct sink_spool_pending *p = hmap_get(&s->pending, k.keys[i]);
		struct sink_spool_held *h = hmap_get(&s->held, p->cid);
		cJSON *gap;
		char note[224];

		if (sink_spool_out(s, p->cid, h))
			continue; /* until it has room again (or its hold ended) */
		gap = cJSON_CreateObject();
		sink_spool_gap_note(p, note, sizeof(note));
		cJSON_AddStringToObject(gap, "time", p->first);
		cJSON_AddStringToObject(gap, "kind", "gap");
		cJSON_AddNumberToObject(gap, "count", (double)p->count);
		cJSON_AddStringToObject(gap, "text", note);
		/* In its session's records, with who opened it: awaiting
		 * the decision as that session's entries did. */
		ret = spool_add_awaiting(s->sp, p->cid, p->sk, p->id, NULL, p->sess, gap, NULL,
					 p->root);
		cJSON_Delete(gap);
		if (ret == 0) {
			s->stats.gaps++;
			s->pending_sessions -= *p->sk != '\0';
			hmap_remove(&s->pending, k.keys[i]);
		}
	}
	free(k.keys);
	return ret == -ENOSPC ? 0 : ret;
}

/* The export's copy of an entry: its session as journaled, with the root
 * whose decision it awaits (the decision comes as a line of its own,
 * sink_spool_attribute). */
static int sink_spool_export(struct sink_spool *s, const cJSON *id, const cJSON *sess,
			     const cJSON *entry, const char *root)
{
	cJSON *copy;
	int ret;

	if (!root || !sess)
		return export_entry(s->export, id, sess, entry);
	if (!(copy = cJSON_Duplicate(sess, 1)))
		return -ENOMEM;
	cJSON_AddStringToObject(copy, "awaiting", root);
	ret = export_entry(s->export, id, copy, entry);
	cJSON_Delete(copy);
	return ret;
}

/* ends: the entry is the end of auditing (audit_stopped), one small
 * entry, the one that says why the chain ends: it goes in past the
 * container's share (a flood, a hold); only a spool without room refuses
 * it. */
static int sink_spool_add_as(struct sink_spool *s, const char *container, const char *sk,
			     const cJSON *id, const char *id_text, const cJSON *sess,
			     const cJSON *entry, const char *key, const char *root, bool ends)
{
	const char *when = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "time"));
	struct sink_spool_held *h = sink_spool_held_state(s, container);
	int ret;

	/* What was lost comes first, where there is room for it. */
	if ((ret = sink_spool_write_gaps(s)) < 0)
		return ret;
	/* The log pipeline gets the entry whether or not the spool has room
	 * (or its records are held). */
	if (s->export && sink_spool_export(s, id, sess, entry, root) < 0)
		s->stats.export_failed++;
	if (!ends && sink_spool_out(s, container, h)) {
		/* Said once: per hold, or until the container spools again. */
		if (h && !h->warned)
			log_with(LOG_WARN, LOG_KV("container", container),
				 "records held and the spool's share for held records used: this "
				 "container's new entries are lost, counted, until the hold ends");
		else if (!h && hmap_add(&s->over, container) == 1)
			log_with(LOG_WARN, LOG_KV("container", container),
				 "this container holds %d%% of the spool, its records not yet "
				 "published: its new entries are lost, counted, until some are",
				 SINK_SPOOL_SHARE_PCT);
		if (h)
			h->warned = true;
		s->stats.dropped_full++;
		s->stats.dropped_held += h != NULL;
		sink_spool_lost(s, container, sk, id, sess, root, 1, h != NULL, when ? when : "");
		return -ENOSPC;
	}
	ret = spool_add_awaiting(s->sp, container, sk, id, id_text, sess, entry, key, root);
	if (ret == 0 && s->over.size)
		hmap_remove(&s->over, container);
	if (ret == -ENOSPC) {
		s->stats.dropped_full++;
		sink_spool_lost(s, container, sk, id, sess, root, 1, false, when ? when : "");
	}
	else if (ret == 0)
		s->stats.entries++;
	return ret;
}

static int sink_spool_add(struct sink_spool *s, const char *container, const char *sk,
			  const cJSON *id, const char *id_text, const cJSON *sess,
			  const cJSON *entry, const char *key, const char *root)
{
	return sink_spool_add_as(s, container, sk, id, id_text, sess, entry, key, root, false);
}

/* Whether c ends a shell word (a NUL byte does not). */
static bool sink_spool_word_end(char c)
{
	return c != '\0' && strchr(" \t;|&<>()\n", c);
}

/* The command name a withheld line keeps: its first word, unless that is
 * an assignment (NAME=value may be the secret itself). */
static size_t sink_spool_command(const char *text, size_t n, const char **start)
{
	size_t i = 0, j;

	while (i < n && (text[i] == ' ' || text[i] == '\t'))
		i++;
	for (j = i; j < n && !sink_spool_word_end(text[j]); j++)
		if (text[j] == '=')
			return 0;
	*start = text + i;
	return j - i < SINK_SPOOL_COMMAND_MAX ? j - i : SINK_SPOOL_COMMAND_MAX;
}

/* What a withheld entry keeps of one of its strings (the command's name,
 * an exec's argv[0] and file): at most SINK_SPOOL_COMMAND_MAX bytes of it,
 * redacted by every rule, since a secret may be that name too; "" when a
 * rule cannot finish even there. Adds what matched to res; NULL when out
 * of memory. */
static char *sink_spool_kept(const struct sink_spool_target *t, const char *src, size_t n,
			     size_t *len, struct redact_result *res)
{
	struct redact_result r;
	char *out = NULL;
	int ret;

	n = escape_utf8_prefix(src, n, SINK_SPOOL_COMMAND_MAX);
	ret = redact_apply(t->redact, src, n, &out, len, &r);
	res->matched |= r.matched;
	if (ret == -E2BIG) {
		*len = 0;
		return strdup("");
	}
	return ret < 0 ? NULL : out;
}

/* The text of an entry whose redaction could not finish: its command name
 * (as sink_spool_kept keeps it) and a note that the rest is withheld. */
static char *sink_spool_withheld(const struct redact_set *rs, int rule, const char *cmd, size_t n,
				 size_t *len)
{
	size_t cap = n + 160;
	char *out = malloc(cap);
	int k;

	if (!out)
		return NULL;
	k = snprintf(out, cap, "%.*s%s[WITHHELD: redact rule %s could not finish]", (int)n, cmd,
		     n ? " " : "", redact_rule_name(rs, (size_t)rule));
	*len = k > 0 ? (size_t)k : 0;
	return out;
}

static void sink_spool_mark(cJSON *entry, const struct redact_set *rs, uint64_t matched,
			    int unfinished)
{
	cJSON *names;
	size_t i;

	if (unfinished >= 0) {
		matched |= 1ull << unfinished;
		jsontext_add_true(entry, "withheld");
	}
	if (!matched)
		return;
	names = jsontext_add_item(entry, "redacted", cJSON_CreateArray());
	for (i = 0; i < REDACT_MAX_RULES; i++)
		if (matched & (1ull << i))
			cJSON_AddItemToArray(names, cJSON_CreateString(redact_rule_name(rs, i)));
}

/* Whether the shell reads the command on in the next line after the n
 * bytes of text: they end in a backslash that quotes the newline, outside
 * single quotes and outside a comment (which ends at the newline whatever
 * ends it). *dq: in double quotes where text starts, and where it ends;
 * blank: text starts a word (a '#' there starts a comment). */
static bool sink_spool_continued(const char *text, size_t n, bool *dq, bool blank)
{
	bool sq = false;
	size_t i;

	for (i = 0; i < n; i++) {
		char c = text[i];

		if (sq) {
			sq = c != '\'';
			blank = false;
			continue;
		}
		if (c == '\\') {
			if (i + 1 == n)
				return true;
			i++;
			blank = false;
			continue;
		}
		if (*dq) {
			*dq = c != '"';
			blank = false;
			continue;
		}
		if (c == '#' && blank)
			return false;
		if (c == '\'')
			sq = true;
		else if (c == '"')
			*dq = true;
		blank = sink_spool_word_end(c);
	}
	return false;
}

/* Keeps (or forgets) what a thread typed so far of a command that goes on
 * in its next line: the lines before, then this one without its final
 * backslash (bash drops the backslash and the newline). */
static void sink_spool_cont_update(struct sink_spool *s, const char *key,
				   const struct sink_spool_cont *prev, const char *text, size_t n)
{
	size_t before = prev ? prev->len : 0;
	bool dq = prev && prev->dq;
	struct sink_spool_cont *c;

	if (!sink_spool_continued(text, n, &dq,
				  !before || sink_spool_word_end(prev->text[before - 1])) ||
	    before + n > SINK_SPOOL_CONT_MAX) {
		if (prev)
			hmap_remove(&s->cont, key);
		return;
	}
	if (!prev && s->cont.size >= SINK_SPOOL_CONT_KEYS)
		hmap_clear(&s->cont);
	if (!(c = malloc(sizeof(*c) + before + n)))
		return;
	if (before)
		memcpy(c->text, prev->text, before);
	memcpy(c->text + before, text, n - 1);
	c->len = before + n - 1;
	c->dq = dq;
	if (hmap_put(&s->cont, key, c, NULL) < 0)
		free(c);
}

static int sink_spool_line(struct sink_spool *s, const struct sink_spool_target *t,
			   const struct sink_entry *e, cJSON *entry, bool *cut)
{
	const char *src = e->text ? e->text : "", *cmd = "";
	const struct sink_spool_cont *prev;
	struct redact_result res;
	char *text = NULL, key[600];
	size_t len = 0;
	bool esc;
	int ret;

	/* The rules see the command as the shell does, joined over its lines. */
	snprintf(key, sizeof(key), "%s\x1f%" PRIu32 "\x1f%" PRIu32, e->container, e->session,
		 e->tid);
	prev = hmap_get(&s->cont, key);
	if (prev)
		ret = redact_apply_after(t->redact, prev->text, prev->len, src, e->text_len, &text,
					 &len, &res);
	else
		ret = redact_apply(t->redact, src, e->text_len, &text, &len, &res);
	sink_spool_cont_update(s, key, prev, src, e->text_len);
	if (ret == -E2BIG) {
		size_t n = sink_spool_command(src, e->text_len, &cmd);
		char *name = sink_spool_kept(t, cmd, n, &n, &res);

		s->stats.withheld++;
		text = name ? sink_spool_withheld(t->redact, res.unfinished, name, n, &len) : NULL;
		free(name);
		if (!text)
			return -ENOMEM;
	} else if (ret < 0) {
		return ret;
	}
	*cut |= res.cut;
	esc = escape_needed(text, len);
	jsontext_add_item(entry, "text", sink_spool_text(text, len, esc, cut));
	if (esc)
		jsontext_add_true(entry, "escaped");
	sink_spool_mark(entry, t->redact, res.matched, res.unfinished);
	free(text);
	return 0;
}

/* redact_apply of one more of an entry's strings, its result added to
 * res's. */
static int sink_spool_redact_more(const struct sink_spool_target *t, const char *src, size_t n,
				  char **out, size_t *outlen, struct redact_result *res)
{
	struct redact_result r;
	int ret = redact_apply(t->redact, src, n, out, outlen, &r);

	res->matched |= r.matched;
	res->cut |= r.cut;
	if (ret == -E2BIG)
		res->unfinished = r.unfinished;
	return ret;
}

static int sink_spool_exec(struct sink_spool *s, const struct sink_spool_target *t,
			   const struct sink_entry *e, cJSON *entry, bool *cut)
{
	const char *src = e->text ? e->text : "", **av = NULL;
	size_t argc = 0, i, *avlen = NULL, *rlen = NULL, linelen = 0, flen = 0, ulen = 0;
	char **rav = NULL, *line = NULL, *fname = NULL, *uname = NULL;
	struct redact_result res;
	cJSON *argv;
	bool esc;
	int ret;

	/* argv arrives NUL-separated; a trailing NUL ends the last one. */
	for (i = 0; i < e->text_len; i += strnlen(src + i, e->text_len - i) + 1)
		argc++;
	av = calloc(argc ? argc : 1, sizeof(*av));
	avlen = calloc(argc ? argc : 1, sizeof(*avlen));
	if (!av || !avlen) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0, argc = 0; i < e->text_len; i += avlen[argc++] + 1) {
		av[argc] = src + i;
		avlen[argc] = strnlen(src + i, e->text_len - i);
	}
	ret = redact_argv(t->redact, av, avlen, argc, &rav, &rlen, &line, &linelen, &res);
	if (ret == 0)
		ret = sink_spool_redact_more(t, e->filename ? e->filename : "", e->filename_len,
					     &fname, &flen, &res);
	if (ret == 0 && e->unlinked)
		ret = sink_spool_redact_more(t, e->unlinked, e->unlinked_len, &uname, &ulen, &res);
	if (ret == -E2BIG) {
		/* Only the program's name and file stay. */
		s->stats.withheld++;
		for (i = 0; rav && i < argc; i++)
			free(rav[i]);
		free(rav);
		free(rlen);
		free(line);
		free(fname);
		free(uname);
		rav = NULL;
		rlen = NULL;
		line = NULL; /* out: frees them again when an allocation below fails */
		fname = NULL;
		uname = NULL;
		argc = argc ? 1 : 0;
		/* Each redacted on its own: the argv rules never reached the
		 * file's names, and argv[0] may be the secret. */
		if (argc &&
		    (!(rav = calloc(1, sizeof(*rav))) || !(rlen = calloc(1, sizeof(*rlen))) ||
		     !(rav[0] = sink_spool_kept(t, av[0], avlen[0], &rlen[0], &res)))) {
			ret = -ENOMEM;
			goto out;
		}
		line = sink_spool_withheld(t->redact, res.unfinished, argc ? rav[0] : "",
					   argc ? rlen[0] : 0, &linelen);
		fname = sink_spool_kept(t, e->filename ? e->filename : "", e->filename_len, &flen,
					&res);
		if (e->unlinked)
			uname = sink_spool_kept(t, e->unlinked, e->unlinked_len, &ulen, &res);
		if (!line || !fname || (e->unlinked && !uname)) {
			ret = -ENOMEM;
			goto out;
		}
	} else if (ret != 0) {
		goto out;
	}
	*cut |= res.cut;
	/* One flag for the entry: its text, argv, filename and unlinked are
	 * all as they are, or all escaped. */
	esc = escape_needed(line, linelen) || escape_needed(fname, flen) ||
	      (uname && escape_needed(uname, ulen));
	for (i = 0; i < argc && i < SINK_SPOOL_ARGV_MAX && !esc; i++)
		esc = escape_needed(rav[i], rlen[i]);
	argv = jsontext_add_item(entry, "argv", cJSON_CreateArray());
	for (i = 0; i < argc && i < SINK_SPOOL_ARGV_MAX; i++)
		cJSON_AddItemToArray(argv, sink_spool_text(rav[i], rlen[i], esc, cut));
	if (argc > SINK_SPOOL_ARGV_MAX || e->argc > argc)
		*cut = true;
	jsontext_add_item(entry, "text", sink_spool_text(line, linelen, esc, cut));
	jsontext_add_item(entry, "filename", sink_spool_text(fname, flen, esc, cut));
	if (uname)
		jsontext_add_item(entry, "unlinked", sink_spool_text(uname, ulen, esc, cut));
	if (e->ia32)
		jsontext_add_true(entry, "ia32");
	if (esc)
		jsontext_add_true(entry, "escaped");
	sink_spool_mark(entry, t->redact, res.matched, res.unfinished);
	ret = 0;
out:
	for (i = 0; rav && i < argc; i++)
		free(rav[i]);
	free(rav);
	free(rlen);
	free(line);
	free(fname);
	free(uname);
	free(av);
	free(avlen);
	return ret;
}

/* An entry's summary text from the capture (a namespace change, capture
 * off): as it is when it can be shown as it is, else escaped and marked. */
static void sink_spool_summary(cJSON *entry, const char *src, size_t n, bool *cut)
{
	bool esc = escape_needed(src, n);

	cJSON_AddItemToObject(entry, "text", sink_spool_text(src, n, esc, cut));
	if (esc)
		cJSON_AddTrueToObject(entry, "escaped");
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
	sink_spool_summary(entry, e->text ? e->text : "", e->text_len, cut);
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

	sink_spool_time(e->ts, ts, sizeof(ts));
	cJSON_AddStringToObject(entry, "time", ts);
	cJSON_AddStringToObject(entry, "kind", "off");
	if (e->since) {
		sink_spool_time(e->since, ts, sizeof(ts));
		cJSON_AddStringToObject(entry, "since", ts);
	}
	cJSON_AddStringToObject(entry, "reason", e->reason ? e->reason : "unknown");
	sink_spool_summary(entry, e->text ? e->text : "", e->text_len, &cut);
	ret = sink_spool_add(s, e->container, "", t->id, t->id_text, NULL, entry, NULL, NULL);
	cJSON_Delete(entry);
	if (ret == 0)
		s->stats.gaps++;
	return ret == -ENOSPC ? 0 : ret;
}

void sink_spool_handled(struct sink *base, const struct capture_event *evs, size_t n, bool *out)
{
	struct sink_spool *s = (struct sink_spool *)base;
	char(*keys)[SPOOL_KEY_MAX] = calloc(n, sizeof(*keys));
	const char **kp = calloc(n, sizeof(*kp));
	size_t i;

	if (!keys || !kp)
		goto out;
	for (i = 0; i < n; i++) {
		/* "" for records that make no entry of their own: no key is. */
		eventkey_of(evs[i].hdr, keys[i], sizeof(keys[i]));
		kp[i] = keys[i];
	}
	spool_find_keys(s->sp, kp, n, out);
out:
	free(keys);
	free(kp);
}

static int sink_spool_gather(struct sink *base, bool on)
{
	return spool_gather(((struct sink_spool *)base)->sp, on);
}

static int sink_spool_settle(struct sink *base)
{
	return spool_write_gathered(((struct sink_spool *)base)->sp);
}

/* Everything an exec's entry and its fold are made of but its pid, ppid
 * and time (and who opened its session, compared apart): target, session,
 * root, user, argv, file, cut, 32-bit or not, the attribution it awaits. Into o, in
 * place of what it held: 0, or -ENOMEM with o emptied. */
static int sink_spool_print(const struct sink_spool_target *t, const struct sink_entry *e,
			    const char *awaiting, struct jsontext_out *o)
{
	struct {
		const void *t;
		uint64_t mntns, root_start;
		uint32_t session, root, uid, argc;
		uint64_t text, file, unlinked, container, await;
		uint8_t cut, ia32;
	} h;
	int ret;

	memset(&h, 0, sizeof(h));
	h.t = t;
	h.mntns = e->mntns;
	h.root_start = e->session_root_start;
	h.session = e->session;
	h.root = e->session_root;
	h.uid = e->uid;
	h.argc = e->argc;
	h.text = e->text_len;
	h.file = e->filename ? e->filename_len : UINT64_MAX;
	h.unlinked = e->unlinked ? e->unlinked_len : UINT64_MAX;
	h.container = strlen(e->container);
	h.await = awaiting ? strlen(awaiting) : UINT64_MAX;
	h.cut = e->truncated;
	h.ia32 = e->ia32;
	o->len = 0;
	ret = jsontext_append_bytes(o, (const char *)&h, sizeof(h));
	if (!ret)
		ret = jsontext_append_bytes(o, e->container, h.container);
	if (!ret && e->text)
		ret = jsontext_append_bytes(o, e->text, e->text_len);
	if (!ret && e->filename)
		ret = jsontext_append_bytes(o, e->filename, e->filename_len);
	if (!ret && e->unlinked)
		ret = jsontext_append_bytes(o, e->unlinked, e->unlinked_len);
	if (!ret && awaiting)
		ret = jsontext_append_bytes(o, awaiting, h.await);
	if (ret)
		o->len = 0;
	return ret;
}

/* Exec e, key at time ts, the same as the last exec that went into a fold
 * in all but its pid, ppid and time: into that fold (1), as its entry
 * would have gone, without the entry being made. The folds are tried in
 * their order, as spool_fold_add tries them. 0: the entry is to be made
 * (another exec, a fold gone or full, an export that wants each entry,
 * the container out of room); <0 an error. */
static int sink_spool_exec_again(struct sink_spool *s, const struct sink_spool_target *t,
				 const struct sink_entry *e, const char *key, const char *ts,
				 const char *awaiting, const cJSON *attr)
{
	struct sink_spool_again *g;
	bool checked = false;
	size_t i;
	int ret;

	if (s->export || sink_spool_print(t, e, awaiting, &s->scratch) < 0)
		return 0;
	for (i = 0; i < SPOOL_FOLDS_MAX; i++) {
		g = &s->again[i];
		if (!g->token || g->print.len != s->scratch.len ||
		    memcmp(g->print.p, s->scratch.p, s->scratch.len) || !attr != !g->attr ||
		    (attr && !jsontext_same(attr, g->attr)))
			continue;
		/* As sink_spool_add_as: what was lost first, then the share. */
		if (!checked) {
			if ((ret = sink_spool_write_gaps(s)) < 0)
				return ret;
			if (sink_spool_out(s, e->container, sink_spool_held_state(s, e->container)))
				return 0;
			checked = true;
		}
		if (spool_fold_again(s->sp, g->token, key, ts) != 1)
			continue;
		if (s->over.size)
			hmap_remove(&s->over, e->container);
		s->stats.entries++;
		s->stats.again++;
		return 1;
	}
	return 0;
}

/* After an exec was added as usual (sink_spool_exec_again left its print
 * in s->scratch): the fold it went into, if any, is the one the next exec
 * alike goes into. */
static void sink_spool_again_set(struct sink_spool *s, const cJSON *attr, bool added)
{
	uint64_t token = added && !s->export ? spool_fold_token(s->sp) : 0;
	struct sink_spool_again *g;
	struct jsontext_out print;

	if (!token || !s->scratch.len)
		return;
	g = &s->again[(token - 1) % SPOOL_FOLDS_MAX];
	print = g->print;
	g->print = s->scratch;
	s->scratch = print;
	cJSON_Delete(g->attr);
	g->attr = attr ? cJSON_Duplicate(attr, 1) : NULL;
	g->token = !attr || g->attr ? token : 0;
}

static int sink_spool_write(struct sink *base, const struct sink_entry *e)
{
	struct sink_spool *s = (struct sink_spool *)base;
	const struct sink_spool_target *t;
	cJSON *entry = NULL, *sess = NULL;
	char ts[40], sk[48], key[SPOOL_KEY_MAX], root[48];
	const char *awaiting = NULL;
	const cJSON *attr = NULL;
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
	/* execFrom Sessions: the container's own processes' execs are not
	 * recorded, those of processes that entered it (and theirs) are. */
	if (e->kind == SINK_SESSION_START ||
	    (e->kind == SINK_EXEC && (!t->exec || (t->exec_sessions && !e->session_root))) ||
	    (e->kind == SINK_LINE && e->source == SINK_SOURCE_READLINE &&
	     (!t->readline || e->eof)) ||
	    (e->kind == SINK_LINE && e->source != SINK_SOURCE_READLINE && !t->terminal))
		return 0;
	sink_entry_key(e, key, sizeof(key));
	if (spool_is_last_key(s->sp, key)) {
		log_with(LOG_INFO, LOG_KV("container", e->container),
			 "an event spooled just before the agent stopped came again; kept once");
		return 0;
	}
	sink_spool_time(e->ts, ts, sizeof(ts));
	/* Who opened the session: asked once, for the entry or its fold. */
	if (e->session && s->attr_fn &&
	    s->attr_fn(s->attr_arg, e->container, t->id, e->session_root, e->session_root_start,
		       &attr, root, sizeof(root)) == 1)
		awaiting = root;
	if (e->kind == SINK_EXEC &&
	    (ret = sink_spool_exec_again(s, t, e, key, ts, awaiting, attr)) != 0)
		return ret < 0 ? ret : 0;
	entry = cJSON_CreateObject();
	/* Names and the strings that outlive entry are not copied. */
	jsontext_add_ref(entry, "time", ts);
	jsontext_add_ref(entry, "kind",
			 e->kind == SINK_LINE	   ? "line" :
			 e->kind == SINK_NAMESPACE ? "namespace" :
						     "exec");
	if (e->kind == SINK_NAMESPACE)
		sink_spool_namespace(entry, e, &cut);
	else if ((ret = e->kind == SINK_LINE ? sink_spool_line(s, t, e, entry, &cut) :
					       sink_spool_exec(s, t, e, entry, &cut)) < 0)
		goto out;
	if (e->kind == SINK_LINE)
		jsontext_add_ref(entry, "source", sink_source_name(e->source));
	jsontext_add_num(entry, "pid", e->pid);
	jsontext_add_num(entry, "ppid", e->ppid);
	jsontext_add_num(entry, "uid", e->uid);
	if (e->session_root)
		jsontext_add_num(entry, "sessionRoot", e->session_root);
	if (cut)
		jsontext_add_true(entry, "truncated");
	if (e->kind == SINK_LINE && e->inexact)
		jsontext_add_true(entry, "inexact");
	if (e->kind == SINK_LINE && e->no_newline)
		jsontext_add_true(entry, "noNewline");
	/* The text is the placeholder: typed with echo off (a password). */
	if (e->kind == SINK_LINE && e->echo_off) {
		cJSON *redacted = cJSON_GetObjectItemCaseSensitive(entry, "redacted");

		if (!redacted)
			redacted = jsontext_add_item(entry, "redacted", cJSON_CreateArray());
		cJSON_AddItemToArray(redacted, cJSON_CreateString("echo-off"));
	}
	/* Lines and the programs run from a shell go to that session's records,
	 * with who opened it (or awaiting that). */
	sess = e->session ? sink_spool_session(e, sk, sizeof(sk)) : NULL;
	if (!sess)
		sk[0] = '\0';
	if (sess && !awaiting && attr) /* by reference: sess lives for this call only */
		jsontext_add_tree_ref(sess, "attribution", attr);
	ret = sink_spool_add(s, e->container, sk, t->id, t->id_text, sess, entry, key, awaiting);
	if (e->kind == SINK_EXEC)
		sink_spool_again_set(s, attr, ret == 0);
out:
	cJSON_Delete(entry);
	cJSON_Delete(sess);
	return ret == -ENOSPC ? 0 : ret;
}

int sink_spool_gap(struct sink *base, const char *container, uint64_t count, const char *why)
{
	struct sink_spool *s = (struct sink_spool *)base;
	const struct sink_spool_target *t = s->lookup(container, s->arg);
	struct sink_spool_held *h;
	char ts[40], note[160];
	bool out = false;
	cJSON *gap;
	int ret;

	if (!t || !count)
		return 0;
	h = sink_spool_held_state(s, container);
	sink_spool_now(ts, sizeof(ts));
	snprintf(note, sizeof(note), "%" PRIu64 " events lost: %s", count, why);
	gap = cJSON_CreateObject();
	cJSON_AddStringToObject(gap, "time", ts);
	cJSON_AddStringToObject(gap, "kind", "gap");
	cJSON_AddNumberToObject(gap, "count", (double)count);
	cJSON_AddStringToObject(gap, "text", note);
	if ((ret = sink_spool_write_gaps(s)) == 0) {
		out = sink_spool_out(s, container, h);
		ret = out ? -ENOSPC :
			    spool_add_awaiting(s->sp, container, "", t->id, t->id_text, NULL, gap,
					       NULL, NULL);
	}
	if (ret == -ENOSPC) {
		/* This gap's count joins the container's spool-full (or
		 * held) one. */
		sink_spool_lost(s, container, "", t->id, NULL, NULL, count, h && out, ts);
		ret = 0;
	} else if (ret == 0) {
		s->stats.gaps++;
	}
	cJSON_Delete(gap);
	return ret;
}

int sink_spool_stopped(struct sink *base, const char *container, const cJSON *id, const char *why)
{
	struct sink_spool *s = (struct sink_spool *)base;
	char ts[40];
	cJSON *e;
	int ret;

	sink_spool_now(ts, sizeof(ts));
	e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "time", ts);
	cJSON_AddStringToObject(e, "kind", "audit_stopped");
	cJSON_AddStringToObject(e, "text", why);
	ret = sink_spool_add_as(s, container, "", id, NULL, NULL, e, NULL, NULL, true);
	cJSON_Delete(e);
	if (ret == 0)
		ret = spool_end_session(s->sp, container, "");
	return ret;
}

static int sink_spool_flush(struct sink *base)
{
	struct sink_spool *s = (struct sink_spool *)base;
	struct sink_spool_keys k = { NULL, 0 };
	size_t i;

	/* Holds that ended give their containers their share back, quiet
	 * ones too: what they lost is then written below. */
	if (s->held.size && (k.keys = calloc(s->held.size, sizeof(*k.keys)))) {
		hmap_foreach(&s->held, sink_spool_collect, &k);
		for (i = 0; i < k.n; i++)
			if (!s->hold(k.keys[i], s->hold_arg))
				hmap_remove(&s->held, k.keys[i]);
		free(k.keys);
	}
	/* The agent's loop ticks the spool; here what the full spool (or a
	 * hold) refused goes in as gaps once there is room. */
	return sink_spool_write_gaps(s);
}

static void sink_spool_close(struct sink *base)
{
	struct sink_spool *s = (struct sink_spool *)base;
	size_t i;

	hmap_clear(&s->pending);
	hmap_clear(&s->held);
	hmap_clear(&s->over);
	hmap_clear(&s->cont);
	for (i = 0; i < SPOOL_FOLDS_MAX; i++) {
		jsontext_out_free(&s->again[i].print);
		cJSON_Delete(s->again[i].attr);
	}
	jsontext_out_free(&s->scratch);
	free(s);
}

void sink_spool_get_stats(const struct sink *base, struct sink_spool_stats *out)
{
	const struct sink_spool *s = (const struct sink_spool *)base;

	*out = s->stats;
	out->pending = s->pending.size;
}

void sink_spool_attribution(struct sink *sink, sink_spool_attr_fn fn, void *arg)
{
	struct sink_spool *s = (struct sink_spool *)sink;

	s->attr_fn = fn;
	s->attr_arg = arg;
}

int sink_spool_attribute(struct sink *sink, const char *cid, const char *root, const cJSON *id,
			 const cJSON *attr)
{
	struct sink_spool *s = (struct sink_spool *)sink;
	cJSON *sess, *entry;
	char ts[40];
	int ret = spool_attribute(s->sp, cid, root, id, attr);

	if (ret < 0 || !s->export)
		return ret;
	/* The log pipeline joins it to the entries that await root. */
	sink_spool_now(ts, sizeof(ts));
	sess = cJSON_CreateObject();
	entry = cJSON_CreateObject();
	if (sess && entry) {
		cJSON_AddStringToObject(sess, "awaiting", root);
		cJSON_AddItemToObject(sess, "attribution", cJSON_Duplicate(attr, 1));
		cJSON_AddStringToObject(entry, "time", ts);
		cJSON_AddStringToObject(entry, "kind", "attribution");
	}
	if (!sess || !entry || export_entry(s->export, id, sess, entry) < 0)
		s->stats.export_failed++;
	cJSON_Delete(sess);
	cJSON_Delete(entry);
	return 0;
}

void sink_spool_set_export(struct sink *base, struct export *x)
{
	((struct sink_spool *)base)->export = x;
}

int sink_spool_open(struct spool *sp, sink_spool_lookup_fn lookup, void *arg, struct sink **out)
{
	struct sink_spool *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->base.write = sink_spool_write;
	s->base.flush = sink_spool_flush;
	s->base.close = sink_spool_close;
	s->base.gather = sink_spool_gather;
	s->base.settle = sink_spool_settle;
	s->base.handled = sink_spool_handled;
	s->sp = sp;
	s->lookup = lookup;
	s->arg = arg;
	hmap_init_free(&s->pending, sink_spool_pending_free);
	hmap_init_free(&s->held, free);
	hmap_init(&s->over);
	hmap_init_free(&s->cont, free);
	*out = &s->base;
	return 0;
}
