// SPDX-License-Identifier: Apache-2.0
/* Policy status: observedGeneration, matched pods, nodes, and the Ready,
 * InvalidSpec, RedactRulesTruncated and StorageBudgetExceeded conditions (others' conditions are
 * kept). Written only when something other than a transition time would
 * change, as a merge patch that carries the policy's resourceVersion: a
 * write computed from an older policy gets a 409 and is computed again. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller.h"
#include "jsontext.h"
#include "timefmt.h"
#include "util.h"

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
	const char *have = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(san, "specHash"));
	const char *want;
	bool ok;

	(void)value;
	ok = san && cJSON_IsNumber(gen) && cJSON_IsNumber(obs) &&
	     obs->valuedouble >= gen->valuedouble && have &&
	     (want = resolve_node_hash(&r->c->res, node)) && !strcmp(have, want);
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
		const char *ost =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(match, "status"));

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

/* Keeps the conditions of types we do not write (another controller's). */
static void status_keep_foreign(cJSON *conds, const cJSON *old_conds)
{
	static const char *const ours[] = { "Ready", "InvalidSpec", "RedactRulesTruncated",
					    "StorageBudgetExceeded" };
	const cJSON *old;
	size_t i;

	cJSON_ArrayForEach(old, old_conds) {
		const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(old, "type"));
		bool mine = false;

		for (i = 0; t && i < ARRAY_SIZE(ours); i++)
			mine |= !strcmp(t, ours[i]);
		if (t && !mine)
			cJSON_AddItemToArray(conds, cJSON_Duplicate(old, 1));
	}
}

int status_sync(struct controller *c, const char *name)
{
	const cJSON *obj = informer_get(c->inf[CTL_POLICIES], NULL, name);
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(obj, "status");
	const cJSON *oldc = cJSON_GetObjectItemCaseSensitive(old, "conditions");
	const char *rv =
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "resourceVersion"));
	const struct resolve_result *pr = resolve_policy(&c->res, name);
	const char *invalid = hmap_get(&c->invalid, name);
	struct status_ready r = { c, 0, "" };
	struct write_job *j;
	cJSON *status, *conds, *patch;
	char path[512], key[320], msg[1024];
	const char *st, *reason;
	long long gen;
	long nodes = 0;

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
		cJSON_AddItemToArray(conds,
				     status_condition(oldc, "Ready", "False", "InvalidSpec",
						      invalid ? invalid : "not parsed", gen));
		cJSON_AddItemToArray(conds,
				     status_condition(oldc, "InvalidSpec", "True", "InvalidSpec",
						      invalid ? invalid : "not parsed", gen));
	} else {
		if (pr) {
			nodes = (long)pr->nodes.size;
			hmap_foreach((struct hmap *)&pr->nodes, status_check_node, &r);
		}
		cJSON_AddNumberToObject(status, "matchedPods", pr ? (double)pr->matched_pods : 0);
		cJSON_AddNumberToObject(status, "nodes", (double)nodes);
		if (r.pending) {
			snprintf(msg, sizeof(msg),
				 "%ld of %ld nodes have not applied their targets yet: %s%s",
				 r.pending, nodes, r.names, r.pending > 5 ? ", ..." : "");
			cJSON_AddItemToArray(conds, status_condition(oldc, "Ready", "False",
								     "NodesPending", msg, gen));
		} else {
			snprintf(msg, sizeof(msg), nodes ? "all %ld nodes apply their targets" :
							   "no running container matches", nodes);
			cJSON_AddItemToArray(
				conds, status_condition(oldc, "Ready", "True",
							nodes ? "Applied" : "NoTargets", msg, gen));
		}
		cJSON_AddItemToArray(conds, status_condition(oldc, "InvalidSpec", "False", "Valid",
							     "the spec is usable", gen));
		storage_condition(c, name, &st, &reason, msg, sizeof(msg));
		cJSON_AddItemToArray(conds, status_condition(oldc, "StorageBudgetExceeded", st,
							     reason, msg, gen));
		if (pr && pr->redact_dropped) {
			snprintf(msg, sizeof(msg),
				 "on %ld containers other policies' redact rules came first and "
				 "this policy's did not all fit the %d a container can have",
				 pr->redact_dropped, RESOLVE_MAX_REDACT);
			cJSON_AddItemToArray(conds,
					     status_condition(oldc, "RedactRulesTruncated", "True",
							      "TooManyRules", msg, gen));
		}
	}
	status_keep_foreign(conds, oldc);
	if (old && cJSON_Compare(old, status, true)) {
		cJSON_Delete(status);
		return 0;
	}
	if (!controller_take_status_write(c)) {
		cJSON_Delete(status);
		return -EAGAIN;
	}
	patch = cJSON_CreateObject();
	cJSON_AddStringToObject(cJSON_AddObjectToObject(patch, "metadata"), "resourceVersion",
				rv ? rv : "");
	cJSON_AddItemToObject(patch, "status", status);
	snprintf(key, sizeof(key), "policy/%s", name);
	snprintf(path, sizeof(path), SHELLAUDIT_GROUP_PATH "/shellauditpolicies/%s/status", name);
	if (!(j = write_job_new(key, "PATCH", path)) || !(j->body = jsontext_print(patch, NULL))) {
		write_job_free(j);
		cJSON_Delete(patch);
		return -ENOMEM;
	}
	cJSON_Delete(patch);
	controller_submit(c, j);
	return 1;
}

int status_done(struct controller *c, const char *name, struct write_job *j)
{
	(void)c;
	if (j->ret == 0 || j->ret == -ENOENT || j->ret == WRITER_NOT_LEADER)
		return 0;
	if (j->ret == -EBUSY || j->ret == -EAGAIN) {
		log_with(LOG_DEBUG, LOG_KV("policy", name), "policy status: %s; computing again",
			 j->message);
		return 0;
	}
	log_with(LOG_WARN, LOG_KV("policy", name), "cannot update policy status: %s", j->message);
	return j->ret;
}
