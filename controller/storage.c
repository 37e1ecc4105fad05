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
 * spools, and releases them below the low-water mark. The policies say so
 * in their StorageBudgetExceeded condition, and a Warning Event on the
 * policy marks each hold that begins. Owned by the loop thread.
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

bool storage_held(const char *policy, void *arg)
{
	const struct controller *c = arg;

	return c->budget.held || budget_policy_held(&c->budget, policy);
}

void storage_condition(struct controller *c, const char *policy, const char **status,
		       const char **reason, char *msg, size_t cap)
{
	const struct budget_policy *bp = hmap_get(&c->budget.policies, policy);
	const struct policy *p = storage_policy(c, policy);
	char a[32], b[32], t[32], u[32];

	quantity_format(c->budget.cluster, u, sizeof(u));
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
	} else if (c->budget.held) {
		*status = "True";
		*reason = "ClusterBudget";
		snprintf(
			msg, cap,
			"all AuditRecords held %s, past %d%% of the cluster's budget %s "
			"(--storage-budget): the nodes keep new records in their spools until they "
			"are below %d%% (records expire by their retention, never earlier)",
			quantity_format(c->budget.at_total, t, sizeof(t)), BUDGET_HIGH_PCT, u,
			BUDGET_LOW_PCT);
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

/* A hold began or ended for one policy (its own budget) or, policy NULL,
 * for the cluster (every policy). */
static void storage_changed(const char *policy, bool held, void *arg)
{
	struct controller *c = arg;
	char a[32], b[32];
	size_t i;

	if (policy) {
		const struct budget_policy *bp = hmap_get(&c->budget.policies, policy);
		const struct policy *p = storage_policy(c, policy);

		log_with(held ? LOG_WARN : LOG_INFO, LOG_KV("policy", policy),
			 held ? "AuditRecords of the policy past its storage budget "
				"(%s of %s): new records are held on the nodes" :
				"AuditRecords of the policy back within its storage budget "
				"(%s of %s): held records are released",
			 quantity_format(bp ? bp->at_bytes : 0, a, sizeof(a)),
			 quantity_format(bp ? bp->at_budget : 0, b, sizeof(b)));
		/* The cluster's hold covers every target already. */
		if (!c->budget.held)
			resolver_hold_changed(&c->res, policy);
		if (p) {
			controller_enqueue(c, "policy", policy, 0);
			storage_event(c, p,
				      held ? "StorageBudgetExceeded" : "StorageBudgetRecovered",
				      held ? "Warning" : "Normal");
		}
		return;
	}
	log_with(held ? LOG_WARN : LOG_INFO,
		 LOG_KV("budget", quantity_format(c->budget.cluster, b, sizeof(b))),
		 held ? "AuditRecords past the cluster's storage budget (%s): "
			"new records are held on every node" :
			"AuditRecords back within the cluster's storage budget (%s): "
			"held records are released",
		 quantity_format(c->budget.at_total, a, sizeof(a)));
	resolver_hold_changed(&c->res, NULL);
	for (i = 0; i < c->npolicies; i++) {
		controller_enqueue(c, "policy", c->policies[i]->name, 0);
		/* A policy held by its own budget already said so. */
		if (!budget_policy_held(&c->budget, c->policies[i]->name))
			storage_event(c, c->policies[i],
				      held ? "StorageBudgetExceeded" : "StorageBudgetRecovered",
				      held ? "Warning" : "Normal");
	}
}

void storage_sync(struct controller *c)
{
	/* Before a first resolution, the policies' budgets are not known;
	 * the records' counts wait. */
	if (!c->resolved)
		return;
	budget_evaluate(&c->budget, storage_limit, storage_changed, c);
	c->m_record_bytes->value = (double)c->budget.total;
	c->m_budget_exceeded->value = c->budget.held;
}
