// SPDX-License-Identifier: Apache-2.0
/* Session roots and their attribution (see attrib.h). */
#include "attrib.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "container.h"
#include "escape.h"
#include "hmap.h"
#include "jsontext.h"
#include "log.h"
#include "timefmt.h"

#define ATTRIB_ARGV_MAX 64
#define ATTRIB_RECENT 4 /* roots attrib_get keeps at hand */
#define ATTRIB_ARG_MAX 4096
#define ATTRIB_ARGS_BYTES 8192
#define S_NS 1000000000ull
/* A waiting root decided without the pending sessions once this long has
 * passed with the watch still not synced (an agent just started). */
#define ATTRIB_SYNC_WAIT_NS (10 * S_NS)
#define ATTRIB_LINE_MAX (256u << 10)
/* How long after its exec a pending session still counts for a root. */
#define ATTRIB_LATE_NS (500 * 1000000ull)

const cJSON attrib_await;

enum attrib_state { ATTRIB_WAIT, ATTRIB_AUDIT, ATTRIB_DONE };

struct attrib_root {
	char cid[256];
	char key[48];
	cJSON *id;
	bool own;
	uint32_t pid;
	uint64_t start; /* the root's start, as in its key */
	uint64_t first_ns, exec_ns;
	bool have_exec, truncated;
	char args[ATTRIB_ARGS_BYTES]; /* argv, NUL-separated */
	size_t args_len;
	const char *argv[ATTRIB_ARGV_MAX];
	size_t argc;
	int tty;
	enum match_stdin in;
	bool in_recorded;
	enum attrib_state state;
	uint64_t due_ns;
	struct match_result mr; /* ATTRIB_AUDIT: the decision made */
	char chosen[80];	/* ATTRIB_AUDIT: the session taken */
	cJSON *attr;		/* ATTRIB_DONE */
	bool journaled;
	uint64_t used_ns;
};

struct attrib {
	struct attrib_opts o;
	struct pending_set *ps;
	attrib_journal_fn journal;
	void *arg;
	struct hmap roots; /* "cid\x1fkey" -> struct attrib_root */
	char *path;   /* the decisions' file, or NULL */
	FILE *file;   /* appended to */
	size_t lines; /* in it */
	/* The roots attrib_get() found last, the latest first (an exec
	 * flood's entries share a few: one per shell that runs them); emptied
	 * when any root is removed. */
	struct attrib_root *recent[ATTRIB_RECENT];
};

static void attrib_root_free(void *v)
{
	struct attrib_root *r = v;

	if (!r)
		return;
	cJSON_Delete(r->id);
	cJSON_Delete(r->attr);
	free(r);
}

int attrib_new(const struct attrib_opts *o, struct pending_set *ps, attrib_journal_fn journal,
	       void *arg, struct attrib **out)
{
	struct attrib *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->o = *o;
	if (!a->o.before_ns)
		a->o.before_ns = 10 * S_NS;
	if (!a->o.delay_ns)
		a->o.delay_ns = S_NS;
	if (!a->o.audit_wait_ns)
		a->o.audit_wait_ns = 5 * S_NS;
	if (!a->o.max_roots)
		a->o.max_roots = 16384;
	a->ps = ps;
	a->journal = journal;
	a->arg = arg;
	hmap_init_free(&a->roots, attrib_root_free);
	*out = a;
	return 0;
}

void attrib_free(struct attrib *a)
{
	if (!a)
		return;
	hmap_clear(&a->roots);
	if (a->file)
		fclose(a->file);
	free(a->path);
	free(a);
}

size_t attrib_count(const struct attrib *a)
{
	return a->roots.size;
}

void attrib_root_key(uint32_t root, uint64_t root_start, char *buf, size_t cap)
{
	if (root)
		snprintf(buf, cap, "%" PRIu32 "-%" PRIu64, root, root_start);
	else
		snprintf(buf, cap, "own");
}

static const char *attrib_str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

struct attrib_oldest {
	const char *key;
	uint64_t used;
};

static void attrib_find_oldest(const char *key, void *value, void *arg)
{
	struct attrib_root *r = value;
	struct attrib_oldest *o = arg;

	if (r->state == ATTRIB_DONE && r->journaled && (!o->key || r->used_ns < o->used)) {
		o->key = key;
		o->used = r->used_ns;
	}
}

/* r, found: the latest of a->recent (NULL: none to keep). */
static struct attrib_root *attrib_recent_put(struct attrib *a, struct attrib_root *r)
{
	size_t i;

	if (!r)
		return NULL;
	for (i = 0; i + 1 < ATTRIB_RECENT && a->recent[i] != r; i++)
		;
	memmove(&a->recent[1], &a->recent[0], i * sizeof(a->recent[0]));
	return a->recent[0] = r;
}

static void attrib_recent_clear(struct attrib *a)
{
	memset(a->recent, 0, sizeof(a->recent));
}

static struct attrib_root *attrib_get(struct attrib *a, const char *cid, uint32_t root,
				      uint64_t root_start, bool create, const cJSON *id,
				      uint64_t now)
{
	char key[48], hkey[320];
	struct attrib_root *r;
	size_t i;

	for (i = 0; i < ATTRIB_RECENT && (r = a->recent[i]); i++)
		if (r->pid == root && (!root || r->start == root_start) && !strcmp(r->cid, cid))
			return i ? attrib_recent_put(a, r) : r;
	attrib_root_key(root, root_start, key, sizeof(key));
	snprintf(hkey, sizeof(hkey), "%s\x1f%s", cid, key);
	if ((r = hmap_get(&a->roots, hkey)) || !create)
		return attrib_recent_put(a, r);
	attrib_recent_clear(a);
	if (a->roots.size >= a->o.max_roots) {
		struct attrib_oldest o = { NULL, 0 };

		hmap_foreach(&a->roots, attrib_find_oldest, &o);
		if (o.key) {
			char victim[320];

			snprintf(victim, sizeof(victim), "%s", o.key);
			hmap_remove(&a->roots, victim);
		}
	}
	if (!(r = calloc(1, sizeof(*r))))
		return NULL;
	snprintf(r->cid, sizeof(r->cid), "%s", cid);
	snprintf(r->key, sizeof(r->key), "%s", key);
	r->id = cJSON_Duplicate(id, 1);
	r->own = root == 0;
	r->pid = root;
	r->start = root_start;
	r->first_ns = r->exec_ns = now;
	r->tty = -1;
	r->state = ATTRIB_WAIT;
	r->due_ns = now + a->o.delay_ns;
	r->used_ns = now;
	if (hmap_put(&a->roots, hkey, r, NULL) < 0) {
		attrib_root_free(r);
		return NULL;
	}
	return attrib_recent_put(a, r);
}

void attrib_observe(struct attrib *a, const struct attrib_event *ev)
{
	struct attrib_root *r =
		attrib_get(a, ev->cid, ev->root, ev->root_start, true, ev->id, ev->ts);
	size_t n, i = 0;

	if (!r || !ev->exec || r->have_exec || r->own || r->state != ATTRIB_WAIT)
		return;
	/* The root's own exec: the command its session was opened with. */
	n = ev->argv_len < sizeof(r->args) - 1 ? ev->argv_len : sizeof(r->args) - 1;
	memcpy(r->args, ev->argv, n);
	r->args[n] = '\0';
	r->args_len = n;
	r->truncated = ev->truncated || n < ev->argv_len;
	while (i < n && r->argc < ATTRIB_ARGV_MAX) {
		r->argv[r->argc++] = r->args + i;
		i += strnlen(r->args + i, n - i) + 1;
	}
	if (i < n || ev->argc > r->argc)
		r->truncated = true;
	r->have_exec = true;
	r->tty = ev->tty;
	r->in = ev->in;
	r->in_recorded = ev->in_recorded && ev->in == MATCH_STDIN_PIPE;
	r->exec_ns = ev->ts;
	r->due_ns = ev->ts + a->o.delay_ns;
}

/* An untrusted string (from the container) as a bounded, escaped item. */
static cJSON *attrib_text(const char *s, size_t n)
{
	char *buf = malloc(ATTRIB_ARG_MAX + 1);
	cJSON *j;

	if (!buf)
		return NULL;
	escape_text(buf, ATTRIB_ARG_MAX + 1, s, n);
	j = cJSON_CreateString(buf);
	free(buf);
	return j;
}

static void attrib_add_root(const struct attrib_root *r, cJSON *attr)
{
	cJSON *root = cJSON_AddObjectToObject(attr, "root"), *argv;
	int64_t wall = (int64_t)r->exec_ns + clock_wall_offset_ns();
	struct timespec ts = { (time_t)(wall / 1000000000), (long)(wall % 1000000000) };
	char t[40];
	size_t i;

	cJSON_AddNumberToObject(root, "pid", r->pid);
	timefmt_micro(&ts, t, sizeof(t));
	cJSON_AddStringToObject(root, "start", t);
	if (r->have_exec) {
		argv = cJSON_AddArrayToObject(root, "argv");
		for (i = 0; i < r->argc; i++)
			cJSON_AddItemToArray(argv, attrib_text(r->argv[i], strlen(r->argv[i])));
		if (r->truncated)
			cJSON_AddTrueToObject(root, "argvTruncated");
	}
	if (r->tty >= 0)
		cJSON_AddBoolToObject(root, "tty", r->tty == 1);
	cJSON_AddStringToObject(root, "stdin", match_stdin_name(r->in));
	if (r->in_recorded)
		cJSON_AddTrueToObject(root, "stdinRecorded");
}

/* What status.audit says, the fields the record schema keeps. */
static cJSON *attrib_audit(const cJSON *audit)
{
	static const char *const keep[] = { "auditID",		"sourceIPs",	"userAgent", "user",
					    "impersonatedUser", "responseCode", "startedAt" };
	cJSON *out = cJSON_CreateObject();
	size_t i;

	for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(audit, keep[i]);

		if (v)
			cJSON_AddItemToObject(out, keep[i], cJSON_Duplicate(v, 1));
	}
	return out;
}

static void attrib_append_reason(cJSON *attr, const char *more)
{
	const char *old = attrib_str(attr, "reason");
	char buf[1024];

	snprintf(buf, sizeof(buf), "%s%s%s", old ? old : "", old ? "; " : "", more);
	cJSON_DeleteItemFromObjectCaseSensitive(attr, "reason");
	cJSON_AddStringToObject(attr, "reason", buf);
}

/* The attribution object of a decision. */
static cJSON *attrib_build(struct attrib *a, const struct attrib_root *r,
			   const struct match_result *m)
{
	cJSON *attr = cJSON_CreateObject();
	const cJSON *obj = NULL, *spec = NULL, *audit = NULL;
	struct match_pending *p;
	size_t n, i;
	long chosen = m->chosen;

	p = pending_all(a->ps, &n);
	if (r->state == ATTRIB_AUDIT)
		chosen = pending_find(a->ps, r->chosen);
	if (m->status == MATCH_MATCHED && (chosen < 0 || (size_t)chosen >= n)) {
		cJSON_AddStringToObject(attr, "status", "Unattributed");
		cJSON_AddStringToObject(
			attr, "reason",
			"the pending session it matched was gone before the decision");
		if (!r->own)
			attrib_add_root(r, attr);
		return attr;
	}
	if (chosen >= 0 && (size_t)chosen < n) {
		obj = pending_object(a->ps, (size_t)chosen);
		spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
		audit = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(obj, "status"), "audit");
	}
	cJSON_AddStringToObject(attr, "status", match_status_name(m->status));
	if (match_method_name(m->method))
		cJSON_AddStringToObject(attr, "method", match_method_name(m->method));
	if (m->status == MATCH_MATCHED && obj) {
		cJSON_AddStringToObject(
			attr, "sessionID",
			attrib_str(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "name") ?:
												"");
		if (attrib_str(spec, "kind"))
			cJSON_AddStringToObject(attr, "kind", attrib_str(spec, "kind"));
		if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(spec, "user")))
			cJSON_AddItemToObject(
				attr, "user",
				cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(spec, "user"), 1));
		if (attrib_str(spec, "admittedAt"))
			cJSON_AddStringToObject(attr, "admittedAt", attrib_str(spec, "admittedAt"));
	}
	if (m->status == MATCH_AMBIGUOUS) {
		cJSON *cands = cJSON_AddArrayToObject(attr, "candidates");

		for (i = 0; i < m->ncand; i++) {
			const cJSON *cs = cJSON_GetObjectItemCaseSensitive(
				pending_object(a->ps, m->cand[i]), "spec");
			cJSON *c = cJSON_CreateObject();

			cJSON_AddStringToObject(c, "sessionID", p[m->cand[i]].name);
			cJSON_AddStringToObject(c, "username", p[m->cand[i]].username ?: "");
			if (p[m->cand[i]].uid)
				cJSON_AddStringToObject(c, "uid", p[m->cand[i]].uid);
			if (attrib_str(cs, "admittedAt"))
				cJSON_AddStringToObject(c, "admittedAt",
							attrib_str(cs, "admittedAt"));
			cJSON_AddItemToArray(cands, c);
		}
	}
	if (m->reason[0])
		cJSON_AddStringToObject(attr, "reason", m->reason);
	if (m->status == MATCH_MATCHED &&
	    (m->method == MATCH_BY_EPHEMERAL || m->method == MATCH_BY_DEBUGPOD)) {
		char what[600];

		snprintf(what, sizeof(what), "kubectl debug %s, image %.256s%s%.63s",
			 m->method == MATCH_BY_EPHEMERAL ? "container" : "pod",
			 attrib_str(spec, "image") ?: "?",
			 attrib_str(spec, "targetContainer") ? ", target " : "",
			 attrib_str(spec, "targetContainer") ?: "");
		attrib_append_reason(attr, what);
	}
	if (!r->own)
		attrib_add_root(r, attr);
	if (m->status == MATCH_MATCHED && cJSON_IsObject(audit)) {
		const cJSON *who = cJSON_GetObjectItemCaseSensitive(audit, "impersonatedUser");
		const char *heard;

		cJSON_AddItemToObject(attr, "audit", attrib_audit(audit));
		if (!cJSON_IsObject(who))
			who = cJSON_GetObjectItemCaseSensitive(audit, "user");
		heard = attrib_str(who, "username");
		if (heard &&
		    attrib_str(cJSON_GetObjectItemCaseSensitive(spec, "user"), "username") &&
		    strcmp(heard,
			   attrib_str(cJSON_GetObjectItemCaseSensitive(spec, "user"), "username")))
			attrib_append_reason(attr,
					     "the audit log names another user for this session");
	} else if (m->status == MATCH_MATCHED &&
		   cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec, "auditExpected"))) {
		char why[160];

		snprintf(why, sizeof(why),
			 "the API server's audit log did not confirm this session within %llu s",
			 (unsigned long long)(a->o.audit_wait_ns / S_NS));
		attrib_append_reason(attr, why);
	}
	return attr;
}

static void attrib_log(const struct attrib_root *r, const cJSON *attr)
{
	const char *user = attrib_str(cJSON_GetObjectItemCaseSensitive(attr, "user"), "username");

	log_with(LOG_INFO,
		 LOG_KV("container", r->cid, "root", r->key, "status", attrib_str(attr, "status"),
			"user", user, "session", attrib_str(attr, "sessionID")),
		 "session attributed%s%s", attrib_str(attr, "reason") ? ": " : "",
		 attrib_str(attr, "reason") ?: "");
}

/* One decision as a line of the file. */
static int attrib_write_line(FILE *f, const struct attrib_root *r)
{
	cJSON *o = cJSON_CreateObject();
	char *text;
	int ret = -ENOMEM;

	cJSON_AddStringToObject(o, "cid", r->cid);
	cJSON_AddStringToObject(o, "key", r->key);
	cJSON_AddItemToObject(o, "id", cJSON_Duplicate(r->id, 1));
	cJSON_AddItemToObject(o, "attr", cJSON_Duplicate(r->attr, 1));
	if ((text = jsontext_print(o, NULL))) {
		ret = fprintf(f, "%s\n", text) < 0 ? -EIO : 0;
		free(text);
	}
	cJSON_Delete(o);
	return ret;
}

struct attrib_rewrite {
	FILE *f;
	size_t n;
	int ret;
};

static void attrib_rewrite_one(const char *key, void *value, void *arg)
{
	struct attrib_rewrite *w = arg;
	struct attrib_root *r = value;

	(void)key;
	if (r->state != ATTRIB_DONE || w->ret)
		return;
	w->ret = attrib_write_line(w->f, r);
	w->n++;
}

/* The file holds the decisions in memory and nothing else (written aside,
 * then renamed over it). */
static int attrib_rewrite(struct attrib *a)
{
	struct attrib_rewrite w = { NULL, 0, 0 };
	char tmp[4200];

	if (a->file) {
		fclose(a->file);
		a->file = NULL;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", a->path);
	if (!(w.f = fopen(tmp, "we")))
		return -errno;
	hmap_foreach(&a->roots, attrib_rewrite_one, &w);
	if (fflush(w.f) || fsync(fileno(w.f)))
		w.ret = w.ret ? w.ret : -errno;
	fclose(w.f);
	if (!w.ret && rename(tmp, a->path) < 0)
		w.ret = -errno;
	if (w.ret) {
		unlink(tmp);
		return w.ret;
	}
	a->lines = w.n;
	if (!(a->file = fopen(a->path, "ae")))
		return -errno;
	return 0;
}

static void attrib_keep(struct attrib *a, const struct attrib_root *r)
{
	int ret;

	if (!a->path)
		return;
	if (a->lines >= 4 * a->o.max_roots)
		ret = attrib_rewrite(a);
	else
		ret = a->file ? attrib_write_line(a->file, r) : -EBADF;
	if (ret == 0 && a->file && fflush(a->file) == 0) {
		a->lines++;
		return;
	}
	log_with(LOG_WARN, LOG_KV("file", a->path, "container", r->cid),
		 "cannot keep the session's attribution for a restarted agent: %s", strerror(-ret));
}

static void attrib_load_line(struct attrib *a, const char *line, size_t n)
{
	cJSON *o = cJSON_ParseWithLength(line, n);
	const char *cid = attrib_str(o, "cid"), *key = attrib_str(o, "key");
	const cJSON *attr = cJSON_GetObjectItemCaseSensitive(o, "attr");
	struct container_stat st;
	unsigned long long start = 0;
	unsigned long pid = 0;
	struct attrib_root *r;
	char *end = NULL;

	if (!cid || !key || !cJSON_IsObject(attr) || strlen(cid) >= 256)
		goto out;
	/* A root that ended (or whose pid another process took) is gone. */
	if (strcmp(key, "own")) {
		errno = 0;
		pid = strtoul(key, &end, 10);
		if (!errno && end != key && *end == '-')
			start = strtoull(end + 1, &end, 10);
		if (errno || !pid || pid > UINT32_MAX || *end ||
		    container_proc_stat((pid_t)pid, &st) < 0 || st.start != start)
			goto out;
	}
	if (!(r = attrib_get(a, cid, (uint32_t)pid, start, true,
			     cJSON_GetObjectItemCaseSensitive(o, "id"), clock_now_ns())) ||
	    r->state == ATTRIB_DONE)
		goto out;
	r->attr = cJSON_Duplicate(attr, 1);
	r->state = ATTRIB_DONE;
	r->journaled = true;
out:
	cJSON_Delete(o);
}

int attrib_persist(struct attrib *a, const char *path)
{
	FILE *f;
	char *buf;
	size_t n;

	free(a->path);
	if (!(a->path = strdup(path)))
		return -ENOMEM;
	if ((f = fopen(path, "re"))) {
		buf = malloc(ATTRIB_LINE_MAX + 1);
		while (buf && fgets(buf, ATTRIB_LINE_MAX + 1, f)) {
			n = strlen(buf);
			if (n && buf[n - 1] == '\n')
				attrib_load_line(a, buf, n - 1);
		}
		free(buf);
		fclose(f);
	} else if (errno != ENOENT) {
		log_with(LOG_WARN, LOG_KV("file", path), "cannot read the kept attributions: %s",
			 strerror(errno));
	}
	if (a->roots.size)
		log_with(LOG_INFO, LOG_KV("file", path),
			 "took over who opened %zu sessions that still run", a->roots.size);
	return attrib_rewrite(a);
}

static void attrib_done(struct attrib *a, struct attrib_root *r, cJSON *attr)
{
	cJSON_Delete(r->attr);
	r->attr = attr;
	r->state = ATTRIB_DONE;
	/* Journaled whatever it says: entries may await it (a Workload
	 * decision makes no Event). */
	if (strcmp(attrib_str(attr, "status") ?: "", "Workload"))
		attrib_log(r, attr);
	r->journaled = a->journal(a->arg, r->cid, r->key, r->id, attr) == 0;
	attrib_keep(a, r);
}

static void attrib_decide(struct attrib *a, struct attrib_root *r, uint64_t now, bool force)
{
	/* A pending session counts when it came before the exec, or at most
	 * ATTRIB_LATE_NS after (a watch running late): one that came later
	 * still is another exec's. */
	const struct match_window w = { a->o.before_ns, a->o.delay_ns < ATTRIB_LATE_NS ?
								a->o.delay_ns :
								ATTRIB_LATE_NS };
	struct match_root mr = { 0 };
	struct match_pending *p;
	const cJSON *obj;
	size_t n;

	if (r->state == ATTRIB_AUDIT) {
		long i = pending_find(a->ps, r->chosen);

		obj = i >= 0 ? pending_object(a->ps, (size_t)i) : NULL;
		if (!force && now < r->due_ns &&
		    !cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(obj, "status"), "audit"))
			return;
		attrib_done(a, r, attrib_build(a, r, &r->mr));
		return;
	}
	if (!force && a->ps && !pending_synced(a->ps) && now < r->first_ns + ATTRIB_SYNC_WAIT_NS)
		return;
	mr.ns = attrib_str(r->id, "ns");
	mr.pod = attrib_str(r->id, "pod");
	mr.pod_uid = attrib_str(r->id, "podUID");
	mr.container = attrib_str(r->id, "container");
	mr.own = r->own;
	mr.have_argv = r->have_exec;
	mr.argv = r->argv;
	mr.argc = r->argc;
	mr.argv_truncated = r->truncated;
	mr.tty = r->tty;
	mr.in = r->in;
	mr.exec_ns = r->exec_ns;
	p = pending_all(a->ps, &n);
	match_decide(&mr, p, n, &w, &r->mr);
	if (r->mr.status == MATCH_MATCHED && r->mr.method == MATCH_BY_TUPLE && !force) {
		obj = pending_object(a->ps, (size_t)r->mr.chosen);
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(obj, "spec"), "auditExpected")) &&
		    !cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(obj, "status"), "audit") &&
		    now < r->exec_ns + a->o.audit_wait_ns) {
			/* Taken already (consumed): it waits for its audit
			 * log, no other root can have it meanwhile. */
			snprintf(r->chosen, sizeof(r->chosen), "%s", p[r->mr.chosen].name);
			r->state = ATTRIB_AUDIT;
			r->due_ns = r->exec_ns + a->o.audit_wait_ns;
			return;
		}
	}
	attrib_done(a, r, attrib_build(a, r, &r->mr));
}

const cJSON *attrib_lookup(struct attrib *a, const char *cid, const cJSON *id, uint32_t root,
			   uint64_t root_start, uint64_t now, char *root_key, size_t cap)
{
	struct attrib_root *r = attrib_get(a, cid, root, root_start, true, id, now);

	if (!r)
		return NULL;
	r->used_ns = now;
	if (cap) {
		size_t n = strnlen(r->key, cap - 1);

		memcpy(root_key, r->key, n);
		root_key[n] = '\0';
	}
	return r->state == ATTRIB_DONE ? r->attr : ATTRIB_AWAIT;
}

struct attrib_tick_ctx {
	struct attrib *a;
	uint64_t now;
	bool force;
	int n;
	long wait_ms;
};

static void attrib_tick_one(const char *key, void *value, void *arg)
{
	struct attrib_tick_ctx *t = arg;
	struct attrib_root *r = value;

	(void)key;
	if (r->state == ATTRIB_DONE) {
		/* A journal write that failed is tried again. */
		if (!r->journaled)
			r->journaled =
				t->a->journal(t->a->arg, r->cid, r->key, r->id, r->attr) == 0;
		return;
	}
	if (!t->force && t->now < r->due_ns && r->state == ATTRIB_WAIT)
		return;
	attrib_decide(t->a, r, t->now, t->force);
	t->n += r->state == ATTRIB_DONE;
}

int attrib_tick(struct attrib *a, uint64_t now)
{
	struct attrib_tick_ctx t = { a, now, false, 0, -1 };

	hmap_foreach(&a->roots, attrib_tick_one, &t);
	return t.n;
}

void attrib_flush(struct attrib *a, uint64_t now)
{
	struct attrib_tick_ctx t = { a, now, true, 0, -1 };

	hmap_foreach(&a->roots, attrib_tick_one, &t);
}

static void attrib_wait_one(const char *key, void *value, void *arg)
{
	struct attrib_tick_ctx *t = arg;
	struct attrib_root *r = value;
	long ms;

	(void)key;
	if (r->state == ATTRIB_DONE && r->journaled)
		return;
	ms = r->state == ATTRIB_DONE || t->now >= r->due_ns ?
		     0 :
		     (long)((r->due_ns - t->now + 999999) / 1000000);
	/* A root waiting for its audit log or the watch's sync is looked at
	 * again at least every 100 ms. */
	if (r->state == ATTRIB_AUDIT || (t->a->ps && !pending_synced(t->a->ps)))
		ms = ms < 100 ? ms : 100;
	if (t->wait_ms < 0 || ms < t->wait_ms)
		t->wait_ms = ms;
}

long attrib_wait_ms(const struct attrib *a, uint64_t now)
{
	struct attrib_tick_ctx t = { (struct attrib *)a, now, false, 0, -1 };

	hmap_foreach(&a->roots, attrib_wait_one, &t);
	return t.wait_ms;
}

struct attrib_forget_ctx {
	const char *cid;
	size_t len;
	cJSON *keys;
};

static void attrib_forget_one(const char *key, void *value, void *arg)
{
	struct attrib_forget_ctx *f = arg;

	(void)value;
	if (!strncmp(key, f->cid, f->len) && key[f->len] == '\x1f')
		cJSON_AddItemToArray(f->keys, cJSON_CreateString(key));
}

void attrib_forget(struct attrib *a, const char *cid)
{
	struct attrib_forget_ctx f = { cid, strlen(cid), cJSON_CreateArray() };
	const cJSON *k;

	hmap_foreach(&a->roots, attrib_forget_one, &f);
	cJSON_ArrayForEach(k, f.keys) {
		struct attrib_root *r = hmap_get(&a->roots, k->valuestring);

		/* Entries of it may await a decision: it is made now, with what
		 * there is (a debug container that ended at once). */
		if (r && r->state != ATTRIB_DONE)
			attrib_decide(a, r, clock_now_ns(), true);
		if (r && r->state == ATTRIB_DONE && !r->journaled)
			r->journaled = a->journal(a->arg, r->cid, r->key, r->id, r->attr) == 0;
		attrib_recent_clear(a);
		hmap_remove(&a->roots, k->valuestring);
	}
	cJSON_Delete(f.keys);
}
