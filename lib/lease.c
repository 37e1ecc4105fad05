// SPDX-License-Identifier: Apache-2.0
/* Lease-based leader election with client-go's rules: a lease held by
 * another replica is taken over only after it has not changed for its
 * duration as observed on *our* clock (no clock comparison across
 * machines); updates carry the resourceVersion so two candidates cannot
 * both win. */
#include "lease.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "ratelimit.h"
#include "timefmt.h"

#include <sys/eventfd.h>
#include <unistd.h>

#define LEASE_MAX_DURATION_S 86400

struct lease {
	struct kube_client *c;
	struct lease_opts opts;
	char path[1024];
	char collection[512];
	char holder[256];	/* holder last seen, "" when none */
	atomic_bool leader;
	long last_renew;	/* our clock, ms, last successful renew */
	char observed[256];	/* holder + renewTime last seen */
	long observed_at;	/* our clock, ms, when `observed` changed */
	long observed_duration_s; /* the holder's leaseDurationSeconds */
	cJSON *ours;		/* the Lease as our last write left it, or NULL */
	atomic_long valid_until; /* our clock, ms; see lease_valid() */

	/* lease_start only */
	bool own_client, started;
	pthread_t thread;
	atomic_int stop, abort_io;
	int efd, stopfd;
};

int lease_new(struct kube_client *c, const struct lease_opts *opts, struct lease **out)
{
	struct lease *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->c = c;
	l->opts = *opts;
	l->efd = l->stopfd = -1;
	atomic_init(&l->leader, false);
	atomic_init(&l->valid_until, 0);
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
	if (!l)
		return;
	cJSON_Delete(l->ours);
	if (l->own_client)
		kube_client_free(l->c);
	if (l->efd >= 0)
		close(l->efd);
	if (l->stopfd >= 0)
		close(l->stopfd);
	free(l);
}

bool lease_is_leader(const struct lease *l)
{
	return atomic_load(&l->leader);
}

bool lease_valid(const struct lease *l)
{
	return atomic_load(&l->leader) && clock_now_ms() < atomic_load(&l->valid_until);
}

/* Keeps the object our write left (taking it), for lease_release. */
static void lease_keep(struct lease *l, cJSON *obj)
{
	cJSON_Delete(l->ours);
	l->ours = obj;
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
	cJSON *obj = cJSON_CreateObject(), *md, *spec, *out = NULL;
	struct kube_response resp;
	int ret;

	cJSON_AddStringToObject(obj, "apiVersion", "coordination.k8s.io/v1");
	cJSON_AddStringToObject(obj, "kind", "Lease");
	md = cJSON_AddObjectToObject(obj, "metadata");
	cJSON_AddStringToObject(md, "name", l->opts.name);
	cJSON_AddStringToObject(md, "namespace", l->opts.ns);
	spec = cJSON_AddObjectToObject(obj, "spec");
	lease_fill(l, spec, 0, true);
	ret = kube_create(l->c, l->collection, obj, &out, &resp);
	if (ret == 0)
		lease_keep(l, out);
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
	cJSON *obj = NULL, *spec, *out = NULL;
	const cJSON *dur;
	const char *holder, *renew;
	char seen[256];
	long now = clock_now_ms(), transitions, duration_s;
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
	/* The holder's own duration, as client-go: a replica started with a
	 * shorter --lease-duration must not take a lease early. */
	dur = cJSON_GetObjectItemCaseSensitive(spec, "leaseDurationSeconds");
	duration_s = cJSON_IsNumber(dur) && dur->valuedouble >= 1 &&
				     dur->valuedouble <= LEASE_MAX_DURATION_S ?
			     (long)dur->valuedouble :
			     l->opts.duration_s;
	l->observed_duration_s = duration_s;
	ours = holder && !strcmp(holder, l->opts.identity);
	if (!ours && holder && *holder && now - l->observed_at < duration_s * 1000L)
		goto out; /* held by another replica that is still renewing */
	transitions = (long)cJSON_GetNumberValue(
		cJSON_GetObjectItemCaseSensitive(spec, "leaseTransitions"));
	if (transitions < 0 || transitions > 1000000000L)
		transitions = 0;
	/* holder and renew point into spec, which lease_fill rewrites. */
	holder = renew = NULL;
	lease_fill(l, spec, ours ? transitions : transitions + 1, !ours);
	/* metadata.resourceVersion stays in obj: a concurrent writer conflicts. */
	ret = kube_update(l->c, l->path, obj, &out, &resp);
	if (ret == 0) {
		won = true;
		lease_keep(l, out);
		if (!ours)
			log_with(LOG_INFO,
				 LOG_KV("lease", l->opts.name, "identity", l->opts.identity,
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
	bool leader = atomic_load(&l->leader);

	if (lease_try(l)) {
		snprintf(l->holder, sizeof(l->holder), "%s", l->opts.identity);
		l->last_renew = now;
		/* Valid from the start of the request that renewed it: the
		 * others count the lease's duration from when they saw it. */
		atomic_store(&l->valid_until, now + l->opts.renew_deadline_s * 1000L);
		atomic_store(&l->leader, true);
	} else if (leader && now - l->last_renew > l->opts.renew_deadline_s * 1000L) {
		log_with(LOG_WARN, LOG_KV("lease", l->opts.name, "identity", l->opts.identity),
			 "could not renew for %lds; stepping down", l->opts.renew_deadline_s);
		atomic_store(&l->leader, false);
	} else if (leader && l->holder[0] && strcmp(l->holder, l->opts.identity) != 0) {
		/* Someone else holds it now: we lost it (e.g. our renewals were late). */
		log_with(LOG_WARN, LOG_KV("lease", l->opts.name), "leadership taken over");
		atomic_store(&l->leader, false);
	}
	if (!atomic_load(&l->leader))
		atomic_store(&l->valid_until, 0);
	if (l->holder[0] && strcmp(l->holder, l->opts.identity) != 0)
		lease_keep(l, NULL); /* not ours to release any more */
	return atomic_load(&l->leader) ? 1 : 0;
}

int lease_release(struct lease *l)
{
	struct kube_response resp;
	cJSON *spec;
	int ret;

	atomic_store(&l->leader, false);
	atomic_store(&l->valid_until, 0);
	if (!l->ours)
		return 0;
	spec = cJSON_GetObjectItemCaseSensitive(l->ours, "spec");
	if (!spec) {
		lease_keep(l, NULL);
		return 0;
	}
	/* Like client-go: an empty holder with a 1 s duration lets the next
	 * candidate take it at once. The object is the one we last wrote,
	 * resourceVersion included: if anyone wrote it since, this is a 409
	 * and their lease stays. */
	cJSON_DeleteItemFromObject(spec, "holderIdentity");
	cJSON_AddStringToObject(spec, "holderIdentity", "");
	cJSON_DeleteItemFromObject(spec, "leaseDurationSeconds");
	cJSON_AddNumberToObject(spec, "leaseDurationSeconds", 1);
	ret = kube_update(l->c, l->path, l->ours, NULL, &resp);
	if (ret == -EBUSY) {
		log_with(LOG_INFO, LOG_KV("lease", l->opts.name),
			 "lease written by another replica since our last renewal: not released");
		ret = 0;
	} else if (ret < 0) {
		log_with(LOG_WARN, LOG_KV("lease", l->opts.name), "cannot release lease: %s",
			 resp.message);
	}
	lease_keep(l, NULL);
	return ret;
}

/* --- on its own thread ------------------------------------------------------ */

static void lease_signal(int fd)
{
	uint64_t one = 1;

	(void)!write(fd, &one, sizeof(one));
}

static void *lease_thread(void *arg)
{
	struct lease *l = arg;
	struct pollfd p;
	bool was = false, now;

	pthread_setname_np(pthread_self(), "sa-lease");

	while (!atomic_load(&l->stop)) {
		now = lease_tick(l) == 1;
		if (now != was)
			lease_signal(l->efd);
		was = now;
		p = (struct pollfd){ l->stopfd, POLLIN, 0 };
		poll(&p, 1, (int)jitter_ms(l->opts.retry_period_s * 1000L, 0.2));
	}
	return NULL;
}

int lease_start(const struct kubeconfig *cfg, const struct lease_opts *opts, struct lease **out)
{
	struct kube_client_opts copts = { 0 };
	struct lease *l = NULL;
	long deadline_s = opts->renew_deadline_s ? opts->renew_deadline_s : 10;
	int ret;

	*out = NULL;
	if ((ret = lease_new(NULL, opts, &l)) < 0)
		return ret;
	atomic_init(&l->stop, 0);
	atomic_init(&l->abort_io, 0);
	/* Each attempt ends well before the renew deadline, and at once when
	 * lease_stop sets abort_io. */
	copts.timeout_ms = deadline_s * 1000L / 2;
	copts.stop = &l->abort_io;
	if ((ret = kube_client_new(cfg, &copts, &l->c)) < 0)
		goto fail;
	l->own_client = true;
	l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	l->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->efd < 0 || l->stopfd < 0) {
		ret = -errno;
		goto fail;
	}
	if ((ret = -pthread_create(&l->thread, NULL, lease_thread, l)) < 0)
		goto fail;
	l->started = true;
	*out = l;
	return 0;
fail:
	lease_free(l);
	return ret;
}

void lease_stop(struct lease *l)
{
	if (!l)
		return;
	if (l->started) {
		atomic_store(&l->stop, 1);
		atomic_store(&l->abort_io, 1);
		lease_signal(l->stopfd);
		pthread_join(l->thread, NULL);
		atomic_store(&l->abort_io, 0);
	}
	lease_release(l);
	lease_free(l);
}

int lease_fd(const struct lease *l)
{
	return l->efd;
}
