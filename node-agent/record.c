// SPDX-License-Identifier: Apache-2.0
/* AuditRecord construction. The digest covers the whole spec but itself
 * and the signature (previousDigest included), in the canonical form of
 * lib/digest.c, so a verifier can recompute it from any copy of the
 * record; the signature covers the digest and the node. */
#include "record.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsontext.h"
#include "sign.h"
#include "timefmt.h"

#define RECORD_LABEL_PREFIX "shellaudit.io/"
#define RECORD_SIGNED_PREFIX "shellaudit.io/v1alpha1 AuditRecord signature\n"

void record_container_label(const char *container_id, char out[20])
{
	char d[DIGEST_STR_LEN];

	digest_bytes(container_id, strlen(container_id), d);
	snprintf(out, 20, "%.16s", d + 7);
}

/* The hex digits of a "sha256:<hex>" digest, or NULL. */
static const char *record_hex(const char *digest)
{
	return digest && !strncmp(digest, "sha256:", 7) && strlen(digest) == 71 ? digest + 7 : NULL;
}

int record_name(const struct record_identity *id, uint64_t seq, const char *digest, char *buf,
		size_t cap)
{
	const char *hex = record_hex(digest);
	char label[20], pod[128];
	size_t n;
	int r;

	if (!hex)
		return -EINVAL;
	record_container_label(id->container_id, label);
	/* DNS subdomain: pod and container names are already lowercase DNS
	 * labels or subdomains; the pod part is bounded to stay under 253,
	 * and a cut one must not end in '.' or '-' before the next '-'. */
	snprintf(pod, sizeof(pod), "%.120s", id->pod);
	for (n = strlen(pod); n > 1 && (pod[n - 1] == '.' || pod[n - 1] == '-'); n--)
		pod[n - 1] = '\0';
	r = snprintf(buf, cap, "%s-%.63s-%.8s-%010llu-%.10s", pod, id->container, label,
		     (unsigned long long)seq, hex);
	return r > 0 && (size_t)r < cap ? 0 : -ENAMETOOLONG;
}

int record_name_taken(const char *name, const char *digest, char *buf, size_t cap)
{
	const char *hex = record_hex(digest);
	size_t n = name ? strlen(name) : 0;
	int r;

	/* record_name's, ending in -<10 hex of this digest> */
	if (!hex || n < 11 || name[n - 11] != '-' || strncmp(name + n - 10, hex, 10))
		return -EINVAL;
	r = snprintf(buf, cap, "%.*s%.20s", (int)(n - 10), name, hex);
	return r > 0 && (size_t)r < cap ? 0 : -ENAMETOOLONG;
}

int record_digest(const cJSON *spec, char digest[DIGEST_STR_LEN])
{
	static const char *const skip[] = { "digest", "signature", NULL };

	return digest_json(spec, skip, digest);
}

int record_signed_text(const char *node, const char *digest, char *buf, size_t cap)
{
	int r = snprintf(buf, cap, RECORD_SIGNED_PREFIX "%s\n%s", node, digest);

	return r > 0 && (size_t)r < cap ? r : -ENAMETOOLONG;
}

static const char *record_str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

int record_check_signature(const cJSON *spec, const char *key_id, const char *public_key,
			   const char **why)
{
	const cJSON *sig = cJSON_GetObjectItemCaseSensitive(spec, "signature");
	const char *kid = record_str(sig, "keyID"), *value = record_str(sig, "value");
	const char *node = record_str(spec, "node"), *digest = record_str(spec, "digest");
	char text[512];
	int n, ret;

	if (!kid || !value) {
		*why = "unsigned";
		return -EBADMSG;
	}
	if (!key_id || !public_key) {
		*why = "its node publishes no signing key";
		return -EBADMSG;
	}
	if (strcmp(kid, key_id)) {
		*why = "signed with a key its node does not publish";
		return -EBADMSG;
	}
	if (!node || !digest || (n = record_signed_text(node, digest, text, sizeof(text))) < 0) {
		*why = "no node or digest to check the signature against";
		return -EBADMSG;
	}
	ret = sign_verify(public_key, text, (size_t)n, value);
	if (ret == -EINVAL)
		*why = "the signature or the node's public key is malformed";
	else if (ret < 0)
		*why = "the signature does not match its node and digest";
	return ret < 0 ? -EBADMSG : 0;
}

int record_kept_until(const cJSON *spec, char out[RECORD_TIME_LEN])
{
	const cJSON *entries = cJSON_GetObjectItemCaseSensitive(spec, "entries");
	const char *last = record_str(cJSON_GetArrayItem(entries, cJSON_GetArraySize(entries) - 1),
				      "time");
	const char *retention = record_str(spec, "retention");
	struct timespec ts;
	long long secs;

	if (!last || !retention || timefmt_parse(last, &ts) < 0 ||
	    timefmt_duration(retention, &secs) < 0)
		return -EINVAL;
	ts.tv_sec += (time_t)secs;
	ts.tv_nsec = 0; /* down to the second: never later than the truth */
	timefmt_rfc3339(&ts, out, RECORD_TIME_LEN);
	return 0;
}

/* spec.policies joined by ',' into buf (32 names of 253 at most). */
static int record_join_policies(const cJSON *policies, char *buf, size_t cap)
{
	const cJSON *p;
	size_t len = 0;
	int n;

	buf[0] = '\0';
	cJSON_ArrayForEach(p, policies) {
		if (!cJSON_IsString(p))
			return -EINVAL;
		n = snprintf(buf + len, cap - len, "%s%s", len ? "," : "", p->valuestring);
		if (n < 0 || (size_t)n >= cap - len)
			return -ENAMETOOLONG;
		len += (size_t)n;
	}
	return 0;
}

long record_set_bytes(cJSON *rec)
{
	cJSON *md = cJSON_GetObjectItemCaseSensitive(rec, "metadata"), *ann;
	char *text, num[24];
	size_t len, total, d;

	if (!cJSON_IsObject(md))
		return -EINVAL;
	if (!(ann = cJSON_GetObjectItemCaseSensitive(md, "annotations")) &&
	    !(ann = cJSON_AddObjectToObject(md, "annotations")))
		return -ENOMEM;
	cJSON_DeleteItemFromObjectCaseSensitive(ann, RECORD_BYTES_ANNOTATION);
	if (!cJSON_AddStringToObject(ann, RECORD_BYTES_ANNOTATION, "0") ||
	    !(text = jsontext_print(rec, NULL)))
		return -ENOMEM;
	len = strlen(text);
	free(text);
	/* With "0" the text has one digit; the length with d digits in the
	 * annotation is len - 1 + d, and d must be its own digit count. */
	for (d = 1; d < 20; d++) {
		total = len - 1 + d;
		if ((size_t)snprintf(num, sizeof(num), "%zu", total) == d)
			break;
	}
	cJSON_ReplaceItemInObjectCaseSensitive(ann, RECORD_BYTES_ANNOTATION,
					       cJSON_CreateString(num));
	return (long)total;
}

cJSON *record_build(const struct record_identity *id, const struct record_session *sess,
		    cJSON *entries, uint64_t seq, const char *prev, const char *prev_kept_until,
		    const struct sign_key *key, char digest[DIGEST_STR_LEN])
{
	cJSON *obj = cJSON_CreateObject(), *md, *labels, *spec, *pod, *s, *sig, *ann;
	char name[320], label[20], text[512], signature[SIGN_SIGNATURE_LEN], until[RECORD_TIME_LEN];
	char pols[32 * 254];
	int n = cJSON_GetArraySize(entries), tn;

	if (!obj || n < 1 || n > RECORD_MAX_ENTRIES) {
		cJSON_Delete(entries);
		cJSON_Delete(obj);
		return NULL;
	}
	record_container_label(id->container_id, label);
	cJSON_AddStringToObject(obj, "apiVersion", "shellaudit.io/v1alpha1");
	cJSON_AddStringToObject(obj, "kind", "AuditRecord");
	md = cJSON_AddObjectToObject(obj, "metadata");
	cJSON_AddStringToObject(md, "namespace", id->ns);
	labels = cJSON_AddObjectToObject(md, "labels");
	cJSON_AddStringToObject(labels, RECORD_LABEL_PREFIX "pod", id->pod);
	cJSON_AddStringToObject(labels, RECORD_LABEL_PREFIX "container", id->container);
	cJSON_AddStringToObject(labels, RECORD_LABEL_PREFIX "container-id", label);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(md, "finalizers"),
			     cJSON_CreateString(RECORD_FINALIZER));
	spec = cJSON_AddObjectToObject(obj, "spec");
	pod = cJSON_AddObjectToObject(spec, "pod");
	cJSON_AddStringToObject(pod, "name", id->pod);
	cJSON_AddStringToObject(pod, "uid", id->pod_uid);
	cJSON_AddStringToObject(spec, "container", id->container);
	cJSON_AddStringToObject(spec, "containerID", id->container_id);
	cJSON_AddStringToObject(spec, "node", id->node);
	if (id->policies)
		cJSON_AddItemToObject(spec, "policies", cJSON_Duplicate(id->policies, 1));
	cJSON_AddStringToObject(spec, "retention", id->retention);
	if (sess && sess->id) {
		s = cJSON_AddObjectToObject(spec, "session");
		cJSON_AddStringToObject(s, "id", sess->id);
		if (sess->pid > 0)
			cJSON_AddNumberToObject(s, "pid", sess->pid);
		if (sess->start)
			cJSON_AddStringToObject(s, "start", sess->start);
	}
	/* Signed with the rest: who opened the session is the node's word. */
	if (sess && sess->attribution)
		cJSON_AddItemToObject(spec, "attribution", cJSON_Duplicate(sess->attribution, 1));
	cJSON_AddNumberToObject(spec, "sequence", (double)seq);
	if (seq > 0 && prev && *prev)
		cJSON_AddStringToObject(spec, "previousDigest", prev);
	if (seq > 0 && prev_kept_until && *prev_kept_until)
		cJSON_AddStringToObject(spec, "previousKeptUntil", prev_kept_until);
	cJSON_AddNumberToObject(spec, "entryCount", n);
	cJSON_AddItemToObject(spec, "entries", entries);
	if (record_digest(spec, digest) < 0 || record_name(id, seq, digest, name, sizeof(name)) < 0)
		goto fail;
	cJSON_AddStringToObject(spec, "digest", digest);
	cJSON_AddStringToObject(md, "name", name);
	/* The controller reads records as metadata only: the earliest time
	 * this one can expire goes there too, so that it reads the record's
	 * spec (its exact expiry) once, near then. From the record itself, so
	 * a replay builds the same object. */
	ann = cJSON_AddObjectToObject(md, "annotations");
	if (record_kept_until(spec, until) == 0)
		cJSON_AddStringToObject(ann, RECORD_EXPIRES_ANNOTATION, until);
	/* Which policies' storage budgets the record counts against, where
	 * the controller's metadata-only watch sees it (the admission policy
	 * checks it against spec.policies). */
	if (id->policies && record_join_policies(id->policies, pols, sizeof(pols)) == 0)
		cJSON_AddStringToObject(ann, RECORD_POLICIES_ANNOTATION, pols);
	if (key) {
		if ((tn = record_signed_text(id->node, digest, text, sizeof(text))) < 0 ||
		    sign_message(key, text, (size_t)tn, signature) < 0)
			goto fail;
		sig = cJSON_AddObjectToObject(spec, "signature");
		cJSON_AddStringToObject(sig, "keyID", sign_key_id(key));
		cJSON_AddStringToObject(sig, "value", signature);
	}
	return obj;
fail:
	cJSON_Delete(obj);
	return NULL;
}
