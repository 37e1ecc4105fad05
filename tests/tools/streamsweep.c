// SPDX-License-Identifier: Apache-2.0
/* streamsweep: loads the BPF programs (nothing pinned, no terminal hook),
 * writes stream rates into the kernel's map as a user's sessions would
 * leave them, runs capture_sweep_streams() as the agent does (idle a
 * minute), and prints what it removed, then each stream as
 * "NAME kept|removed":
 *   idle        idle two minutes, nothing counted         (removed)
 *   counted     idle two minutes, 5 bytes counted          (kept)
 *   busy        its rate spent for the next second         (kept)
 *   recent      idle 30 seconds                            (kept)
 *   gone        counted, of a target no longer in the map  (removed)
 *   aio         idle two minutes, 3 io_submit reads counted (kept)
 * Exits 1 when the programs cannot be loaded or a map access fails. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "capture.h"
#include "clock.h"

#define SEC_NS 1000000000ull

static void on_event(void *ctx, const struct capture_event *ev)
{
	(void)ctx;
	(void)ev;
}

int main(void)
{
	static const struct {
		const char *name;
		int64_t tat_s; /* tat - now, seconds */
		uint32_t target;
		uint32_t skipped, aio;
	} streams[] = {
		{ "idle", -120, 7, 0, 0 },  { "counted", -120, 7, 5, 0 }, { "busy", 1, 7, 0, 0 },
		{ "recent", -30, 7, 0, 0 }, { "gone", -120, 9, 5, 0 },	  { "aio", -120, 7, 0, 3 },
	};
	struct capture_opts opts = { .line_max = SA_LINE_MAX_DEFAULT,
				     .args_max = SA_ARGS_MAX_DEFAULT,
				     .ringbuf_bytes = 1u << 16,
				     .tty_hook = CAPTURE_TTY_OFF };
	struct sa_target_val t = { .id = 7 };
	struct sa_stdin_rate v;
	struct capture *c;
	uint64_t now;
	size_t i;
	int err;

	if (capture_open(&opts, on_event, NULL, &c))
		return 1;
	now = clock_now_ns();
	if ((err = capture_target_add(c, 1, &t)))
		goto fail;
	for (i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
		v = (struct sa_stdin_rate){ .tat = now +
						   (uint64_t)(streams[i].tat_s * (int64_t)SEC_NS),
					    .skipped = streams[i].skipped,
					    .aio = streams[i].aio };
		if ((err = capture_stream(c, (uint64_t)streams[i].target << 32 | i, &v, true)))
			goto fail;
	}
	if ((err = capture_sweep_streams(c, now - 60 * SEC_NS)) < 0)
		goto fail;
	printf("removed %d\n", err);
	for (i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
		err = capture_stream(c, (uint64_t)streams[i].target << 32 | i, &v, false);
		if (err && err != -ENOENT)
			goto fail;
		printf("%s %s\n", streams[i].name, err ? "removed" : "kept");
	}
	capture_close(c);
	return 0;
fail:
	fprintf(stderr, "streamsweep: %s\n", strerror(-err));
	capture_close(c);
	return 1;
}
