// SPDX-License-Identifier: Apache-2.0
/* metrics: counters and gauges as one sample each; a histogram's buckets
 * cumulative, an observation on a bound in that bound's bucket (Prometheus'
 * "le"), its sum and count; a buffer too small gives the length needed,
 * as snprintf does; the bounds of the set are kept. */
#include <string.h>

#include "metrics.h"
#include "unit.h"
#include "util.h"

static void test_metrics_counters_and_gauges_render_one_sample_each(void)
{
	struct metrics ms = { 0 };
	struct metric *c = metrics_add(&ms, "a_total", "Things.", METRIC_COUNTER);
	struct metric *g = metrics_add(&ms, "b", "Level.", METRIC_GAUGE);
	char buf[256];
	size_t n;

	c->value++;
	c->value++;
	g->value = 2.5;
	n = metrics_render(&ms, buf, sizeof(buf));
	UNIT_CHECK(!strcmp(buf, "# HELP a_total Things.\n# TYPE a_total counter\na_total 2\n"
				"# HELP b Level.\n# TYPE b gauge\nb 2.5\n"));
	UNIT_CHECK(n == strlen(buf));
}

static void test_metrics_a_histogram_counts_each_value_once_in_its_bucket(void)
{
	static const double bounds[] = { 0.25, 2 };
	struct metrics ms = { 0 };
	struct metric *h = metrics_add_histogram(&ms, "lat_seconds", "Latency.", bounds, 2);
	char buf[512];

	UNIT_CHECK(h != NULL);
	metrics_observe(h, 0.125);
	metrics_observe(h, 0.25); /* on the bound: in its bucket */
	metrics_observe(h, 1.5);
	metrics_observe(h, 60);
	metrics_observe(NULL, 1); /* nothing */
	metrics_render(&ms, buf, sizeof(buf));
	UNIT_CHECK(!strcmp(buf, "# HELP lat_seconds Latency.\n# TYPE lat_seconds histogram\n"
				"lat_seconds_bucket{le=\"0.25\"} 2\n"
				"lat_seconds_bucket{le=\"2\"} 3\n"
				"lat_seconds_bucket{le=\"+Inf\"} 4\n"
				"lat_seconds_sum 61.875\n"
				"lat_seconds_count 4\n"));
}

static void test_metrics_a_gauge_is_not_a_histogram(void)
{
	struct metrics ms = { 0 };
	struct metric *g = metrics_add(&ms, "g", "Level.", METRIC_GAUGE);

	metrics_observe(g, 3);
	UNIT_CHECK(g->value == 0 && g->counts[0] == 0);
}

static void test_metrics_a_short_buffer_gives_the_length_needed(void)
{
	static const double bounds[] = { 1 };
	struct metrics ms = { 0 };
	char full[512], part[40];
	size_t n, m;

	metrics_add(&ms, "a_total", "Things.", METRIC_COUNTER);
	metrics_add_histogram(&ms, "h", "Latency.", bounds, 1);
	n = metrics_render(&ms, full, sizeof(full));
	m = metrics_render(&ms, part, sizeof(part));
	UNIT_CHECK(n == strlen(full) && m == n);
	UNIT_CHECK(strlen(part) == sizeof(part) - 1 && !strncmp(part, full, sizeof(part) - 1));
	UNIT_CHECK(metrics_render(&ms, NULL, 0) == n);
}

static void test_metrics_the_set_and_the_buckets_are_bounded(void)
{
	static const double bounds[METRICS_BUCKETS_MAX + 1] = { 0 };
	static struct metrics ms;
	size_t i;

	UNIT_CHECK(metrics_add_histogram(&ms, "h", "Too many.", bounds, ARRAY_SIZE(bounds)) ==
		   NULL);
	UNIT_CHECK(ms.n == 0);
	for (i = 0; i < METRICS_MAX; i++)
		UNIT_CHECK(metrics_add(&ms, "c_total", "Things.", METRIC_COUNTER) != NULL);
	UNIT_CHECK(metrics_add(&ms, "c_total", "Things.", METRIC_COUNTER) == NULL);
	UNIT_CHECK(metrics_add_histogram(&ms, "h", "Full.", bounds, 1) == NULL);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT_TEST(test_metrics_counters_and_gauges_render_one_sample_each),
		UNIT_TEST(test_metrics_a_histogram_counts_each_value_once_in_its_bucket),
		UNIT_TEST(test_metrics_a_gauge_is_not_a_histogram),
		UNIT_TEST(test_metrics_a_short_buffer_gives_the_length_needed),
		UNIT_TEST(test_metrics_the_set_and_the_buckets_are_bounded),
	};

	return unit_main(tests, ARRAY_SIZE(tests));
}
