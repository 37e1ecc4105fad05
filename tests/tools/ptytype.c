// SPDX-License-Identifier: Apache-2.0
/* ptytype: runs a command on a new pty and types lines into it, like a
 * person at a terminal but exactly. For the BPF and e2e tests.
 *
 *   ptytype [--prompt STR] [--lines FILE] [--nul] [--quote] [--paste]
 *           [--fast] [--echo] [--attach] [--size COLSxROWS]
 *           [--ready SHELLCMD] [--timeout SEC] [--log FILE]
 *           [--pidfile FILE] [--delay MS] [--prompt-last] [--newline]
 *           [--until SHELLCMD [--then N]] -- CMD [ARG...]
 *
 * --delay: types line N MS*N milliseconds after the first (output still
 * read): a paced burst, e.g. one long enough to do something in its middle.
 * --ready: before the first line, run SHELLCMD with /bin/sh until it
 * succeeds (e.g. until a probe is attached).
 * --until: after each line, at most once a second, run SHELLCMD with
 * /bin/sh; once it succeeded, type N more lines (--then, 0) and end there
 * (Ctrl-D), and write "typed K lines" to stdout: typing that must go on
 * across something whose length depends on the machine (a rollout), for
 * as long as it takes and no longer.
 * Waits for the prompt (when given) before the first line and, without
 * --fast, before each next line; then types Ctrl-D and waits for the
 * command to exit, whose status it returns. A command that exits after the
 * last line (which was `exit`) needs no Ctrl-D. --quote prefixes control
 * bytes with Ctrl-V (readline's quoted-insert); --paste sends each line as
 * a bracketed paste. All output of the command is read continuously (so it
 * never blocks on a full pty) and copied to --log.
 *
 * For a shell at the far end of kubectl exec -it, kubectl attach or
 * kubectl debug -it, whose prompt may be redrawn at any time (readline
 * does on SIGWINCH):
 * --size: the pty's size before CMD starts [200x50]; 0x0 leaves it unset,
 * and kubectl then resizes nothing remotely, so the shell gets no SIGWINCH.
 * --echo: after each line wait for its echo, the newline that ends it and
 * only then the prompt (a redrawn prompt is not taken for the next one);
 * for lines that echo as typed (printable, shorter than the terminal).
 * --prompt-last: a prompt counts only when nothing but escape sequences
 * follows it: a line editor that redraws the prompt with the line (busybox
 * ash recalling a history line) is not taken for the next prompt, which
 * would type the next line one command early.
 * --newline: the shell echoes the Enter that ends each line as a newline
 * (a line editor does, and a canonical tty with echo on): after a line,
 * a prompt counts only past the first newline. Output left from before the
 * Enter (the rest of a line editor's redraw, which may end with the prompt
 * when it comes in two reads) is not taken for the next prompt, which
 * would type the next line while the line editor still reads this one.
 * --attach: the shell printed its prompt before CMD started (an attach):
 * the first line is typed without waiting for one, once CMD has put the
 * terminal in raw mode (kubectl does when it connects; typed earlier, the
 * line would be echoed here, by the pty in canonical mode). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

struct pty_state {
	int master;
	pid_t child;
	FILE *log;
	char *tail; /* output since the last line was sent, up to TAIL_MAX */
	size_t tail_len;
	bool child_gone;
	int status;
	double deadline;
};

#define TAIL_MAX (1 << 16)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *msg)
{
	fprintf(stderr, "ptytype: %s\n", msg);
	exit(125);
}

/* The number of --timeout or --delay (seconds or milliseconds), which
 * must be all of arg and not negative. */
static double parse_amount(const char *arg, const char *opt)
{
	char msg[128], *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= 0)) {
		snprintf(msg, sizeof(msg), "%s takes a number not below 0, not '%s'", opt, arg);
		die(msg);
	}
	return v;
}

/* --size COLSxROWS, each from 0 to 0xffff; false when arg is not that. */
static bool parse_size(const char *arg, struct winsize *ws)
{
	unsigned long cols, rows;
	char *end;

	if (*arg < '0' || *arg > '9')
		return false;
	errno = 0;
	cols = strtoul(arg, &end, 10);
	if (errno || *end != 'x' || end[1] < '0' || end[1] > '9')
		return false;
	arg = end + 1;
	rows = strtoul(arg, &end, 10);
	if (errno || *end || cols > 0xffff || rows > 0xffff)
		return false;
	ws->ws_col = (unsigned short)cols;
	ws->ws_row = (unsigned short)rows;
	return true;
}

/* Reads what the command printed, if anything, waiting up to ms. */
static void pump_output(struct pty_state *s, int ms)
{
	struct pollfd p = { .fd = s->master, .events = POLLIN };
	char buf[8192];
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return;
	n = read(s->master, buf, sizeof(buf));
	if (n <= 0) {
		/* EIO: the last process holding the pty's other side is gone. */
		s->child_gone = true;
		return;
	}
	if (s->log)
		fwrite(buf, 1, (size_t)n, s->log);
	if (s->tail_len + (size_t)n > TAIL_MAX) {
		size_t keep = TAIL_MAX / 2;

		if (s->tail_len > keep) {
			memmove(s->tail, s->tail + s->tail_len - keep, keep);
			s->tail_len = keep;
		}
		if ((size_t)n > TAIL_MAX - s->tail_len)
			n = (ssize_t)(TAIL_MAX - s->tail_len);
	}
	memcpy(s->tail + s->tail_len, buf, (size_t)n);
	s->tail_len += (size_t)n;
}

static void check_deadline(struct pty_state *s)
{
	if (now_s() > s->deadline) {
		kill(s->child, SIGKILL);
		die("timed out");
	}
}

/* Waits for `text` echoed and then the prompt after it (with `newline`,
 * after the newline that follows the echo: a prompt redrawn while the line
 * was typed comes before it): the shell has read everything typed and waits
 * again. (Ctrl-D typed earlier, while the tty is in canonical mode between
 * two commands, would be lost.) Returns false when the command exited
 * first and `may_exit` allows it. */
static bool wait_echo_then_prompt(struct pty_state *s, const char *text, size_t n,
				  const char *prompt, bool newline, bool may_exit)
{
	const char *at, *end;

	for (;;) {
		at = s->tail_len >= n ? memmem(s->tail, s->tail_len, text, n) : NULL;
		if (at) {
			at += n;
			end = s->tail + s->tail_len;
			if (newline)
				at = memchr(at, '\n', (size_t)(end - at));
			if (at && memmem(at, (size_t)(end - at), prompt, strlen(prompt)))
				break;
		}
		if (s->child_gone) {
			if (may_exit)
				return false;
			die("command exited before reading all lines");
		}
		check_deadline(s);
		pump_output(s, 100);
	}
	s->tail_len = 0;
	return true;
}

/* Whether the tail from `from` on ends with the prompt, but for escape
 * sequences after it (CSI: ESC [ parameters final byte; a cursor position
 * query, say). */
static bool tail_ends_with(const struct pty_state *s, size_t from, const char *prompt)
{
	size_t n = strlen(prompt), end = s->tail_len, i;

	for (;;) {
		if (end >= from + n && !memcmp(s->tail + end - n, prompt, n))
			return true;
		/* A CSI sequence at the end: strip it and look again. */
		if (!end || s->tail[end - 1] < '@' || s->tail[end - 1] > '~')
			return false;
		for (i = end - 1; i > 0 && ((s->tail[i - 1] >= '0' && s->tail[i - 1] <= '?') ||
					     (s->tail[i - 1] >= ' ' && s->tail[i - 1] <= '/'));
		     i--)
			;
		if (i < 2 || s->tail[i - 1] != '[' || s->tail[i - 2] != '\x1b')
			return false;
		end = i - 2;
	}
}

static bool prompt_last, want_newline;

/* Where in the tail a prompt counts, after the line `text` (n bytes) was
 * typed: past the newline that ends its echo when the line echoes as typed
 * (a line holding the prompt's text, `read -p "$ " x`, echoes it before
 * the real prompt); anywhere when it does not (echo off, control bytes
 * shown as ^X, a wrapped line). -1 while its echo has come but not the
 * newline after it. */
static long prompt_from(const struct pty_state *s, const char *text, size_t n)
{
	const char *at, *nl;

	if (!text || !n || s->tail_len < n || !(at = memmem(s->tail, s->tail_len, text, n)))
		return 0;
	at += n;
	nl = memchr(at, '\n', (size_t)(s->tail + s->tail_len - at));
	return nl ? (long)(nl + 1 - s->tail) : -1;
}

static bool prompt_seen(const struct pty_state *s, const char *text, size_t n, const char *prompt)
{
	long from = prompt_from(s, text, n);
	size_t pn = strlen(prompt);

	if (from < 0)
		return false;
	if (want_newline && text) {
		const char *nl = memchr(s->tail, '\n', s->tail_len);

		if (!nl)
			return false;
		if ((size_t)from < (size_t)(nl + 1 - s->tail))
			from = nl + 1 - s->tail;
	}
	if (prompt_last)
		return tail_ends_with(s, (size_t)from, prompt);
	return s->tail_len - (size_t)from >= pn &&
	       memmem(s->tail + from, s->tail_len - (size_t)from, prompt, pn) != NULL;
}

/* Waits for the prompt after the line `text` (NULL before the first line).
 * Returns false when the command exited first and `may_exit` allows it. */
static bool wait_prompt(struct pty_state *s, const char *text, size_t n, const char *prompt,
			bool may_exit)
{
	while (!prompt_seen(s, text, n, prompt)) {
		if (s->child_gone) {
			if (may_exit)
				return false;
			die("command exited before printing the prompt");
		}
		check_deadline(s);
		pump_output(s, 100);
	}
	s->tail_len = 0;
	return true;
}

/* Waits until the command turned the pty's echo and line editing off. */
static void wait_raw(struct pty_state *s)
{
	struct termios t;

	while (tcgetattr(s->master, &t) || (t.c_lflag & (ICANON | ECHO))) {
		if (s->child_gone)
			die("command exited before it put the terminal in raw mode");
		check_deadline(s);
		pump_output(s, 50);
	}
}

/* Writes all of buf, reading output meanwhile so neither side blocks. */
static void type_bytes(struct pty_state *s, const char *buf, size_t n)
{
	struct pollfd p[1];
	ssize_t w;

	while (n) {
		check_deadline(s);
		p[0].fd = s->master;
		p[0].events = POLLOUT | POLLIN;
		if (poll(p, 1, 100) <= 0)
			continue;
		if (p[0].revents & POLLIN)
			pump_output(s, 0);
		if (!(p[0].revents & POLLOUT))
			continue;
		w = write(s->master, buf, n > 1024 ? 1024 : n);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (w <= 0)
			die("write to the pty failed");
		buf += w;
		n -= (size_t)w;
	}
}

static void type_line(struct pty_state *s, const char *line, size_t n, bool quote, bool paste)
{
	static const char ctrl_v = 0x16;
	size_t i, start = 0;

	if (paste)
		type_bytes(s, "\x1b[200~", 6);
	if (quote) {
		for (i = 0; i < n; i++) {
			unsigned char c = (unsigned char)line[i];

			if (c < 0x20 || c == 0x7f) {
				type_bytes(s, line + start, i - start);
				type_bytes(s, &ctrl_v, 1);
				start = i;
			}
		}
	}
	type_bytes(s, line + start, n - start);
	if (paste)
		type_bytes(s, "\x1b[201~", 6);
	type_bytes(s, "\r", 1);
}

/* True when `sh -c cmd` exits 0. */
static bool run_ready(const char *cmd)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		die("fork failed");
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return false;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);

	if (!f || !buf)
		die("cannot read the lines file");
	for (;;) {
		size_t r;

		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				die("out of memory");
		}
		r = fread(buf + n, 1, cap - n, f);
		if (r == 0)
			break;
		n += r;
	}
	if (f != stdin)
		fclose(f);
	*len = n;
	return buf;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "prompt", required_argument, NULL, 'p' },
		{ "lines", required_argument, NULL, 'l' },
		{ "nul", no_argument, NULL, '0' },
		{ "quote", no_argument, NULL, 'q' },
		{ "paste", no_argument, NULL, 'P' },
		{ "fast", no_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 't' },
		{ "log", required_argument, NULL, 'L' },
		{ "pidfile", required_argument, NULL, 'i' },
		{ "ready", required_argument, NULL, 'r' },
		{ "echo", no_argument, NULL, 'e' },
		{ "attach", no_argument, NULL, 'a' },
		{ "size", required_argument, NULL, 's' },
		{ "delay", required_argument, NULL, 'd' },
		{ "prompt-last", no_argument, NULL, 'Z' },
		{ "newline", no_argument, NULL, 'N' },
		{ "until", required_argument, NULL, 'U' },
		{ "then", required_argument, NULL, 'T' },
		{ 0 },
	};
	const char *ready = NULL, *until_cmd = NULL;
	const char *prompt = NULL, *lines_path = NULL, *log_path = NULL, *pidfile = NULL;
	bool nul = false, quote = false, paste = false, fast = false, echo = false, attach = false;
	bool exited = false;
	struct pty_state s = { .master = -1 };
	struct winsize ws = { .ws_row = 50, .ws_col = 200 };
	double timeout = 120, delay_ms = 0, t_first = 0, eof_at;
	unsigned long nth = 0, then = 0, typed = 0, after = 0;
	double until_next = 0, then_v;
	bool met = false;
	char *lines = NULL;
	size_t lines_len = 0, i, start, last, last_len;
	int c;

	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'p': prompt = optarg; break;
		case 'l': lines_path = optarg; break;
		case '0': nul = true; break;
		case 'q': quote = true; break;
		case 'P': paste = true; break;
		case 'f': fast = true; break;
		case 't': timeout = parse_amount(optarg, "--timeout"); break;
		case 'd': delay_ms = parse_amount(optarg, "--delay"); break;
		case 'L': log_path = optarg; break;
		case 'i': pidfile = optarg; break;
		case 'r': ready = optarg; break;
		case 'e': echo = true; break;
		case 'a': attach = true; break;
		case 'Z': prompt_last = true; break;
		case 'N': want_newline = true; break;
		case 'U': until_cmd = optarg; break;
		case 'T':
			then_v = parse_amount(optarg, "--then");
			then = then_v > 1e9 ? 1000000000ul : (unsigned long)then_v;
			break;
		case 's':
			if (!parse_size(optarg, &ws))
				die("--size takes COLSxROWS, e.g. 80x24 or 0x0");
			break;
		default: return 125;
		}
	}
	if (optind >= argc)
		die("usage: ptytype [options] -- CMD [ARG...]");
	if (lines_path)
		lines = read_file(lines_path, &lines_len);
	s.tail = malloc(TAIL_MAX);
	if (!s.tail)
		die("out of memory");
	if (log_path && !(s.log = fopen(log_path, "wb")))
		die("cannot open the log");
	if (s.log)
		setvbuf(s.log, NULL, _IONBF, 0); /* others watch it grow */
	s.deadline = now_s() + timeout;

	s.child = forkpty(&s.master, NULL, NULL, &ws);
	if (s.child < 0)
		die("forkpty failed");
	if (s.child == 0) {
		execvp(argv[optind], argv + optind);
		perror("ptytype: exec");
		_exit(127);
	}
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");

		if (!f)
			die("cannot write the pid file");
		fprintf(f, "%d\n", (int)s.child);
		fclose(f);
	}
	fcntl(s.master, F_SETFL, fcntl(s.master, F_GETFL) | O_NONBLOCK);

	if (attach)
		wait_raw(&s);
	else if (prompt)
		wait_prompt(&s, NULL, 0, prompt, false);
	while (ready && !run_ready(ready)) {
		check_deadline(&s);
		pump_output(&s, 50);
	}
	for (i = 0, start = 0, last = 0, last_len = 0; i < lines_len; i++) {
		if (lines[i] != (nul ? '\0' : '\n'))
			continue;
		if (met && after++ >= then)
			break;
		if (delay_ms > 0 && start == 0)
			t_first = now_s();
		/* Paced from the first line, not after each: the rate holds
		 * whatever typing a line costs. */
		if (delay_ms > 0 && start > 0) {
			double until = t_first + (double)++nth * delay_ms / 1000;

			while (now_s() < until) {
				check_deadline(&s);
				pump_output(&s, 1 + (int)((until - now_s()) * 1000));
			}
		}
		type_line(&s, lines + start, i - start, quote, paste);
		typed++;
		last = start;
		last_len = i - start;
		start = i + 1;
		/* After the last line the command may exit (the line was `exit`). */
		if (prompt && !fast && echo)
			exited = !wait_echo_then_prompt(&s, lines + last, last_len, prompt, true,
							start >= lines_len);
		else if (prompt && !fast)
			exited = !wait_prompt(&s, lines + last, last_len, prompt,
					      start >= lines_len);
		if (until_cmd && !met && now_s() >= until_next) {
			met = run_ready(until_cmd);
			until_next = now_s() + 1;
		}
	}
	if (until_cmd)
		printf("typed %lu lines\n", typed);
	if (prompt && fast && last_len)
		wait_echo_then_prompt(&s, lines + last, last_len, prompt, false, false);
	if (!exited)
		type_bytes(&s, "\x04", 1);
	eof_at = now_s();
	for (;;) {
		check_deadline(&s);
		if (waitpid(s.child, &s.status, WNOHANG) == s.child)
			break;
		if (s.child_gone) {
			usleep(10000);
			continue;
		}
		pump_output(&s, 100);
		/* A Ctrl-D that met the tty in canonical mode (the shell between
		 * two lines, which a burst can outrun) is lost: type it again. */
		if (!exited && now_s() - eof_at > 5) {
			type_bytes(&s, "\x04", 1);
			eof_at = now_s();
		}
	}
	if (s.log)
		fclose(s.log);
	return WIFEXITED(s.status) ? WEXITSTATUS(s.status) : 128 + WTERMSIG(s.status);
}
