// SPDX-License-Identifier: Apache-2.0
/* Lease-based leader election with client-go's rules: a lease held by
 * another replica is taken over only after it has not changed for its
 * duration as observed on *our* clock (no clock comparison across
 * machines); updates carry the resourceVersion so two candidates cannot
 * both win. */
#include "lease.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "timefmt.h"

struct lease {
	struct kube_client *c;
	struct lease_opts opts;
	char path[1024];
	char collection[512];
	char holder[256];	/* holder last seen, "" when none */
	bool leader;
	long last_renew;	/* our clock, ms, last successful renew */
	char observed[256];	/* holder + renewTime last seen */
	long observed_at;	/* our clock, ms, when `observed` changed */
};

int lease_new(struct kube_client *c, const struct lease_opts *opts, struct lease **out)
{
	struct lease *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->c = c;
	l->opts = *opts;
	if (!l->opts.duration_s)
		l->opts.duration_s = 15;
	if (!l->opts.renew_deadline_s)
		l->opts.renew_deadline_s = 10;
	if (!l->opts.retry_period_s)
		l->opts.retry_period_s = 2;
	snprintf(l->collection, sizeof(l->collection),
		 "/apis/coordination.k8s.io/v1/namespaces/%s/leases", opts->ns);
	snprintf(l->path, sizeof(l->path), "%s/%s", l->collection, opts->name);
	*out = l;
	return 0;
}

void lease_free(struct lease *l)
{
	free(l);
}

bool lease_is_leader(const struct lease *l)
{
	return l->leader;
}

/* Fills spec with us as holder; transitions counts changes of holder. */
static void lease_fill(struct lease *l, cJSON *spec, long transitions, bool acquire)
{
	struct timespec now;
	char ts[40];

	clock_gettime(CLOCK_REALTIME, &now);
	timefmt_micro(&now, ts, sizeof(ts));
	cJSON_DeleteItemFromObject(spec, "holderIdentity");
	cJSON_AddStringToObject(spec, "holderIdentity", l->opts.identity);
	cJSON_DeleteItemFromObject(spec, "leaseDurationSeconds");
	cJSON_AddNumberToObject(spec, "leaseDurationSeconds", (double)l->opts.duration_s);
	cJSON_DeleteItemFromObject(spec, "renewTime");
	cJSON_AddStringToObject(spec, "renewTime", ts);
	if (acquire) {
		cJSON_DeleteItemFromObject(spec, "acquireTime");
		cJSON_AddStringToObject(spec, "acquireTime", ts);
		cJSON_DeleteItemFromObject(spec, "leaseTransitions");
		cJSON_AddNumberToObject(spec, "leaseTransitions", (double)transitions);
	}
}

static int lease_create(struct lease *l)
{
	cJSON *obj = cJSON_CreateObject(), *md, *spec;
	struct kube_response resp;
	int ret;

	cJSON_AddStringToObject(obj, "apiVersion", "coordination.k8s.io/v1");
	cJSON_AddStringToObject(obj, "kind", "Lease");
	md = cJSON_AddObjectToObject(obj, "metadata");
	cJSON_AddStringToObject(md, "name", l->opts.name);
	cJSON_AddStringToObject(md, "namespace", l->opts.ns);
	spec = cJSON_AddObjectToObject(obj, "spec");
	lease_fill(l, spec, 0, true);
	ret = kube_create(l->c, l->collection, obj, NULL, &resp);
	if (ret < 0 && ret != -EEXIST)
		log_with(LOG_WARN, LOG_KV("lease", l->opts.name, "ns", l->opts.ns),
			 "cannot create lease: %s", resp.message);
	cJSON_Delete(obj);
	return ret;
}

/* One attempt; true when we hold the lease afterwards. */
static bool lease_try(struct lease *l)
{
	struct kube_response resp;
	cJSON *obj = NULL, *spec;
	const char *holder, *renew;
	char seen[256];
	long now = clock_now_ms(), transitions;
	bool ours, won = false;
	int ret;

	ret = kube_get(l->c, l->path, &obj, &resp);
	if (ret == -ENOENT)
		return lease_create(l) == 0;
	if (ret < 0) {
		log_with(LOG_WARN, LOG_KV("lease", l->opts.name), "cannot read lease: %s",
			 resp.message);
		return false;
	}
	spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
	if (!spec)
		spec = cJSON_AddObjectToObject(obj, "spec");
	holder = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "holderIdentity"));
	renew = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "renewTime"));
	snprintf(l->holder, sizeof(l->holder), "%s", holder ? holder : "");
	snprintf(seen, sizeof(seen), "%s|%s", holder ? holder : "", renew ? renew : "");
	if (strcmp(seen, l->observed) != 0) {
		snprintf(l->observed, sizeof(l->observed), "%s", seen);
		l->observed_at = now;
	}
	ours = holder && !strcmp(holder, l->opts.identity);
	if (!ours && holder && *holder && now - l->observed_at < l->opts.duration_s * 1000L)
		goto out; /* held by another replica that is still renewing */
	transitions = (long)cJSON_GetNumberValue(
		cJSON_GetObjectItemCaseSensitive(spec, "leaseTransitions"));
	if (transitions < 0 || transitions > 1000000000L)
		transitions = 0;
	/* holder and renew point into spec, which lease_fill rewrites. */
	holder = renew = NULL;
	lease_fill(l, spec, ours ? transitions : transitions + 1, !ours);
	/* metadata.resourceVersion stays in obj: a concurrent writer conflicts. */
	ret = kube_update(l->c, l->path, obj, NULL, &resp);
	if (ret == 0) {
		won = true;
		if (!ours)
			log_with(LOG_INFO, LOG_KV("lease", l->opts.name, "identity", l->opts.identity,
						  "previous", l->holder),
				 "acquired leadership");
	} else if (ret != -EBUSY) {
		log_with(LOG_WARN, LOG_KV("lease", l->opts.name), "cannot update lease: %s",
			 resp.message);
	}
out:
	cJSON_Delete(obj);
	return won;
}

int lease_tick(struct lease *l)
{
	long now = clock_now_ms();

	if (lease_try(l)) {
		snprintf(l->holder, sizeof(l->holder), "%s", l->opts.identity);
		l->last_renew = now;
		l->leader = true;
	} else if (l->leader && now - l->last_renew > l->opts.renew_deadline_s * 1000L) {
		log_with(LOG_WARN, LOG_KV("lease", l->opts.name, "identity", l->opts.identity),
			 "could not renew for %lds; stepping down", l->opts.renew_deadline_s);
		l->leader = false;
	} else if (l->leader && l->holder[0] && strcmp(l->holder, l->opts.identity) != 0) {
		/* Someone else holds it now: we lost it (e.g. our renewals were late). */
		log_with(LOG_WARN, LOG_KV("lease", l->opts.name), "leadership taken over");
		l->leader = false;
	}
	return l->leader ? 1 : 0;
}

int lease_release(struct lease *l)
{
	struct kube_response resp;
	cJSON *obj = NULL, *spec;
	int ret;

	if (!l->leader)
		return 0;
	l->leader = false;
	if ((ret = kube_get(l->c, l->path, &obj, &resp)) < 0)
		return ret;
	spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
	if (spec) {
		/* Like client-go: an empty holder with a 1 s duration lets the
		 * next candidate take it at once. */
		cJSON_DeleteItemFromObject(spec, "holderIdentity");
		cJSON_AddStringToObject(spec, "holderIdentity", "");
		cJSON_DeleteItemFromObject(spec, "leaseDurationSeconds");
		cJSON_AddNumberToObject(spec, "leaseDurationSeconds", 1);
	}
	ret = kube_update(l->c, l->path, obj, NULL, &resp);
	if (ret < 0)
		log_with(LOG_WARN, LOG_KV("lease", l->opts.name), "cannot release lease: %s",
			 resp.message);
	cJSON_Delete(obj);
	return ret;
}
