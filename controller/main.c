// SPDX-License-Identifier: Apache-2.0
/* shellaudit-controller: flags and environment, then the main loop. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller.h"
#include "log.h"
#include "quantity.h"
#include "sessiond.h"
#include "util.h"

static void controller_usage(FILE *f)
{
	fprintf(f,
		"Usage: shellaudit-controller [options]\n"
		"\n"
		"Resolves ShellAuditPolicies against pods, programs one ShellAuditNode per node,\n"
		"reports policy status and deletes expired AuditRecords.\n"
		"\n"
		"  --kubeconfig FILE        kubeconfig; in-cluster config when unset (env "
		"KUBECONFIG)\n"
		"  --namespace NS           namespace of the leader-election Lease\n"
		"                           (env SHELLAUDIT_NAMESPACE, default shellaudit-system)\n"
		"  --identity NAME          this replica in the Lease (env POD_NAME, default\n"
		"                           hostname_pid)\n"
		"  --port N                 /healthz, /readyz and /metrics; 0 turns them off\n"
		"                           (env SHELLAUDIT_PORT, default 8080)\n"
		"  --http-address ADDR      their bind address (env SHELLAUDIT_HTTP_ADDRESS,\n"
		"                           default: all addresses)\n"
		"  --lease-duration SECS    (env SHELLAUDIT_LEASE_DURATION, default 15)\n"
		"  --writes-per-second N    bound on API writes, sustained (env\n"
		"                           SHELLAUDIT_WRITES_PER_SECOND, default 50)\n"
		"  --write-burst N          writes sent at once after a quiet time at most\n"
		"                           (env SHELLAUDIT_WRITE_BURST, default two seconds'\n"
		"                           worth of --writes-per-second)\n"
		"  --writers N              API writes in flight at once (env SHELLAUDIT_WRITERS,\n"
		"                           default 4)\n"
		"  --retention-period SECS  how often expired AuditRecords are deleted\n"
		"                           (env SHELLAUDIT_RETENTION_PERIOD, default 10)\n"
		"  --storage-budget BYTES   AuditRecord bytes kept in the cluster at most;\n"
		"                           past 90%% the namespaces over their fair share\n"
		"                           hold new records (env SHELLAUDIT_STORAGE_BUDGET,\n"
		"                           default 512Mi; a quantity like 1Gi, or bytes;\n"
		"                           64Ki to 1024Ti)\n"
		"  --watch-transport T      chunked or websocket (env SHELLAUDIT_WATCH_TRANSPORT,\n"
		"                           default chunked)\n"
		"  --log-level LEVEL        error, warn, info or debug (env SHELLAUDIT_LOG_LEVEL,\n"
		"                           default info)\n"
		"  --version, --help\n");
	sessiond_usage(f);
}

static const char *controller_env(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

static int controller_long(const char *what, const char *s, long min, long max, long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno || *end || end == s || n < min || n > max) {
		log_error("invalid %s \"%s\": want %ld..%ld", what, s, min, max);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

/* Fills cfg from the environment, then from argv; -EINVAL on a bad value. */
static int controller_parse(int argc, char **argv, struct controller_config *cfg,
			    enum log_level *level, char *idbuf, size_t idlen)
{
	static const struct option own[] = {
		{ "kubeconfig", required_argument, NULL, 'k' },
		{ "namespace", required_argument, NULL, 'n' },
		{ "identity", required_argument, NULL, 'i' },
		{ "port", required_argument, NULL, 'p' },
		{ "lease-duration", required_argument, NULL, 'd' },
		{ "writes-per-second", required_argument, NULL, 'w' },
		{ "write-burst", required_argument, NULL, 'B' },
		{ "writers", required_argument, NULL, 'W' },
		{ "http-address", required_argument, NULL, 'a' },
		{ "retention-period", required_argument, NULL, 'r' },
		{ "watch-transport", required_argument, NULL, 't' },
		{ "storage-budget", required_argument, NULL, 'b' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
	};
	/* The controller's options, then the session webhook's. */
	struct option longopts[ARRAY_SIZE(own) + 32];
	const char *port = controller_env("SHELLAUDIT_PORT", "8080");
	const char *lease = controller_env("SHELLAUDIT_LEASE_DURATION", "15");
	const char *writes = controller_env("SHELLAUDIT_WRITES_PER_SECOND", "50");
	const char *burst = controller_env("SHELLAUDIT_WRITE_BURST", NULL);
	const char *writers = controller_env("SHELLAUDIT_WRITERS", "4");
	const char *period = controller_env("SHELLAUDIT_RETENTION_PERIOD", "10");
	const char *transport = controller_env("SHELLAUDIT_WATCH_TRANSPORT", "chunked");
	const char *lvl = controller_env("SHELLAUDIT_LOG_LEVEL", "info");
	const char *budget = controller_env("SHELLAUDIT_STORAGE_BUDGET", "512Mi");
	char host[HOST_NAME_MAX + 1] = "controller";
	long n;
	int c;

	size_t nsess = 0;

	while (sessiond_longopts[nsess].name)
		nsess++;
	memcpy(longopts, own, sizeof(own));
	memcpy(longopts + ARRAY_SIZE(own), sessiond_longopts, (nsess + 1) * sizeof(*longopts));
	cfg->kubeconfig = controller_env("KUBECONFIG", NULL);
	cfg->namespace = controller_env("SHELLAUDIT_NAMESPACE", "shellaudit-system");
	sessiond_config_init(&cfg->sessions, cfg->namespace);
	cfg->identity = controller_env("POD_NAME", NULL);
	cfg->http_addr = controller_env("SHELLAUDIT_HTTP_ADDRESS", NULL);
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'k': cfg->kubeconfig = optarg; break;
		case 'n': cfg->namespace = optarg; break;
		case 'i': cfg->identity = optarg; break;
		case 'p': port = optarg; break;
		case 'd': lease = optarg; break;
		case 'w': writes = optarg; break;
		case 'B': burst = optarg; break;
		case 'W': writers = optarg; break;
		case 'a': cfg->http_addr = optarg; break;
		case 'r': period = optarg; break;
		case 't': transport = optarg; break;
		case 'b': budget = optarg; break;
		case 'l': lvl = optarg; break;
		case 'V': printf("shellaudit-controller %s\n", SHELLAUDIT_VERSION); exit(0);
		case 'h': controller_usage(stdout); exit(0);
		default:
			if ((n = sessiond_config_opt(&cfg->sessions, c, optarg)) < 0)
				return -EINVAL;
			if (n == 0) {
				controller_usage(stderr);
				return -EINVAL;
			}
			break;
		}
	}
	cfg->sessions.namespace = cfg->namespace;
	if (sessiond_config_check(&cfg->sessions) < 0)
		return -EINVAL;
	if (optind < argc) {
		log_error("unexpected argument %s", argv[optind]);
		return -EINVAL;
	}
	if (log_parse_level(lvl, level) < 0) {
		log_error("invalid log level %s: want error, warn, info or debug", lvl);
		return -EINVAL;
	}
	if (controller_long("port", port, 0, 65535, &n) < 0)
		return -EINVAL;
	cfg->port = (int)n;
	if (controller_long("lease duration", lease, 3, 3600, &cfg->lease_duration_s) < 0 ||
	    controller_long("writes per second", writes, 1, 10000, &cfg->writes_per_second) < 0 ||
	    (burst && controller_long("write burst", burst, 1, 100000, &cfg->write_burst) < 0) ||
	    controller_long("writers", writers, 1, 64, &cfg->writers) < 0 ||
	    controller_long("retention period", period, 1, 86400, &cfg->retention_period_s) < 0)
		return -EINVAL;
	if (quantity_bytes(budget, &cfg->storage_budget) < 0 ||
	    cfg->storage_budget < CTL_STORAGE_BUDGET_MIN ||
	    cfg->storage_budget > CTL_STORAGE_BUDGET_MAX) {
		log_error("invalid storage budget \"%s\": want bytes or a quantity like 512Mi, "
			  "from 64Ki to 1024Ti",
			  budget);
		return -EINVAL;
	}
	if (strcmp(transport, "chunked") && strcmp(transport, "websocket")) {
		log_error("invalid watch transport %s: want chunked or websocket", transport);
		return -EINVAL;
	}
	cfg->websocket = !strcmp(transport, "websocket");
	if (!burst)
		cfg->write_burst = 2 * cfg->writes_per_second;
	cfg->retention_batch = 100;
	if (!cfg->identity) {
		gethostname(host, sizeof(host) - 1);
		snprintf(idbuf, idlen, "%s_%d", host, (int)getpid());
		cfg->identity = idbuf;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct controller_config cfg = { 0 };
	enum log_level level = LOG_INFO;
	char id[320];

	if (controller_parse(argc, argv, &cfg, &level, id, sizeof(id)) < 0)
		return 2;
	log_set_level(level);
	/* A dozen threads allocate; two arenas keep them from each holding
	 * freed memory of its own (RSS is what the memory limit sees). */
	mallopt(M_ARENA_MAX, 2);
	if (cfg.sessions.audit_only)
		return sessiond_run_alone(&cfg.sessions, cfg.kubeconfig) < 0 ? 1 : 0;
	return controller_run(&cfg) < 0 ? 1 : 0;
}
