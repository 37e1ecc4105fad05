/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus counters, gauges and histograms, rendered in the text
 * exposition format. */
#ifndef SHELLAUDIT_METRICS_H
#define SHELLAUDIT_METRICS_H

#include <stddef.h>

#define METRICS_MAX 64
#define METRICS_BUCKETS_MAX 16

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric {
	const char *name;	/* e.g. "shellaudit_controller_reconciles_total" */
	const char *help;
	enum metric_type type;
	/* Written by the daemon's threads, read by the HTTP thread: an atomic
	 * (plain `m->value++` and `m->value = x` are atomic operations). A
	 * histogram's is the sum of what it observed. */
	_Atomic double value;
	/* A histogram's buckets: their upper bounds, ascending, and the
	 * observations in each (not cumulative), the last past every bound. */
	const double *bounds;
	size_t nbounds;
	_Atomic unsigned long long counts[METRICS_BUCKETS_MAX + 1];
};

/* A fixed set of metrics, registered before the HTTP server starts. */
struct metrics {
	struct metric m[METRICS_MAX];
	size_t n;
};

/* Registers a counter (gauge 0) or a gauge and returns its slot (NULL past
 * METRICS_MAX). */
struct metric *metrics_add(struct metrics *ms, const char *name, const char *help, int gauge);
/* Registers a histogram with the n ascending upper bounds (n at most
 * METRICS_BUCKETS_MAX; bounds outlive ms), or NULL. */
struct metric *metrics_add_histogram(struct metrics *ms, const char *name, const char *help,
				     const double *bounds, size_t n);
/* Counts v in histogram m (NULL: nothing), from any thread. */
void metrics_observe(struct metric *m, double v);
/* Writes the exposition text into buf; returns its length, or the length
 * it needs (>= cap) like snprintf. */
size_t metrics_render(const struct metrics *ms, char *buf, size_t cap);

#endif
