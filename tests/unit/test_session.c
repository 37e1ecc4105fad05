// SPDX-License-Identifier: Apache-2.0
/* session + sink_jsonl: events become ordered JSON lines, as typed, or
 * escaped and marked so when they must be; lines say their source,
 * terminal lines their flags. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "escape.h"
#include "../../node-agent/capture.h"
#include "../../node-agent/session.h"
#include "../../node-agent/sink.h"
#include "../../node-agent/ttyline.h"

struct fixture {
	char *buf;
	size_t len;
	FILE *f;
	struct sink *sink;
	struct session_table *st;
};

static void open_fixture(struct fixture *x)
{
	memset(x, 0, sizeof(*x));
	x->f = open_memstream(&x->buf, &x->len);
	if (!x->f || sink_jsonl_open_stream(x->f, &x->sink) || session_table_new(x->sink, &x->st))
		abort();
}

/* Closes the table (ending open sessions) and returns the output lines. */
static char *close_fixture(struct fixture *x)
{
	session_table_free(x->st);
	sink_close(x->sink);
	fclose(x->f);
	return x->buf;
}

/* The file at path into buf (cap bytes at most, NUL-terminated): its
 * length, or -1. */
static ssize_t slurp(const char *path, char *buf, size_t cap)
{
	ssize_t got;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	got = read(fd, buf, cap - 1);
	close(fd);
	buf[got > 0 ? got : 0] = '\0';
	return got;
}

/* How many times text is in the file at path. */
static int count_in(const char *path, const char *text)
{
	char buf[16384];
	const char *p;
	int n = 0;

	if (slurp(path, buf, sizeof(buf)) < 0)
		return -1;
	for (p = buf; (p = strstr(p, text)); p += strlen(text))
		n++;
	return n;
}

/* Where text first is in the file at path (line: where its line starts),
 * or -1. */
static long offset_in(const char *path, const char *text, bool line)
{
	char buf[16384];
	const char *at, *nl;

	if (slurp(path, buf, sizeof(buf)) <= 0 || !(at = strstr(buf, text)))
		return -1;
	if (!line)
		return at - buf;
	nl = memrchr(buf, '\n', (size_t)(at - buf));
	return nl ? nl + 1 - buf : 0;
}

static struct sa_event_hdr hdr(uint32_t type, uint32_t target, uint32_t sid, uint32_t tgid)
{
	static uint64_t ts = 1000;
	struct sa_event_hdr h = { .type = type,
				  .target = target,
				  .sid = sid,
				  .tgid = tgid,
				  .pid = tgid,
				  .ppid = sid,
				  .mntns = 4026531840u + target,
				  .ts = ts };

	ts++;
	strcpy(h.comm, "bash");
	return h;
}

static void line(struct fixture *x, uint32_t target, uint32_t sid, const char *text, size_t n,
		 uint32_t flags)
{
	struct sa_event_hdr h = hdr(SA_EV_LINE, target, sid, sid + 1);
	struct capture_event ev = { .hdr = &h, .text = text, .text_len = n };

	h.flags = flags;
	session_handle(x->st, &ev, target == 1 ? "one" : "two");
}

static void exec_ev(struct fixture *x, uint32_t target, uint32_t sid, const char *args, size_t n,
		    uint32_t argc, uint32_t flags)
{
	struct sa_event_hdr h = hdr(SA_EV_EXEC, target, sid, sid + 2);
	struct capture_event ev = { .hdr = &h, .text = args, .text_len = n, .filename = "/bin/ls",
				    .filename_len = 7, .argc = argc };

	h.flags = flags;
	session_handle(x->st, &ev, target == 1 ? "one" : "two");
}

static void exit_ev(struct fixture *x, uint32_t target, uint32_t sid, uint32_t tgid, int code)
{
	struct sa_event_hdr h = hdr(SA_EV_EXIT, target, sid, tgid);
	struct capture_event ev = { .hdr = &h, .exit_code = code };

	if (tgid == sid)
		h.flags = SA_F_SESSION_LEADER;
	session_handle(x->st, &ev, target == 1 ? "one" : "two");
}

/* The n-th output line (0-based) parsed, or NULL. Caller deletes. */
static cJSON *nth(const char *out, int n)
{
	const char *p = out, *e;
	cJSON *o;
	char *tmp;

	while (n-- > 0 && p && (p = strchr(p, '\n')))
		p++;
	if (!p || !*p)
		return NULL;
	e = strchr(p, '\n');
	if (!e || !(tmp = strndup(p, (size_t)(e - p))))
		return NULL;
	o = cJSON_Parse(tmp);
	free(tmp);
	return o;
}

static const char *str(cJSON *o, const char *k)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "(missing)";
}

static double num(cJSON *o, const char *k)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : -12345;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_session_entries_in_order_with_start_and_end(void)
{
	struct fixture x;
	cJSON *o;
	char *out;
	int i;

	open_fixture(&x);
	line(&x, 1, 100, "cd /tmp", 7, 0);
	line(&x, 1, 100, "", 0, 0);
	exec_ev(&x, 1, 100, "ls\0-l\0", 6, 2, 0);
	exit_ev(&x, 1, 100, 102, 0); /* a child: does not end the session */
	exit_ev(&x, 1, 100, 100, 256);
	UNIT_CHECK(session_count(x.st) == 0);
	out = close_fixture(&x);
	UNIT_CHECK(count_lines(out) == 5);
	for (i = 0; i < 5; i++) {
		o = nth(out, i);
		UNIT_CHECK(o != NULL);
		UNIT_CHECK(num(o, "seq") == i);
		UNIT_CHECK(num(o, "session") == 100);
		UNIT_CHECK_STR(str(o, "container"), "one");
		if (i == 0)
			UNIT_CHECK_STR(str(o, "kind"), "session_start");
		if (i == 1)
			UNIT_CHECK_STR(str(o, "line"), "cd /tmp");
		if (i == 2) /* the empty line is an entry */
			UNIT_CHECK_STR(str(o, "line"), "");
		if (i == 3) {
			UNIT_CHECK_STR(str(o, "kind"), "exec");
			UNIT_CHECK_STR(str(o, "filename"), "/bin/ls");
			UNIT_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(o, "argv")) == 2);
			UNIT_CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "argv"), 1)
					       ->valuestring,
				       "-l");
		}
		if (i == 4) {
			UNIT_CHECK_STR(str(o, "kind"), "session_end");
			UNIT_CHECK(num(o, "exit_code") == 256);
			UNIT_CHECK_STR(str(o, "reason"), "exit");
		}
		cJSON_Delete(o);
	}
	free(out);
}

/* A line record that carries a count of readline lines past their rate:
 * an entry that says how many, before its line; a record of the count
 * alone (SA_F_TTY_COUNT) is that entry only. */
static void test_session_lines_past_the_rate_are_an_entry(void)
{
	struct sa_event_hdr h = hdr(SA_EV_LINE, 1, 100, 101);
	struct capture_event ev = { .hdr = &h, .text = "ls", .text_len = 2, .skipped = 41 };
	struct fixture x;
	char *out;
	cJSON *o;

	open_fixture(&x);
	session_handle(x.st, &ev, "one");
	h = hdr(SA_EV_LINE, 1, 100, 101);
	h.flags = SA_F_TTY_COUNT;
	ev = (struct capture_event){ .hdr = &h, .skipped = 7 };
	session_handle(x.st, &ev, "one");
	out = close_fixture(&x);
	/* start, the count, ls, the count alone, end */
	UNIT_CHECK(count_lines(out) == 5);
	o = nth(out, 1);
	UNIT_CHECK_STR(str(o, "line"),
		       "[not recorded: 41 lines read by readline, past their rate]");
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(o, "truncated")));
	UNIT_CHECK(num(o, "seq") == 1);
	cJSON_Delete(o);
	o = nth(out, 2);
	UNIT_CHECK_STR(str(o, "line"), "ls");
	UNIT_CHECK(num(o, "seq") == 2);
	cJSON_Delete(o);
	o = nth(out, 3);
	UNIT_CHECK_STR(str(o, "line"), "[not recorded: 7 lines read by readline, past their rate]");
	cJSON_Delete(o);
	o = nth(out, 4);
	UNIT_CHECK_STR(str(o, "kind"), "session_end");
	cJSON_Delete(o);
	free(out);
}

static void test_session_separate_per_target_and_leader(void)
{
	struct fixture x;
	char *out;
	cJSON *o;

	open_fixture(&x);
	line(&x, 1, 100, "a", 1, 0);
	line(&x, 2, 100, "b", 1, 0); /* same sid, other container */
	line(&x, 1, 200, "c", 1, 0);
	line(&x, 1, 100, "d", 1, 0);
	UNIT_CHECK(session_count(x.st) == 3);
	session_end_target(x.st, 1, "untargeted");
	UNIT_CHECK(session_count(x.st) == 1);
	out = close_fixture(&x);
	/* start a, a, start b, b, start c, c, d, end, end, end(agent stopped) */
	UNIT_CHECK(count_lines(out) == 10);
	o = nth(out, 6);
	UNIT_CHECK_STR(str(o, "line"), "d");
	UNIT_CHECK(num(o, "seq") == 2);
	cJSON_Delete(o);
	o = nth(out, 9);
	UNIT_CHECK_STR(str(o, "reason"), "agent stopped");
	UNIT_CHECK_STR(str(o, "container"), "two");
	cJSON_Delete(o);
	free(out);
}

static void test_sink_escapes_every_byte_reversibly(void)
{
	unsigned char all[255], back[1024];
	struct fixture x;
	char *out, *nl;
	cJSON *o;
	long n;
	int i;

	for (i = 0; i < 255; i++)
		all[i] = (unsigned char)(i + 1);
	open_fixture(&x);
	line(&x, 1, 100, (const char *)all, sizeof(all), SA_F_TRUNCATED);
	out = close_fixture(&x);
	/* One entry is one line, whatever the bytes. */
	nl = strchr(out, '\n');
	UNIT_CHECK(nl && nl[1] == '{');
	for (i = 0; out[i]; i++)
		UNIT_CHECK((unsigned char)out[i] >= 0x20 || out[i] == '\n');
	o = nth(out, 1);
	UNIT_CHECK(o != NULL);
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(o, "escaped")));
	n = escape_unescape(back, sizeof(back), str(o, "line"));
	UNIT_CHECK(n == (long)sizeof(all));
	UNIT_CHECK(n == (long)sizeof(all) && memcmp(back, all, sizeof(all)) == 0);
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(o, "truncated")));
	cJSON_Delete(o);
	free(out);
}

static void test_sink_escapes_terminal_sequences(void)
{
	static const char evil[] = "ls\x1b]0;pwned\x07\x1b[2J\"\\\r\n\xe2\x80\xae";
	struct fixture x;
	char *out;
	cJSON *o;

	open_fixture(&x);
	line(&x, 1, 100, evil, sizeof(evil) - 1, 0);
	out = close_fixture(&x);
	UNIT_CHECK(strchr(out, 0x1b) == NULL);
	UNIT_CHECK(strstr(out, "\xe2\x80\xae") == NULL);
	o = nth(out, 1);
	UNIT_CHECK_STR(str(o, "line"), "ls\\e]0;pwned\\x07\\e[2J\"\\\\\\r\\n\\u{202e}");
	cJSON_Delete(o);
	free(out);
}

/* The review's S8 and the example: a typed backslash stays one
 * backslash; text that can be shown as typed is, and says nothing more. */
static void test_sink_shows_lines_as_typed(void)
{
	static const char *const typed[] = {
		"sed 's/\\t/ /g' a.tsv",
		"echo \"quoted\" 'single' \\n",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		"printf '\\e[31mred\\e[0m'",
	};
	static const char *const hidden[] = {
		"r\xe2\x80\x8bm -rf /", "ls\xe2\x80\xa8rm -rf /", "a\xef\xbb\xbf", "x\xc2\xad",
		"t\xf3\xa0\x81\x81", "\xe3\x85\xa4", "tab\there",
	};
	unsigned char back[256];
	struct fixture x;
	char *out;
	cJSON *o;
	size_t i;
	long n;

	open_fixture(&x);
	for (i = 0; i < ARRAY_SIZE(typed); i++)
		line(&x, 1, 100, typed[i], strlen(typed[i]), 0);
	for (i = 0; i < ARRAY_SIZE(hidden); i++)
		line(&x, 1, 100, hidden[i], strlen(hidden[i]), 0);
	exec_ev(&x, 1, 100, "echo\0a\tb", 9, 2, 0);
	out = close_fixture(&x);
	for (i = 0; i < ARRAY_SIZE(typed); i++) {
		o = nth(out, 1 + (int)i);
		UNIT_CHECK_STR(str(o, "line"), typed[i]);
		UNIT_CHECK(cJSON_GetObjectItem(o, "escaped") == NULL);
		cJSON_Delete(o);
	}
	for (i = 0; i < ARRAY_SIZE(hidden); i++) {
		o = nth(out, 1 + (int)(ARRAY_SIZE(typed) + i));
		UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(o, "escaped")));
		UNIT_CHECK(strcmp(str(o, "line"), hidden[i]) != 0);
		n = escape_unescape(back, sizeof(back), str(o, "line"));
		UNIT_CHECK(n == (long)strlen(hidden[i]) && !memcmp(back, hidden[i], (size_t)n));
		cJSON_Delete(o);
	}
	/* one argument holds a tab: the whole entry is escaped, filename too */
	o = nth(out, 1 + (int)(ARRAY_SIZE(typed) + ARRAY_SIZE(hidden)));
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(o, "escaped")));
	UNIT_CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "argv"), 1)->valuestring, "a\\tb");
	UNIT_CHECK_STR(str(o, "filename"), "/bin/ls");
	cJSON_Delete(o);
	free(out);
}

static void test_sink_truncated_argv_and_eof(void)
{
	struct fixture x;
	char *out;
	cJSON *o, *argv;

	open_fixture(&x);
	exec_ev(&x, 1, 100, "cat\0/very/long/pa", 17, 5, SA_F_TRUNCATED);
	line(&x, 1, 100, "", 0, SA_F_EOF);
	out = close_fixture(&x);
	o = nth(out, 1);
	argv = cJSON_GetObjectItem(o, "argv");
	UNIT_CHECK(cJSON_GetArraySize(argv) == 2);
	UNIT_CHECK_STR(cJSON_GetArrayItem(argv, 1)->valuestring, "/very/long/pa");
	UNIT_CHECK(num(o, "argc") == 5);
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(o, "truncated")));
	cJSON_Delete(o);
	o = nth(out, 2);
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(o, "eof")));
	cJSON_Delete(o);
	free(out);
}

static void test_sink_large_line(void)
{
	size_t n = SA_LINE_CAP - 2, i;
	char *big = malloc(n);
	struct fixture x;
	char *out;
	cJSON *o;

	for (i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	open_fixture(&x);
	line(&x, 1, 100, big, n, 0);
	out = close_fixture(&x);
	o = nth(out, 1);
	UNIT_CHECK(o && strlen(str(o, "line")) == n);
	UNIT_CHECK(o && memcmp(str(o, "line"), big, n) == 0);
	cJSON_Delete(o);
	free(out);
	free(big);
}

/* A namespace event is an entry of the session of the process that
 * changed, naming each namespace left (old and new inode) and the root;
 * the session root of an entered process rides on every entry. */
static void test_session_namespace_change_is_an_entry(void)
{
	struct sa_ns_event ns = { .how = SA_NS_CHANGED };
	struct capture_event ev = { .hdr = &ns.hdr, .ns = &ns };
	struct fixture x;
	cJSON *o, *n;
	char *out;

	ns.hdr = hdr(SA_EV_NS, 1, 100, 101);
	ns.hdr.root = 100;
	ns.changed = (1u << SA_NS_MNT) | (1u << SA_NS_USER) | (1u << SA_NS_ROOT);
	ns.from.ns[SA_NS_MNT] = 4026532177u;
	ns.to.ns[SA_NS_MNT] = 4026532301u;
	ns.from.ns[SA_NS_USER] = 4026531837u;
	ns.to.ns[SA_NS_USER] = 4026532300u;
	ns.from.root_dev = (254u << 20) | 1;
	ns.from.root_ino = 2;
	ns.to.root_dev = (254u << 20) | 1;
	ns.to.root_ino = 1311;
	strcpy(ns.root_name, "jail\x1b[2J");
	open_fixture(&x);
	session_handle(x.st, &ev, "one");
	out = close_fixture(&x);
	o = nth(out, 1);
	UNIT_CHECK(o != NULL);
	UNIT_CHECK_STR(str(o, "kind"), "namespace");
	UNIT_CHECK_STR(str(o, "how"), "changed");
	UNIT_CHECK(num(o, "seq") == 1 && num(o, "pid") == 101 && num(o, "session_root") == 100);
	n = cJSON_GetObjectItem(o, "namespaces");
	UNIT_CHECK(cJSON_GetArraySize(n) == 3);
	UNIT_CHECK(cJSON_GetArrayItem(cJSON_GetObjectItem(n, "mnt"), 1)->valuedouble ==
		   4026532301.0);
	UNIT_CHECK(cJSON_GetArrayItem(cJSON_GetObjectItem(n, "root"), 1)->valuedouble == 1311);
	UNIT_CHECK_STR(str(o, "text"), "unshare, setns, chroot or pivot_root: mnt 4026532177 -> "
				       "4026532301, user 4026531837 -> 4026532300, root 254:1/2 -> "
				       "254:1/1311 (jail\\e[2J)");
	cJSON_Delete(o);
	free(out);
}

static void test_session_terminal_lines_say_their_source(void)
{
	struct sa_event_hdr h = hdr(SA_EV_TTY, 1, 100, 101);
	struct ttyline l = { .hdr = &h, .text = "echo typed", .len = 10,
			     .flags = TTYLINE_INEXACT };
	struct capture_event raw = { .hdr = &h, .text = "x", .text_len = 1 };
	struct fixture x;
	char *out;
	cJSON *o;

	open_fixture(&x);
	line(&x, 1, 100, "from readline", 13, 0);
	/* The bytes of a read are no entry; the line ttyline made is. */
	session_handle(x.st, &raw, "one");
	UNIT_CHECK(session_handle_tty_line(x.st, &l, "one") == 0);
	l.text = TTYLINE_WITHHELD;
	l.len = strlen(TTYLINE_WITHHELD);
	l.flags = TTYLINE_ECHO_OFF | TTYLINE_TRUNCATED;
	UNIT_CHECK(session_handle_tty_line(x.st, &l, "one") == 0);
	out = close_fixture(&x);
	/* start, readline line, two terminal lines, end */
	UNIT_CHECK(count_lines(out) == 5);
	o = nth(out, 1);
	UNIT_CHECK_STR(str(o, "source"), "readline");
	UNIT_CHECK(!cJSON_GetObjectItem(o, "inexact"));
	cJSON_Delete(o);
	o = nth(out, 2);
	UNIT_CHECK_STR(str(o, "kind"), "line");
	UNIT_CHECK_STR(str(o, "line"), "echo typed");
	UNIT_CHECK_STR(str(o, "source"), "terminal");
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(o, "inexact")));
	UNIT_CHECK(cJSON_IsFalse(cJSON_GetObjectItem(o, "truncated")));
	UNIT_CHECK(num(o, "seq") == 2 && num(o, "session") == 100);
	cJSON_Delete(o);
	o = nth(out, 3);
	UNIT_CHECK_STR(str(o, "line"), TTYLINE_WITHHELD);
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(o, "echo_off")));
	UNIT_CHECK(cJSON_IsTrue(cJSON_GetObjectItem(o, "truncated")));
	cJSON_Delete(o);
	free(out);
}

/* An agent killed after it wrote a record's entries and before it released
 * the record: the next one reads the output file's end back and knows the
 * record (its key), so it is written once. A typed line that spells a key
 * does not make one. */
static void test_sink_knows_what_it_wrote_before_a_restart(void)
{
	char path[] = "/tmp/test_session_XXXXXX", forged[160];
	struct sa_event_hdr l = hdr(SA_EV_LINE, 1, 100, 101), x = hdr(SA_EV_EXEC, 1, 100, 102),
			    t = hdr(SA_EV_TTY, 1, 100, 101), later = hdr(SA_EV_LINE, 1, 100, 101),
			    ex = hdr(SA_EV_EXIT, 1, 100, 102);
	struct capture_event evs[5] = {
		{ .hdr = &l, .text = "echo one", .text_len = 8 },
		{ .hdr = &x,
		  .text = "ls\0",
		  .text_len = 3,
		  .filename = "/bin/ls",
		  .filename_len = 7,
		  .argc = 1 },
		{ .hdr = &t, .text = "x", .text_len = 1 },
		{ .hdr = &later, .text = "echo two", .text_len = 8 },
		{ .hdr = &ex },
	};
	struct ttyline tl = { .hdr = &t, .text = "echo typed", .len = 10 };
	bool done[5] = { false };
	struct session_table *st = NULL;
	struct sink *sink = NULL;
	struct capture_event fl;
	char key[EVENTKEY_MAX];
	int fd = mkstemp(path);

	UNIT_CHECK(fd >= 0);
	close(fd);
	UNIT_CHECK(sink_jsonl_open(path, &sink) == 0 && session_table_new(sink, &st) == 0);
	if (!st)
		return;
	UNIT_CHECK(session_handle(st, &evs[0], "one") == 0);
	UNIT_CHECK(session_handle(st, &evs[1], "one") == 0);
	UNIT_CHECK(session_handle_tty_line(st, &tl, "one") == 0);
	/* later's key, typed into a line. */
	eventkey_of(&later, key, sizeof(key));
	snprintf(forged, sizeof(forged), "x\",\"key\":\"%s\"", key);
	fl = evs[0];
	fl.text = forged;
	fl.text_len = strlen(forged);
	UNIT_CHECK(session_handle(st, &fl, "one") == 0);
	UNIT_CHECK(sink_flush(sink) == 0);
	/* The agent dies: nothing else is written. The next one opens the
	 * same file. */
	session_table_free(st);
	sink_close(sink);
	UNIT_CHECK(sink_jsonl_open(path, &sink) == 0);
	if (!sink)
		return;
	sink_handled(sink, evs, 5, done);
	UNIT_CHECK(done[0] && done[1]);
	/* The read that made a terminal line goes through again (it may
	 * have made more): its line is not written twice. */
	UNIT_CHECK(!done[2]);
	UNIT_CHECK(!done[3]); /* never written, however it was typed */
	UNIT_CHECK(!done[4]); /* an exit makes no entry of its own */
	UNIT_CHECK(session_table_new(sink, &st) == 0);
	if (st) {
		UNIT_CHECK(session_handle_tty_line(st, &tl, "one") == 0);
		session_table_free(st);
	}
	sink_close(sink);
	UNIT_CHECK(count_in(path, "echo typed") == 1);
	unlink(path);
}

/* One read (a paste) completed three lines, and the agent was killed when
 * only the first had reached the file. The next agent handles the read
 * again: the two others are written, the first not twice. */
static void test_sink_a_read_written_in_part_is_written_whole(void)
{
	char path[] = "/tmp/test_session_XXXXXX";
	struct sa_event_hdr t = hdr(SA_EV_TTY, 1, 100, 101);
	struct capture_event ev = { .hdr = &t, .text = "x", .text_len = 1 };
	struct ttyline tl[3] = {
		{ .hdr = &t, .text = "echo p0", .len = 7, .part = 0 },
		{ .hdr = &t, .text = "echo p1", .len = 7, .part = 1 },
		{ .hdr = &t, .text = "echo p2", .len = 7, .part = 2 },
	};
	struct session_table *st = NULL;
	struct sink *sink = NULL;
	bool done = false;
	int fd = mkstemp(path), i;
	long second;

	UNIT_CHECK(fd >= 0);
	close(fd);
	UNIT_CHECK(sink_jsonl_open(path, &sink) == 0 && session_table_new(sink, &st) == 0);
	if (!st)
		return;
	for (i = 0; i < 3; i++)
		UNIT_CHECK(session_handle_tty_line(st, &tl[i], "one") == 0);
	UNIT_CHECK(sink_flush(sink) == 0);
	session_table_free(st);
	sink_close(sink);
	/* What reached the file: the first line's entry only. */
	second = offset_in(path, "echo p1", true);
	UNIT_CHECK(second > 0);
	if (second <= 0)
		return;
	UNIT_CHECK(truncate(path, second) == 0);
	UNIT_CHECK(count_in(path, "echo p0") == 1 && count_in(path, "echo p1") == 0);
	UNIT_CHECK(sink_jsonl_open(path, &sink) == 0);
	if (!sink)
		return;
	sink_handled(sink, &ev, 1, &done);
	UNIT_CHECK(!done);
	UNIT_CHECK(session_table_new(sink, &st) == 0);
	if (st) {
		for (i = 0; i < 3; i++)
			UNIT_CHECK(session_handle_tty_line(st, &tl[i], "one") == 0);
		session_table_free(st);
	}
	sink_close(sink);
	UNIT_CHECK(count_in(path, "echo p0") == 1);
	UNIT_CHECK(count_in(path, "echo p1") == 1);
	UNIT_CHECK(count_in(path, "echo p2") == 1);
	unlink(path);
}

/* An agent killed while stdio had written only the head of an entry's line
 * (a buffer flushed mid-line: the rest was still in the buffer): that line
 * holds its record's key but not its text. The next agent must write the
 * record again, not take it as written: else the line is lost, with no gap
 * said anywhere. */
static void test_sink_a_line_cut_by_the_kill_is_not_written(void)
{
	char path[] = "/tmp/test_session_XXXXXX";
	struct sa_event_hdr one = hdr(SA_EV_LINE, 1, 100, 101), two = hdr(SA_EV_LINE, 1, 100, 101);
	struct capture_event evs[2] = {
		{ .hdr = &one, .text = "echo one", .text_len = 8 },
		{ .hdr = &two, .text = "echo two", .text_len = 8 },
	};
	bool done[2] = { false };
	struct session_table *st = NULL;
	struct sink *sink = NULL;
	long cut;
	int fd = mkstemp(path);

	UNIT_CHECK(fd >= 0);
	close(fd);
	UNIT_CHECK(sink_jsonl_open(path, &sink) == 0 && session_table_new(sink, &st) == 0);
	if (!st)
		return;
	UNIT_CHECK(session_handle(st, &evs[0], "one") == 0);
	UNIT_CHECK(session_handle(st, &evs[1], "one") == 0);
	UNIT_CHECK(sink_flush(sink) == 0);
	session_table_free(st);
	sink_close(sink);
	/* What reached the file before the kill: the second line up to its
	 * text. */
	cut = offset_in(path, "echo two", false);
	UNIT_CHECK(cut > 0);
	if (cut <= 0)
		return;
	UNIT_CHECK(truncate(path, cut) == 0);
	UNIT_CHECK(sink_jsonl_open(path, &sink) == 0);
	if (!sink)
		return;
	sink_handled(sink, evs, 2, done);
	UNIT_CHECK(done[0]);
	UNIT_CHECK(!done[1]); /* its text never reached the file */
	sink_close(sink);
	unlink(path);
}

/* The keys a spool and a JSON lines file keep across restarts: their
 * form may not change (an agent reads those an older one wrote), and a
 * short buffer gets them cut as snprintf cuts. */
static void test_sink_event_keys_keep_their_form(void)
{
	const uint64_t ts[] = { 0, 1, 0xf, 0x10, 0x1234abcdULL, UINT64_MAX };
	const uint32_t tid[] = { 0, 7, 0xabcdef, UINT32_MAX };
	char got[EVENTKEY_MAX], want[EVENTKEY_MAX];
	uint32_t part;
	size_t i, j, cap;

	for (i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
		for (j = 0; j < sizeof(tid) / sizeof(tid[0]); j++) {
			eventkey_make(got, sizeof(got), ts[i], tid[j], 'x', NULL);
			snprintf(want, sizeof(want), "%" PRIx64 "-%" PRIx32 "-x", ts[i], tid[j]);
			UNIT_CHECK_STR(got, want);
			part = tid[j] ^ 0x5a5a;
			eventkey_make(got, sizeof(got), ts[i], tid[j], 't', &part);
			snprintf(want, sizeof(want), "%" PRIx64 "-%" PRIx32 "-t%" PRIx32, ts[i],
				 tid[j], part);
			UNIT_CHECK_STR(got, want);
		}
	for (cap = 1; cap < 12; cap++) {
		memset(got, '#', sizeof(got));
		eventkey_make(got, cap, 0x1234abcdULL, 0x99, 'l', NULL);
		snprintf(want, sizeof(want), "%" PRIx64 "-%" PRIx32 "-l", (uint64_t)0x1234abcdULL,
			 0x99u);
		want[cap - 1] = '\0';
		UNIT_CHECK_STR(got, want);
		UNIT_CHECK(got[cap] == '#');
	}
}

UNIT_MAIN(UNIT_TEST(test_session_entries_in_order_with_start_and_end),
	  UNIT_TEST(test_sink_event_keys_keep_their_form),
	  UNIT_TEST(test_sink_a_line_cut_by_the_kill_is_not_written),
	  UNIT_TEST(test_sink_knows_what_it_wrote_before_a_restart),
	  UNIT_TEST(test_sink_a_read_written_in_part_is_written_whole),
	  UNIT_TEST(test_session_namespace_change_is_an_entry),
	  UNIT_TEST(test_session_terminal_lines_say_their_source),
	  UNIT_TEST(test_session_separate_per_target_and_leader),
	  UNIT_TEST(test_session_lines_past_the_rate_are_an_entry),
	  UNIT_TEST(test_sink_escapes_every_byte_reversibly),
	  UNIT_TEST(test_sink_escapes_terminal_sequences),
	  UNIT_TEST(test_sink_shows_lines_as_typed), UNIT_TEST(test_sink_truncated_argv_and_eof),
	  UNIT_TEST(test_sink_large_line))
