// SPDX-License-Identifier: Apache-2.0
/* libFuzzer target: elfsym on any file. The input is one byte of sparse
 * padding (its low 7 bits: MiB of holes after the data, so that small
 * inputs can be the large sparse files of the review) then the file's
 * bytes. Every entry point runs: open and check, a four-name lookup as the
 * agent's probe makes, DT_NEEDED, and the one-shot forms. Besides what
 * ASan and UBSan catch, the bounds of elfsym.h are checked on each run:
 * bytes read, symbols and sections examined, a refusal with a reason and
 * an id, and answers inside the file. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "elfsym.h"

#define FUZZ_CHECK(c) ((c) ? (void)0 : __builtin_trap())

/* Small bounds keep each run fast; the default ones are tried by the
 * one-shot forms. No time bound: a fuzzer must be deterministic. */
static const struct elfsym_limits fuzz_lim = {
	.max_read = 4u << 20,
	.max_symbols = 1u << 16,
	.max_sections = 256,
	.max_ns = UINT64_MAX / 2,
};

static void fuzz_bounds(const struct elfsym_file *f, const struct elfsym_limits *lim)
{
	FUZZ_CHECK(f->work.bytes <= lim->max_read);
	FUZZ_CHECK(f->work.symbols <= lim->max_symbols);
	FUZZ_CHECK(f->work.sections <= lim->max_sections);
	FUZZ_CHECK(!f->refused || f->id[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char names[ELFSYM_MAX_NEEDED][ELFSYM_NAME_MAX];
	struct elfsym_query q[4] = {
		{ .name = "readline", .type = STT_FUNC },
		{ .name = "rl_deprep_terminal", .type = STT_FUNC },
		{ .name = "rl_prep_terminal", .type = STT_FUNC },
		{ .name = "rl_line_buffer", .type = STT_OBJECT },
	};
	struct elfsym_file f;
	const char *why = NULL;
	struct elfsym s;
	off_t total;
	size_t i;
	int fd, err, n;

	if (size < 1)
		return 0;
	total = (off_t)(size - 1) + (off_t)(data[0] & 127) * (1 << 20);
	fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if ((size > 1 && write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) ||
	    ftruncate(fd, total)) {
		close(fd);
		return 0;
	}

	err = elfsym_open(&f, fd, &fuzz_lim, &why);
	FUZZ_CHECK(err <= 0);
	FUZZ_CHECK(!err || why);
	if (!err) {
		FUZZ_CHECK(f.id[0]);
		err = elfsym_lookup(&f, q, 4, &why);
		FUZZ_CHECK(err != -ETIMEDOUT);
		FUZZ_CHECK(!err || why);
		for (i = 0; !err && i < 4; i++) {
			FUZZ_CHECK(q[i].err <= 0);
			FUZZ_CHECK(q[i].err == 0 || q[i].why);
			if (q[i].err == 0 && q[i].type == STT_FUNC)
				FUZZ_CHECK(q[i].sym.offset < (uint64_t)total);
		}
		n = elfsym_needed_of(&f, names, ELFSYM_MAX_NEEDED, &why);
		FUZZ_CHECK(n <= ELFSYM_MAX_NEEDED);
		for (i = 0; n > 0 && i < (size_t)n; i++)
			FUZZ_CHECK(names[i][0] && strlen(names[i]) < ELFSYM_NAME_MAX);
	}
	fuzz_bounds(&f, &fuzz_lim);
	elfsym_close(&f);

	/* The one-shot forms, with the default bounds: only on small files,
	 * where they cost as little as the rest. */
	if (total <= (8 << 20)) {
		if (elfsym_find(fd, "readline", &s, &why) == 0)
			FUZZ_CHECK(s.offset < (uint64_t)total);
		elfsym_find_object(fd, "rl_line_buffer", &s, &why);
		n = elfsym_needed(fd, names, ELFSYM_MAX_NEEDED, &why);
		FUZZ_CHECK(n <= ELFSYM_MAX_NEEDED);
	}
	close(fd);
	return 0;
}
