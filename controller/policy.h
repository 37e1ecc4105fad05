/* SPDX-License-Identifier: Apache-2.0 */
/* A ShellAuditPolicy as the controller uses it. */
#ifndef SHELLAUDIT_POLICY_H
#define SHELLAUDIT_POLICY_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "selector.h"

struct policy {
	char *name;
	long long generation;
	struct selector *ns_sel;	/* absent namespaceSelector: every namespace */
	struct selector *pod_sel;
	char **containers;		/* NULL: every container */
	size_t ncontainers;
	bool capture_readline, capture_exec, capture_terminal;
	bool exec_sessions_only; /* capture.execFrom: Sessions */
	bool aggregate_execs;	 /* capture.aggregateExecs [true] */
	bool events_enabled, events_exec;
	long rate_per_minute;
	char *retention;
	long long retention_s;
	cJSON *redact;			/* the spec's redact list, or NULL */
	long long storage_budget;	/* spec.storageBudget in bytes; 0: none */
};

/* Parses a policy object (defaults as the CRD's). On -EINVAL, err says what
 * cannot be used (for the InvalidSpec condition). Caller frees *out with
 * policy_free(). */
int policy_parse(const cJSON *obj, struct policy **out, char *err, size_t errlen);
void policy_free(struct policy *p);
/* Whether the policy audits the container of that name. */
bool policy_wants_container(const struct policy *p, const char *container);

#endif
