// SPDX-License-Identifier: Apache-2.0
/* Prometheus text format, version 0.0.4. */
#include "metrics.h"

#include <stdio.h>

struct metric *metrics_add(struct metrics *ms, const char *name, const char *help, int gauge)
{
	struct metric *m;

	if (ms->n >= METRICS_MAX)
		return NULL;
	m = &ms->m[ms->n++];
	m->name = name;
	m->help = help;
	m->gauge = gauge;
	m->value = 0;
	return m;
}

size_t metrics_render(const struct metrics *ms, char *buf, size_t cap)
{
	size_t len = 0, i;
	int n;

	for (i = 0; i < ms->n; i++) {
		const struct metric *m = &ms->m[i];

		n = snprintf(buf + (len < cap ? len : cap), len < cap ? cap - len : 0,
			     "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", m->name, m->help, m->name,
			     m->gauge ? "gauge" : "counter", m->name, (double)m->value);
		if (n > 0)
			len += (size_t)n;
	}
	if (cap && len < cap)
		buf[len] = '\0';
	return len;
}
