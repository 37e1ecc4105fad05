// SPDX-License-Identifier: Apache-2.0
/*
 * The AuditRecord storage budget, as the controller acts on it. Every
 * record in etcd takes room from the whole cluster (etcd's quota is 2 GiB
 * by default; past it the cluster stops taking writes), so the bytes of
 * the records the controller knows (budget.c, counted from their metadata
 * in the records index of retention.c) are held to --storage-budget, and
 * those of a policy to its spec.storageBudget when it has one. Past the
 * high-water mark the controller does not delete anything (records live
 * their retention); it asks the agents, through the holdRecords field of
 * each target in their ShellAuditNode, to keep new records in their
 * spools, and releases them below the low-water mark. The cluster's budget
 * holds only the namespaces over their fair share of it (budget.h), so
 * that one tenant's flood does not hold the others' records. The policies
 * say so in their StorageBudgetExceeded condition (naming the namespaces
 * held where they have targets), and a Warning Event on the policy marks
 * each hold that begins. Owned by the loop thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller.h"
#include "jsontext.h"
#include "quantity.h"
#include "timefmt.h"

#define STORAGE_EVENTS_NS "default" /* where Events about cluster-scoped objects go */
#define STORAGE_EVENT_KEY "event/"
/* Held namespaces named in a condition's message at most. */
#define STORAGE_NS_NAMED 3

static const struct policy *storage_policy(const struct controller *c, const char *name)
{
	size_t lo = 0, hi = c->npolicies;

	/* c->policies is sorted by name. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(c->policies[mid]->name, name);

		if (!d)
			return c->policies[mid];
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static long long storage_limit(const char *policy, void *arg)
{
	const struct policy *p = storage_policy(arg, policy);

	return p ? p->storage_budget : 0;
}

bool storage_held(const char *ns, const char *policy, void *arg)
{
	const struct controller *c = arg;

	return budget_ns_held(&c->budget, ns) || budget_policy_held(&c->budget, policy);
}

/* The namespaces held by the cluster's budget where a policy has targets. */
struct storage_ns_held {
	const struct budget *b;
	size_t n;
	const struct budget_ns *v[STORAGE_NS_NAMED]; /* the first by name */
};

static void storage_ns_held_one(const char *ns, void *value, void *arg)
{
	struct storage_ns_held *h = arg;
	const struct budget_ns *bn = budget_ns_held(h->b, ns);
	size_t i;

	(void)value;
	if (!bn)
		return;
	h->n++;
	/* Keeps the first STORAGE_NS_NAMED by name, sorted, so that the
	 * message does not depend on the map's order. */
	for (i = h->n - 1 < STORAGE_NS_NAMED ? h->n - 1 : STORAGE_NS_NAMED; i > 0; i--) {
		if (strcmp(h->v[i - 1]->name, bn->name) < 0)
			break;
		if (i < STORAGE_NS_NAMED)
			h->v[i] = h->v[i - 1];
	}
	if (i < STORAGE_NS_NAMED)
		h->v[i] = bn;
}

static void storage_policy_ns_held(const struct controller *c, const char *policy,
				   struct storage_ns_held *h)
{
	const struct resolve_result *res = resolve_policy(&c->res, policy);

	memset(h, 0, sizeof(*h));
	h->b = &c->budget;
	if (res && c->budget.nheld)
		hmap_foreach(&res->namespaces, storage_ns_held_one, h);
}

/* "a (1.2Mi of its share 800Ki), b (...) and 2 more" into msg (without
 * the figures unless figures). */
static void storage_ns_list(const struct storage_ns_held *h, bool figures, char *msg, size_t cap)
{
	size_t i, len = 0, named = h->n < STORAGE_NS_NAMED ? h->n : STORAGE_NS_NAMED;
	char a[32], b[32];

	msg[0] = '\0';
	for (i = 0; i < named && len < cap; i++) {
		const char *sep = !i ? "" : i + 1 == h->n ? " and " : ", ";
		int n = figures ? snprintf(msg + len, cap - len, "%s%s (%s of its share %s)", sep,
					   h->v[i]->name,
					   quantity_format(h->v[i]->at_bytes, a, sizeof(a)),
					   quantity_format(h->v[i]->at_share, b, sizeof(b))) :
				  snprintf(msg + len, cap - len, "%s%s", sep, h->v[i]->name);

		if (n < 0)
			return;
		len += (size_t)n;
	}
	if (h->n > named && len < cap)
		snprintf(msg + len, cap - len, " and %zu more", h->n - named);
}

void storage_condition(struct controller *c, const char *policy, const char **status,
		       const char **reason, char *msg, size_t cap)
{
	const struct budget_policy *bp = hmap_get(&c->budget.policies, policy);
	const struct policy *p = storage_policy(c, policy);
	struct storage_ns_held h;
	char a[32], b[32], t[32], u[32], list[512];

	quantity_format(c->budget.cluster, u, sizeof(u));
	storage_policy_ns_held(c, policy, &h);
	if (bp && bp->held) {
		*status = "True";
		*reason = "PolicyBudget";
		snprintf(
			msg, cap,
			"this policy's AuditRecords held %s, past %d%% of its budget %s: the nodes "
			"keep its new records in their spools until they are below %d%% (records "
			"expire by their retention, never earlier)",
			quantity_format(bp->at_bytes, a, sizeof(a)), BUDGET_HIGH_PCT,
			quantity_format(bp->at_budget, b, sizeof(b)), BUDGET_LOW_PCT);
	} else if (h.n && c->budget.full) {
		*status = "True";
		*reason = "ClusterBudget";
		storage_ns_list(&h, false, list, sizeof(list));
		snprintf(
			msg, cap,
			"all AuditRecords past %d%% of %d times the cluster's budget %s "
			"(--storage-budget), whatever the namespaces' shares: the nodes keep every "
			"namespace's new records in their spools (this policy has targets in %s) "
			"until the total is below %d%% of it (records expire by their retention, "
			"never earlier)",
			BUDGET_HIGH_PCT, BUDGET_CEILING_X, u, list, BUDGET_LOW_PCT);
	} else if (h.n) {
		*status = "True";
		*reason = "ClusterBudget";
		storage_ns_list(&h, true, list, sizeof(list));
		snprintf(msg, cap,
			 "all AuditRecords held %s, past %d%% of the cluster's budget %s "
			 "(--storage-budget), and this policy has targets in %s %s, over %s fair "
			 "share of it (%d%% of the budget shared max-min among the namespaces "
			 "holding records): the nodes keep their new records in their spools until "
			 "they are below %d/%d of the share or the total below %d%%, while other "
			 "namespaces' records go on (records expire by their retention, never "
			 "earlier)",
			 quantity_format(c->budget.at_total, t, sizeof(t)), BUDGET_HIGH_PCT, u,
			 h.n == 1 ? "the namespace" : "the namespaces", list,
			 h.n == 1 ? "its" : "their", BUDGET_LOW_PCT, BUDGET_LOW_PCT,
			 BUDGET_HIGH_PCT, BUDGET_LOW_PCT);
	} else if (c->budget.held) {
		*status = "False";
		*reason = "WithinBudget";
		snprintf(
			msg, cap,
			"AuditRecords are published: the cluster's are past %d%% of its budget %s "
			"(--storage-budget), but no namespace of this policy's targets is over its "
			"fair share of it",
			BUDGET_HIGH_PCT, u);
	} else {
		*status = "False";
		*reason = "WithinBudget";
		if (p && p->storage_budget > 0)
			snprintf(msg, cap,
				 "AuditRecords are published: within this policy's budget %s "
				 "(%s in effect) and the cluster's %s",
				 quantity_format(p->storage_budget, a, sizeof(a)),
				 quantity_format(p->storage_budget < c->budget.cluster ?
							 p->storage_budget :
							 c->budget.cluster,
						 b, sizeof(b)),
				 u);
		else
			snprintf(msg, cap,
				 "AuditRecords are published: within the cluster's budget %s", u);
	}
}

/* A Warning Event on the policy (events.k8s.io, in "default" as Events
 * about cluster-scoped objects are), through the writers. */
static void storage_event(struct controller *c, const struct policy *p, const char *reason,
			  const char *type)
{
	const cJSON *obj = informer_get(c->inf[CTL_POLICIES], NULL, p->name);
	const char *uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "uid"));
	const char *st, *why;
	char note[1024], key[320], path[256], name[253], when[40];
	struct timespec now;
	cJSON *ev, *reg;
	struct write_job *j;

	storage_condition(c, p->name, &st, &why, note, sizeof(note));
	clock_gettime(CLOCK_REALTIME, &now);
	timefmt_micro(&now, when, sizeof(when));
	snprintf(name, sizeof(name), "%.200s.%llx", p->name,
		 (unsigned long long)now.tv_sec * 1000000000ULL + (unsigned long long)now.tv_nsec);
	if (!(ev = cJSON_CreateObject()))
		return;
	cJSON_AddStringToObject(cJSON_AddObjectToObject(ev, "metadata"), "name", name);
	cJSON_AddStringToObject(ev, "eventTime", when);
	cJSON_AddStringToObject(ev, "reportingController", "shellaudit.io/controller");
	cJSON_AddStringToObject(ev, "reportingInstance", c->cfg.identity);
	cJSON_AddStringToObject(ev, "action", "HoldRecords");
	cJSON_AddStringToObject(ev, "reason", reason);
	cJSON_AddStringToObject(ev, "type", type);
	cJSON_AddStringToObject(ev, "note", note);
	reg = cJSON_AddObjectToObject(ev, "regarding");
	cJSON_AddStringToObject(reg, "apiVersion", "shellaudit.io/v1alpha1");
	cJSON_AddStringToObject(reg, "kind", "ShellAuditPolicy");
	cJSON_AddStringToObject(reg, "name", p->name);
	if (uid)
		cJSON_AddStringToObject(reg, "uid", uid);
	snprintf(key, sizeof(key), STORAGE_EVENT_KEY "%s", name);
	snprintf(path, sizeof(path),
		 "/apis/events.k8s.io/v1/namespaces/" STORAGE_EVENTS_NS "/events");
	if (!(j = write_job_new(key, "POST", path)) || !(j->body = jsontext_print(ev, NULL))) {
		write_job_free(j);
		cJSON_Delete(ev);
		log_with(LOG_ERROR, LOG_KV("policy", p->name), "cannot build the %s Event", reason);
		return;
	}
	cJSON_Delete(ev);
	controller_submit(c, j);
}

void storage_event_done(struct controller *c, struct write_job *j)
{
	(void)c;
	if (j->ret < 0)
		log_with(j->ret == WRITER_NOT_LEADER ? LOG_DEBUG : LOG_WARN,
			 LOG_KV("event", j->key + strlen(STORAGE_EVENT_KEY)),
			 "cannot create the storage budget Event: %s", j->message);
}

/* A policy's own budget: a hold began or ended. */
static void storage_policy_changed(struct controller *c, const char *policy, bool held)
{
	const struct budget_policy *bp = hmap_get(&c->budget.policies, policy);
	const struct policy *p = storage_policy(c, policy);
	char a[32], b[32];

	log_with(held ? LOG_WARN : LOG_INFO, LOG_KV("policy", policy),
		 held ? "AuditRecords of the policy past its storage budget "
			"(%s of %s): new records are held on the nodes" :
			"AuditRecords of the policy back within its storage budget "
			"(%s of %s): held records are released",
		 quantity_format(bp ? bp->at_bytes : 0, a, sizeof(a)),
		 quantity_format(bp ? bp->at_budget : 0, b, sizeof(b)));
	resolver_hold_changed(&c->res, policy);
	if (p) {
		controller_enqueue(c, "policy", policy, 0);
		storage_event(c, p, held ? "StorageBudgetExceeded" : "StorageBudgetRecovered",
			      held ? "Warning" : "Normal");
	}
}

/* A namespace's hold by the cluster's budget began or ended: the policies
 * with targets there say so, and an Event goes to each whose condition
 * turns (its first held namespace, or its last released). */
static void storage_ns_changed(struct controller *c, const char *ns, bool held)
{
	const struct budget_ns *bn = hmap_get(&c->budget.namespaces, ns);
	char a[32], b[32];
	size_t i;

	if (held && c->budget.full)
		log_with(held ? LOG_WARN : LOG_INFO, LOG_KV("namespace", ns),
			 "AuditRecords past %d%% of %d times the cluster's storage budget "
			 "(%s): the namespace's new records are held on the nodes",
			 BUDGET_HIGH_PCT, BUDGET_CEILING_X,
			 quantity_format(c->budget.total, a, sizeof(a)));
	else
		log_with(held ? LOG_WARN : LOG_INFO, LOG_KV("namespace", ns),
			 held ? "AuditRecords of the namespace over its fair share of the "
				"cluster's storage budget (%s of %s): its new records are held on "
				"the nodes" :
				"AuditRecords of the namespace back within its fair share of the "
				"cluster's storage budget (%s of %s): held records are released",
			 quantity_format(bn ? bn->at_bytes : 0, a, sizeof(a)),
			 held || (bn && bn->at_share != BUDGET_SHARE_NONE) ?
				 quantity_format(bn ? bn->at_share : 0, b, sizeof(b)) :
				 "none: the cluster's budget is no longer held");
	resolver_hold_changed_ns(&c->res, ns);
	for (i = 0; i < c->npolicies; i++) {
		const struct policy *p = c->policies[i];
		const struct resolve_result *res = resolve_policy(&c->res, p->name);
		struct storage_ns_held h;

		if (!res || !hmap_get(&res->namespaces, ns))
			continue;
		controller_enqueue(c, "policy", p->name, 0);
		/* A policy held by its own budget already said so. */
		if (budget_policy_held(&c->budget, p->name))
			continue;
		storage_policy_ns_held(c, p->name, &h);
		if (held ? h.n == 1 : h.n == 0)
			storage_event(c, p,
				      held ? "StorageBudgetExceeded" : "StorageBudgetRecovered",
				      held ? "Warning" : "Normal");
	}
}

/* A hold began or ended: for the cluster (the namespaces over their
 * share follow), a namespace or a policy. */
static void storage_changed(enum budget_scope scope, const char *name, bool held, void *arg)
{
	struct controller *c = arg;
	char a[32], b[32];
	size_t i;

	if (scope == BUDGET_POLICY) {
		storage_policy_changed(c, name, held);
		return;
	}
	if (scope == BUDGET_NAMESPACE) {
		storage_ns_changed(c, name, held);
		return;
	}
	log_with(held ? LOG_WARN : LOG_INFO,
		 LOG_KV("budget", quantity_format(c->budget.cluster, b, sizeof(b))),
		 held ? "AuditRecords past the cluster's storage budget (%s): new records of the "
			"namespaces over their fair share of it are held on the nodes" :
			"AuditRecords back within the cluster's storage budget (%s): held records "
			"are released",
		 quantity_format(c->budget.at_total, a, sizeof(a)));
	/* Every policy's message says whether the cluster's budget is held. */
	for (i = 0; i < c->npolicies; i++)
		controller_enqueue(c, "policy", c->policies[i]->name, 0);
}

void storage_sync(struct controller *c)
{
	bool full = c->budget.full;
	size_t i;

	/* Before a first resolution, the policies' budgets are not known;
	 * the records' counts wait. */
	if (!c->resolved)
		return;
	budget_evaluate(&c->budget, storage_limit, storage_changed, c);
	/* The ceiling's messages, whether or not a namespace turned. */
	for (i = 0; full != c->budget.full && i < c->npolicies; i++)
		controller_enqueue(c, "policy", c->policies[i]->name, 0);
	c->m_record_bytes->value = (double)c->budget.total;
	c->m_budget_exceeded->value = c->budget.held;
	c->m_namespaces_held->value = (double)c->budget.nheld;
}
