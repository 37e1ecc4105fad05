/* The agent's event loop in standalone mode: targets from flags or a file,
 * entries to a JSON-lines sink. Owns every piece of the capture engine. */
#ifndef SHELLAUDIT_AGENT_H
#define SHELLAUDIT_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct agent_opts {
	const pid_t *pids; /* --target-pid, npids of them */
	size_t npids;
	const char *targets_file; /* re-read when it changes, or NULL */
	const char *output; /* NULL or "-" for stdout */
	uint32_t line_max;
	uint32_t args_max;
	uint32_t ringbuf_bytes;
};

/* Runs until SIGINT or SIGTERM. Returns 0, or a negative errno when the
 * capture could not start. */
int agent_run(const struct agent_opts *opts);

#endif
