// SPDX-License-Identifier: Apache-2.0
/* budget: the storage budget's sums (cluster-wide and per policy, from
 * records' annotations, shared lists of policies, added and removed), the
 * bounds on a forged size (huge, negative, not a number), and the
 * hysteresis of holds (past 90%, released below 80%; a policy's own
 * budget cannot exceed the cluster's). */
#include <string.h>

#include "budget.h"
#include "unit.h"

struct seen {
	int n;
	char last[64];
	bool held;
};

static void on_changed(const char *policy, bool held, void *arg)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->last, sizeof(s->last), "%s", policy ? policy : "(cluster)");
	s->held = held;
}

static long long limit_of(const char *policy, void *arg)
{
	(void)arg;
	if (!strcmp(policy, "small"))
		return 1000;
	if (!strcmp(policy, "greedy"))
		return 1LL << 40; /* far beyond the cluster's */
	return 0;
}

static void test_budget_sums_per_policy_and_cluster(void)
{
	struct budget b;
	struct budget_list *ab, *a, *ab2, *none;

	budget_init(&b, 1 << 20);
	ab = budget_list_get(&b, "alpha,beta");
	a = budget_list_get(&b, "alpha");
	ab2 = budget_list_get(&b, "alpha,beta");
	none = budget_list_get(&b, NULL);
	UNIT_CHECK(ab && a && none && ab == ab2);
	budget_count(&b, ab, 100);
	budget_count(&b, a, 10);
	budget_count(&b, ab2, 1);
	budget_count(&b, none, 5);
	UNIT_CHECK(b.total == 116);
	UNIT_CHECK(budget_policy_bytes(&b, "alpha") == 111);
	UNIT_CHECK(budget_policy_bytes(&b, "beta") == 101);
	UNIT_CHECK(budget_policy_bytes(&b, "gamma") == 0);
	budget_count(&b, ab, -100);
	budget_list_put(&b, ab);
	UNIT_CHECK(b.total == 16 && budget_policy_bytes(&b, "beta") == 1);
	budget_count(&b, ab2, -1);
	budget_list_put(&b, ab2);
	UNIT_CHECK(budget_policy_bytes(&b, "beta") == 0 && b.total == 15);
	UNIT_CHECK(!hmap_get(&b.lists, "alpha,beta")); /* the last reference went */
	budget_list_put(&b, a);
	budget_list_put(&b, none);
	budget_list_put(&b, NULL);
	budget_clear(&b);
}

static void test_budget_forged_sizes_are_bounded(void)
{
	const long long o = BUDGET_RECORD_OVERHEAD;

	UNIT_CHECK(budget_record_bytes("1234") == 1234 + o);
	UNIT_CHECK(budget_record_bytes("0") == o);
	UNIT_CHECK(budget_record_bytes("99999999999999999999999") == BUDGET_RECORD_MAX + o);
	UNIT_CHECK(budget_record_bytes("-5") == BUDGET_RECORD_UNKNOWN + o);
	UNIT_CHECK(budget_record_bytes("12abc") == BUDGET_RECORD_UNKNOWN + o);
	UNIT_CHECK(budget_record_bytes("") == BUDGET_RECORD_UNKNOWN + o);
	UNIT_CHECK(budget_record_bytes(NULL) == BUDGET_RECORD_UNKNOWN + o);
}

static void test_budget_holds_with_hysteresis(void)
{
	struct budget b;
	struct seen s = { 0 };
	struct budget_list *l;

	budget_init(&b, 10000);
	l = budget_list_get(&b, "other");
	budget_count(&b, l, 9000); /* 90%: not past it */
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(s.n == 0 && !b.held);
	budget_count(&b, l, 1);
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(s.n == 1 && s.held && b.held && !strcmp(s.last, "(cluster)"));
	budget_count(&b, l, -500); /* 85%: still held */
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(s.n == 1 && b.held);
	budget_count(&b, l, -701); /* below 80%: released */
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(s.n == 2 && !s.held && !b.held);
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(s.n == 2);
	budget_count(&b, l, -7800);
	budget_list_put(&b, l);
	budget_clear(&b);
}

static void test_budget_policy_budget_is_capped_by_the_cluster(void)
{
	struct budget b;
	struct seen s = { 0 };
	struct budget_list *small, *greedy;

	budget_init(&b, 100000);
	small = budget_list_get(&b, "small");
	greedy = budget_list_get(&b, "greedy");
	budget_count(&b, small, 950);
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(s.n == 1 && s.held && !strcmp(s.last, "small"));
	UNIT_CHECK(budget_policy_held(&b, "small") && !b.held);
	/* A budget far beyond the cluster's counts as the cluster's. */
	budget_count(&b, greedy, 85000);
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(!budget_policy_held(&b, "greedy") && s.n == 1);
	budget_count(&b, greedy, 5000); /* 90,000 of 100,000 for greedy: not past */
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(!budget_policy_held(&b, "greedy"));
	budget_count(&b, greedy, 1);
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(budget_policy_held(&b, "greedy"));
	/* The records of small go: released, and nothing else moves. */
	s.n = 0;
	budget_count(&b, small, -950);
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(s.n == 1 && !s.held && !strcmp(s.last, "small"));
	UNIT_CHECK(!budget_policy_held(&b, "small"));
	budget_list_put(&b, small);
	budget_list_put(&b, greedy);
	budget_clear(&b);
}

UNIT_MAIN(UNIT_TEST(test_budget_sums_per_policy_and_cluster),
	  UNIT_TEST(test_budget_forged_sizes_are_bounded),
	  UNIT_TEST(test_budget_holds_with_hysteresis),
	  UNIT_TEST(test_budget_policy_budget_is_capped_by_the_cluster))
