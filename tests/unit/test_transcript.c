// SPDX-License-Identifier: Apache-2.0
/* kubectl-plugin/records.c and transcript.c on records made by the agent's
 * record_build: sessions are (container ID, session key), matched on the
 * spec and not on labels, summarized (lines, execs, user); session names
 * parse back; a transcript orders entries of several sessions by time and
 * shows them as a terminal would, hostile text escaped and stored escapes
 * kept as they are. */
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "records.h"
#include "transcript.h"
#include "unit.h"

static cJSON *entry(const char *time, const char *kind, const char *text)
{
	cJSON *e = cJSON_CreateObject();

	cJSON_AddStringToObject(e, "time", time);
	cJSON_AddStringToObject(e, "kind", kind);
	cJSON_AddStringToObject(e, "text", text);
	if (!strcmp(kind, "exec")) {
		cJSON *argv = cJSON_AddArrayToObject(e, "argv");

		cJSON_AddItemToArray(argv, cJSON_CreateString(text));
		cJSON_AddStringToObject(e, "filename", "/usr/bin/ls");
	}
	return e;
}

/* A record of pod web, container main (container ID cid), session key sk
 * ("" for none), sequence seq, with the entries given as time/kind/text
 * triples. */
static cJSON *record(const char *cid, const char *sk, unsigned seq, const char *const *e, int n)
{
	struct record_identity id = { "shop", "web", "uid-1", "main", cid, "node-1", NULL, "1h" };
	struct record_session sess = { .id = sk, .pid = 100 };
	cJSON *entries = cJSON_CreateArray();
	char digest[DIGEST_STR_LEN];
	int i;

	for (i = 0; i < n; i++)
		cJSON_AddItemToArray(entries, entry(e[3 * i], e[3 * i + 1], e[3 * i + 2]));
	return record_build(&id, *sk ? &sess : NULL, entries, seq, seq ? "sha256:00" : NULL, NULL,
			    NULL, digest);
}

static char *transcript_text(const struct transcript *t, bool session_column)
{
	struct transcript_style st = { .format = OUT_TEXT, .session_column = session_column };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	transcript_print(f, t, NULL, &st);
	fclose(f);
	return buf;
}

static void test_records_group_by_container_and_session_key(void)
{
	static const char *const a0[] = { "2026-01-01T00:00:01Z", "line", "ls",
					  "2026-01-01T00:00:02Z", "exec", "ls" };
	static const char *const b0[] = { "2026-01-01T00:00:03Z", "line", "id" };
	static const char *const x0[] = { "2026-01-01T00:00:00Z", "exec", "cron" };
	static const char *const b1[] = { "2026-01-01T00:00:04Z", "line", "id" };
	struct records_filter f = { 0 };
	struct records *r;
	struct session **v, *s = NULL;
	cJSON *recs[4];
	size_t n, i;

	recs[0] = record("containerd://aaa", "10", 0, a0, 2);
	recs[1] = record("containerd://aaa", "20", 1, b0, 1);
	recs[2] = record("containerd://aaa", "", 2, x0, 1);
	recs[3] = record("containerd://bbb", "10", 0, b1, 1);
	UNIT_CHECK(records_init(&r) == 0);
	for (i = 0; i < 4; i++)
		UNIT_CHECK(records_add(r, &f, recs[i], i == 0 ? &s : NULL) == 1);
	UNIT_CHECK(s && !strcmp(s->key, "10") && s->lines == 1 && s->execs == 1 && !s->user);
	UNIT_CHECK(r->chains.size == 2);
	v = records_sessions(r, &n);
	UNIT_CHECK(v && n == 4);
	/* Oldest first: the exec outside a session, then 10, 20 and bbb's 10. */
	UNIT_CHECK(v && !strcmp(v[0]->key, "") && !strcmp(v[1]->key, "10") &&
		   !strcmp(v[2]->key, "20") && v[3]->chain != v[1]->chain);
	UNIT_CHECK(v && strlen(v[0]->name) == 8 && !strncmp(v[1]->name, v[0]->name, 8) &&
		   !strcmp(v[1]->name + 8, "-10"));
	free(v);
	records_free(r);
	for (i = 0; i < 4; i++)
		cJSON_Delete(recs[i]);
}

static void test_records_match_on_spec_not_labels(void)
{
	static const char *const e[] = { "2026-01-01T00:00:01Z", "line", "ls" };
	struct records_filter f = { .pod = "web", .container = "main" };
	struct records *r;
	cJSON *rec = record("containerd://aaa", "1", 0, e, 1), *labels;

	/* A tenant relabels the record: it still belongs to web/main. */
	labels = cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "metadata"), "labels");
	cJSON_ReplaceItemInObject(labels, "shellaudit.io/pod", cJSON_CreateString("other"));
	UNIT_CHECK(records_init(&r) == 0);
	UNIT_CHECK(records_add(r, &f, rec, NULL) == 1);
	f.pod = "other";
	UNIT_CHECK(records_add(r, &f, rec, NULL) == 0);
	/* A record without the fields a record must have is counted, not used. */
	f.pod = NULL;
	cJSON_DeleteItemFromObject(cJSON_GetObjectItem(rec, "spec"), "containerID");
	UNIT_CHECK(records_add(r, &f, rec, NULL) == 0 && r->skipped == 1);
	records_free(r);
	cJSON_Delete(rec);
}

static void test_records_user_from_attribution(void)
{
	static const char *const e[] = { "2026-01-01T00:00:01Z", "line", "ls" };
	cJSON *rec = record("containerd://aaa", "1", 0, e, 1), *att;

	UNIT_CHECK(records_user(rec) == NULL);
	att = cJSON_AddObjectToObject(cJSON_GetObjectItem(rec, "spec"), "attribution");
	cJSON_AddStringToObject(att, "user", "alice");
	UNIT_CHECK_STR(records_user(rec), "alice");
	cJSON_Delete(rec);
}

static void test_records_session_names_parse_back(void)
{
	char label[20];
	const char *key;

	UNIT_CHECK(records_parse_session_name("0123abcd-4242", label, &key) == 0);
	UNIT_CHECK_STR(label, "0123abcd");
	UNIT_CHECK_STR(key, "4242");
	UNIT_CHECK(records_parse_session_name("0123abcd", label, &key) == 0 && !*key);
	UNIT_CHECK(records_parse_session_name("0123abcd0123abcd-a-b", label, &key) == 0 &&
		   !strcmp(key, "a-b") && strlen(label) == 16);
	UNIT_CHECK(records_parse_session_name("0123abc-1", label, &key) < 0);
	UNIT_CHECK(records_parse_session_name("0123abcd-", label, &key) < 0);
	UNIT_CHECK(records_parse_session_name("web-main", label, &key) < 0);
	UNIT_CHECK(records_valid_name("web-1.x") && !records_valid_name("a/b") &&
		   !records_valid_name("") && !records_valid_name("a&b"));
}

static void test_transcript_merges_sessions_in_time_order(void)
{
	static const char *const a[] = { "2026-01-01T00:00:01.000001Z", "line", "first",
					 "2026-01-01T00:00:03Z",	"line", "third" };
	static const char *const b[] = { "2026-01-01T00:00:02Z", "line", "second",
					 "2026-01-01T00:00:02Z", "exec", "ls -l" };
	struct records_filter f = { 0 };
	struct transcript t = { 0 };
	struct records *r;
	cJSON *ra = record("containerd://aaa", "1", 1, a, 2),
	      *rb = record("containerd://aaa", "2", 0, b, 2);
	char *text, name[SESSION_NAME_MAX], want[512];

	UNIT_CHECK(records_init(&r) == 0);
	UNIT_CHECK(records_add(r, &f, ra, NULL) == 1 && records_add(r, &f, rb, NULL) == 1);
	UNIT_CHECK(transcript_add_records(&t, r, NULL, "main") == 0 && t.n == 4);
	transcript_sort(&t);
	text = transcript_text(&t, false);
	UNIT_CHECK_STR(text, "2026-01-01T00:00:01.000001Z $ first\n"
			     "2026-01-01T00:00:02.000000Z $ second\n"
			     "2026-01-01T00:00:02.000000Z + ls -l  (/usr/bin/ls)\n"
			     "2026-01-01T00:00:03.000000Z $ third\n");
	free(text);
	records_session_name(rb, name);
	text = transcript_text(&t, true);
	snprintf(want, sizeof(want), "2026-01-01T00:00:02.000000Z  %s  $ second\n", name);
	UNIT_CHECK(text && strstr(text, want));
	free(text);
	transcript_clear(&t);
	UNIT_CHECK(transcript_add_records(&t, r, NULL, "other") == 0 && t.n == 0);
	t.since = 1767225602; /* 2026-01-01T00:00:02Z */
	UNIT_CHECK(transcript_add_records(&t, r, NULL, NULL) == 0 && t.n == 3);
	transcript_clear(&t);
	records_free(r);
	cJSON_Delete(ra);
	cJSON_Delete(rb);
}

/* A program run from no file is named, whatever argv[0] says: "3" looks
 * like /dev/fd/3's own name, and no exec -a is needed to hide it. A 32-bit
 * one says so. */
static void test_transcript_names_an_unlinked_file(void)
{
	static const char *const e[] = { "2026-01-01T00:00:01Z", "exec", "3 -x" };
	struct records_filter f = { 0 };
	struct transcript t = { 0 };
	struct records *r;
	cJSON *rec = record("containerd://aaa", "1", 0, e, 1), *x;
	char *text;

	x = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "spec"), "entries"), 0);
	cJSON_ReplaceItemInObject(x, "filename", cJSON_CreateString("/dev/fd/3"));
	cJSON_ReplaceItemInObject(x, "argv",
				  cJSON_CreateStringArray((const char *[]){ "3", "-x" }, 2));
	cJSON_AddStringToObject(x, "unlinked", "memfd:x");
	cJSON_AddTrueToObject(x, "ia32");
	UNIT_CHECK(records_init(&r) == 0);
	UNIT_CHECK(records_add(r, &f, rec, NULL) == 1);
	UNIT_CHECK(transcript_add_records(&t, r, NULL, NULL) == 0 && t.n == 1);
	text = transcript_text(&t, false);
	UNIT_CHECK_STR(text, "2026-01-01T00:00:01.000000Z + 3 -x  (/dev/fd/3: memfd:x (deleted))  "
			     "[32-bit]\n");
	free(text);
	transcript_clear(&t);
	records_free(r);
	cJSON_Delete(rec);
}

static void test_transcript_text_never_raw_and_never_escaped_twice(void)
{
	static const char *const e[] = { "2026-01-01T00:00:01Z",
					 "line",
					 "printf '\\e[31m'",
					 "2026-01-01T00:00:02Z",
					 "line",
					 "x\x1b]0;t\x07\xe2\x80\xaey",
					 "bad time",
					 "gap",
					 "3 events lost" };
	struct records_filter f = { 0 };
	struct transcript t = { 0 };
	struct records *r;
	cJSON *rec = record("containerd://aaa", "1", 0, e, 3);
	char *text;

	UNIT_CHECK(records_init(&r) == 0);
	UNIT_CHECK(records_add(r, &f, rec, NULL) == 1);
	UNIT_CHECK(transcript_add_records(&t, r, NULL, NULL) == 0);
	transcript_sort(&t);
	text = transcript_text(&t, false);
	UNIT_CHECK_STR(text, "?                           ! 3 events lost\n"
			     "2026-01-01T00:00:01.000000Z $ printf '\\e[31m'\n"
			     "2026-01-01T00:00:02.000000Z $ x\\e]0;t\\x07\\u{202e}y\n");
	free(text);
	transcript_clear(&t);
	records_free(r);
	cJSON_Delete(rec);
}

/* Lines not returned by readline say where they were read: the terminal,
 * or a session's stdin pipe. */
static void test_transcript_marks_terminal_and_inexact_lines(void)
{
	static const char *const e[] = { "2026-01-01T00:00:01Z", "line", "from readline",
					 "2026-01-01T00:00:02Z", "line", "from the terminal",
					 "2026-01-01T00:00:03Z", "line", "",
					 "2026-01-01T00:00:04Z", "line", "from a pipe" };
	struct records_filter f = { 0 };
	struct transcript t = { 0 };
	struct records *r;
	cJSON *rec = record("containerd://aaa", "1", 0, e, 4);
	cJSON *entries = cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "spec"), "entries");
	char *text;

	cJSON_AddStringToObject(cJSON_GetArrayItem(entries, 3), "source", "stdin");
	cJSON_AddStringToObject(cJSON_GetArrayItem(entries, 0), "source", "readline");
	cJSON_AddStringToObject(cJSON_GetArrayItem(entries, 1), "source", "terminal");
	cJSON_AddStringToObject(cJSON_GetArrayItem(entries, 2), "source", "terminal");
	cJSON_AddTrueToObject(cJSON_GetArrayItem(entries, 2), "inexact");
	UNIT_CHECK(records_init(&r) == 0);
	UNIT_CHECK(records_add(r, &f, rec, NULL) == 1);
	UNIT_CHECK(transcript_add_records(&t, r, NULL, NULL) == 0);
	transcript_sort(&t);
	text = transcript_text(&t, false);
	UNIT_CHECK_STR(text, "2026-01-01T00:00:01.000000Z $ from readline\n"
			     "2026-01-01T00:00:02.000000Z $ from the terminal  [terminal]\n"
			     "2026-01-01T00:00:03.000000Z $   [terminal]  [inexact]\n"
			     "2026-01-01T00:00:04.000000Z $ from a pipe  [stdin]\n");
	free(text);
	transcript_clear(&t);
	records_free(r);
	cJSON_Delete(rec);
}

/* An entry the agent escaped says so: `echo \e` typed with a backslash and
 * one typed with an escape character read alike, and only the second's
 * bytes are what escape_unescape gives back. */
static void test_transcript_says_which_entries_were_escaped(void)
{
	static const char *const e[] = { "2026-01-01T00:00:01Z", "line", "echo \\e",
					 "2026-01-01T00:00:02Z", "line", "echo \\e" };
	struct records_filter f = { 0 };
	struct transcript t = { 0 };
	struct records *r;
	cJSON *rec = record("containerd://aaa", "1", 0, e, 2);
	cJSON *entries = cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "spec"), "entries");
	char *text;

	cJSON_AddTrueToObject(cJSON_GetArrayItem(entries, 1), "escaped");
	UNIT_CHECK(records_init(&r) == 0);
	UNIT_CHECK(records_add(r, &f, rec, NULL) == 1);
	UNIT_CHECK(transcript_add_records(&t, r, NULL, NULL) == 0);
	transcript_sort(&t);
	text = transcript_text(&t, false);
	UNIT_CHECK_STR(text, "2026-01-01T00:00:01.000000Z $ echo \\e\n"
			     "2026-01-01T00:00:02.000000Z $ echo \\e  [escaped]\n");
	free(text);
	transcript_clear(&t);
	records_free(r);
	cJSON_Delete(rec);
}

/* argv[0] that names another path than the executed file (exec -a
 * /usr/bin/ls /tmp/ls) shows the file; a bare name found on PATH does not. */
static void test_transcript_names_the_file_argv0_hides(void)
{
	static const char *const e[] = { "2026-01-01T00:00:01Z", "exec", "/usr/bin/ls /",
					 "2026-01-01T00:00:02Z", "exec", "ls /",
					 "2026-01-01T00:00:03Z", "exec", "/usr/bin/ls /" };
	struct records_filter f = { 0 };
	struct transcript t = { 0 };
	struct records *r;
	cJSON *rec = record("containerd://aaa", "1", 0, e, 3), *x;
	cJSON *entries = cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "spec"), "entries");
	char *text;
	int i;

	for (i = 0; i < 3; i++) {
		x = cJSON_GetArrayItem(entries, i);
		cJSON_ReplaceItemInObject(
			x, "argv",
			cJSON_CreateStringArray(
				(const char *[]){ i == 1 ? "ls" : "/usr/bin/ls", "/" }, 2));
	}
	cJSON_ReplaceItemInObject(cJSON_GetArrayItem(entries, 0), "filename",
				  cJSON_CreateString("/tmp/ls"));
	UNIT_CHECK(records_init(&r) == 0);
	UNIT_CHECK(records_add(r, &f, rec, NULL) == 1);
	UNIT_CHECK(transcript_add_records(&t, r, NULL, NULL) == 0);
	transcript_sort(&t);
	text = transcript_text(&t, false);
	UNIT_CHECK_STR(text, "2026-01-01T00:00:01.000000Z + /usr/bin/ls /  (/tmp/ls)\n"
			     "2026-01-01T00:00:02.000000Z + ls /\n"
			     "2026-01-01T00:00:03.000000Z + /usr/bin/ls /\n");
	free(text);
	transcript_clear(&t);
	records_free(r);
	cJSON_Delete(rec);
}

/* An aggregated exec says how many ran and when the last did. */
static void test_transcript_shows_an_aggregated_exec_count(void)
{
	static const char *const e[] = { "2026-01-01T00:00:01Z", "exec", "ls",
					 "2026-01-01T00:00:02Z", "exec", "ls" };
	struct records_filter f = { 0 };
	struct transcript t = { 0 };
	struct records *r;
	cJSON *rec = record("containerd://aaa", "1", 0, e, 2);
	cJSON *entries = cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "spec"), "entries");
	char *text;

	cJSON_AddNumberToObject(cJSON_GetArrayItem(entries, 0), "count", 2000);
	cJSON_AddStringToObject(cJSON_GetArrayItem(entries, 0), "first", "2026-01-01T00:00:01Z");
	cJSON_AddStringToObject(cJSON_GetArrayItem(entries, 0), "last", "2026-01-01T00:00:09Z");
	UNIT_CHECK(records_init(&r) == 0);
	UNIT_CHECK(records_add(r, &f, rec, NULL) == 1);
	UNIT_CHECK(transcript_add_records(&t, r, NULL, NULL) == 0);
	transcript_sort(&t);
	text = transcript_text(&t, false);
	UNIT_CHECK_STR(text,
		       "2026-01-01T00:00:01.000000Z + ls  [x2000, last 2026-01-01T00:00:09Z]\n"
		       "2026-01-01T00:00:02.000000Z + ls\n");
	free(text);
	transcript_clear(&t);
	records_free(r);
	cJSON_Delete(rec);
}

UNIT_MAIN(UNIT_TEST(test_records_group_by_container_and_session_key),
	  UNIT_TEST(test_transcript_shows_an_aggregated_exec_count),
	  UNIT_TEST(test_records_match_on_spec_not_labels),
	  UNIT_TEST(test_records_user_from_attribution),
	  UNIT_TEST(test_records_session_names_parse_back),
	  UNIT_TEST(test_transcript_merges_sessions_in_time_order),
	  UNIT_TEST(test_transcript_names_an_unlinked_file),
	  UNIT_TEST(test_transcript_text_never_raw_and_never_escaped_twice),
	  UNIT_TEST(test_transcript_marks_terminal_and_inexact_lines),
	  UNIT_TEST(test_transcript_says_which_entries_were_escaped),
	  UNIT_TEST(test_transcript_names_the_file_argv0_hides))
