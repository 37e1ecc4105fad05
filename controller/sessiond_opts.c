// SPDX-License-Identifier: Apache-2.0
/* The session webhook's and audit receiver's flags and their environment
 * twins (see sessiond.h; main.c merges them with the controller's). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sessiond.h"

enum {
	OPT_WEBHOOK_PORT = SESSIOND_OPT_BASE,
	OPT_WEBHOOK_ADDR,
	OPT_WEBHOOK_SERVICE,
	OPT_WEBHOOK_CONFIG,
	OPT_WEBHOOK_CLIENT_CA,
	OPT_WEBHOOK_CLIENT_NAMES,
	OPT_CERT_ROTATE,
	OPT_SESSION_TTL,
	OPT_DEBUG_TTL,
	OPT_AUDIT_EXPECTED,
	OPT_AUDIT_PORT,
	OPT_AUDIT_ADDR,
	OPT_AUDIT_CERT,
	OPT_AUDIT_KEY,
	OPT_AUDIT_CLIENT_CA,
	OPT_AUDIT_CLIENT_NAMES,
	OPT_AUDIT_ONLY,
};

const struct option sessiond_longopts[] = {
	{ "webhook-port", required_argument, NULL, OPT_WEBHOOK_PORT },
	{ "webhook-address", required_argument, NULL, OPT_WEBHOOK_ADDR },
	{ "webhook-service", required_argument, NULL, OPT_WEBHOOK_SERVICE },
	{ "webhook-configuration", required_argument, NULL, OPT_WEBHOOK_CONFIG },
	{ "webhook-client-ca", required_argument, NULL, OPT_WEBHOOK_CLIENT_CA },
	{ "webhook-client-names", required_argument, NULL, OPT_WEBHOOK_CLIENT_NAMES },
	{ "webhook-cert-rotate", required_argument, NULL, OPT_CERT_ROTATE },
	{ "session-ttl", required_argument, NULL, OPT_SESSION_TTL },
	{ "debug-session-ttl", required_argument, NULL, OPT_DEBUG_TTL },
	{ "audit-expected", required_argument, NULL, OPT_AUDIT_EXPECTED },
	{ "audit-port", required_argument, NULL, OPT_AUDIT_PORT },
	{ "audit-address", required_argument, NULL, OPT_AUDIT_ADDR },
	{ "audit-cert", required_argument, NULL, OPT_AUDIT_CERT },
	{ "audit-key", required_argument, NULL, OPT_AUDIT_KEY },
	{ "audit-client-ca", required_argument, NULL, OPT_AUDIT_CLIENT_CA },
	{ "audit-client-names", required_argument, NULL, OPT_AUDIT_CLIENT_NAMES },
	{ "audit-only", no_argument, NULL, OPT_AUDIT_ONLY },
	{ NULL, 0, NULL, 0 },
};

void sessiond_usage(FILE *f)
{
	fprintf(f,
		"\n"
		"Who opened a session (the session webhook and the audit receiver):\n"
		"  --webhook-port N         the admission webhook's HTTPS port; 0 turns it off\n"
		"                           (env SHELLAUDIT_WEBHOOK_PORT, default 0; the\n"
		"                           Deployment sets 8443)\n"
		"  --webhook-address ADDR   its bind address (env SHELLAUDIT_WEBHOOK_ADDRESS)\n"
		"  --webhook-service NAME   the Service in front of it, whose DNS names its\n"
		"                           certificate holds (env SHELLAUDIT_WEBHOOK_SERVICE,\n"
		"                           default shellaudit-controller)\n"
		"  --webhook-configuration NAME  the ValidatingWebhookConfiguration whose\n"
		"                           caBundle gets its CA "
		"(env SHELLAUDIT_WEBHOOK_CONFIGURATION,\n"
		"                           default shellaudit-sessions)\n"
		"  --webhook-client-ca FILE answer only peers with a client certificate from\n"
		"                           this CA: the API server's "
		"(env SHELLAUDIT_WEBHOOK_CLIENT_CA)\n"
		"  --webhook-client-names CN,...  and only these names (env\n"
		"                           SHELLAUDIT_WEBHOOK_CLIENT_NAMES)\n"
		"  --webhook-cert-rotate SECS  serving certificate renewal (env\n"
		"                           SHELLAUDIT_WEBHOOK_CERT_ROTATE, default 86400)\n"
		"  --session-ttl SECS       how long a pending session lives (env\n"
		"                           SHELLAUDIT_SESSION_TTL, default 60)\n"
		"  --debug-session-ttl SECS the same for kubectl debug (env\n"
		"                           SHELLAUDIT_DEBUG_SESSION_TTL, default 900)\n"
		"  --audit-expected BOOL    the API server sends its audit log to an audit\n"
		"                           receiver: agents wait for it (env\n"
		"                           SHELLAUDIT_AUDIT_EXPECTED, default false)\n"
		"  --audit-port N           the audit receiver's HTTPS port; 0: none (env\n"
		"                           SHELLAUDIT_AUDIT_PORT, default 0)\n"
		"  --audit-address ADDR     its bind address (env SHELLAUDIT_AUDIT_ADDRESS)\n"
		"  --audit-cert FILE, --audit-key FILE  its serving certificate and key (env\n"
		"                           SHELLAUDIT_AUDIT_CERT, SHELLAUDIT_AUDIT_KEY)\n"
		"  --audit-client-ca FILE   the CA of the API server's audit client certificate;\n"
		"                           required (env SHELLAUDIT_AUDIT_CLIENT_CA)\n"
		"  --audit-client-names CN,...  "
		"the names allowed (env SHELLAUDIT_AUDIT_CLIENT_NAMES)\n"
		"  --audit-only             run the audit receiver alone, without the controller\n"
		"                           (env SHELLAUDIT_AUDIT_ONLY=true)\n");
}

static const char *so_env(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

static int so_long(const char *what, const char *s, long min, long max, long *out)
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

static int so_bool(const char *what, const char *s, bool *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "1")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "false") || !strcmp(s, "0")) {
		*out = false;
		return 0;
	}
	log_error("invalid %s \"%s\": want true or false", what, s);
	return -EINVAL;
}

static int so_port(const char *what, const char *s, int *out)
{
	long n;

	if (so_long(what, s, 0, 65535, &n) < 0)
		return -EINVAL;
	*out = (int)n;
	return 0;
}

void sessiond_config_init(struct sessiond_config *cfg, const char *controller_namespace)
{
	bool b = false;
	long n;

	memset(cfg, 0, sizeof(*cfg));
	cfg->namespace = controller_namespace;
	if (so_port("webhook port", so_env("SHELLAUDIT_WEBHOOK_PORT", "0"), &cfg->webhook_port) < 0)
		cfg->webhook_port = -1;
	cfg->webhook_addr = so_env("SHELLAUDIT_WEBHOOK_ADDRESS", NULL);
	cfg->webhook_service = so_env("SHELLAUDIT_WEBHOOK_SERVICE", "shellaudit-controller");
	cfg->webhook_config = so_env("SHELLAUDIT_WEBHOOK_CONFIGURATION", "shellaudit-sessions");
	cfg->webhook_client_ca = so_env("SHELLAUDIT_WEBHOOK_CLIENT_CA", NULL);
	cfg->webhook_client_names = so_env("SHELLAUDIT_WEBHOOK_CLIENT_NAMES", NULL);
	cfg->cert_rotate_s =
		so_long("webhook certificate rotation",
			so_env("SHELLAUDIT_WEBHOOK_CERT_ROTATE", "86400"), 600, 31536000, &n) < 0 ?
			-1 :
			n;
	cfg->session_ttl_s =
		so_long("session TTL", so_env("SHELLAUDIT_SESSION_TTL", "60"), 5, 86400, &n) < 0 ?
			-1 :
			n;
	cfg->debug_session_ttl_s =
		so_long("debug session TTL", so_env("SHELLAUDIT_DEBUG_SESSION_TTL", "900"), 5,
			86400, &n) < 0 ?
			-1 :
			n;
	cfg->audit_expected =
		so_bool("audit expected", so_env("SHELLAUDIT_AUDIT_EXPECTED", "false"), &b) == 0 &&
		b;
	if (so_port("audit port", so_env("SHELLAUDIT_AUDIT_PORT", "0"), &cfg->audit_port) < 0)
		cfg->audit_port = -1;
	cfg->audit_addr = so_env("SHELLAUDIT_AUDIT_ADDRESS", NULL);
	cfg->audit_cert = so_env("SHELLAUDIT_AUDIT_CERT", NULL);
	cfg->audit_key = so_env("SHELLAUDIT_AUDIT_KEY", NULL);
	cfg->audit_client_ca = so_env("SHELLAUDIT_AUDIT_CLIENT_CA", NULL);
	cfg->audit_client_names = so_env("SHELLAUDIT_AUDIT_CLIENT_NAMES", NULL);
	b = false;
	cfg->audit_only =
		so_bool("audit only", so_env("SHELLAUDIT_AUDIT_ONLY", "false"), &b) == 0 && b;
	cfg->gc_period_s = 30;
}

int sessiond_config_opt(struct sessiond_config *cfg, int c, const char *arg)
{
	long n;

	switch (c) {
	case OPT_WEBHOOK_PORT:
		return so_port("webhook port", arg, &cfg->webhook_port) < 0 ? -EINVAL : 1;
	case OPT_WEBHOOK_ADDR: cfg->webhook_addr = arg; return 1;
	case OPT_WEBHOOK_SERVICE: cfg->webhook_service = arg; return 1;
	case OPT_WEBHOOK_CONFIG: cfg->webhook_config = arg; return 1;
	case OPT_WEBHOOK_CLIENT_CA: cfg->webhook_client_ca = arg; return 1;
	case OPT_WEBHOOK_CLIENT_NAMES: cfg->webhook_client_names = arg; return 1;
	case OPT_CERT_ROTATE:
		if (so_long("webhook certificate rotation", arg, 600, 31536000, &n) < 0)
			return -EINVAL;
		cfg->cert_rotate_s = n;
		return 1;
	case OPT_SESSION_TTL:
		if (so_long("session TTL", arg, 5, 86400, &n) < 0)
			return -EINVAL;
		cfg->session_ttl_s = n;
		return 1;
	case OPT_DEBUG_TTL:
		if (so_long("debug session TTL", arg, 5, 86400, &n) < 0)
			return -EINVAL;
		cfg->debug_session_ttl_s = n;
		return 1;
	case OPT_AUDIT_EXPECTED:
		return so_bool("audit expected", arg, &cfg->audit_expected) < 0 ? -EINVAL : 1;
	case OPT_AUDIT_PORT: return so_port("audit port", arg, &cfg->audit_port) < 0 ? -EINVAL : 1;
	case OPT_AUDIT_ADDR: cfg->audit_addr = arg; return 1;
	case OPT_AUDIT_CERT: cfg->audit_cert = arg; return 1;
	case OPT_AUDIT_KEY: cfg->audit_key = arg; return 1;
	case OPT_AUDIT_CLIENT_CA: cfg->audit_client_ca = arg; return 1;
	case OPT_AUDIT_CLIENT_NAMES: cfg->audit_client_names = arg; return 1;
	case OPT_AUDIT_ONLY: cfg->audit_only = true; return 1;
	default: return 0;
	}
}

int sessiond_config_check(const struct sessiond_config *cfg)
{
	if (cfg->webhook_port < 0 || cfg->audit_port < 0 || cfg->cert_rotate_s < 0 ||
	    cfg->session_ttl_s < 0 || cfg->debug_session_ttl_s < 0)
		return -EINVAL; /* said when read */
	if (cfg->audit_port && (!cfg->audit_cert || !cfg->audit_key || !cfg->audit_client_ca)) {
		log_error(
			"the audit receiver needs --audit-cert, --audit-key and --audit-client-ca "
			"(it takes the API server's audit log from its client certificate only)");
		return -EINVAL;
	}
	if (cfg->audit_only && !cfg->audit_port) {
		log_error("--audit-only needs --audit-port");
		return -EINVAL;
	}
	if (cfg->webhook_port &&
	    (!cfg->webhook_service || !*cfg->webhook_service || !cfg->namespace)) {
		log_error("the webhook needs --webhook-service and the namespace");
		return -EINVAL;
	}
	return 0;
}
