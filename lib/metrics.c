// SPDX-License-Identifier: Apache-2.0
/* Prometheus text format, version 0.0.4. */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>

struct metric *metrics_add(struct metrics *ms, const char *name, const char *help, int gauge)
{
	struct metric *m;

	if (ms->n >= METRICS_MAX)
		return NULL;
	m = &ms->m[ms->n++];
	m->name = name;
	m->help = help;
	m->type = gauge ? METRIC_GAUGE : METRIC_COUNTER;
	m->value = 0;
	m->bounds = NULL;
	m->nbounds = 0;
	return m;
}

struct metric *metrics_add_histogram(struct metrics *ms, const char *name, const char *help,
				     const double *bounds, size_t n)
{
	struct metric *m;
	size_t i;

	if (n > METRICS_BUCKETS_MAX || !(m = metrics_add(ms, name, help, 0)))
		return NULL;
	m->type = METRIC_HISTOGRAM;
	m->bounds = bounds;
	m->nbounds = n;
	for (i = 0; i <= n; i++)
		m->counts[i] = 0;
	return m;
}

void metrics_observe(struct metric *m, double v)
{
	size_t i = 0;

	if (!m || m->type != METRIC_HISTOGRAM)
		return;
	while (i < m->nbounds && v > m->bounds[i])
		i++;
	m->counts[i]++;
	m->value += v;
}

/* Appends to buf as snprintf would, *len growing past cap when it does not
 * fit (the caller's answer is then the length needed). */
__attribute__((format(printf, 4, 5))) static void metrics_put(char *buf, size_t cap, size_t *len,
							      const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = *len < cap ? vsnprintf(buf + *len, cap - *len, fmt, ap) : vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len += (size_t)n;
}

static void metrics_render_histogram(const struct metric *m, char *buf, size_t cap, size_t *len)
{
	unsigned long long total = 0;
	size_t i;

	for (i = 0; i <= m->nbounds; i++) {
		total += m->counts[i];
		if (i < m->nbounds)
			metrics_put(buf, cap, len, "%s_bucket{le=\"%g\"} %llu\n", m->name,
				    m->bounds[i], total);
	}
	metrics_put(buf, cap, len, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.17g\n%s_count %llu\n",
		    m->name, total, m->name, (double)m->value, m->name, total);
}

size_t metrics_render(const struct metrics *ms, char *buf, size_t cap)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	size_t len = 0, i;

	for (i = 0; i < ms->n; i++) {
		const struct metric *m = &ms->m[i];
		metrics_put(buf, cap, &len, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help,
			    m->name, types[m->type]);
		if (m->type == METRIC_HISTOGRAM)
			metrics_render_histogram(m, buf, cap, &len);
		else
			metrics_put(buf, cap, &len, "%s %.17g\n", m->name, (double)m->value);
	}
	if (cap && len < cap)
		buf[len] = '\0';
	return len;
}
