// SPDX-License-Identifier: Apache-2.0
/* budget: the storage budget's sums (cluster-wide, per namespace and per
 * policy, from records' annotations, shared lists of policies, added and
 * removed), the bounds on a forged size (huge, negative, not a number),
 * the hysteresis of holds (past 90%, released below 80%; a policy's own
 * budget cannot exceed the cluster's), and the namespaces' fair shares of
 * the cluster's budget: past its mark a flood holds its own namespace, not
 * a quiet one; the share is max-min fair; past the ceiling every namespace
 * is held. */
#include <string.h>

#include "budget.h"
#include "unit.h"

struct seen {
	int n;
	char last[64];
	bool held;
};

static void on_changed(enum budget_scope scope, const char *name, bool held, void *arg)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->last, sizeof(s->last), "%s%s", scope == BUDGET_NAMESPACE ? "ns/" : "",
		 scope == BUDGET_CLUSTER ? "(cluster)" : name);
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
	budget_count(&b, ab, "shop", 100);
	budget_count(&b, a, "shop", 10);
	budget_count(&b, ab2, "web", 1);
	budget_count(&b, none, NULL, 5);
	UNIT_CHECK(b.total == 116);
	UNIT_CHECK(budget_policy_bytes(&b, "alpha") == 111);
	UNIT_CHECK(budget_policy_bytes(&b, "beta") == 101);
	UNIT_CHECK(budget_policy_bytes(&b, "gamma") == 0);
	UNIT_CHECK(budget_ns_bytes(&b, "shop") == 110 && budget_ns_bytes(&b, "web") == 1);
	budget_count(&b, ab, "shop", -100);
	budget_list_put(&b, ab);
	UNIT_CHECK(b.total == 16 && budget_policy_bytes(&b, "beta") == 1);
	budget_count(&b, ab2, "web", -1);
	budget_list_put(&b, ab2);
	UNIT_CHECK(budget_policy_bytes(&b, "beta") == 0 && b.total == 15);
	/* A namespace holding nothing any more is forgotten. */
	UNIT_CHECK(!hmap_get(&b.namespaces, "web") && budget_ns_bytes(&b, "shop") == 10);
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
	budget_count(&b, l, NULL, 9000); /* 90%: not past it */
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(s.n == 0 && !b.held);
	budget_count(&b, l, NULL, 1);
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(s.n == 1 && s.held && b.held && !strcmp(s.last, "(cluster)"));
	budget_count(&b, l, NULL, -500); /* 85%: still held */
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(s.n == 1 && b.held);
	budget_count(&b, l, NULL, -701); /* below 80%: released */
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(s.n == 2 && !s.held && !b.held);
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(s.n == 2);
	budget_count(&b, l, NULL, -7800);
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
	budget_count(&b, small, NULL, 950);
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(s.n == 1 && s.held && !strcmp(s.last, "small"));
	UNIT_CHECK(budget_policy_held(&b, "small") && !b.held);
	/* A budget far beyond the cluster's counts as the cluster's. */
	budget_count(&b, greedy, NULL, 85000);
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(!budget_policy_held(&b, "greedy") && s.n == 1);
	budget_count(&b, greedy, NULL, 5000); /* 90,000 of 100,000 for greedy: not past */
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(!budget_policy_held(&b, "greedy"));
	budget_count(&b, greedy, NULL, 1);
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(budget_policy_held(&b, "greedy"));
	/* The records of small go: released, and nothing else moves. */
	s.n = 0;
	budget_count(&b, small, NULL, -950);
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(s.n == 1 && !s.held && !strcmp(s.last, "small"));
	UNIT_CHECK(!budget_policy_held(&b, "small"));
	budget_list_put(&b, small);
	budget_list_put(&b, greedy);
	budget_clear(&b);
}

static void test_budget_flood_past_the_mark_holds_its_namespace_not_a_quiet_one(void)
{
	struct budget b;
	struct seen s = { 0 };
	struct budget_list *l;

	budget_init(&b, 10000);
	l = budget_list_get(&b, "other");
	budget_count(&b, l, "calm", 500);
	budget_count(&b, l, "flood", 8500); /* 90%: not past it */
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(s.n == 0 && !b.held && !budget_ns_held(&b, "flood"));
	budget_count(&b, l, "flood", 1);
	budget_evaluate(&b, limit_of, on_changed, &s);
	/* The share of the low mark (8,000): calm takes its 500, flood gets
	 * the rest, 7,500, and is over it. */
	UNIT_CHECK(b.held && b.share == 7500 && b.nsharing == 2 && b.nheld == 1);
	UNIT_CHECK(s.n == 2 && s.held && !strcmp(s.last, "ns/flood"));
	UNIT_CHECK(budget_ns_held(&b, "flood") && !budget_ns_held(&b, "calm"));
	UNIT_CHECK(budget_ns_held(&b, "flood")->at_bytes == 8501);
	UNIT_CHECK(budget_ns_held(&b, "flood")->at_share == 7500);
	/* The quiet namespace goes on, past the cluster's budget, up to an
	 * equal split (4,000 each), then it is held too. */
	budget_count(&b, l, "calm", 3500);
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(s.n == 2 && !budget_ns_held(&b, "calm") && b.share == 4000);
	budget_count(&b, l, "calm", 1);
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(s.n == 3 && s.held && !strcmp(s.last, "ns/calm"));
	UNIT_CHECK(budget_ns_held(&b, "calm") && budget_ns_held(&b, "flood") && b.nheld == 2);
	/* The flood's records expire: below 80% the cluster's hold ends, and
	 * with it every namespace's. */
	budget_count(&b, l, "flood", -8501);
	budget_evaluate(&b, limit_of, on_changed, &s);
	UNIT_CHECK(!b.held && b.nheld == 0 && b.share == BUDGET_SHARE_NONE);
	UNIT_CHECK(!budget_ns_held(&b, "calm") && !budget_ns_held(&b, "flood"));
	UNIT_CHECK(s.n == 6 && !s.held);
	UNIT_CHECK(!hmap_get(&b.namespaces, "flood"));
	budget_count(&b, l, "calm", -4001);
	budget_list_put(&b, l);
	budget_clear(&b);
}

static void test_budget_fair_share_is_max_min_with_hysteresis(void)
{
	struct budget b;
	struct seen s = { 0 };

	budget_init(&b, 10000);
	/* A small namespace leaves what it does not use to the others. */
	budget_count(&b, NULL, "tiny", 100);
	budget_count(&b, NULL, "mid", 1500);
	budget_count(&b, NULL, "big", 7500);
	budget_evaluate(&b, NULL, on_changed, &s);
	UNIT_CHECK(b.held && b.share == 6400 && b.nsharing == 3);
	UNIT_CHECK(budget_ns_held(&b, "big") && !budget_ns_held(&b, "mid") &&
		   !budget_ns_held(&b, "tiny"));
	budget_count(&b, NULL, "tiny", -100);
	budget_count(&b, NULL, "mid", -1500);
	budget_count(&b, NULL, "big", -7500);
	budget_evaluate(&b, NULL, on_changed, &s);
	UNIT_CHECK(!b.held && b.nheld == 0 && b.namespaces.size == 0);

	/* Two floods over an equal split (4,000) are both held; one stays
	 * held just under its share, released below 80/90 of it. */
	budget_count(&b, NULL, "a", 4600);
	budget_count(&b, NULL, "b", 4600);
	budget_evaluate(&b, NULL, on_changed, &s);
	UNIT_CHECK(b.share == 4000 && budget_ns_held(&b, "a") && budget_ns_held(&b, "b"));
	budget_count(&b, NULL, "a", -700); /* 3,900 of a share of 4,100 */
	budget_evaluate(&b, NULL, on_changed, &s);
	UNIT_CHECK(b.held && b.share == 4100 && budget_ns_held(&b, "a"));
	budget_count(&b, NULL, "a", -300); /* 3,600 of 4,400: below 80/90 */
	budget_evaluate(&b, NULL, on_changed, &s);
	UNIT_CHECK(b.held && b.share == 4400 && !budget_ns_held(&b, "a"));
	UNIT_CHECK(budget_ns_held(&b, "b") && !strcmp(s.last, "ns/a") && !s.held);
	budget_count(&b, NULL, "a", -3600);
	budget_count(&b, NULL, "b", -4600);
	budget_clear(&b);
}

static void test_budget_past_the_ceiling_every_namespace_is_held(void)
{
	struct budget b;

	budget_init(&b, 10000);
	budget_count(&b, NULL, "a", 9500);
	budget_count(&b, NULL, "b", 4000);
	budget_count(&b, NULL, "c", 4600); /* 18,100: past 90% of twice the budget */
	budget_evaluate(&b, NULL, NULL, NULL);
	UNIT_CHECK(b.full && b.share == 0 && b.nheld == 3);
	UNIT_CHECK(budget_ns_held(&b, "b")->at_share == 0);
	budget_count(&b, NULL, "a", -2200); /* 15,900: below 80% of it */
	budget_evaluate(&b, NULL, NULL, NULL);
	UNIT_CHECK(!b.full && b.held && b.share == 2666);
	budget_clear(&b);
}

UNIT_MAIN(UNIT_TEST(test_budget_sums_per_policy_and_cluster),
	  UNIT_TEST(test_budget_forged_sizes_are_bounded),
	  UNIT_TEST(test_budget_holds_with_hysteresis),
	  UNIT_TEST(test_budget_policy_budget_is_capped_by_the_cluster),
	  UNIT_TEST(test_budget_flood_past_the_mark_holds_its_namespace_not_a_quiet_one),
	  UNIT_TEST(test_budget_fair_share_is_max_min_with_hysteresis),
	  UNIT_TEST(test_budget_past_the_ceiling_every_namespace_is_held))
