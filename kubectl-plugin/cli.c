// SPDX-License-Identifier: Apache-2.0
/* Reaching the API server as kubectl does, and kubectl's error wording. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube.h"
#include "kubeconfig.h"

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_connect(struct cli *cli, struct kubeconfig **cfg, struct kube_client **c)
{
	static const struct kube_client_opts opts = {
		.user_agent = "kubectl-shellaudit/" SHELLAUDIT_VERSION,
	};
	const char *paths = cli->kubeconfig ? cli->kubeconfig : getenv("KUBECONFIG");
	const char *home = getenv("HOME");
	char err[512], def[4096];
	int ret;

	*cfg = NULL;
	*c = NULL;
	if ((!paths || !*paths) && home) {
		snprintf(def, sizeof(def), "%s/.kube/config", home);
		if (access(def, F_OK) == 0)
			paths = def;
	}
	if (paths && *paths) {
		ret = kubeconfig_load(paths, cli->context, cfg, err, sizeof(err));
	} else if (getenv("KUBERNETES_SERVICE_HOST")) {
		ret = kubeconfig_in_cluster(NULL, cfg, err, sizeof(err));
	} else {
		snprintf(err, sizeof(err),
			 "no configuration: give --kubeconfig, set KUBECONFIG, "
			 "or create ~/.kube/config");
		ret = -ENOENT;
	}
	if (ret < 0) {
		cli_error("%s", err);
		return CLI_ERROR;
	}
	if ((ret = kube_client_new(*cfg, &opts, c)) < 0) {
		cli_error("cannot make a client for %s: %s", (*cfg)->server, strerror(-ret));
		kubeconfig_free(*cfg);
		*cfg = NULL;
		return CLI_ERROR;
	}
	if (!cli->ns)
		cli->ns = (*cfg)->namespace;
	return CLI_OK;
}

void cli_disconnect(struct kubeconfig *cfg, struct kube_client *c)
{
	kube_client_free(c);
	kubeconfig_free(cfg);
}
