// SPDX-License-Identifier: Apache-2.0
/* kubectl shellaudit logs POD [-c C] [-f]: a container's transcript, and
 * with -f the entries of every record created after it, through a watch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "kube.h"
#include "kubeconfig.h"
#include "records.h"
#include "transcript.h"
#include "watch.h"

/* A watch lasts this long on the server before it is renewed. */
#define LOGS_WATCH_S 300
/* Consecutive failed watches before -f gives up. */
#define LOGS_MAX_FAILURES 10

struct logs_follow {
	struct records *r;
	const struct records_filter *f;
	struct transcript_style st;
	time_t since;
	struct hmap seen; /* record names printed (values unused) */
	int ret;
};

/* Prints a record's entries once, the first time it is met. */
static int logs_record(struct logs_follow *lf, const cJSON *rec)
{
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(rec, "metadata"), "name"));
	struct transcript t = { .since = lf->since };
	struct session *s = NULL;
	size_t i;
	int ret;

	if (!name || hmap_get(&lf->seen, name))
		return 0;
	if ((ret = records_add(lf->r, lf->f, rec, &s)) <= 0)
		return ret;
	if (hmap_put(&lf->seen, name, lf, NULL) < 0)
		return -ENOMEM;
	/* The copy records_add keeps, which outlives the watch's event. */
	rec = s->chain->recs[s->chain->n - 1];
	if ((ret = transcript_add_record(&t, rec, s)) < 0)
		return ret;
	for (i = 0; i < t.n; i++)
		transcript_print_item(stdout, &t.items[i], &lf->st);
	transcript_clear(&t);
	fflush(stdout);
	/* Printed: only its name is kept, so a long -f does not grow with
	 * every record it shows. */
	cJSON_Delete(s->chain->recs[--s->chain->n]);
	return 0;
}

static int logs_event(const char *type, const cJSON *obj, void *arg)
{
	struct logs_follow *lf = arg;

	if (strcmp(type, "ADDED") && strcmp(type, "MODIFIED"))
		return 0;
	return logs_record(lf, obj);
}

static int logs_relisted(const cJSON *item, void *arg)
{
	/* An expired continue token starts the list over: what was printed
	 * stays printed, and logs_record skips what it has seen. */
	return item ? logs_record(arg, item) : 0;
}

static void logs_mark_seen(const char *key, void *value, void *arg)
{
	const struct chain *ch = value;
	struct logs_follow *lf = arg;
	size_t i;

	(void)key;
	for (i = 0; i < ch->n; i++) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(ch->recs[i], "metadata"), "name"));

		if (name && hmap_put(&lf->seen, name, lf, NULL) < 0)
			lf->ret = -ENOMEM;
	}
}

/* Watches the namespace's AuditRecords from r->rv until interrupted; a
 * watch that expired (410) relists and prints what it had not printed. */
static int logs_follow(struct kube_client *c, struct logs_follow *lf, const char *ns)
{
	struct kube_response resp = { 0 };
	char path[512];
	int failures = 0, ret;

	hmap_foreach(&lf->r->chains, logs_mark_seen, lf);
	if (lf->ret < 0)
		return lf->ret;
	snprintf(path, sizeof(path), "/apis/shellaudit.io/v1alpha1/namespaces/%s/auditrecords", ns);
	for (;;) {
		if (!lf->r->rv && !(lf->r->rv = strdup("")))
			return -ENOMEM;
		kube_response_clear(&resp);
		memset(&resp, 0, sizeof(resp));
		ret = watch_stream(c, path, &lf->r->rv, LOGS_WATCH_S, logs_event, lf, &resp);
		/* Expired (410), or an ERROR event the watch cannot go on from. */
		if (ret == -ESTALE || ret == -EPROTO) {
			free(lf->r->rv);
			lf->r->rv = NULL;
			ret = kube_list(c, path, 100, logs_relisted, lf, &lf->r->rv, NULL);
		}
		if (ret == -ENOMEM)
			break;
		if (ret == 0) {
			failures = 0;
			continue;
		}
		if (++failures >= LOGS_MAX_FAILURES)
			break;
		fprintf(stderr, "warning: watching AuditRecords in %s: %s; retrying\n", ns,
			resp.message[0] ? resp.message : strerror(-ret));
		sleep(failures < 5 ? (unsigned)failures : 5);
	}
	kube_response_clear(&resp);
	return ret;
}

int cmd_logs(struct cli *cli)
{
	struct records_filter f = { .pod = cli->args[0], .ns = cli->ns };
	struct transcript t = { .since = cli->since };
	struct logs_follow lf = { .since = cli->since };
	struct kubeconfig *cfg;
	struct kube_client *c;
	struct records *r = NULL;
	char msg[768], *def = NULL;
	const char *container = cli->container;
	int ret;

	if ((ret = cli_connect(cli, &cfg, &c)) != CLI_OK)
		return ret;
	f.ns = cli->ns;
	if (records_load(c, &f, false, &r, msg, sizeof(msg)) < 0) {
		cli_error("%s", msg);
		ret = CLI_ERROR;
		goto out;
	}
	if (!container) {
		ret = records_pick_container(c, r, f.ns, f.pod, &def, msg, sizeof(msg));
		if (ret < 0 || !def) {
			fprintf(stderr, "error: %s\n", msg);
			ret = ret == -ENOENT ? CLI_NEGATIVE : CLI_ERROR;
			goto out;
		}
		container = def;
	}
	f.container = container;
	lf.st = (struct transcript_style){ .format = cli->output,
					   .session_column = true,
					   .color = cli->color,
					   .stream = cli->follow };
	if (transcript_add_records(&t, r, NULL, container) < 0) {
		cli_error("out of memory");
		ret = CLI_ERROR;
		goto out;
	}
	transcript_sort(&t);
	if (t.n == 0 && !cli->follow) {
		cli_error("no AuditRecords for container %s of pod %s in namespace %s", container,
			  f.pod, f.ns);
		ret = CLI_NEGATIVE;
		goto out;
	}
	transcript_print(stdout, &t, NULL, &lf.st);
	fflush(stdout);
	if (cli->follow) {
		lf.r = r;
		lf.f = &f;
		hmap_init(&lf.seen);
		ret = logs_follow(c, &lf, f.ns);
		hmap_clear(&lf.seen);
		cli_error("following AuditRecords in %s: %s", f.ns, strerror(-ret));
		ret = CLI_ERROR;
	}
out:
	transcript_clear(&t);
	free(def);
	records_free(r);
	cli_disconnect(cfg, c);
	return ret;
}
