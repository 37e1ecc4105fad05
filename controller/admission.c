// SPDX-License-Identifier: Apache-2.0
/* AdmissionReviews to pending sessions (see admission.h). */
#include "admission.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsontext.h"
#include "timefmt.h"

#define ADMISSION_ARGS_MAX 64
#define ADMISSION_ARG_LEN 4096
#define ADMISSION_USER_LEN 1024
#define ADMISSION_GROUPS_MAX 256
#define ADMISSION_EXTRA_KEYS 64
#define ADMISSION_EXTRA_VALUES 64
#define ADMISSION_PORTS_MAX 64
/* JSON values in one review at most: each costs cJSON about 80 bytes
 * whatever its text, so a body of "0,0,0..." would cost 40 times its size.
 * A review of an ephemeral container carries the pod twice: a pod of 8,000
 * environment variables (800 KB) makes about 130,000. */
#define ADMISSION_VALUES_MAX (256 << 10)
/* kubectl debug node/NODE names its pod so (kubectl 1.32 sets no label). */
#define ADMISSION_DEBUGPOD_PREFIX "node-debugger-"

static const cJSON *adm_get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *adm_str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(adm_get(o, k));
}

/* Copies a string field, cut to cap - 1 bytes (at a UTF-8 boundary). */
static void adm_copy(char *out, size_t cap, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n >= cap) {
		n = cap - 1;
		while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	if (n)
		memcpy(out, s, n);
	out[n] = '\0';
}

/* A new string item holding s cut to max bytes. */
static cJSON *adm_bounded(const char *s, size_t max, bool *cut)
{
	char *buf;
	cJSON *j;

	if (strlen(s) <= max)
		return cJSON_CreateString(s);
	*cut = true;
	if (!(buf = malloc(max + 1)))
		return NULL;
	adm_copy(buf, max + 1, s);
	j = cJSON_CreateString(buf);
	free(buf);
	return j;
}

/* A bounded copy of an array of strings (non-strings skipped). */
static cJSON *adm_strings(const cJSON *arr, size_t max_items, size_t max_len, bool *cut)
{
	cJSON *out = cJSON_CreateArray();
	const cJSON *it;
	size_t n = 0;

	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it))
			continue;
		if (n == max_items) {
			*cut = true;
			break;
		}
		cJSON_AddItemToArray(out, adm_bounded(it->valuestring, max_len, cut));
		n++;
	}
	return out;
}

static cJSON *adm_user(const cJSON *ui)
{
	cJSON *u = cJSON_CreateObject(), *extra;
	const cJSON *e;
	bool cut = false;
	size_t keys = 0;

	cJSON_AddItemToObject(u, "username",
			      adm_bounded(adm_str(ui, "username") ? adm_str(ui, "username") : "",
					  ADMISSION_USER_LEN, &cut));
	if (adm_str(ui, "uid"))
		cJSON_AddItemToObject(u, "uid",
				      adm_bounded(adm_str(ui, "uid"), ADMISSION_USER_LEN, &cut));
	if (cJSON_IsArray(adm_get(ui, "groups")))
		cJSON_AddItemToObject(u, "groups",
				      adm_strings(adm_get(ui, "groups"), ADMISSION_GROUPS_MAX,
						  ADMISSION_USER_LEN, &cut));
	if (cJSON_IsObject(adm_get(ui, "extra"))) {
		extra = cJSON_AddObjectToObject(u, "extra");
		cJSON_ArrayForEach(e, adm_get(ui, "extra")) {
			char key[254];

			if (!cJSON_IsArray(e))
				continue;
			if (keys == ADMISSION_EXTRA_KEYS) {
				cut = true;
				break;
			}
			adm_copy(key, sizeof(key), e->string);
			cut |= strlen(e->string) >= sizeof(key);
			if (adm_get(extra, key))
				continue;
			cJSON_AddItemToObject(
				extra, key,
				adm_strings(e, ADMISSION_EXTRA_VALUES, ADMISSION_USER_LEN, &cut));
			keys++;
		}
	}
	if (cut)
		cJSON_AddTrueToObject(u, "truncated");
	return u;
}

const char *admission_kind_name(enum admission_kind k)
{
	switch (k) {
	case ADMISSION_EXEC: return "Exec";
	case ADMISSION_ATTACH: return "Attach";
	case ADMISSION_PORTFORWARD: return "PortForward";
	case ADMISSION_EPHEMERAL: return "EphemeralContainer";
	case ADMISSION_DEBUGPOD: return "DebugPod";
	}
	return "Exec";
}

void admission_review_clear(struct admission_review *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n; i++) {
		cJSON_Delete(r->s[i].command);
		cJSON_Delete(r->s[i].ports);
	}
	cJSON_Delete(r->user);
	memset(r, 0, sizeof(*r));
}

static struct admission_session *adm_add(struct admission_review *r, const cJSON *req,
					 enum admission_kind kind)
{
	struct admission_session *s;

	if (r->n == ADMISSION_MAX_SESSIONS)
		return NULL;
	s = &r->s[r->n];
	memset(s, 0, sizeof(*s));
	memcpy(s->name, r->uid, sizeof(r->uid));
	if (r->n)
		snprintf(s->name + strlen(s->name), sizeof(s->name) - strlen(s->name), "-%zu",
			 r->n + 1);
	r->n++;
	s->kind = kind;
	adm_copy(s->ns, sizeof(s->ns), adm_str(req, "namespace"));
	adm_copy(s->pod, sizeof(s->pod), adm_str(req, "name"));
	return s;
}

/* The container's command and args, as the runtime will run them. */
static cJSON *adm_container_argv(const cJSON *c, bool *cut)
{
	cJSON *argv =
		adm_strings(adm_get(c, "command"), ADMISSION_ARGS_MAX, ADMISSION_ARG_LEN, cut);
	const cJSON *a;

	cJSON_ArrayForEach(a, adm_get(c, "args")) {
		if (!cJSON_IsString(a))
			continue;
		if (cJSON_GetArraySize(argv) == ADMISSION_ARGS_MAX) {
			*cut = true;
			break;
		}
		cJSON_AddItemToArray(argv, adm_bounded(a->valuestring, ADMISSION_ARG_LEN, cut));
	}
	return argv;
}

static void adm_container(struct admission_session *s, const cJSON *c)
{
	adm_copy(s->container, sizeof(s->container), adm_str(c, "name"));
	adm_copy(s->target, sizeof(s->target), adm_str(c, "targetContainerName"));
	adm_copy(s->image, sizeof(s->image), adm_str(c, "image"));
	s->container_named = true;
	s->command = adm_container_argv(c, &s->command_truncated);
	s->tty = cJSON_IsTrue(adm_get(c, "tty"));
	s->stdin = cJSON_IsTrue(adm_get(c, "stdin"));
}

static bool adm_has_name(const cJSON *list, const char *name)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, list) {
		const char *n = adm_str(c, "name");

		if (n && !strcmp(n, name))
			return true;
	}
	return false;
}

/* The ephemeral containers the update adds. */
static void adm_ephemeral(struct admission_review *r, const cJSON *req)
{
	const cJSON *now = adm_get(adm_get(adm_get(req, "object"), "spec"), "ephemeralContainers");
	const cJSON *before =
		adm_get(adm_get(adm_get(req, "oldObject"), "spec"), "ephemeralContainers");
	const cJSON *c;

	cJSON_ArrayForEach(c, now) {
		const char *name = adm_str(c, "name");
		struct admission_session *s;

		if (!name || !*name || adm_has_name(before, name))
			continue;
		if (!(s = adm_add(r, req, ADMISSION_EPHEMERAL)))
			break;
		adm_container(s, c);
		adm_copy(s->pod_uid, sizeof(s->pod_uid),
			 adm_str(adm_get(adm_get(req, "object"), "metadata"), "uid"));
	}
	if (!r->n)
		r->skipped = "no ephemeral container added";
}

static bool adm_is_debug_pod(const cJSON *pod)
{
	const cJSON *md = adm_get(pod, "metadata");
	const char *name = adm_str(md, "name");
	const char *managed = adm_str(adm_get(md, "labels"), "app.kubernetes.io/managed-by");

	return (name &&
		!strncmp(name, ADMISSION_DEBUGPOD_PREFIX, strlen(ADMISSION_DEBUGPOD_PREFIX))) ||
	       (managed && !strcmp(managed, "kubectl-debug"));
}

static void adm_debug_pod(struct admission_review *r, const cJSON *req)
{
	const cJSON *pod = adm_get(req, "object");
	const cJSON *c = cJSON_GetArrayItem(adm_get(adm_get(pod, "spec"), "containers"), 0);
	struct admission_session *s;

	if (!adm_is_debug_pod(pod) || !c) {
		r->skipped = "not a node-debug pod";
		return;
	}
	if (!(s = adm_add(r, req, ADMISSION_DEBUGPOD)))
		return;
	/* The pod's name may come from generateName: the object's is the one. */
	adm_copy(s->pod, sizeof(s->pod), adm_str(adm_get(pod, "metadata"), "name"));
	adm_copy(s->pod_uid, sizeof(s->pod_uid), adm_str(adm_get(pod, "metadata"), "uid"));
	adm_copy(s->node, sizeof(s->node), adm_str(adm_get(pod, "spec"), "nodeName"));
	adm_container(s, c);
}

static void adm_connect(struct admission_review *r, const cJSON *req, const char *sub)
{
	const cJSON *o = adm_get(req, "object");
	enum admission_kind kind;
	struct admission_session *s;
	const char *ctr;

	if (!strcmp(sub, "exec"))
		kind = ADMISSION_EXEC;
	else if (!strcmp(sub, "attach"))
		kind = ADMISSION_ATTACH;
	else if (!strcmp(sub, "portforward"))
		kind = ADMISSION_PORTFORWARD;
	else {
		r->skipped = "not a session subresource";
		return;
	}
	if (!(s = adm_add(r, req, kind)))
		return;
	ctr = adm_str(o, "container");
	if (kind != ADMISSION_PORTFORWARD && ctr && *ctr) {
		adm_copy(s->container, sizeof(s->container), ctr);
		s->container_named = true;
	}
	s->tty = cJSON_IsTrue(adm_get(o, "tty"));
	s->stdin = cJSON_IsTrue(adm_get(o, "stdin"));
	if (kind == ADMISSION_EXEC)
		s->command = adm_strings(adm_get(o, "command"), ADMISSION_ARGS_MAX,
					 ADMISSION_ARG_LEN, &s->command_truncated);
	if (kind == ADMISSION_PORTFORWARD) {
		const cJSON *p;

		s->ports = cJSON_CreateArray();
		cJSON_ArrayForEach(p, adm_get(o, "ports")) {
			if (cJSON_GetArraySize(s->ports) == ADMISSION_PORTS_MAX)
				break;
			if (cJSON_IsNumber(p) && p->valuedouble >= 0 && p->valuedouble <= 65535)
				cJSON_AddItemToArray(s->ports,
						     cJSON_CreateNumber((int)p->valuedouble));
		}
	}
}

/* How many JSON values text holds at least (its commas and opening
 * brackets outside strings; an object's member is one item, its key in
 * it), counted up to max + 1: what cJSON would build. */
static size_t adm_values(const char *text, size_t len, size_t max)
{
	size_t n = 1, i;
	bool in_str = false;

	for (i = 0; i < len && n <= max; i++) {
		char ch = text[i];

		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
		} else if (ch == ',' || ch == '[' || ch == '{') {
			n++;
		}
	}
	return n;
}

int admission_parse(const char *body, size_t len, struct admission_review *out, char *err,
		    size_t errlen)
{
	cJSON *doc;
	const cJSON *req;
	const char *uid, *op, *sub, *res, *kind;

	memset(out, 0, sizeof(*out));
	if (adm_values(body, len, ADMISSION_VALUES_MAX) > ADMISSION_VALUES_MAX) {
		snprintf(err, errlen, "more than %d JSON values: no review is that large",
			 ADMISSION_VALUES_MAX);
		return -EINVAL;
	}
	doc = cJSON_ParseWithLength(body, len);
	req = adm_get(doc, "request");
	uid = adm_str(req, "uid");
	op = adm_str(req, "operation");
	sub = adm_str(req, "subResource");
	kind = adm_str(doc, "kind");
	if (!doc || !kind || strcmp(kind, "AdmissionReview") || !cJSON_IsObject(req)) {
		snprintf(err, errlen, "not an AdmissionReview");
		cJSON_Delete(doc);
		return -EINVAL;
	}
	if (!uid || !*uid || strlen(uid) > ADMISSION_UID_MAX ||
	    strspn(uid, "0123456789abcdef-") != strlen(uid)) {
		snprintf(err, errlen, "the request's uid is missing or not a lower-case UUID");
		cJSON_Delete(doc);
		return -EINVAL;
	}
	snprintf(out->uid, sizeof(out->uid), "%s", uid);
	adm_copy(out->operation, sizeof(out->operation), op);
	out->dry_run = cJSON_IsTrue(adm_get(req, "dryRun"));
	out->user = adm_user(adm_get(req, "userInfo"));
	res = adm_str(adm_get(req, "resource"), "resource");
	if (out->dry_run) {
		out->skipped = "dry run";
	} else if (!res || strcmp(res, "pods") || !adm_str(req, "name") ||
		   !adm_str(req, "namespace")) {
		out->skipped = "not about a pod";
	} else if (op && !strcmp(op, "CONNECT") && sub) {
		adm_connect(out, req, sub);
	} else if (op && !strcmp(op, "UPDATE") && sub && !strcmp(sub, "ephemeralcontainers")) {
		adm_ephemeral(out, req);
	} else if (op && !strcmp(op, "CREATE") && (!sub || !*sub)) {
		adm_debug_pod(out, req);
	} else {
		out->skipped = "not a session";
	}
	cJSON_Delete(doc);
	return 0;
}

char *admission_response(const char *uid, const char *session_id)
{
	cJSON *doc = cJSON_CreateObject(), *resp;
	char *text;

	cJSON_AddStringToObject(doc, "apiVersion", "admission.k8s.io/v1");
	cJSON_AddStringToObject(doc, "kind", "AdmissionReview");
	resp = cJSON_AddObjectToObject(doc, "response");
	cJSON_AddStringToObject(resp, "uid", uid ? uid : "");
	cJSON_AddTrueToObject(resp, "allowed");
	if (session_id)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(resp, "auditAnnotations"),
					ADMISSION_ANNOTATION, session_id);
	text = jsontext_print(doc, NULL);
	cJSON_Delete(doc);
	return text;
}

int admission_default_container(const cJSON *pod, char *out, size_t cap)
{
	const cJSON *containers = adm_get(adm_get(pod, "spec"), "containers");
	const char *want = adm_str(adm_get(adm_get(pod, "metadata"), "annotations"),
				   "kubectl.kubernetes.io/default-container");
	const char *first = adm_str(cJSON_GetArrayItem(containers, 0), "name");

	if (want && *want && adm_has_name(containers, want)) {
		adm_copy(out, cap, want);
		return 0;
	}
	if (!first || !*first)
		return -ENOENT;
	adm_copy(out, cap, first);
	return 0;
}

cJSON *admission_session_object(const struct admission_review *r, size_t i,
				const struct timespec *now, long ttl_s, bool audit_expected)
{
	const struct admission_session *s = &r->s[i];
	struct timespec exp = { now->tv_sec + ttl_s, 0 };
	cJSON *o = cJSON_CreateObject(), *md, *spec;
	char t[40];

	cJSON_AddStringToObject(o, "apiVersion", "shellaudit.io/v1alpha1");
	cJSON_AddStringToObject(o, "kind", "ShellAuditSession");
	md = cJSON_AddObjectToObject(o, "metadata");
	cJSON_AddStringToObject(md, "name", s->name);
	cJSON_AddStringToObject(cJSON_AddObjectToObject(md, "labels"), "app.kubernetes.io/name",
				"shellaudit");
	spec = cJSON_AddObjectToObject(o, "spec");
	cJSON_AddStringToObject(spec, "kind", admission_kind_name(s->kind));
	cJSON_AddStringToObject(spec, "node", s->node);
	cJSON_AddStringToObject(spec, "namespace", s->ns);
	cJSON_AddStringToObject(spec, "pod", s->pod);
	if (s->pod_uid[0])
		cJSON_AddStringToObject(spec, "podUID", s->pod_uid);
	if (s->container[0])
		cJSON_AddStringToObject(spec, "container", s->container);
	if (s->target[0])
		cJSON_AddStringToObject(spec, "targetContainer", s->target);
	if (s->image[0])
		cJSON_AddStringToObject(spec, "image", s->image);
	if (s->command)
		cJSON_AddItemToObject(spec, "command", cJSON_Duplicate(s->command, 1));
	if (s->command_truncated)
		cJSON_AddTrueToObject(spec, "commandTruncated");
	cJSON_AddBoolToObject(spec, "tty", s->tty);
	cJSON_AddBoolToObject(spec, "stdin", s->stdin);
	if (s->ports)
		cJSON_AddItemToObject(spec, "ports", cJSON_Duplicate(s->ports, 1));
	cJSON_AddItemToObject(spec, "user", cJSON_Duplicate(r->user, 1));
	timefmt_micro(now, t, sizeof(t));
	cJSON_AddStringToObject(spec, "admittedAt", t);
	timefmt_rfc3339(&exp, t, sizeof(t));
	cJSON_AddStringToObject(spec, "expiresAt", t);
	if (audit_expected)
		cJSON_AddTrueToObject(spec, "auditExpected");
	return o;
}
