// SPDX-License-Identifier: Apache-2.0
/* ShellAuditPolicy parsing. The CRD schema rejects most bad specs at
 * `kubectl apply`; what reaches here and still cannot be used is reported
 * in the policy's InvalidSpec condition rather than guessed at. */
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantity.h"
#include "timefmt.h"

#define POLICY_DEFAULT_RETENTION "720h"

void policy_free(struct policy *p)
{
	size_t i;

	if (!p)
		return;
	free(p->name);
	selector_free(p->ns_sel);
	selector_free(p->pod_sel);
	for (i = 0; p->containers && i < p->ncontainers; i++)
		free(p->containers[i]);
	free(p->containers);
	free(p->retention);
	cJSON_Delete(p->redact);
	free(p);
}

static bool policy_bool(const cJSON *obj, const char *key, bool def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

int policy_parse(const cJSON *obj, struct policy **out, char *err, size_t errlen)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(md, "name");
	const cJSON *gen = cJSON_GetObjectItemCaseSensitive(md, "generation");
	const cJSON *nsel, *cont, *c, *capture, *from, *events, *rate, *ret, *redact, *budget;
	struct policy *p;
	char serr[200];
	int r = -EINVAL;

	*out = NULL;
	err[0] = '\0';
	if (!cJSON_IsString(name) || !cJSON_IsObject(spec)) {
		snprintf(err, errlen, "policy without a name or a spec");
		return -EINVAL;
	}
	if (!(p = calloc(1, sizeof(*p))) || !(p->name = strdup(name->valuestring))) {
		free(p);
		return -ENOMEM;
	}
	p->generation = cJSON_IsNumber(gen) ? (long long)gen->valuedouble : 0;
	nsel = cJSON_GetObjectItemCaseSensitive(spec, "namespaceSelector");
	if (nsel && !cJSON_IsNull(nsel)) {
		if (selector_from_json(nsel, &p->ns_sel, serr, sizeof(serr)) < 0) {
			snprintf(err, errlen, "spec.namespaceSelector: %s", serr);
			goto fail;
		}
	} else {
		/* Absent selects every namespace, like an empty selector (a
		 * null LabelSelector would select none). */
		cJSON *empty = cJSON_CreateObject();

		r = empty ? selector_from_json(empty, &p->ns_sel, serr, sizeof(serr)) : -ENOMEM;
		cJSON_Delete(empty);
		if (r < 0)
			goto fail;
		r = -EINVAL;
	}
	if (selector_from_json(cJSON_GetObjectItemCaseSensitive(spec, "podSelector"), &p->pod_sel,
			       serr, sizeof(serr)) < 0) {
		snprintf(err, errlen, "spec.podSelector: %s", serr);
		goto fail;
	}
	if (p->pod_sel->nothing) {
		snprintf(err, errlen, "spec.podSelector is required");
		goto fail;
	}
	cont = cJSON_GetObjectItemCaseSensitive(spec, "containers");
	if (cJSON_IsArray(cont) && cJSON_GetArraySize(cont) > 0) {
		if (!(p->containers = calloc((size_t)cJSON_GetArraySize(cont), sizeof(char *)))) {
			r = -ENOMEM;
			goto fail;
		}
		cJSON_ArrayForEach(c, cont) {
			if (!cJSON_IsString(c)) {
				snprintf(err, errlen, "spec.containers: not a list of names");
				goto fail;
			}
			if (!(p->containers[p->ncontainers++] = strdup(c->valuestring))) {
				r = -ENOMEM;
				goto fail;
			}
		}
	}
	capture = cJSON_GetObjectItemCaseSensitive(spec, "capture");
	p->capture_readline = policy_bool(capture, "readline", true);
	p->capture_exec = policy_bool(capture, "exec", true);
	p->capture_terminal = policy_bool(capture, "terminal", true);
	p->aggregate_execs = policy_bool(capture, "aggregateExecs", true);
	from = cJSON_GetObjectItemCaseSensitive(capture, "execFrom");
	if (from && (!cJSON_IsString(from) ||
		     (strcmp(from->valuestring, "All") && strcmp(from->valuestring, "Sessions")))) {
		snprintf(err, errlen, "spec.capture.execFrom must be All or Sessions");
		goto fail;
	}
	p->exec_sessions_only = from && !strcmp(from->valuestring, "Sessions");
	if (!p->capture_readline && !p->capture_exec && !p->capture_terminal) {
		snprintf(err, errlen, "spec.capture enables nothing");
		goto fail;
	}
	events = cJSON_GetObjectItemCaseSensitive(spec, "events");
	p->events_enabled = policy_bool(events, "enabled", true);
	p->events_exec = policy_bool(events, "execEvents", false);
	rate = cJSON_GetObjectItemCaseSensitive(events, "ratePerMinute");
	p->rate_per_minute = cJSON_IsNumber(rate) ? (long)rate->valuedouble : 60;
	if (p->rate_per_minute < 1 || p->rate_per_minute > 6000) {
		snprintf(err, errlen, "spec.events.ratePerMinute must be 1..6000");
		goto fail;
	}
	ret = cJSON_GetObjectItemCaseSensitive(spec, "retention");
	p->retention = strdup(cJSON_IsString(ret) ? ret->valuestring : POLICY_DEFAULT_RETENTION);
	if (!p->retention) {
		r = -ENOMEM;
		goto fail;
	}
	if (timefmt_duration(p->retention, &p->retention_s) < 0 || p->retention_s < 60) {
		snprintf(err, errlen, "spec.retention \"%.24s\": want a duration of at least 1m",
			 p->retention);
		goto fail;
	}
	/* A quantity ("64Mi") or a number of bytes; the schema checks both. */
	budget = cJSON_GetObjectItemCaseSensitive(spec, "storageBudget");
	if (cJSON_IsNumber(budget)) {
		if (budget->valuedouble < 1 || budget->valuedouble > 4e18) {
			snprintf(err, errlen, "spec.storageBudget must be at least one byte");
			goto fail;
		}
		p->storage_budget = (long long)budget->valuedouble;
	} else if (cJSON_IsString(budget)) {
		if (quantity_bytes(budget->valuestring, &p->storage_budget) < 0 ||
		    p->storage_budget < 1) {
			snprintf(
				err, errlen,
				"spec.storageBudget \"%.24s\": want bytes, or a quantity like 64Mi",
				budget->valuestring);
			goto fail;
		}
	} else if (budget && !cJSON_IsNull(budget)) {
		snprintf(err, errlen, "spec.storageBudget: want bytes, or a quantity like 64Mi");
		goto fail;
	}
	redact = cJSON_GetObjectItemCaseSensitive(spec, "redact");
	if (cJSON_IsArray(redact) && cJSON_GetArraySize(redact) > 0 &&
	    !(p->redact = cJSON_Duplicate(redact, 1))) {
		r = -ENOMEM;
		goto fail;
	}
	*out = p;
	return 0;
fail:
	policy_free(p);
	return r;
}

bool policy_wants_container(const struct policy *p, const char *container)
{
	size_t i;

	if (!p->containers)
		return true;
	for (i = 0; i < p->ncontainers; i++)
		if (!strcmp(p->containers[i], container))
			return true;
	return false;
}
