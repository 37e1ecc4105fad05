/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who opened a session: the controller's session webhook and audit
 * receiver, apart from its loop (the loop only starts and stops them).
 *
 * - The webhook (HTTPS, --webhook-port) is the ValidatingWebhookConfiguration
 *   shellaudit-sessions' backend: each review of an exec, attach,
 *   port-forward or debug container of an audited pod becomes a
 *   ShellAuditSession for the pod's node (admission.c); the answer always
 *   allows and carries the session ID as an audit annotation. Its TLS
 *   certificate is made and renewed here, its CA put into the
 *   configuration's caBundle (webhookcert.c); with --webhook-client-ca only
 *   the API server's client certificate is answered.
 * - The audit receiver (HTTPS, --audit-port, client certificate required)
 *   takes the API server's audit EventLists and writes what they say of
 *   the sessions into their status (auditlog.c).
 * - Expired ShellAuditSessions are deleted.
 *
 * Threads: the webhook's and the receiver's connection threads (lib/tlsd),
 * which answer and create sessions with clients from a pool; and the
 * sessions thread, which owns the ShellAuditNode informer (the audited pods,
 * podindex.c), the certificates, the status writes and the deletions.
 */
#ifndef SHELLAUDIT_SESSIOND_H
#define SHELLAUDIT_SESSIOND_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "kubeconfig.h"
#include "metrics.h"

struct sessiond_config {
	/* the webhook */
	int webhook_port;		  /* 0: no webhook [0; the Deployment's 8443] */
	const char *webhook_addr;	  /* NULL: all addresses */
	const char *namespace;		  /* of the Service (the controller's own) */
	const char *webhook_service;	  /* the Service [shellaudit-controller] */
	const char *webhook_config;	  /* ValidatingWebhookConfiguration [shellaudit-sessions] */
	const char *webhook_client_ca;	  /* file; NULL: any peer is answered */
	const char *webhook_client_names; /* CNs allowed, comma-separated; NULL: any */
	long cert_rotate_s;		  /* [86400] */
	long session_ttl_s;		  /* [60] */
	long debug_session_ttl_s;	  /* [900] */
	bool audit_expected;		  /* sessions say the audit log follows */
	/* the audit receiver */
	int audit_port; /* 0: none [0] */
	const char *audit_addr;
	const char *audit_cert, *audit_key, *audit_client_ca, *audit_client_names;
	bool audit_only;  /* the receiver alone, no controller loop */
	long gc_period_s; /* [30] */
	/* Metrics go here (registered by sessiond_start, before the caller
	 * serves them); NULL: none. */
	struct metrics *metrics;
};

struct sessiond;

/* --- flags (main.c) ------------------------------------------------------- */

/* Long options, each code >= SESSIOND_OPT_BASE; terminated by a NULL name. */
#define SESSIOND_OPT_BASE 1000
extern const struct option sessiond_longopts[];
/* Defaults and environment twins. */
void sessiond_config_init(struct sessiond_config *cfg, const char *controller_namespace);
/* Takes option c: 1 taken, 0 not ours, -EINVAL a bad value (logged). */
int sessiond_config_opt(struct sessiond_config *cfg, int c, const char *arg);
/* Checks the whole (logs what is wrong): 0 or -EINVAL. */
int sessiond_config_check(const struct sessiond_config *cfg);
void sessiond_usage(FILE *f);

/* --- running ------------------------------------------------------------------ */

/* Starts what cfg turns on (nothing when both ports are 0; *out is then
 * NULL). kcfg must outlive it. Logs why it cannot start. */
int sessiond_start(const struct sessiond_config *cfg, const struct kubeconfig *kcfg,
		   struct sessiond **out);
/* Stops and frees everything. NULL-safe. */
void sessiond_stop(struct sessiond *d);
/* --audit-only: the receiver until SIGTERM/SIGINT; 0 after a clean stop. */
int sessiond_run_alone(const struct sessiond_config *cfg, const char *kubeconfig);

#endif
