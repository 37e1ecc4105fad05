// SPDX-License-Identifier: Apache-2.0
/* The agent's status report against a real kube-apiserver: a restarted
 * agent whose ShellAuditNode still has the old agent's lastError clears it
 * once and then writes nothing (k8s.md M6: a merge patch without the key
 * kept it, so the status never matched and was patched every second).
 * And the target it reads from the spec: its identity's text, printed once
 * for all its entries, is that identity as printed. */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "jsontext.h"
#include "kube.h"
#include "kubeconfig.h"
#include "log.h"
#include "nodecfg.h"

#define SANS "/apis/shellaudit.io/v1alpha1/shellauditnodes"
#define NODE "m6-node"
#define CID "containerd://4f1c2a3b5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708"

static void pump(struct nodecfg *nc, int ms)
{
	struct pollfd p = { nodecfg_fd(nc), POLLIN, 0 };
	long waited = 0;

	while (waited < ms) {
		poll(&p, 1, 100);
		nodecfg_process(nc);
		waited += 100;
	}
}

static char *field(struct kube_client *c, const char *a, const char *b)
{
	cJSON *obj = NULL;
	char *out = NULL;
	const char *v;

	if (kube_get(c, SANS "/" NODE, &obj, NULL) == 0) {
		v = cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(obj, a), b));
		out = v ? strdup(v) : NULL;
	}
	cJSON_Delete(obj);
	return out;
}

int main(void)
{
	struct kubeconfig *cfg = NULL;
	struct kube_client *c = NULL;
	struct nodecfg *nc = NULL;
	cJSON *san, *patch;
	char err[512], *rv1, *rv2, *le;
	int i, same = 1;

	log_set_level(LOG_WARN);
	if (kubeconfig_load(getenv("KUBECONFIG"), NULL, &cfg, err, sizeof(err)) < 0) {
		printf("  FAIL kubeconfig: %s\n0 passed, 1 failed\n", err);
		return 1;
	}
	kube_client_new(cfg, NULL, &c);
	san = cJSON_Parse("{\"apiVersion\":\"shellaudit.io/v1alpha1\",\"kind\":\"ShellAuditNode\","
			  "\"metadata\":{\"name\":\"" NODE
			  "\"},\"spec\":{\"targetCount\":1,\"targets\":[{\"namespace\":\"default\","
			  "\"pod\":\"demo\",\"podUID\":\"0b7c8d1e-2f3a-4b5c-8d6e-7f8091a2b3c4\","
			  "\"container\":\"sh\\\"ell\",\"containerID\":\"" CID "\","
			  "\"policies\":[\"audit-demo\"],\"capture\":{\"readline\":true,"
			  "\"exec\":true,\"aggregateExecs\":false},\"events\":{\"enabled\":true,"
			  "\"execEvents\":false,\"ratePerMinute\":60},\"retention\":\"720h\"}]}}");
	CHECK("a ShellAuditNode is created", kube_create(c, SANS, san, NULL, NULL) == 0);
	cJSON_Delete(san);
	/* What the previous agent left. */
	patch = cJSON_Parse("{\"status\":{\"observedGeneration\":1,\"attached\":0,\"drops\":0,"
			    "\"agentVersion\":\"old\",\"targets\":[],"
			    "\"lastError\":\"spool: No space left on device\"}}");
	CHECK("the old agent's status has a lastError",
	      kube_patch(c, SANS "/" NODE "/status", patch, NULL, NULL) == 0);
	cJSON_Delete(patch);

	CHECK("nodecfg starts", nodecfg_start(cfg, NULL, NODE, &nc) == 0);
	pump(nc, 3000);
	CHECK("and syncs", nodecfg_synced(nc));
	{
		const struct sink_spool_target *t = nodecfg_lookup(CID, nc);
		char *text = t ? jsontext_print(t->id, NULL) : NULL;

		CHECK("its target's identity is printed once, as jsontext prints it",
		      text && t->id_text && !strcmp(text, t->id_text) &&
			      strstr(text, "\"aggregateExecs\":false") &&
			      strstr(text, "sh\\\"ell"));
		free(text);
	}
	nodecfg_report(nc, c, NULL, 0, 0, "", NULL);
	pump(nc, 2000);
	le = field(c, "status", "lastError");
	CHECK("the new agent's first report clears lastError", le == NULL);
	free(le);
	rv1 = field(c, "metadata", "resourceVersion");
	for (i = 0; i < 3; i++) {
		nodecfg_report(nc, c, NULL, 0, 0, "", NULL);
		pump(nc, 1000);
	}
	rv2 = field(c, "metadata", "resourceVersion");
	same = rv1 && rv2 && !strcmp(rv1, rv2);
	CHECK("then the same report writes nothing", same);
	free(rv1);
	free(rv2);
	nodecfg_stop(nc);
	kube_delete(c, SANS "/" NODE, NULL, NULL, NULL);
	kube_client_free(c);
	kubeconfig_free(cfg);
	return check_summary();
}
