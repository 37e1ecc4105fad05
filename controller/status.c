// SPDX-License-Identifier: Apache-2.0
/* Policy status: observedGeneration, matched pods, nodes, and the Ready
 * and InvalidSpec conditions. Written only when something other than a
 * transition time would change. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller.h"
#include "timefmt.h"

struct status_ready {
	struct controller *c;
	long pending;
	char names[512];
};

/* A node is ready for a policy when its agent has observed the current
 * generation of a ShellAuditNode whose spec is the one we want. */
static void status_check_node(const char *node, void *value, void *arg)
{
	struct status_ready *r = arg;
	const cJSON *san = informer_get(r->c->inf[CTL_NODES], NULL, node);
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(san, "metadata");
	const cJSON *gen = cJSON_GetObjectItemCaseSensitive(md, "generation");
	const cJSON *obs = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(san, "status"), "observedGeneration");
	bool ok;

	(void)value;
	ok = san && cJSON_IsNumber(gen) && cJSON_IsNumber(obs) && obs->valuedouble >= gen->valuedouble &&
	     resolve_node_spec_equal(&r->c->res, node, cJSON_GetObjectItemCaseSensitive(san, "spec"));
	if (ok)
		return;
	if (r->pending++ < 5) {
		size_t len = strlen(r->names);

		snprintf(r->names + len, sizeof(r->names) - len, "%s%s", len ? ", " : "", node);
	}
}

/* A condition, keeping the old transition time when the status is unchanged. */
static cJSON *status_condition(const cJSON *old_conds, const char *type, const char *st,
			       const char *reason, const char *message, long long gen)
{
	const cJSON *old, *match = NULL;
	cJSON *c = cJSON_CreateObject();
	struct timespec now;
	char ts[40];
	const char *keep = NULL;

	cJSON_ArrayForEach(old, old_conds) {
		const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(old, "type"));

		if (t && !strcmp(t, type))
			match = old;
	}
	if (match) {
		const char *ost = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(match, "status"));

		if (ost && !strcmp(ost, st))
			keep = cJSON_GetStringValue(
				cJSON_GetObjectItemCaseSensitive(match, "lastTransitionTime"));
	}
	clock_gettime(CLOCK_REALTIME, &now);
	timefmt_rfc3339(&now, ts, sizeof(ts));
	cJSON_AddStringToObject(c, "type", type);
	cJSON_AddStringToObject(c, "status", st);
	cJSON_AddStringToObject(c, "reason", reason);
	cJSON_AddStringToObject(c, "message", message);
	cJSON_AddNumberToObject(c, "observedGeneration", (double)gen);
	cJSON_AddStringToObject(c, "lastTransitionTime", keep ? keep : ts);
	return c;
}

static const struct policy *status_find(const struct controller *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->npolicies; i++)
		if (!strcmp(c->policies[i]->name, name))
			return c->policies[i];
	return NULL;
}

int status_sync(struct controller *c, const char *name)
{
	const cJSON *obj = informer_get(c->inf[CTL_POLICIES], NULL, name);
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(obj, "status");
	const cJSON *oldc = cJSON_GetObjectItemCaseSensitive(old, "conditions");
	const struct resolve_policy_result *pr = hmap_get(&c->res.policies, name);
	const char *invalid = hmap_get(&c->invalid, name);
	struct status_ready r = { c, 0, "" };
	struct kube_response resp;
	cJSON *status, *conds, *patch;
	char path[512], msg[1024];
	long long gen;
	long nodes = 0;
	int ret;

	if (!obj)
		return 0; /* deleted meanwhile */
	gen = (long long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(md, "generation"));
	if (!(status = cJSON_CreateObject()))
		return -ENOMEM;
	cJSON_AddNumberToObject(status, "observedGeneration", (double)gen);
	conds = cJSON_AddArrayToObject(status, "conditions");
	if (invalid || !status_find(c, name)) {
		cJSON_AddNumberToObject(status, "matchedPods", 0);
		cJSON_AddNumberToObject(status, "nodes", 0);
		cJSON_AddItemToArray(conds, status_condition(oldc, "Ready", "False", "InvalidSpec",
							     invalid ? invalid : "not parsed", gen));
		cJSON_AddItemToArray(conds, status_condition(oldc, "InvalidSpec", "True", "InvalidSpec",
							     invalid ? invalid : "not parsed", gen));
	} else {
		if (pr) {
			nodes = (long)pr->nodes.size;
			hmap_foreach((struct hmap *)&pr->nodes, status_check_node, &r);
		}
		cJSON_AddNumberToObject(status, "matchedPods", pr ? (double)pr->matched_pods : 0);
		cJSON_AddNumberToObject(status, "nodes", (double)nodes);
		if (r.pending) {
			snprintf(msg, sizeof(msg), "%ld of %ld nodes have not applied their targets yet: %s%s",
				 r.pending, nodes, r.names, r.pending > 5 ? ", ..." : "");
			cJSON_AddItemToArray(conds, status_condition(oldc, "Ready", "False",
								     "NodesPending", msg, gen));
		} else {
			snprintf(msg, sizeof(msg), nodes ? "all %ld nodes apply their targets" :
							   "no running container matches", nodes);
			cJSON_AddItemToArray(conds, status_condition(oldc, "Ready", "True",
								     nodes ? "Applied" : "NoTargets",
								     msg, gen));
		}
		cJSON_AddItemToArray(conds, status_condition(oldc, "InvalidSpec", "False", "Valid",
							     "the spec is usable", gen));
	}
	if (old && cJSON_Compare(old, status, true)) {
		cJSON_Delete(status);
		return 0;
	}
	if (!controller_take_write(c)) {
		cJSON_Delete(status);
		return -EAGAIN;
	}
	c->m_writes->value++;
	patch = cJSON_CreateObject();
	cJSON_AddItemToObject(patch, "status", status);
	snprintf(path, sizeof(path), SHELLAUDIT_GROUP_PATH "/shellauditpolicies/%s/status", name);
	ret = kube_patch(c->client, path, patch, NULL, &resp);
	cJSON_Delete(patch);
	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		log_with(LOG_WARN, LOG_KV("policy", name), "cannot update policy status: %s",
			 resp.message);
	return ret;
}
