/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus counters and gauges, rendered in the text exposition format. */
#ifndef SHELLAUDIT_METRICS_H
#define SHELLAUDIT_METRICS_H

#include <stddef.h>

#define METRICS_MAX 64

struct metric {
	const char *name;	/* e.g. "shellaudit_controller_reconciles_total" */
	const char *help;
	int gauge;		/* 0: counter */
	/* Written by the daemon's threads, read by the HTTP thread: an atomic
	 * (plain `m->value++` and `m->value = x` are atomic operations). */
	_Atomic double value;
};

/* A fixed set of metrics, registered before the HTTP server starts. */
struct metrics {
	struct metric m[METRICS_MAX];
	size_t n;
};

/* Registers a metric and returns its slot (NULL past METRICS_MAX). */
struct metric *metrics_add(struct metrics *ms, const char *name, const char *help, int gauge);
/* Writes the exposition text into buf; returns its length, or the length
 * it needs (>= cap) like snprintf. */
size_t metrics_render(const struct metrics *ms, char *buf, size_t cap);

#endif
