// SPDX-License-Identifier: Apache-2.0
/* kubectl shellaudit sessions: one line per session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kube.h"
#include "kubeconfig.h"
#include "output.h"
#include "records.h"
#include "timefmt.h"

static bool sessions_selected(const struct cli *cli, const struct session *s)
{
	if (cli->user && (!s->user || strcmp(cli->user, s->user)))
		return false;
	if (cli->since && s->last.tv_sec < cli->since)
		return false;
	return true;
}

/* END: the end a record states, else "open" while the container runs,
 * else the last entry's time. */
static const char *sessions_end(const struct session *s, char *buf, size_t cap)
{
	if (s->end)
		return s->end;
	if (s->chain->running == RUNNING_YES)
		return "open";
	if (s->chain->running == RUNNING_UNKNOWN)
		return "?";
	timefmt_rfc3339(&s->last, buf, cap);
	return buf;
}

static const char *sessions_chain(const struct session *s)
{
	return s->chain->state == CHAIN_INTACT ? "intact" : "broken";
}

static cJSON *sessions_json(const struct session *s)
{
	cJSON *o = cJSON_CreateObject();
	char first[40], last[40];

	timefmt_micro(&s->first, first, sizeof(first));
	timefmt_micro(&s->last, last, sizeof(last));
	cJSON_AddStringToObject(o, "session", s->name);
	cJSON_AddStringToObject(o, "namespace", s->chain->ns);
	cJSON_AddStringToObject(o, "pod", s->chain->pod);
	cJSON_AddStringToObject(o, "podUID", s->chain->pod_uid);
	cJSON_AddStringToObject(o, "container", s->chain->container);
	cJSON_AddStringToObject(o, "containerID", s->chain->cid);
	cJSON_AddStringToObject(o, "key", s->key);
	if (s->user)
		cJSON_AddStringToObject(o, "user", s->user);
	else
		cJSON_AddNullToObject(o, "user");
	cJSON_AddStringToObject(o, "start", first);
	cJSON_AddStringToObject(o, "lastEntry", last);
	if (s->end)
		cJSON_AddStringToObject(o, "end", s->end);
	else if (s->chain->running == RUNNING_NO)
		cJSON_AddStringToObject(o, "end", last);
	else
		cJSON_AddNullToObject(o, "end");
	cJSON_AddBoolToObject(o, "open", !s->end && s->chain->running == RUNNING_YES);
	cJSON_AddNumberToObject(o, "lines", (double)s->lines);
	cJSON_AddNumberToObject(o, "execs", (double)s->execs);
	cJSON_AddNumberToObject(o, "gaps", (double)s->gaps);
	cJSON_AddNumberToObject(o, "records", (double)s->records);
	cJSON_AddStringToObject(o, "chain", sessions_chain(s));
	return o;
}

static int sessions_table(const struct cli *cli, struct session **v, size_t n)
{
	static const char *const headers[] = {
		"SESSION",   "START", "END",   "NAMESPACE", "POD",
		"CONTAINER", "USER",  "LINES", "EXECS",	    "CHAIN"
	};
	struct out_table *t;
	size_t i;

	if (out_table_new(10, headers, &t) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		char start[40], end[40], lines[24], execs[24];
		const char *cells[10];

		if (!sessions_selected(cli, v[i]))
			continue;
		timefmt_rfc3339(&v[i]->first, start, sizeof(start));
		snprintf(lines, sizeof(lines), "%ld", v[i]->lines);
		snprintf(execs, sizeof(execs), "%ld", v[i]->execs);
		cells[0] = v[i]->name;
		cells[1] = start;
		cells[2] = sessions_end(v[i], end, sizeof(end));
		cells[3] = v[i]->chain->ns;
		cells[4] = v[i]->chain->pod;
		cells[5] = v[i]->chain->container;
		cells[6] = v[i]->user ? v[i]->user : "-";
		cells[7] = lines;
		cells[8] = execs;
		cells[9] = sessions_chain(v[i]);
		if (out_table_row(t, cells) < 0) {
			out_table_free(t);
			return -1;
		}
	}
	out_table_print(stdout, t);
	out_table_free(t);
	return 0;
}

int cmd_sessions(struct cli *cli)
{
	struct records_filter f = { .pod = cli->pod, .container = cli->container };
	struct kubeconfig *cfg;
	struct kube_client *c;
	struct records *r = NULL;
	struct session **v = NULL;
	char msg[768];
	size_t n = 0, i, shown = 0;
	int ret;

	if ((ret = cli_connect(cli, &cfg, &c)) != CLI_OK)
		return ret;
	f.ns = cli->all_ns ? NULL : cli->ns;
	if (records_load(c, &f, true, &r, msg, sizeof(msg)) < 0) {
		cli_error("%s", msg);
		ret = CLI_ERROR;
		goto out;
	}
	if (r->skipped)
		fprintf(stderr, "warning: %ld AuditRecords lack required fields; left out\n",
			r->skipped);
	if (!(v = records_sessions(r, &n))) {
		cli_error("out of memory");
		ret = CLI_ERROR;
		goto out;
	}
	for (i = 0; i < n; i++)
		shown += sessions_selected(cli, v[i]);
	if (cli->output != OUT_TEXT) {
		cJSON *doc = cJSON_CreateObject(), *items;

		cJSON_AddStringToObject(doc, "apiVersion", "shellaudit.io/v1alpha1");
		cJSON_AddStringToObject(doc, "kind", "SessionList");
		items = cJSON_AddArrayToObject(doc, "items");
		for (i = 0; i < n; i++)
			if (sessions_selected(cli, v[i]))
				cJSON_AddItemToArray(items, sessions_json(v[i]));
		if (cli->output == OUT_JSON)
			out_json(stdout, doc, false);
		else
			out_yaml(stdout, doc, false);
		cJSON_Delete(doc);
	} else if (shown == 0) {
		if (cli->all_ns)
			fprintf(stderr, "No sessions found.\n");
		else
			fprintf(stderr, "No sessions found in %s namespace.\n", f.ns);
	} else if (sessions_table(cli, v, n) < 0) {
		cli_error("out of memory");
		ret = CLI_ERROR;
	}
out:
	free(v);
	records_free(r);
	cli_disconnect(cfg, c);
	return ret;
}
