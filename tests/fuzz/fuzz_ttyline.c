// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: what a process reads from its terminal is typed by the
 * audited user, any bytes in any mode. The input is a series of reads, each
 * a header (mode flags, reader, length) and its bytes, with recovered
 * readline lines, exits and ticks between them, for ttyline and lineedit;
 * reads of a session's stdin pipe too.
 * Besides what ASan and UBSan catch (leaks included): every line is at most
 * the maximum or the withheld text, its flags are known ones, and a
 * withheld line never carries what was typed.
 *
 * The modules are compiled in here rather than linked: the fuzz targets
 * link one list of modules (FUZZ_MODULES), which need not know these.
 * make fuzz runs it from seeds of tests/fuzz/run.sh. */
#include <stdint.h>
#include <string.h>

// NOLINTBEGIN(bugprone-suspicious-include): compiled in on purpose (see above)
#include "../../node-agent/lineedit.c"
#include "../../node-agent/ttyline.c"
// NOLINTEND(bugprone-suspicious-include)

#define FUZZ_CHECK(c) ((c) ? (void)0 : __builtin_trap())
#define FUZZ_LINE_MAX 64

static void fuzz_line(void *arg, const struct ttyline *l)
{
	(void)arg;
	FUZZ_CHECK(l->hdr && (l->text || l->len == 0));
	FUZZ_CHECK(!(l->flags & ~(TTYLINE_TRUNCATED | TTYLINE_INEXACT | TTYLINE_ECHO_OFF |
				  TTYLINE_STDIN | TTYLINE_NO_NEWLINE)));
	/* Only a stdin line ends before its newline. */
	FUZZ_CHECK(!(l->flags & TTYLINE_NO_NEWLINE) || (l->flags & TTYLINE_STDIN));
	if (l->flags & TTYLINE_ECHO_OFF)
		FUZZ_CHECK(l->len == strlen(TTYLINE_WITHHELD) &&
			   !memcmp(l->text, TTYLINE_WITHHELD, l->len));
	else
		FUZZ_CHECK(l->len <= FUZZ_LINE_MAX);
	FUZZ_CHECK(l->len > 0 || (l->flags & TTYLINE_INEXACT));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ttyline_table *t;
	uint64_t ts = 1;
	size_t i = 0;

	if (ttyline_table_new(FUZZ_LINE_MAX, fuzz_line, NULL, &t))
		return 0;
	while (i + 3 <= size) {
		uint8_t op = data[i], who = data[i + 1], n = data[i + 2];
		struct sa_event_hdr h = { .type = SA_EV_TTY,
					  .ts = ts,
					  .target = 1 + (who >> 7),
					  .sid = 100 + (who & 1),
					  .tgid = 10 + (who & 3),
					  .pid = 10 + (who & 7) };
		struct capture_event ev = { .hdr = &h };

		ts++;
		i += 3;
		switch (op & 3) {
		case 0: /* a read: its mode from op, n bytes of data */
			h.flags =
				(op & 0x4 ? SA_F_TTY_CANON : 0) | (op & 0x8 ? SA_F_TTY_NOECHO : 0) |
				(op & 0x10 ? SA_F_TTY_NO_RL : 0) | (op & 0x20 ? SA_F_TRUNCATED : 0);
			if (n > size - i)
				n = (uint8_t)(size - i);
			ev.text = (const char *)data + i;
			ev.text_len = n;
			ev.asked = op & 0x40 ? n : (uint32_t)n + 1;
			ev.lost = op & 0x20 ? 100 : 0;
			ev.tty = 136u << 20;
			/* A session's stdin pipe: its own stream, bytes skipped
			 * before the read. */
			if (op & 0x80) {
				h.flags = SA_F_TTY_STDIN | (op & 0x20 ? SA_F_TRUNCATED : 0) |
					  (op & 0x10 ? SA_F_TTY_BREAK : 0);
				ev.tty = 0;
				ev.skipped = op & 0x40 ? (uint32_t)n * 1000 : 0;
			}
			i += n;
			ttyline_read(t, &ev);
			break;
		case 1: /* another event of the session: a readline line, maybe
			 * recovered, or an exec */
			h.type = op & 0x8 ? SA_EV_EXEC : SA_EV_LINE;
			h.flags = op & 0x4 ? SA_F_RECOVERED : 0;
			ttyline_before(t, &ev);
			break;
		case 2: /* the process exits */
			h.type = SA_EV_EXIT;
			ttyline_before(t, &ev);
			ttyline_exit(t, &h);
			break;
		case 3: /* time passes; or the target goes */
			if (op & 0x4)
				ttyline_end_target(t, h.target);
			else
				ttyline_tick(t, ts + (uint64_t)n * 10000000ull);
			break;
		}
	}
	FUZZ_CHECK(ttyline_count(t) <= TTYLINE_MAX_STREAMS);
	ttyline_table_free(t);
	return 0;
}
