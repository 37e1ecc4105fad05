// SPDX-License-Identifier: Apache-2.0
/* AuditRecord construction. The digest covers the whole spec but itself
 * (previousDigest included), in the canonical form of lib/digest.c, so
 * a verifier can recompute it from any copy of the record. */
#include "record.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "timefmt.h"

#define RECORD_LABEL_PREFIX "shellaudit.io/"

void record_container_label(const char *container_id, char out[20])
{
	char d[DIGEST_STR_LEN];

	digest_bytes(container_id, strlen(container_id), d);
	snprintf(out, 20, "%.16s", d + 7);
}

int record_name(const struct record_identity *id, uint64_t seq, char *buf, size_t cap)
{
	char label[20];
	int n;

	record_container_label(id->container_id, label);
	/* DNS subdomain: pod and container names are already lowercase DNS
	 * labels or subdomains; bound the pod part to stay under 253. */
	n = snprintf(buf, cap, "%.160s-%.63s-%.8s-%010llu", id->pod, id->container, label,
		     (unsigned long long)seq);
	return n > 0 && (size_t)n < cap ? 0 : -ENAMETOOLONG;
}

int record_digest(const cJSON *spec, char digest[DIGEST_STR_LEN])
{
	static const char *const skip[] = { "digest", NULL };

	return digest_json(spec, skip, digest);
}

/* Now plus retention, as RFC 3339. */
static int record_expiry(const char *retention, char *buf, size_t cap)
{
	struct timespec now;
	long long secs;

	if (!retention || timefmt_duration(retention, &secs) < 0)
		return -EINVAL;
	clock_gettime(CLOCK_REALTIME, &now);
	now.tv_sec += (time_t)secs;
	now.tv_nsec = 0;
	timefmt_rfc3339(&now, buf, cap);
	return 0;
}

cJSON *record_build(const struct record_identity *id, const struct record_session *sess,
		    cJSON *entries, uint64_t seq, const char *prev, char digest[DIGEST_STR_LEN])
{
	cJSON *obj = cJSON_CreateObject(), *md, *labels, *spec, *pod, *s;
	char name[320], label[20], expires[40];
	int n = cJSON_GetArraySize(entries);

	if (!obj || n < 1 || n > RECORD_MAX_ENTRIES || record_name(id, seq, name, sizeof(name)) < 0) {
		cJSON_Delete(entries);
		cJSON_Delete(obj);
		return NULL;
	}
	record_container_label(id->container_id, label);
	cJSON_AddStringToObject(obj, "apiVersion", "shellaudit.io/v1alpha1");
	cJSON_AddStringToObject(obj, "kind", "AuditRecord");
	md = cJSON_AddObjectToObject(obj, "metadata");
	cJSON_AddStringToObject(md, "name", name);
	cJSON_AddStringToObject(md, "namespace", id->ns);
	labels = cJSON_AddObjectToObject(md, "labels");
	cJSON_AddStringToObject(labels, RECORD_LABEL_PREFIX "pod", id->pod);
	cJSON_AddStringToObject(labels, RECORD_LABEL_PREFIX "container", id->container);
	cJSON_AddStringToObject(labels, RECORD_LABEL_PREFIX "container-id", label);
	/* The controller reads only metadata: the expiry goes there. */
	if (record_expiry(id->retention, expires, sizeof(expires)) == 0)
		cJSON_AddStringToObject(cJSON_AddObjectToObject(md, "annotations"),
					RECORD_LABEL_PREFIX "expires-at", expires);
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
	cJSON_AddNumberToObject(spec, "sequence", (double)seq);
	if (seq > 0 && prev && *prev)
		cJSON_AddStringToObject(spec, "previousDigest", prev);
	cJSON_AddNumberToObject(spec, "entryCount", n);
	cJSON_AddItemToObject(spec, "entries", entries);
	if (record_digest(spec, digest) < 0) {
		cJSON_Delete(obj);
		return NULL;
	}
	cJSON_AddStringToObject(spec, "digest", digest);
	return obj;
}
