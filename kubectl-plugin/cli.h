/* SPDX-License-Identifier: Apache-2.0 */
/* kubectl-shellaudit: the options every subcommand shares, its exit codes,
 * and the subcommands main() dispatches to. */
#ifndef SHELLAUDIT_PLUGIN_CLI_H
#define SHELLAUDIT_PLUGIN_CLI_H

#include <stdbool.h>
#include <time.h>

#include "output.h"

/* Exit codes, the same for every subcommand (the README and --help list them). */
enum {
	CLI_OK = 0,
	CLI_NEGATIVE = 1,   /* verify: a chain is broken; show, logs: nothing found */
	CLI_ERROR = 2,	    /* usage, kubeconfig, API server unreachable or refusing */
	CLI_NO_RECORDS = 3, /* verify: no AuditRecords for that container */
};

/* Flags, each with the subcommands that take it. */
enum cli_flag {
	CLI_F_POD = 1 << 0,
	CLI_F_CONTAINER = 1 << 1,
	CLI_F_USER = 1 << 2,
	CLI_F_SINCE = 1 << 3,
	CLI_F_FOLLOW = 1 << 4,
	CLI_F_OUTPUT = 1 << 5,
	CLI_F_ALL_NS = 1 << 6,
};

struct cli {
	/* kubectl's own flags */
	const char *kubeconfig; /* --kubeconfig, else KUBECONFIG, else ~/.kube/config */
	const char *context;	/* --context */
	const char *ns;		/* -n; the context's namespace when NULL */
	bool all_ns;		/* -A */
	enum out_format output; /* -o */
	/* the subcommands' */
	const char *pod, *container, *user;
	time_t since; /* --since as an absolute time; 0: none */
	bool follow;
	unsigned given; /* enum cli_flag bits of the flags given */
	bool color;	/* stdout is a terminal, NO_COLOR unset */
	char **args;	/* positional arguments after the subcommand */
	int nargs;
};

struct kube_client;
struct kubeconfig;

/* Connects as kubectl would: --kubeconfig or KUBECONFIG (colon-separated,
 * merged), else ~/.kube/config, else the in-cluster configuration; the
 * context from --context or current-context. Fills cli->ns from the
 * context when -n was not given. On failure prints why and returns
 * CLI_ERROR. Caller frees both with cli_disconnect(). */
int cli_connect(struct cli *cli, struct kubeconfig **cfg, struct kube_client **c);
void cli_disconnect(struct kubeconfig *cfg, struct kube_client *c);

/* "error: ..." on stderr, as kubectl words its errors. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int cmd_sessions(struct cli *cli);
int cmd_show(struct cli *cli);
int cmd_logs(struct cli *cli);
int cmd_verify(struct cli *cli);

#endif
