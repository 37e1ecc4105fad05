// SPDX-License-Identifier: Apache-2.0
/* Transcripts of sessions; see transcript.h. */
#include "transcript.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "records.h"
#include "timefmt.h"

static const cJSON *transcript_get(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	return b ? cJSON_GetObjectItemCaseSensitive(v, b) : v;
}

static const char *transcript_str(const cJSON *o, const char *a, const char *b)
{
	return cJSON_GetStringValue(transcript_get(o, a, b));
}

int transcript_add_record(struct transcript *t, const cJSON *rec, const struct session *s)
{
	const cJSON *e, *seq = transcript_get(rec, "spec", "sequence");
	int i = 0;

	cJSON_ArrayForEach(e, transcript_get(rec, "spec", "entries")) {
		struct timespec time = records_time(transcript_str(e, "time", NULL));

		if (t->since && time.tv_sec < t->since) {
			i++;
			continue;
		}
		if (t->n == t->cap) {
			size_t cap = t->cap ? t->cap * 2 : 256;
			struct transcript_item *p = realloc(t->items, cap * sizeof(*p));

			if (!p)
				return -ENOMEM;
			t->items = p;
			t->cap = cap;
		}
		t->items[t->n++] = (struct transcript_item){
			.entry = e,
			.rec = rec,
			.session = s,
			.time = time,
			.sequence = cJSON_IsNumber(seq) ? (long)seq->valuedouble : -1,
			.index = i++,
		};
	}
	return 0;
}

struct transcript_walk {
	struct transcript *t;
	const struct records *r;
	const struct session *only;
	const char *container;
	int ret;
};

static void transcript_walk_chain(const char *key, void *value, void *arg)
{
	struct transcript_walk *w = arg;
	const struct chain *ch = value;
	char id[SESSION_NAME_MAX + 20];
	size_t i;

	(void)key;
	if ((w->only && w->only->chain != ch) ||
	    (w->container && strcmp(w->container, ch->container)))
		return;
	for (i = 0; i < ch->n && w->ret == 0; i++) {
		const char *k =
			transcript_str(transcript_get(ch->recs[i], "spec", "session"), "id", NULL);
		const struct session *s;

		if (w->only && strcmp(w->only->key, k ? k : ""))
			continue;
		snprintf(id, sizeof(id), "%s-%.128s", ch->label, k ? k : "");
		s = hmap_get(&w->r->sessions, id);
		w->ret = transcript_add_record(w->t, ch->recs[i], s);
	}
}

int transcript_add_records(struct transcript *t, const struct records *r, const struct session *s,
			   const char *container)
{
	struct transcript_walk w = { t, r, s, container, 0 };

	hmap_foreach(&r->chains, transcript_walk_chain, &w);
	return w.ret;
}

static int transcript_cmp(const void *a, const void *b)
{
	const struct transcript_item *x = a, *y = b;

	if (x->time.tv_sec != y->time.tv_sec)
		return x->time.tv_sec < y->time.tv_sec ? -1 : 1;
	if (x->time.tv_nsec != y->time.tv_nsec)
		return x->time.tv_nsec < y->time.tv_nsec ? -1 : 1;
	if (x->sequence != y->sequence)
		return x->sequence < y->sequence ? -1 : 1;
	return x->index - y->index;
}

void transcript_sort(struct transcript *t)
{
	if (t->n)
		qsort(t->items, t->n, sizeof(*t->items), transcript_cmp);
}

void transcript_clear(struct transcript *t)
{
	free(t->items);
	t->items = NULL;
	t->n = t->cap = 0;
}

cJSON *transcript_item_json(const struct transcript_item *it)
{
	cJSON *o = cJSON_Duplicate(it->entry, 1);
	const cJSON *spec = transcript_get(it->rec, "spec", NULL);
	const char *user = records_user(it->rec);
	char name[SESSION_NAME_MAX];

	if (!o)
		return NULL;
	records_session_name(it->rec, name);
	cJSON_AddStringToObject(o, "session", name);
	cJSON_AddStringToObject(o, "namespace", transcript_str(it->rec, "metadata", "namespace"));
	cJSON_AddStringToObject(o, "pod", transcript_str(spec, "pod", "name"));
	cJSON_AddStringToObject(o, "container", transcript_str(spec, "container", NULL));
	cJSON_AddStringToObject(o, "containerID", transcript_str(spec, "containerID", NULL));
	if (user)
		cJSON_AddStringToObject(o, "user", user);
	else
		cJSON_AddNullToObject(o, "user");
	cJSON_AddStringToObject(o, "record", transcript_str(it->rec, "metadata", "name"));
	cJSON_AddNumberToObject(o, "sequence", (double)it->sequence);
	return o;
}

/* argv[0] is not the executed file: the program may run under a harmless
 * name (exec -a). A bare name is the file's last path component when the
 * shell found it on PATH; a path must be the file's path itself, since
 * `exec -a /usr/bin/ls /tmp/ls` shares the last component. */
static bool transcript_renamed(const cJSON *e, const char *filename)
{
	const char *arg0 =
		cJSON_GetStringValue(cJSON_GetArrayItem(transcript_get(e, "argv", NULL), 0));
	const char *b = strrchr(filename, '/');

	if (!arg0)
		return true;
	if (strchr(arg0, '/'))
		return strcmp(arg0, filename) != 0;
	return strcmp(arg0, b ? b + 1 : filename) != 0;
}

static void transcript_print_text(FILE *f, const struct transcript_item *it,
				  const struct transcript_style *st)
{
	const cJSON *e = it->entry;
	const char *kind = transcript_str(e, "kind", NULL), *text = transcript_str(e, "text", NULL);
	const char *filename = transcript_str(e, "filename", NULL);
	const char *unlinked = transcript_str(e, "unlinked", NULL);
	char when[40], name[SESSION_NAME_MAX];

	if (it->time.tv_sec || it->time.tv_nsec)
		timefmt_micro(&it->time, when, sizeof(when));
	else
		snprintf(when, sizeof(when), "%-27s", "?");
	fprintf(f, "%s ", when);
	if (st->session_column) {
		records_session_name(it->rec, name);
		fputc(' ', f);
		out_text(f, name);
		fputs("  ", f);
	}
	if (kind && !strcmp(kind, "line")) {
		out_color(f, st->color, OUT_BOLD);
		fputs("$ ", f);
		out_text(f, text ? text : "");
	} else if (kind && !strcmp(kind, "exec")) {
		out_color(f, st->color, OUT_DIM);
		fputs("+ ", f);
		out_text(f, text ? text : "");
		/* A file without a link (a memfd) is always named: the
		 * path it was reached by says nothing of it. */
		if (filename && (unlinked || transcript_renamed(e, filename))) {
			fputs("  (", f);
			out_text(f, filename);
			if (unlinked) {
				fputs(": ", f);
				out_text(f, unlinked);
				fputs(" (deleted)", f);
			}
			fputc(')', f);
		}
		if (cJSON_IsTrue(transcript_get(e, "ia32", NULL)))
			fputs("  [32-bit]", f);
		/* Identical execs aggregated into this entry: how many, and
		 * when the last ran (the time shown is the first's). */
		if (cJSON_IsNumber(transcript_get(e, "count", NULL)) &&
		    transcript_get(e, "count", NULL)->valuedouble > 1) {
			fprintf(f, "  [x%.0f", transcript_get(e, "count", NULL)->valuedouble);
			if (transcript_str(e, "last", NULL)) {
				fputs(", last ", f);
				out_text(f, transcript_str(e, "last", NULL));
			}
			fputc(']', f);
		}
	} else {
		out_color(f, st->color, OUT_RED);
		fputs("! ", f);
		out_text(f, text ? text : kind ? kind : "?");
	}
	out_color(f, st->color, OUT_RESET);
	/* A line read from the terminal or the session's stdin pipe, not
	 * returned by readline; inexact: edited with keys whose effect the
	 * agent could not know. */
	if (kind && !strcmp(kind, "line") && transcript_str(e, "source", NULL) &&
	    (!strcmp(transcript_str(e, "source", NULL), "terminal") ||
	     !strcmp(transcript_str(e, "source", NULL), "stdin")))
		fprintf(f, "  [%s]", transcript_str(e, "source", NULL));
	if (cJSON_IsTrue(transcript_get(e, "truncated", NULL)) ||
	    cJSON_IsTrue(transcript_get(e, "escaped", NULL)) ||
	    cJSON_IsTrue(transcript_get(e, "inexact", NULL)) ||
	    cJSON_IsTrue(transcript_get(e, "noNewline", NULL)) ||
	    transcript_get(e, "redacted", NULL)) {
		out_color(f, st->color, OUT_YELLOW);
		if (cJSON_IsTrue(transcript_get(e, "inexact", NULL)))
			fputs("  [inexact]", f);
		if (cJSON_IsTrue(transcript_get(e, "noNewline", NULL)))
			fputs("  [no newline]", f);
		if (cJSON_IsTrue(transcript_get(e, "truncated", NULL)))
			fputs("  [truncated]", f);
		/* Its text reads alike a typed one's: escape_unescape gives
		 * this one's bytes back. */
		if (cJSON_IsTrue(transcript_get(e, "escaped", NULL)))
			fputs("  [escaped]", f);
		if (transcript_get(e, "redacted", NULL))
			fputs("  [redacted]", f);
		out_color(f, st->color, OUT_RESET);
	}
	fputc('\n', f);
}

void transcript_print_item(FILE *f, const struct transcript_item *it,
			   const struct transcript_style *st)
{
	cJSON *o;

	if (st->format == OUT_TEXT) {
		transcript_print_text(f, it, st);
		return;
	}
	if (!(o = transcript_item_json(it)))
		return;
	if (st->format == OUT_JSON)
		out_json(f, o, st->stream);
	else
		out_yaml(f, o, true);
	cJSON_Delete(o);
}

void transcript_print(FILE *f, const struct transcript *t, const cJSON *head,
		      const struct transcript_style *st)
{
	cJSON *doc, *entries;
	const cJSON *h;
	size_t i;

	if (st->format == OUT_TEXT || st->stream) {
		for (i = 0; i < t->n; i++)
			transcript_print_item(f, &t->items[i], st);
		return;
	}
	doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "apiVersion", "shellaudit.io/v1alpha1");
	cJSON_AddStringToObject(doc, "kind", "Transcript");
	for (h = head ? head->child : NULL; h; h = h->next)
		cJSON_AddItemToObject(doc, h->string, cJSON_Duplicate(h, 1));
	entries = cJSON_AddArrayToObject(doc, "entries");
	for (i = 0; i < t->n; i++)
		cJSON_AddItemToArray(entries, transcript_item_json(&t->items[i]));
	if (st->format == OUT_JSON)
		out_json(f, doc, false);
	else
		out_yaml(f, doc, false);
	cJSON_Delete(doc);
}
