// SPDX-License-Identifier: Apache-2.0
/* Chain verification, shared by `kubectl shellaudit verify`,
 * `shellaudit-agent verify` and the tests. Everything read from the API server is hostile:
 * a record or a status may be missing any field or hold any value. */
#include "verify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"
#include "record.h"
#include "sign.h"
#include "timefmt.h"

#define VERIFY_GROUP_PATH "/apis/shellaudit.io/v1alpha1"

static const char *verify_str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static const cJSON *verify_spec(const cJSON *rec)
{
	return cJSON_GetObjectItemCaseSensitive(rec, "spec");
}

/* A sequence number, or -1 when there is none that fits a long. */
static long verify_number(const cJSON *n)
{
	if (!cJSON_IsNumber(n) || !(n->valuedouble >= 0 && n->valuedouble < 9e15))
		return -1;
	return (long)n->valuedouble;
}

static long verify_seq(const cJSON *rec)
{
	return verify_number(cJSON_GetObjectItemCaseSensitive(verify_spec(rec), "sequence"));
}

static int verify_cmp(const void *a, const void *b)
{
	long x = verify_seq(*(cJSON *const *)a), y = verify_seq(*(cJSON *const *)b);

	return x < y ? -1 : x > y;
}

static const char *verify_name(const cJSON *rec)
{
	const char *n = verify_str(cJSON_GetObjectItemCaseSensitive(rec, "metadata"), "name");

	return n ? n : "?";
}

/* An RFC 3339 time field as seconds; 0 when absent or malformed. */
static time_t verify_time(const cJSON *o, const char *k)
{
	const char *s = verify_str(o, k);
	struct timespec ts;

	return s && timefmt_parse(s, &ts) == 0 ? ts.tv_sec : 0;
}

static bool verify_broken(const struct verify_result *r)
{
	return r->missing || r->altered || r->broken_links || r->duplicates || r->bad_signatures ||
	       r->deleted_first || r->deleted_last || r->no_head;
}

/* The first record present is above sequence 0: expired, or deleted early? */
static void verify_first(const cJSON *first, const struct verify_anchor *anchor, time_t now,
			 FILE *out, struct verify_result *res)
{
	time_t kept = verify_time(verify_spec(first), "previousKeptUntil");
	char t[40];

	if (anchor && kept && now + VERIFY_CLOCK_SLACK_S < kept) {
		res->deleted_first += res->first_sequence;
		timefmt_rfc3339(&(struct timespec){ kept, 0 }, t, sizeof(t));
		if (out)
			fprintf(out,
				"missing: sequence 0..%ld, the oldest: deleted before their "
				"retention (sequence %ld is kept until at least %s, says %s)\n",
				res->first_sequence - 1, res->first_sequence - 1, t,
				verify_name(first));
	} else if (out) {
		fprintf(out, "chain starts at sequence %ld: earlier records expired%s\n",
			res->first_sequence, kept ? "" : " or were deleted");
	}
}

/* The newest records against the head the node published. */
static void verify_last(cJSON *const *sorted, size_t n, const struct verify_anchor *anchor,
			time_t now, FILE *out, struct verify_result *res)
{
	const cJSON *head = anchor->head;
	long h = verify_number(cJSON_GetObjectItemCaseSensitive(head, "sequence"));
	const char *digest = verify_str(head, "digest");
	time_t expires = verify_time(head, "expires");
	size_t i;

	if (!head) {
		res->no_head++;
		if (out)
			fprintf(out,
				"node %s publishes no chain head for this container: whether its "
				"newest records were deleted cannot be told\n",
				anchor->node);
		return;
	}
	if (h < 0 || !digest) {
		res->no_head++;
		if (out)
			fprintf(out,
				"node %s publishes a malformed chain head for this container\n",
				anchor->node);
		return;
	}
	for (i = 0; i < n; i++) {
		const char *stored = verify_str(verify_spec(sorted[i]), "digest");

		if (verify_seq(sorted[i]) != h)
			continue;
		if (!stored || strcmp(stored, digest)) {
			res->deleted_last++;
			if (out)
				fprintf(out,
					"%s (sequence %ld): not the record node %s published as "
					"the chain's head (%s)\n",
					verify_name(sorted[i]), h, anchor->node, digest);
		}
		break;
	}
	if (i < n) {
		if (res->last_sequence > h && out)
			fprintf(out,
				"sequence %ld..%ld: newer than the head node %s published "
				"(sequence %ld); it reports heads every second\n",
				h + 1, res->last_sequence, anchor->node, h);
		return;
	}
	if (res->last_sequence > h)
		return; /* the head is inside the chain: reported as missing there */
	if (expires && now > expires + VERIFY_CLOCK_SLACK_S) {
		if (out)
			fprintf(out,
				"sequence %ld..%ld (node %s's published head): expired at %s\n",
				res->last_sequence + 1, h, anchor->node,
				verify_str(head, "expires"));
		return;
	}
	res->deleted_last += h - res->last_sequence;
	if (out)
		fprintf(out,
			"missing: sequence %ld..%ld, the newest: node %s published sequence %ld "
			"(%s) as the chain's head, kept until %s\n",
			res->last_sequence + 1, h, anchor->node, h, digest,
			verify_str(head, "expires") ?: "?");
}

int verify_records(cJSON *const *records, size_t n, const struct verify_anchor *anchor, time_t now,
		   FILE *out, struct verify_result *res)
{
	cJSON **sorted = calloc(n ? n : 1, sizeof(*sorted));
	char digest[DIGEST_STR_LEN], prev[DIGEST_STR_LEN] = "";
	long expect = -1;
	size_t i;

	memset(res, 0, sizeof(*res));
	if (!sorted)
		return -ENOMEM;
	if (n)
		memcpy(sorted, records, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), verify_cmp);
	res->records = (long)n;
	res->first_sequence = n ? verify_seq(sorted[0]) : -1;
	res->last_sequence = n ? verify_seq(sorted[n - 1]) : -1;
	if (n && res->first_sequence > 0)
		verify_first(sorted[0], anchor, now, out, res);
	for (i = 0; i < n; i++) {
		const cJSON *spec = verify_spec(sorted[i]);
		const char *stored = verify_str(spec, "digest");
		const char *link = verify_str(spec, "previousDigest");
		const char *why = NULL;
		long seq = verify_seq(sorted[i]);

		if (seq < 0) {
			res->altered++;
			if (out)
				fprintf(out, "%s: no valid sequence\n", verify_name(sorted[i]));
			continue;
		}
		if (expect >= 0 && seq == expect - 1) {
			res->duplicates++;
			if (out)
				fprintf(out, "%s: a second record with sequence %ld\n",
					verify_name(sorted[i]), seq);
		} else if (expect >= 0 && seq != expect) {
			res->missing += seq - expect;
			if (out)
				fprintf(out, "missing: sequence %ld..%ld (before %s)\n", expect,
					seq - 1, verify_name(sorted[i]));
			prev[0] = '\0'; /* the link across a gap cannot be checked */
		}
		if (record_digest(spec, digest) < 0 || !stored || strcmp(digest, stored)) {
			res->altered++;
			if (out)
				fprintf(out,
					"%s (sequence %ld): content does not match its digest\n",
					verify_name(sorted[i]), seq);
		}
		if (prev[0] && (!link || strcmp(link, prev))) {
			res->broken_links++;
			if (out)
				fprintf(out,
					"%s (sequence %ld): previousDigest does not match sequence "
					"%ld\n",
					verify_name(sorted[i]), seq, seq - 1);
		}
		if (anchor && record_check_signature(spec, anchor->key_id, anchor->public_key,
						     &why) < 0) {
			res->bad_signatures++;
			if (out)
				fprintf(out, "%s (sequence %ld): signature: %s (node %s)\n",
					verify_name(sorted[i]), seq, why, anchor->node);
		}
		snprintf(prev, sizeof(prev), "%s", stored ? stored : "");
		expect = seq + 1;
	}
	if (anchor)
		verify_last(sorted, n, anchor, now, out, res);
	free(sorted);
	if (out)
		fprintf(out, "%ld records, sequence %ld..%ld: %s\n", res->records,
			res->first_sequence, res->last_sequence,
			verify_broken(res) ? "BROKEN" : "intact");
	return verify_broken(res) ? -EBADMSG : 0;
}

int verify_chain(cJSON *const *records, size_t n, FILE *out, struct verify_result *res)
{
	return verify_records(records, n, NULL, time(NULL), out, res);
}

static const char *verify_pod_uid(const cJSON *rec)
{
	return verify_str(cJSON_GetObjectItemCaseSensitive(verify_spec(rec), "pod"), "uid") ?: "";
}

static const char *verify_rec_node(const cJSON *rec)
{
	return verify_str(verify_spec(rec), "node") ?: "";
}

static int verify_cmp_pod(const void *a, const void *b)
{
	const cJSON *x = *(cJSON *const *)a, *y = *(cJSON *const *)b;
	int c = strcmp(verify_pod_uid(x), verify_pod_uid(y));

	return c ? c : strcmp(verify_rec_node(x), verify_rec_node(y));
}

long verify_pod_nodes(cJSON *const *records, size_t n, const char *pod_uid, const char *pod_node,
		      FILE *out)
{
	cJSON **sorted;
	long bad = 0;
	size_t i, start;

	if (!n)
		return 0;
	if (!(sorted = calloc(n, sizeof(*sorted))))
		return 0;
	memcpy(sorted, records, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), verify_cmp_pod);
	/* Runs of one (pod UID, node); a UID's runs are adjacent. */
	for (start = 0, i = 1; i <= n; i++) {
		const char *uid = verify_pod_uid(sorted[start]),
			   *node = verify_rec_node(sorted[start]);
		bool other = false;

		if (i < n && !verify_cmp_pod(&sorted[i], &sorted[start]))
			continue;
		if (!*uid) {
			start = i;
			continue;
		}
		if (pod_uid && pod_node && *pod_node && !strcmp(uid, pod_uid) &&
		    strcmp(node, pod_node)) {
			other = true;
			if (out)
				fprintf(out,
					"%ld record(s) of pod %s claim node %s, but the pod runs "
					"on node %s: written by a node that never ran it\n",
					(long)(i - start), uid, node, pod_node);
		} else if (start > 0 && !strcmp(verify_pod_uid(sorted[start - 1]), uid)) {
			other = true;
			if (out)
				fprintf(out,
					"records of pod %s claim nodes %s and %s: a pod runs on "
					"one node\n",
					uid, verify_rec_node(sorted[start - 1]), node);
		}
		if (other)
			bad += (long)(i - start);
		start = i;
	}
	free(sorted);
	return bad;
}

/* --- against the API server ------------------------------------------------------ */

struct verify_list {
	cJSON **items;
	size_t n, cap;
	const char *pod, *container;	/* keep only these (NULL: all) */
};

static int verify_push(struct verify_list *l, cJSON *item)
{
	cJSON **p;

	if (!item)
		return -ENOMEM;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		if (!(p = realloc(l->items, l->cap * sizeof(*p)))) {
			cJSON_Delete(item);
			return -ENOMEM;
		}
		l->items = p;
	}
	l->items[l->n++] = item;
	return 0;
}

static void verify_list_free(struct verify_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		cJSON_Delete(l->items[i]);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

/* Keeps the records whose spec names the pod and container. */
static int verify_collect(const cJSON *item, void *arg)
{
	struct verify_list *l = arg;
	const cJSON *spec = verify_spec(item);
	const char *pod = verify_str(cJSON_GetObjectItemCaseSensitive(spec, "pod"), "name");
	const char *container = verify_str(spec, "container");

	if (!item) { /* the list starts over (an expired continue token) */
		while (l->n)
			cJSON_Delete(l->items[--l->n]);
		return 0;
	}
	if (!pod || !container || strcmp(pod, l->pod) || strcmp(container, l->container))
		return 0;
	return verify_push(l, cJSON_Duplicate(item, 1));
}

static const char *verify_cid(const cJSON *rec)
{
	return verify_str(verify_spec(rec), "containerID") ?: "";
}

static const char *verify_node(const cJSON *rec)
{
	return verify_str(verify_spec(rec), "node") ?: "";
}

static int verify_cmp_chain(const void *a, const void *b)
{
	const cJSON *x = *(cJSON *const *)a, *y = *(cJSON *const *)b;
	int c = strcmp(verify_cid(x), verify_cid(y));

	return c ? c : strcmp(verify_node(x), verify_node(y));
}

/* The ShellAuditNodes read so far, by name (NULL object: there is none). */
struct verify_nodes {
	char **names;
	cJSON **objs;
	size_t n;
};

static void verify_nodes_free(struct verify_nodes *v)
{
	size_t i;

	for (i = 0; i < v->n; i++) {
		free(v->names[i]);
		cJSON_Delete(v->objs[i]);
	}
	free(v->names);
	free(v->objs);
}

/* Reads (once) the ShellAuditNode of node: 0 (*obj NULL when there is
 * none), or a negative errno. */
static int verify_node_get(struct kube_client *c, struct verify_nodes *v, const char *node,
			   const cJSON **obj)
{
	char path[512], **names;
	cJSON *o = NULL, **objs;
	size_t i;
	int ret;

	for (i = 0; i < v->n; i++) {
		if (!strcmp(v->names[i], node)) {
			*obj = v->objs[i];
			return 0;
		}
	}
	/* A node name from a record is hostile: only a DNS subdomain goes
	 * into a path; any other has no ShellAuditNode. */
	if (!*node || strlen(node) > 253 ||
	    strspn(node, "abcdefghijklmnopqrstuvwxyz0123456789.-") != strlen(node)) {
		*obj = NULL;
		return 0;
	}
	snprintf(path, sizeof(path), VERIFY_GROUP_PATH "/shellauditnodes/%s", node);
	ret = kube_get(c, path, &o, NULL);
	if (ret < 0 && ret != -ENOENT)
		return ret;
	if (!(names = realloc(v->names, (v->n + 1) * sizeof(*names))))
		goto nomem;
	v->names = names;
	if (!(objs = realloc(v->objs, (v->n + 1) * sizeof(*objs))))
		goto nomem;
	v->objs = objs;
	if (!(v->names[v->n] = strdup(node)))
		goto nomem;
	v->objs[v->n++] = o;
	*obj = o;
	return 0;
nomem:
	cJSON_Delete(o);
	return -ENOMEM;
}

/* The anchor of container cid in node's ShellAuditNode san (may be NULL). */
static void verify_anchor_of(const cJSON *san, const char *node, const char *cid,
			     struct verify_anchor *a, FILE *out)
{
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(san, "status");
	const cJSON *key = cJSON_GetObjectItemCaseSensitive(status, "signingKey"), *h;
	char id[SIGN_KEY_ID_LEN];

	memset(a, 0, sizeof(*a));
	a->node = node;
	a->key_id = verify_str(key, "keyID");
	a->public_key = verify_str(key, "publicKey");
	if (a->key_id && a->public_key &&
	    (sign_key_id_of(a->public_key, id) < 0 || strcmp(id, a->key_id))) {
		/* The ID must name the key: a status that says otherwise is not
		 * the agent's. */
		if (out)
			fprintf(out, "node %s publishes a signing key whose ID does not match it\n",
				node);
		a->key_id = a->public_key = NULL;
	}
	if (!san && out)
		fprintf(out, "node %s has no ShellAuditNode: no key to check its records against\n",
			node);
	cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(status, "heads")) {
		const char *hc = verify_str(h, "containerID");

		if (hc && !strcmp(hc, cid)) {
			a->head = h;
			break;
		}
	}
}

/* Whether head h of a ShellAuditNode is one of this container's. */
static bool verify_head_is(const cJSON *h, const char *ns, const char *pod, const char *container)
{
	const char *hn = verify_str(h, "namespace"), *hp = verify_str(h, "pod");
	const char *hc = verify_str(h, "container");

	return hn && hp && hc && !strcmp(hn, ns) && !strcmp(hp, pod) && !strcmp(hc, container);
}

static bool verify_has_chain(const struct verify_list *l, const char *cid, const char *node)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (!strcmp(verify_cid(l->items[i]), cid) &&
		    !strcmp(verify_node(l->items[i]), node))
			return true;
	return false;
}

/* Chains of the container that the node's heads name but no record holds. */
static int verify_orphan_heads(const struct verify_list *l, const cJSON *san, const char *ns,
			       const char *pod, const char *container, time_t now, FILE *out)
{
	const char *node = verify_str(cJSON_GetObjectItemCaseSensitive(san, "metadata"), "name");
	const cJSON *h;
	struct verify_anchor a;
	struct verify_result res;
	int bad = 0;

	if (!node)
		return 0;
	cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(
				      cJSON_GetObjectItemCaseSensitive(san, "status"), "heads")) {
		const char *cid = verify_str(h, "containerID");

		if (!cid || !verify_head_is(h, ns, pod, container) ||
		    verify_has_chain(l, cid, node))
			continue;
		fprintf(out, "%s (node %s): no record left\n", cid, node);
		verify_anchor_of(san, node, cid, &a, out);
		if (verify_records(NULL, 0, &a, now, out, &res) < 0)
			bad = 1;
	}
	return bad;
}

/* Every ShellAuditNode, for the heads of a container none of whose records
 * is left. */
struct verify_scan {
	const struct verify_list *l;
	const char *ns, *pod, *container;
	time_t now;
	FILE *out;
	int bad;
};

static int verify_scan_node(const cJSON *san, void *arg)
{
	struct verify_scan *s = arg;

	if (!san) /* the list starts over (an expired continue token) */
		return 0;
	s->bad |= verify_orphan_heads(s->l, san, s->ns, s->pod, s->container, s->now, s->out);
	return 0;
}

/* The node the pod runs on and its UID, while it exists (into buf and
 * uid; "" otherwise). */
static void verify_pod_node(struct kube_client *c, const char *ns, const char *pod, char *buf,
			    size_t cap, char *uid, size_t uidcap)
{
	cJSON *p = NULL;
	char path[768];

	buf[0] = '\0';
	uid[0] = '\0';
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", ns, pod);
	if (kube_get(c, path, &p, NULL) == 0) {
		snprintf(buf, cap, "%s",
			 verify_str(cJSON_GetObjectItemCaseSensitive(p, "spec"), "nodeName") ?: "");
		snprintf(uid, uidcap, "%s",
			 verify_str(cJSON_GetObjectItemCaseSensitive(p, "metadata"), "uid") ?: "");
	}
	cJSON_Delete(p);
}

int verify_container(struct kube_client *c, const char *ns, const char *pod, const char *container,
		     FILE *out)
{
	struct verify_list l = { .pod = pod, .container = container };
	struct verify_nodes nodes = { 0 };
	struct kube_response resp;
	struct verify_result res;
	struct verify_anchor a;
	time_t now = time(NULL);
	const cJSON *san;
	char path[1024], pod_node[256], pod_uid[128];
	size_t i, start;
	int ret, bad = 0;

	snprintf(path, sizeof(path), VERIFY_GROUP_PATH "/namespaces/%s/auditrecords", ns);
	ret = kube_list(c, path, 500, verify_collect, &l, NULL, &resp);
	if (ret < 0) {
		fprintf(out, "cannot list AuditRecords: %s\n",
			resp.message[0] ? resp.message : strerror(-ret));
		goto out;
	}
	if (l.n == 0) {
		/* Nothing left: was there ever? Every node's heads say. */
		struct verify_scan s = { &l, ns, pod, container, now, out, 0 };

		ret = kube_list(c, VERIFY_GROUP_PATH "/shellauditnodes", 20, verify_scan_node, &s,
				NULL, &resp);
		if (ret < 0) {
			fprintf(out, "cannot list ShellAuditNodes: %s\n",
				resp.message[0] ? resp.message : strerror(-ret));
			goto out;
		}
		if (!s.bad)
			fprintf(out, "no AuditRecords for %s/%s container %s\n", ns, pod,
				container);
		ret = s.bad ? -EBADMSG : -ENODATA;
		goto out;
	}
	/* One chain per container ID (a restarted container starts anew) and
	 * node: one container ID on two nodes means one of them lies. */
	qsort(l.items, l.n, sizeof(*l.items), verify_cmp_chain);
	for (start = 0, i = 1; i <= l.n; i++) {
		const char *cid = verify_cid(l.items[start]), *node = verify_node(l.items[start]);

		if (i < l.n && !verify_cmp_chain(&l.items[i], &l.items[start]))
			continue;
		if (start > 0 && !strcmp(verify_cid(l.items[start - 1]), cid)) {
			bad = 1;
			fprintf(out, "%s: records of one container claim nodes %s and %s\n", cid,
				verify_node(l.items[start - 1]), node);
		}
		if ((ret = verify_node_get(c, &nodes, node, &san)) < 0) {
			fprintf(out, "cannot read ShellAuditNode %s: %s\n", node, strerror(-ret));
			goto out;
		}
		fprintf(out, "%s (node %s):\n", cid, node);
		verify_anchor_of(san, node, cid, &a, out);
		if (verify_records(l.items + start, i - start, &a, now, out, &res) < 0)
			bad = 1;
		start = i;
	}
	/* Chains whose every record is gone, on the nodes read so far and on
	 * the pod's node. */
	verify_pod_node(c, ns, pod, pod_node, sizeof(pod_node), pod_uid, sizeof(pod_uid));
	/* Every record of the pod on the node that ran it (a node's root can
	 * sign records for its own node about any pod). */
	if (verify_pod_nodes(l.items, l.n, pod_uid, pod_node, out) > 0)
		bad = 1;
	if (pod_node[0] && (ret = verify_node_get(c, &nodes, pod_node, &san)) < 0) {
		fprintf(out, "cannot read ShellAuditNode %s: %s\n", pod_node, strerror(-ret));
		goto out;
	}
	for (i = 0; i < nodes.n; i++)
		if (nodes.objs[i])
			bad |= verify_orphan_heads(&l, nodes.objs[i], ns, pod, container, now, out);
	ret = bad ? -EBADMSG : 0;
out:
	verify_list_free(&l);
	verify_nodes_free(&nodes);
	return ret;
}

int verify_exit_status(int ret)
{
	return ret == 0 ? 0 : ret == -EBADMSG ? 1 : ret == -ENODATA ? 3 : 2;
}
