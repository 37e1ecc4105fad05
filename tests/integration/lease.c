// SPDX-License-Identifier: Apache-2.0
/* A leader-election candidate for test_lease.sh: `lease IDENTITY
 * [DURATION_S]` prints "leader" or "follower" each time its state changes;
 * on SIGTERM it releases the lease and prints "released" (it led and the
 * Lease was updated), "release-failed" (it led and the update failed, exit
 * status 1) or "not-leader" (nothing to release). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../arg.h"
#include "kube.h"
#include "kubeconfig.h"
#include "lease.h"
#include "log.h"

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

int main(int argc, char **argv)
{
	struct lease_opts o = { .ns = "default", .name = "lease-test", .duration_s = 6,
				.renew_deadline_s = 4, .retry_period_s = 1 };
	struct kubeconfig *cfg;
	struct kube_client *c;
	struct lease *l;
	struct timespec step = { 0, 500 * 1000000L };
	char err[512];
	int state = -1, now, ret = 0;

	if (argc != 2 && argc != 3)
		return 2;
	o.identity = argv[1];
	if (argc == 3)
		o.duration_s = arg_long(argv[2], "DURATION_S");
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_term);
	if (kubeconfig_load(getenv("KUBECONFIG"), NULL, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	kube_client_new(cfg, NULL, &c);
	lease_new(c, &o, &l);
	while (!stopping) {
		now = lease_tick(l);
		if (now != state) {
			printf("%s\n", now ? "leader" : "follower");
			state = now;
		}
		nanosleep(&step, NULL);
	}
	if (!lease_is_leader(l)) {
		printf("not-leader\n");
	} else if (lease_release(l) == 0) {
		printf("released\n");
	} else {
		printf("release-failed\n");
		ret = 1;
	}
	lease_free(l);
	kube_client_free(c);
	kubeconfig_free(cfg);
	return ret;
}
