// SPDX-License-Identifier: Apache-2.0
/* lib/informer over a collection whose 500-item list page is larger than
 * the client takes (test_controller_hostile.sh fills it with AuditRecords
 * of typed '<', 6 bytes each once the API server has encoded them): the
 * informer must fall back to smaller pages and sync, not fail forever.
 * Usage: informer_pages PATH EXPECTED_ITEMS */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../arg.h"
#include "check.h"
#include "informer.h"
#include "kubeconfig.h"
#include "log.h"

int main(int argc, char **argv)
{
	struct informer_opts o = { .path = argc > 1 ? argv[1] : "", .watch_timeout_s = 30 };
	struct kubeconfig *cfg = NULL;
	struct informer *inf = NULL;
	struct informer_stats st;
	char err[512];
	time_t deadline = time(NULL) + 300;
	long want = argc > 2 ? arg_long(argv[2], "EXPECTED_ITEMS") : -1;

	log_set_level(LOG_WARN);
	if (argc < 3 || kubeconfig_load(getenv("KUBECONFIG"), NULL, &cfg, err, sizeof(err)) < 0) {
		printf("  FAIL usage or kubeconfig\n0 passed, 1 failed\n");
		return 1;
	}
	CHECK("informer starts", informer_start(cfg, NULL, &o, &inf) == 0);
	while (inf && !informer_synced(inf) && time(NULL) < deadline) {
		struct pollfd p = { informer_fd(inf), POLLIN, 0 };

		poll(&p, 1, 500);
		informer_process(inf);
	}
	CHECK("a list whose pages of 500 are too large syncs in smaller pages",
	      inf && informer_synced(inf) && (long)informer_size(inf) == want);
	if (inf) {
		informer_stats(inf, &st);
		CHECK("with one full list", st.lists == 1);
	}
	informer_stop(inf);
	kubeconfig_free(cfg);
	return check_summary();
}
