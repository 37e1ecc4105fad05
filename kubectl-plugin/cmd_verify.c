// SPDX-License-Identifier: Apache-2.0
/* kubectl shellaudit verify POD [-c C]: the agent's chain verification
 * (node-agent/verify.c, linked, not copied), with its exit status. Its
 * findings name container IDs from the records, which a forger fills:
 * they are shown through out_text_lines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "kube.h"
#include "kubeconfig.h"
#include "output.h"
#include "records.h"
#include "verify.h"

/* verify_container's findings, written to stdout terminal-safe. */
static int verify_show(struct kube_client *c, const char *ns, const char *pod,
		       const char *container)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	int ret;

	if (!mem) {
		cli_error("out of memory");
		return CLI_ERROR;
	}
	ret = verify_container(c, ns, pod, container, mem);
	fclose(mem);
	out_text_lines(stdout, buf ? buf : "");
	free(buf);
	return verify_exit_status(ret);
}

int cmd_verify(struct cli *cli)
{
	const char *pod = cli->args[0];
	struct records_filter f = { .pod = pod };
	struct kubeconfig *cfg;
	struct kube_client *c;
	struct records *r = NULL;
	char msg[768], *def = NULL;
	int ret;

	if (!records_valid_name(pod) || (cli->container && !records_valid_name(cli->container))) {
		cli_error("invalid pod or container name");
		return CLI_ERROR;
	}
	if ((ret = cli_connect(cli, &cfg, &c)) != CLI_OK)
		return ret;
	f.ns = cli->ns;
	if (cli->container) {
		ret = verify_show(c, f.ns, pod, cli->container);
		goto out;
	}
	/* No -c: the container the records name, or the pod's default. */
	if (records_load(c, &f, false, &r, msg, sizeof(msg)) < 0) {
		cli_error("%s", msg);
		ret = CLI_ERROR;
		goto out;
	}
	ret = records_pick_container(c, r, f.ns, pod, &def, msg, sizeof(msg));
	if (ret < 0 || !def) {
		cli_error("%s", msg);
		ret = ret == -ENOENT ? CLI_NO_RECORDS : CLI_ERROR;
		goto out;
	}
	if (!records_valid_name(def)) {
		cli_error("the records name an invalid container; give -c");
		ret = CLI_ERROR;
		goto out;
	}
	ret = verify_show(c, f.ns, pod, def);
out:
	free(def);
	records_free(r);
	cli_disconnect(cfg, c);
	return ret;
}
