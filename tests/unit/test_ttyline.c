// SPDX-License-Identifier: Apache-2.0
/* ttyline: terminal reads become the lines the reading process saw, in
 * canonical and raw mode; password lines are withheld; a line that may be
 * readline's is held back and dropped when readline sends it; streams and
 * lines are bounded; a session's stdin pipe gives lines ended by LF, or
 * where what was read of a line may act, and bytes not recorded (past a
 * stdin's rate, or taken from a terminal by splice, sendfile or io_uring)
 * are a line that counts them, as are io_submit reads past their rate. */
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "../../node-agent/ttyline.h"

#define MAX_GOT 64

struct got {
	int n;
	char text[MAX_GOT][256];
	unsigned flags[MAX_GOT];
	uint32_t tgid[MAX_GOT], part[MAX_GOT];
};

static void collect(void *arg, const struct ttyline *l)
{
	struct got *g = arg;

	if (g->n == MAX_GOT)
		return;
	snprintf(g->text[g->n], sizeof(g->text[0]), "%.*s", (int)l->len, l->text);
	g->flags[g->n] = l->flags;
	g->tgid[g->n] = l->hdr->tgid;
	g->part[g->n] = l->part;
	g->n++;
}

static uint64_t ts = 1000;

/* A read of n bytes (asked: the read's size) by tgid/tid in session sid. */
static void rd(struct ttyline_table *t, uint32_t tgid, uint32_t tid, uint32_t flags,
	       const char *data, size_t n, uint32_t asked)
{
	struct sa_event_hdr h = { .type = SA_EV_TTY,
				  .flags = flags,
				  .ts = ts,
				  .target = 1,
				  .sid = 100,
				  .tgid = tgid,
				  .pid = tid };
	struct capture_event ev = { .hdr = &h, .text = data, .text_len = n, .tty = 136 << 20,
				    .asked = asked };

	ts++;
	ttyline_read(t, &ev);
}

#define CANON SA_F_TTY_CANON

static void test_ttyline_canonical_lines(void)
{
	struct ttyline_table *t;
	struct got g = { 0 };
	const char *line = "read by bytes\n";
	size_t i;

	UNIT_CHECK(ttyline_table_new(4096, collect, &g, &t) == 0);
	/* A whole line per read, as dash and cat read. */
	rd(t, 10, 10, CANON, "echo one\n", 9, 8192);
	/* Byte by byte, as the read builtin reads. */
	for (i = 0; i < strlen(line); i++)
		rd(t, 10, 10, CANON, line + i, 1, 1);
	/* Ctrl-D after text: a short read without LF ends the line. */
	rd(t, 10, 10, CANON, "no newline", 10, 8192);
	/* Byte by byte then Ctrl-D: the empty read ends it. */
	rd(t, 10, 10, CANON, "a", 1, 1);
	rd(t, 10, 10, CANON, "b", 1, 1);
	rd(t, 10, 10, CANON, "", 0, 1);
	/* An empty line is no line. */
	rd(t, 10, 10, CANON, "\n", 1, 8192);
	UNIT_CHECK(g.n == 4);
	UNIT_CHECK_STR(g.text[0], "echo one");
	UNIT_CHECK_STR(g.text[1], "read by bytes");
	UNIT_CHECK_STR(g.text[2], "no newline");
	UNIT_CHECK_STR(g.text[3], "ab");
	UNIT_CHECK(g.flags[0] == 0 && g.flags[3] == 0);
	ttyline_table_free(t);
}

static void test_ttyline_echo_off_is_withheld(void)
{
	struct ttyline_table *t;
	struct got g = { 0 };

	ttyline_table_new(4096, collect, &g, &t);
	rd(t, 10, 10, CANON | SA_F_TTY_NOECHO, "hunter2\n", 8, 8192);
	UNIT_CHECK(g.n == 1);
	UNIT_CHECK_STR(g.text[0], TTYLINE_WITHHELD);
	UNIT_CHECK(g.flags[0] == TTYLINE_ECHO_OFF);
	/* Raw mode without echo is a line editor echoing itself: kept. */
	rd(t, 10, 10, SA_F_TTY_NOECHO, "ls\r", 3, 1);
	UNIT_CHECK(g.n == 2);
	UNIT_CHECK_STR(g.text[1], "ls");
	ttyline_table_free(t);
}

static void test_ttyline_raw_mode_keys_applied(void)
{
	struct ttyline_table *t;
	struct got g = { 0 };
	const char *keys = "echo helo\x1b[Dl\recho a\x1b[Ab\r";
	size_t i;

	ttyline_table_new(4096, collect, &g, &t);
	/* One byte per read, as busybox ash reads. */
	for (i = 0; i < strlen(keys); i++)
		rd(t, 20, 20, 0, keys + i, 1, 1);
	UNIT_CHECK(g.n == 2);
	UNIT_CHECK_STR(g.text[0], "echo hello");
	UNIT_CHECK(g.flags[0] == 0);
	UNIT_CHECK_STR(g.text[1], "echo ab");
	UNIT_CHECK(g.flags[1] == TTYLINE_INEXACT);
	/* A paste: several lines in one read, numbered within it. */
	rd(t, 20, 20, 0, "l1\rl2\rl3\r", 9, 4096);
	UNIT_CHECK(g.n == 5);
	UNIT_CHECK_STR(g.text[4], "l3");
	UNIT_CHECK(g.part[2] == 0 && g.part[3] == 1 && g.part[4] == 2);
	ttyline_table_free(t);
}

static void test_ttyline_processes_have_their_own_lines(void)
{
	struct ttyline_table *t;
	struct got g = { 0 };
	struct sa_event_hdr ex = { .type = SA_EV_EXIT, .target = 1, .sid = 100, .tgid = 31,
				   .pid = 31 };

	ttyline_table_new(4096, collect, &g, &t);
	rd(t, 30, 30, 0, "shell li", 8, 1);
	rd(t, 31, 31, CANON, "cat's", 5, 5);
	rd(t, 30, 30, 0, "ne\r", 3, 1);
	UNIT_CHECK(g.n == 1);
	UNIT_CHECK_STR(g.text[0], "shell line");
	UNIT_CHECK(ttyline_count(t) == 2);
	/* The unfinished line of a process that exits is sent, once. */
	ttyline_exit(t, &ex);
	UNIT_CHECK(g.n == 2);
	UNIT_CHECK_STR(g.text[1], "cat's");
	UNIT_CHECK(g.tgid[1] == 31);
	UNIT_CHECK(ttyline_count(t) == 1);
	ttyline_exit(t, &ex);
	UNIT_CHECK(g.n == 2);
	ttyline_end_target(t, 1);
	UNIT_CHECK(ttyline_count(t) == 0);
	ttyline_table_free(t);
}

static void test_ttyline_holds_what_readline_may_send(void)
{
	struct ttyline_table *t;
	struct got g = { 0 };
	struct sa_event_hdr rl = { .type = SA_EV_LINE, .flags = SA_F_RECOVERED, .target = 1,
				   .sid = 100, .tgid = 40, .pid = 40 };
	struct sa_event_hdr other = { .type = SA_EV_EXEC, .target = 1, .sid = 100, .tgid = 41,
				      .pid = 41 };
	struct sa_event_hdr elsewhere = other;
	struct capture_event ev = { .hdr = &rl, .text = "echo dup", .text_len = 8 };

	elsewhere.sid = 200;
	ttyline_table_new(4096, collect, &g, &t);
	/* The line of a readline call that began before the probes: its
	 * reads had no readline state. The recovered line drops it. */
	rd(t, 40, 40, SA_F_TTY_NO_RL, "echo dup\r", 9, 1);
	UNIT_CHECK(g.n == 0);
	rl.ts = ts++;
	ttyline_before(t, &ev);
	UNIT_CHECK(g.n == 0);
	/* Not readline's: sent before the next event of its session... */
	rd(t, 40, 40, SA_F_TTY_NO_RL, "echo mine\r", 10, 1);
	ev.hdr = &elsewhere;
	ttyline_before(t, &ev);
	UNIT_CHECK(g.n == 0);
	ev.hdr = &other;
	ttyline_before(t, &ev);
	UNIT_CHECK(g.n == 1);
	UNIT_CHECK_STR(g.text[0], "echo mine");
	/* ...or before its stream's next line, or after TTYLINE_HOLD_NS. */
	rd(t, 40, 40, SA_F_TTY_NO_RL, "a\r", 2, 1);
	rd(t, 40, 40, SA_F_TTY_NO_RL, "b\r", 2, 1);
	UNIT_CHECK(g.n == 2);
	ttyline_tick(t, ts + TTYLINE_HOLD_NS / 2);
	UNIT_CHECK(g.n == 2);
	ttyline_tick(t, ts + TTYLINE_HOLD_NS);
	UNIT_CHECK(g.n == 3);
	UNIT_CHECK_STR(g.text[1], "a");
	UNIT_CHECK_STR(g.text[2], "b");
	/* A thread with readline state had its line read by something
	 * else: never held. Canonical lines are never readline's. */
	rd(t, 40, 40, 0, "c\r", 2, 1);
	rd(t, 40, 40, CANON | SA_F_TTY_NO_RL, "d\n", 2, 8192);
	UNIT_CHECK(g.n == 5);
	/* A recovered line of another text (a program that calls
	 * rl_deprep_terminal itself with a line of its choice) does not take
	 * the held one's place: both go out. Nor does it clear an unfinished
	 * line it does not begin with. */
	rd(t, 40, 40, SA_F_TTY_NO_RL, "echo hidden\r", 12, 1);
	UNIT_CHECK(g.n == 5);
	ev = (struct capture_event){ .hdr = &rl, .text = "ls", .text_len = 2 };
	rl.ts = ts++;
	ttyline_before(t, &ev);
	UNIT_CHECK(g.n == 6);
	UNIT_CHECK_STR(g.text[5], "echo hidden");
	rd(t, 40, 40, SA_F_TTY_NO_RL, "echo par", 8, 1);
	rl.ts = ts++;
	ttyline_before(t, &ev);
	rd(t, 40, 40, SA_F_TTY_NO_RL, "tial\r", 5, 1);
	ttyline_tick(t, ts + 2 * TTYLINE_HOLD_NS);
	UNIT_CHECK(g.n == 7);
	UNIT_CHECK_STR(g.text[6], "echo partial");
	ttyline_table_free(t);
}

static void test_ttyline_bounded(void)
{
	struct ttyline_table *t;
	struct got g = { 0 };
	static char big[4096];
	uint32_t i;

	ttyline_table_new(100, collect, &g, &t);
	memset(big, 'x', sizeof(big));
	rd(t, 50, 50, CANON, big, sizeof(big), 8192);
	UNIT_CHECK(g.n == 1 && strlen(g.text[0]) == 100);
	UNIT_CHECK(g.flags[0] == TTYLINE_TRUNCATED);
	/* Bytes the kernel could not keep: truncated, and inexact in raw mode. */
	{
		struct sa_event_hdr h = { .type = SA_EV_TTY,
					  .flags = SA_F_TRUNCATED,
					  .ts = ts,
					  .target = 1,
					  .sid = 100,
					  .tgid = 51,
					  .pid = 51 };
		struct capture_event ev = { .hdr = &h, .text = "ab\r", .text_len = 3, .lost = 9000,
					    .asked = 65536 };

		ts++;
		ttyline_read(t, &ev);
		UNIT_CHECK(g.n == 2);
		UNIT_CHECK(g.flags[1] == (TTYLINE_TRUNCATED | TTYLINE_INEXACT));
	}
	/* More readers than streams: the oldest are sent and closed. */
	for (i = 0; i < TTYLINE_MAX_STREAMS + 10; i++)
		rd(t, 1000 + i, 1000 + i, 0, "p", 1, 1);
	UNIT_CHECK(ttyline_count(t) == TTYLINE_MAX_STREAMS);
	UNIT_CHECK(g.n >= 2 + 10); /* (g keeps up to MAX_GOT, more than that) */
	ttyline_table_free(t);
}

/* A read of a session's stdin pipe by process tgid of session sid, with
 * header flags more: n bytes, skipped bytes not recorded before it, lost
 * after it. */
static void rd_stdin_by(struct ttyline_table *t, uint32_t tgid, uint32_t sid, uint32_t more,
			const char *data, size_t n, uint32_t skipped, uint32_t lost)
{
	struct sa_event_hdr h = { .type = SA_EV_TTY,
				  .flags = SA_F_TTY_STDIN | (lost ? SA_F_TRUNCATED : 0) | more,
				  .ts = ts,
				  .target = 1,
				  .sid = sid,
				  .tgid = tgid,
				  .pid = tgid };
	struct capture_event ev = { .hdr = &h,
				    .text = data,
				    .text_len = n,
				    .tty = 0,
				    .asked = 65536,
				    .lost = lost,
				    .skipped = skipped };

	ts++;
	ttyline_read(t, &ev);
}

/* rd_stdin_by process 70 of session 100. */
static void rd_stdin(struct ttyline_table *t, const char *data, size_t n, uint32_t skipped,
		     uint32_t lost)
{
	rd_stdin_by(t, 70, 100, 0, data, n, skipped, lost);
}

static void test_ttyline_stdin_lines(void)
{
	struct ttyline_table *t;
	struct got g = { 0 };
	struct sa_event_hdr exit = { .type = SA_EV_EXIT, .target = 1, .tgid = 70, .pid = 70 };

	UNIT_CHECK(ttyline_table_new(4096, collect, &g, &t) == 0);
	/* A short read is no end of line (a pipe has no line discipline),
	 * nor are control characters or a CR: only LF. */
	rd_stdin(t, "echo a", 6, 0, 0);
	rd_stdin(t, "b\x7f\r\necho c\n\nx", 13, 0, 0);
	UNIT_CHECK(g.n == 2);
	UNIT_CHECK_STR(g.text[0], "echo ab\x7f\r");
	UNIT_CHECK(g.flags[0] == TTYLINE_STDIN);
	UNIT_CHECK_STR(g.text[1], "echo c");
	UNIT_CHECK(g.part[0] == 0 && g.part[1] == 1);
	/* Bytes not recorded before a read: the line being read ends, cut,
	 * and a line says how many. */
	rd_stdin(t, "yz\n", 3, 1234, 0);
	UNIT_CHECK(g.n == 5);
	UNIT_CHECK_STR(g.text[2], "x");
	UNIT_CHECK(g.flags[2] == (TTYLINE_STDIN | TTYLINE_TRUNCATED));
	UNIT_CHECK_STR(g.text[3], "[not recorded: 1234 bytes of stdin]");
	UNIT_CHECK(g.flags[3] == (TTYLINE_STDIN | TTYLINE_TRUNCATED));
	UNIT_CHECK_STR(g.text[4], "yz");
	UNIT_CHECK(g.flags[4] == TTYLINE_STDIN);
	/* Bytes past what a read keeps: counted after its data. */
	rd_stdin(t, "ab\ncd", 5, 0, 70000);
	UNIT_CHECK(g.n == 8);
	UNIT_CHECK_STR(g.text[5], "ab");
	UNIT_CHECK_STR(g.text[6], "cd");
	UNIT_CHECK(g.flags[6] == (TTYLINE_STDIN | TTYLINE_TRUNCATED));
	UNIT_CHECK_STR(g.text[7], "[not recorded: 70000 bytes of stdin]");
	/* End of input ends the line; a count alone at the end (the reader's
	 * exit, or its end of input) is a line too. */
	rd_stdin(t, "last", 4, 0, 0);
	rd_stdin(t, "", 0, 0, 0);
	UNIT_CHECK(g.n == 9);
	UNIT_CHECK_STR(g.text[8], "last");
	UNIT_CHECK(g.flags[8] == (TTYLINE_STDIN | TTYLINE_NO_NEWLINE));
	rd_stdin(t, "", 0, 99, 0);
	UNIT_CHECK(g.n == 10);
	UNIT_CHECK_STR(g.text[9], "[not recorded: 99 bytes of stdin]");
	/* At exit, the unfinished line is sent. */
	rd_stdin(t, "unfinished", 10, 0, 0);
	ttyline_exit(t, &exit);
	UNIT_CHECK(g.n == 11);
	UNIT_CHECK_STR(g.text[10], "unfinished");
	UNIT_CHECK(g.flags[10] == (TTYLINE_STDIN | TTYLINE_NO_NEWLINE));
	UNIT_CHECK(ttyline_count(t) == 0);
	ttyline_table_free(t);
}

/* Process 80 of session sid runs a program. */
static void exec_in(struct ttyline_table *t, uint32_t sid)
{
	struct sa_event_hdr h = {
		.type = SA_EV_EXEC, .ts = ts, .target = 1, .sid = sid, .tgid = 80, .pid = 80
	};
	struct capture_event ev = { .hdr = &h };

	ts++;
	ttyline_before(t, &ev);
}

/* Part of a line read from a stdin may act before its newline comes
 * (read -N 100 cmd; eval "$cmd"): it ends a line when its reader goes on
 * to something else, when a program starts in its session, or after
 * TTYLINE_HOLD_NS without more; what follows is a line of its own. */
static void test_ttyline_stdin_partial_lines_end(void)
{
	struct ttyline_table *t;
	struct got g = { 0 };
	uint64_t at;

	UNIT_CHECK(ttyline_table_new(4096, collect, &g, &t) == 0);
	/* The kernel says the reader went on (SA_F_TTY_BREAK). */
	rd_stdin(t, "echo x >/etc/passwd", 19, 0, 0);
	UNIT_CHECK(g.n == 0);
	rd_stdin_by(t, 70, 100, SA_F_TTY_BREAK, "; b", 3, 0, 0);
	UNIT_CHECK(g.n == 1);
	UNIT_CHECK_STR(g.text[0], "echo x >/etc/passwd; b");
	/* Marked: a reader can join it to the rest. */
	UNIT_CHECK(g.flags[0] == (TTYLINE_STDIN | TTYLINE_NO_NEWLINE));
	rd_stdin(t, "rest\n", 5, 0, 0);
	UNIT_CHECK(g.n == 2);
	UNIT_CHECK_STR(g.text[1], "rest");
	UNIT_CHECK(g.flags[1] == TTYLINE_STDIN);
	/* A program starts in another session: nothing; in its own: the
	 * part read is a line first. */
	rd_stdin(t, "id", 2, 0, 0);
	exec_in(t, 200);
	UNIT_CHECK(g.n == 2);
	exec_in(t, 100);
	UNIT_CHECK(g.n == 3);
	UNIT_CHECK_STR(g.text[2], "id");
	UNIT_CHECK(g.flags[2] == (TTYLINE_STDIN | TTYLINE_NO_NEWLINE));
	exec_in(t, 100);
	UNIT_CHECK(g.n == 3);
	/* Time without more of it. */
	at = ts;
	rd_stdin_by(t, 71, 300, 0, "slow", 4, 0, 0);
	ttyline_tick(t, at + TTYLINE_HOLD_NS - 1);
	UNIT_CHECK(g.n == 3);
	ttyline_tick(t, at + TTYLINE_HOLD_NS);
	UNIT_CHECK(g.n == 4);
	UNIT_CHECK_STR(g.text[3], "slow");
	UNIT_CHECK(g.flags[3] == (TTYLINE_STDIN | TTYLINE_NO_NEWLINE));
	UNIT_CHECK(g.tgid[3] == 71);
	ttyline_tick(t, at + 2 * TTYLINE_HOLD_NS);
	UNIT_CHECK(g.n == 4);
	ttyline_table_free(t);
}

/* Two lines out of one read never share its part: the entry's key is the
 * read's time, thread and part (a line sent later, at exit or after a
 * while, must not take the key of the line before it). */
static void test_ttyline_parts_of_one_read(void)
{
	struct ttyline_table *t;
	struct got g = { 0 };
	struct sa_event_hdr exit = { .type = SA_EV_EXIT, .target = 1, .tgid = 70, .pid = 70 };

	UNIT_CHECK(ttyline_table_new(4096, collect, &g, &t) == 0);
	rd_stdin(t, "abc\ndef", 7, 0, 0);
	ttyline_exit(t, &exit);
	UNIT_CHECK(g.n == 2);
	UNIT_CHECK_STR(g.text[1], "def");
	UNIT_CHECK(g.part[0] == 0 && g.part[1] == 1);
	rd(t, 90, 90, CANON, "ghi\njk", 6, 6);
	exit.tgid = exit.pid = 90;
	ttyline_exit(t, &exit);
	UNIT_CHECK(g.n == 4);
	UNIT_CHECK_STR(g.text[3], "jk");
	UNIT_CHECK(g.part[2] == 0 && g.part[3] == 1);
	ttyline_table_free(t);
}

/* Bytes splice(2) or sendfile(2) took from the terminal: the line being
 * typed ends there, cut, and a line says how many; the held line (maybe
 * readline's) goes first. */
static void test_ttyline_bytes_moved_from_the_terminal_are_a_line(void)
{
	struct ttyline_table *t;
	struct got g = { 0 };
	struct sa_event_hdr h = { .type = SA_EV_TTY,
				  .flags = SA_F_TTY_MOVED | SA_F_TTY_CANON,
				  .ts = ts,
				  .target = 1,
				  .sid = 100,
				  .tgid = 10,
				  .pid = 10 };
	struct capture_event ev = { .hdr = &h, .tty = 136 << 20, .lost = 4096 };
	char want[128];

	UNIT_CHECK(ttyline_table_new(4096, collect, &g, &t) == 0);
	rd(t, 10, 10, CANON, "ec", 2, 2);
	ttyline_read(t, &ev);
	UNIT_CHECK(g.n == 2);
	UNIT_CHECK_STR(g.text[0], "ec");
	UNIT_CHECK(g.flags[0] == TTYLINE_TRUNCATED);
	snprintf(want, sizeof(want), TTYLINE_MOVED, (uint32_t)4096);
	UNIT_CHECK_STR(g.text[1], want);
	UNIT_CHECK_STR(g.text[1], "[not recorded: 4096 bytes taken from the terminal by splice, "
				  "sendfile or io_uring]");
	UNIT_CHECK(g.flags[1] == TTYLINE_TRUNCATED);
	UNIT_CHECK(g.part[0] == 0 && g.part[1] == 1);
	/* Raw mode, a thread without readline state: its held line first. */
	rd(t, 10, 10, SA_F_TTY_NO_RL, "ls\r", 3, 1);
	UNIT_CHECK(g.n == 2);
	h.flags = SA_F_TTY_MOVED;
	ttyline_read(t, &ev);
	UNIT_CHECK(g.n == 4);
	UNIT_CHECK_STR(g.text[2], "ls");
	UNIT_CHECK_STR(g.text[3], want);
	/* An io_submit read: how many bytes it asked for. */
	h.flags = SA_F_TTY_AIO | SA_F_TTY_CANON;
	ev.lost = 0;
	ev.asked = 4096;
	ttyline_read(t, &ev);
	UNIT_CHECK(g.n == 5);
	UNIT_CHECK_STR(g.text[4], "[not recorded: a read of up to 4096 bytes from the terminal by "
				  "io_submit]");
	UNIT_CHECK(g.flags[4] == TTYLINE_TRUNCATED);
	ttyline_table_free(t);
}

/* An io_submit(2) read of the session's stdin (a record of no data): the
 * line being read ends, cut, then what was skipped before it, then a line
 * that says how many bytes it asked for. */
static void test_ttyline_stdin_aio_read_is_a_line(void)
{
	struct ttyline_table *t;
	struct got g = { 0 };

	UNIT_CHECK(ttyline_table_new(4096, collect, &g, &t) == 0);
	rd_stdin(t, "echo a", 6, 0, 0);
	rd_stdin_by(t, 70, 100, SA_F_TTY_AIO, "", 0, 5, 0);
	UNIT_CHECK(g.n == 3);
	UNIT_CHECK_STR(g.text[0], "echo a");
	UNIT_CHECK(g.flags[0] == (TTYLINE_STDIN | TTYLINE_TRUNCATED));
	UNIT_CHECK_STR(g.text[1], "[not recorded: 5 bytes of stdin]");
	UNIT_CHECK_STR(g.text[2],
		       "[not recorded: a read of up to 65536 bytes of stdin by io_submit]");
	UNIT_CHECK(g.flags[2] == (TTYLINE_STDIN | TTYLINE_TRUNCATED));
	UNIT_CHECK(g.part[0] == 0 && g.part[1] == 1 && g.part[2] == 2);
	/* Then the stream goes on. */
	rd_stdin(t, "echo b\n", 7, 0, 0);
	UNIT_CHECK(g.n == 4);
	UNIT_CHECK_STR(g.text[3], "echo b");
	UNIT_CHECK(g.flags[3] == TTYLINE_STDIN);
	ttyline_table_free(t);
}

/* What the container's terminal rate counted: a line saying how many
 * before the line of the record that carries the count (bytes of the
 * container's terminals in a terminal's record, io_submit reads in an
 * io_submit's, of a terminal or of a stdin), or alone at a process's exit
 * (SA_F_TTY_COUNT); the line of a thread whose reads were past it ends,
 * cut (SA_F_TTY_CUT). */
static void test_ttyline_reads_past_the_terminal_rate_are_counted(void)
{
	struct ttyline_table *t;
	struct got g = { 0 };
	struct sa_event_hdr h = { .type = SA_EV_TTY,
				  .flags = SA_F_TTY_AIO,
				  .ts = 5000,
				  .target = 1,
				  .sid = 100,
				  .tgid = 10 };
	struct capture_event ev = { .hdr = &h, .tty = 136 << 20, .asked = 4096, .calls = 19901 };
	const char *past = "[not recorded: 19901 reads of a terminal or stdin by io_submit, past "
			   "their rate]";

	UNIT_CHECK(ttyline_table_new(4096, collect, &g, &t) == 0);
	ttyline_read(t, &ev);
	UNIT_CHECK(g.n == 2);
	UNIT_CHECK_STR(g.text[0], past);
	UNIT_CHECK(g.flags[0] == TTYLINE_TRUNCATED);
	UNIT_CHECK_STR(g.text[1], "[not recorded: a read of up to 4096 bytes from the terminal by "
				  "io_submit]");
	UNIT_CHECK(g.part[0] == 0 && g.part[1] == 1);
	/* Of a stdin: its own skipped bytes, the count, then the read. */
	h.flags = SA_F_TTY_AIO | SA_F_TTY_STDIN;
	ev.tty = 0;
	ev.skipped = 7;
	ttyline_read(t, &ev);
	UNIT_CHECK(g.n == 5);
	UNIT_CHECK_STR(g.text[2], "[not recorded: 7 bytes of stdin]");
	UNIT_CHECK_STR(g.text[3], past);
	UNIT_CHECK(g.flags[3] == (TTYLINE_STDIN | TTYLINE_TRUNCATED));
	UNIT_CHECK_STR(g.text[4],
		       "[not recorded: a read of up to 4096 bytes of stdin by io_submit]");
	/* A terminal read that carries the bytes of the container's
	 * terminals counted before it, by a thread whose own reads were past
	 * the rate: its line so far, cut; the count; then what it read. */
	rd(t, 12, 12, CANON, "ec", 2, 1);
	h.flags = SA_F_TTY_CANON | SA_F_TTY_CUT;
	h.tgid = 12;
	ev.tty = 136 << 20;
	ev.text = "ls\n";
	ev.text_len = 3;
	ev.asked = 3;
	ev.skipped = 2000000;
	ev.calls = 0;
	ttyline_read(t, &ev);
	UNIT_CHECK(g.n == 8);
	UNIT_CHECK_STR(g.text[5], "ec");
	UNIT_CHECK(g.flags[5] == TTYLINE_TRUNCATED && g.tgid[5] == 12);
	UNIT_CHECK_STR(g.text[6],
		       "[not recorded: 2000000 bytes read from the container's terminals, "
		       "past their rate]");
	UNIT_CHECK(g.flags[6] == TTYLINE_TRUNCATED);
	UNIT_CHECK_STR(g.text[7], "ls");
	UNIT_CHECK(g.flags[7] == 0);
	/* The counts alone, at an exit: no read of its own. */
	h.flags = SA_F_TTY_COUNT;
	h.tgid = 11;
	ev.text = NULL;
	ev.text_len = 0;
	ev.tty = 0;
	ev.asked = 0;
	ev.skipped = 5;
	ev.calls = 3;
	ttyline_read(t, &ev);
	UNIT_CHECK(g.n == 10);
	UNIT_CHECK_STR(g.text[8],
		       "[not recorded: 5 bytes read from the container's terminals, past "
		       "their rate]");
	UNIT_CHECK_STR(g.text[9],
		       "[not recorded: 3 reads of a terminal or stdin by io_submit, past "
		       "their rate]");
	UNIT_CHECK(g.tgid[9] == 11 && g.flags[9] == TTYLINE_TRUNCATED);
	/* A thread whose reads went past the rate while another's record
	 * carried the count: its line ends at its next record all the same. */
	rd(t, 13, 13, CANON, "ab", 2, 1);
	h.flags = SA_F_TTY_CANON | SA_F_TTY_CUT;
	h.tgid = 13;
	ev.text = "c\n";
	ev.text_len = 2;
	ev.tty = 136 << 20;
	ev.asked = 2;
	ev.skipped = 0;
	ev.calls = 0;
	ttyline_read(t, &ev);
	UNIT_CHECK(g.n == 12);
	UNIT_CHECK_STR(g.text[10], "ab");
	UNIT_CHECK(g.flags[10] == TTYLINE_TRUNCATED && g.tgid[10] == 13);
	UNIT_CHECK_STR(g.text[11], "c");
	UNIT_CHECK(g.flags[11] == 0);
	/* Nothing counted: a read's line alone. */
	h.flags = SA_F_TTY_AIO;
	h.tgid = 10;
	ev.tty = 136 << 20;
	ev.asked = 1;
	ev.skipped = 0;
	ev.calls = 0;
	ttyline_read(t, &ev);
	UNIT_CHECK(g.n == 13);
	UNIT_CHECK_STR(g.text[12], "[not recorded: a read of up to 1 bytes from the terminal by "
				   "io_submit]");
	ttyline_table_free(t);
}

UNIT_MAIN(UNIT_TEST(test_ttyline_canonical_lines), UNIT_TEST(test_ttyline_echo_off_is_withheld),
	  UNIT_TEST(test_ttyline_raw_mode_keys_applied),
	  UNIT_TEST(test_ttyline_processes_have_their_own_lines),
	  UNIT_TEST(test_ttyline_holds_what_readline_may_send), UNIT_TEST(test_ttyline_bounded),
	  UNIT_TEST(test_ttyline_stdin_lines), UNIT_TEST(test_ttyline_stdin_partial_lines_end),
	  UNIT_TEST(test_ttyline_parts_of_one_read),
	  UNIT_TEST(test_ttyline_bytes_moved_from_the_terminal_are_a_line),
	  UNIT_TEST(test_ttyline_stdin_aio_read_is_a_line),
	  UNIT_TEST(test_ttyline_reads_past_the_terminal_rate_are_counted))
