// SPDX-License-Identifier: Apache-2.0
/* kubectl shellaudit show SESSION: one session's transcript. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kube.h"
#include "kubeconfig.h"
#include "records.h"
#include "transcript.h"

/* The sessions of r the name designates: label prefix and key. */
static size_t show_find(struct session **v, size_t n, const char *label, const char *key,
			struct session **found)
{
	size_t i, hits = 0;

	for (i = 0; i < n; i++) {
		if (strncmp(v[i]->chain->label, label, strlen(label)) || strcmp(v[i]->key, key))
			continue;
		if (hits++ == 0)
			*found = v[i];
	}
	return hits;
}

static void show_header(const struct session *s, bool color)
{
	out_color(stdout, color, OUT_DIM);
	fputs("# session ", stdout);
	out_text(stdout, s->name);
	fputs("  pod ", stdout);
	out_text(stdout, s->chain->ns);
	fputc('/', stdout);
	out_text(stdout, s->chain->pod);
	fputs("  container ", stdout);
	out_text(stdout, s->chain->container);
	fputs("  user ", stdout);
	out_text(stdout, s->user ? s->user : "-");
	fputs("  chain ", stdout);
	fputs(s->chain->state == CHAIN_INTACT ? "intact" : "broken", stdout);
	out_color(stdout, color, OUT_RESET);
	fputc('\n', stdout);
}

static cJSON *show_head(const struct session *s)
{
	cJSON *h = cJSON_CreateObject();

	cJSON_AddStringToObject(h, "session", s->name);
	cJSON_AddStringToObject(h, "namespace", s->chain->ns);
	cJSON_AddStringToObject(h, "pod", s->chain->pod);
	cJSON_AddStringToObject(h, "container", s->chain->container);
	cJSON_AddStringToObject(h, "containerID", s->chain->cid);
	if (s->user)
		cJSON_AddStringToObject(h, "user", s->user);
	else
		cJSON_AddNullToObject(h, "user");
	cJSON_AddStringToObject(h, "chain", s->chain->state == CHAIN_INTACT ? "intact" : "broken");
	return h;
}

int cmd_show(struct cli *cli)
{
	const char *name = cli->args[0], *key;
	struct records_filter f = { 0 };
	struct transcript t = { 0 };
	struct transcript_style st = { .format = cli->output, .color = cli->color };
	struct session **v = NULL, *s = NULL;
	struct kubeconfig *cfg;
	struct kube_client *c;
	struct records *r = NULL;
	char label[20], msg[768];
	size_t n = 0, hits, i;
	int ret;

	if (records_parse_session_name(name, label, &key) < 0) {
		cli_error("\"%s\" is not a session name: 8 hex digits, a dash and the session key, "
			  "as `kubectl shellaudit sessions` prints them",
			  name);
		return CLI_ERROR;
	}
	if ((ret = cli_connect(cli, &cfg, &c)) != CLI_OK)
		return ret;
	f.ns = cli->all_ns ? NULL : cli->ns;
	f.label = label;
	if (records_load(c, &f, false, &r, msg, sizeof(msg)) < 0) {
		cli_error("%s", msg);
		ret = CLI_ERROR;
		goto out;
	}
	v = records_sessions(r, &n);
	hits = v ? show_find(v, n, label, key, &s) : 0;
	if (hits == 0) {
		cli_error("session %s not found%s%s", name, cli->all_ns ? "" : " in namespace ",
			  cli->all_ns ? "" : f.ns);
		ret = CLI_NEGATIVE;
		goto out;
	}
	if (hits > 1) {
		cli_error("session name %s is ambiguous; give more hex digits of the container:",
			  name);
		for (i = 0; i < n; i++)
			if (!strncmp(v[i]->chain->label, label, strlen(label)) &&
			    !strcmp(v[i]->key, key)) {
				fprintf(stderr, "  %s-", v[i]->chain->label);
				out_text(stderr, key);
				fputs(" (", stderr);
				out_text(stderr, v[i]->chain->ns);
				fputc('/', stderr);
				out_text(stderr, v[i]->chain->pod);
				fputc(' ', stderr);
				out_text(stderr, v[i]->chain->container);
				fputs(")\n", stderr);
			}
		ret = CLI_ERROR;
		goto out;
	}
	if (transcript_add_records(&t, r, s, NULL) < 0) {
		cli_error("out of memory");
		ret = CLI_ERROR;
		goto out;
	}
	transcript_sort(&t);
	if (cli->output == OUT_TEXT) {
		show_header(s, cli->color);
		transcript_print(stdout, &t, NULL, &st);
	} else {
		cJSON *head = show_head(s);

		transcript_print(stdout, &t, head, &st);
		cJSON_Delete(head);
	}
out:
	transcript_clear(&t);
	free(v);
	records_free(r);
	cli_disconnect(cfg, c);
	return ret;
}
