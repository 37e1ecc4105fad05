// SPDX-License-Identifier: Apache-2.0
/* The audited pods (see podindex.h). */
#include "podindex.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"

struct podindex_entry {
	char node[254];
	char uid[64];
	cJSON *containers; /* array of names */
};

struct podindex {
	pthread_rwlock_t lock;
	struct hmap pods;  /* "ns/pod" -> struct podindex_entry */
	struct hmap nodes; /* node -> cJSON array of the "ns/pod" keys it said */
};

static void podindex_entry_free(void *v)
{
	struct podindex_entry *e = v;

	if (!e)
		return;
	cJSON_Delete(e->containers);
	free(e);
}

static void podindex_keys_free(void *v)
{
	cJSON_Delete(v);
}

int podindex_new(struct podindex **out)
{
	struct podindex *x = calloc(1, sizeof(*x));

	if (!x)
		return -ENOMEM;
	pthread_rwlock_init(&x->lock, NULL);
	hmap_init_free(&x->pods, podindex_entry_free);
	hmap_init_free(&x->nodes, podindex_keys_free);
	*out = x;
	return 0;
}

void podindex_free(struct podindex *x)
{
	if (!x)
		return;
	hmap_clear(&x->pods);
	hmap_clear(&x->nodes);
	pthread_rwlock_destroy(&x->lock);
	free(x);
}

static const char *podindex_str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

cJSON *podindex_trim(const cJSON *san)
{
	cJSON *out = cJSON_CreateObject(), *md, *targets;
	const cJSON *t;

	md = cJSON_AddObjectToObject(out, "metadata");
	cJSON_AddStringToObject(
		md, "name",
		podindex_str(cJSON_GetObjectItemCaseSensitive(san, "metadata"), "name") ?: "");
	targets = cJSON_AddArrayToObject(cJSON_AddObjectToObject(out, "spec"), "targets");
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(
				      cJSON_GetObjectItemCaseSensitive(san, "spec"), "targets")) {
		static const char *const keep[] = { "namespace", "pod", "podUID", "container" };
		cJSON *k = cJSON_CreateObject();
		size_t i;

		for (i = 0; i < 4; i++)
			if (podindex_str(t, keep[i]))
				cJSON_AddStringToObject(k, keep[i], podindex_str(t, keep[i]));
		cJSON_AddItemToArray(targets, k);
	}
	return out;
}

void podindex_set_node(struct podindex *x, const char *node, const cJSON *san)
{
	cJSON *keys = cJSON_CreateArray(), *old;
	const cJSON *t, *k;
	char key[400];

	pthread_rwlock_wrlock(&x->lock);
	if ((old = hmap_del(&x->nodes, node))) {
		cJSON_ArrayForEach(k, old) {
			struct podindex_entry *e = hmap_get(&x->pods, k->valuestring);

			/* A pod moved to another node meanwhile stays that node's. */
			if (e && !strcmp(e->node, node))
				hmap_remove(&x->pods, k->valuestring);
		}
		cJSON_Delete(old);
	}
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(
				      cJSON_GetObjectItemCaseSensitive(san, "spec"), "targets")) {
		const char *ns = podindex_str(t, "namespace"), *pod = podindex_str(t, "pod");
		const char *ctr = podindex_str(t, "container"), *uid = podindex_str(t, "podUID");
		struct podindex_entry *e;

		if (!ns || !pod || !ctr)
			continue;
		snprintf(key, sizeof(key), "%s/%s", ns, pod);
		if (!(e = hmap_get(&x->pods, key)) || strcmp(e->node, node)) {
			if (!(e = calloc(1, sizeof(*e))) ||
			    !(e->containers = cJSON_CreateArray()) ||
			    hmap_put(&x->pods, key, e, NULL) < 0) {
				podindex_entry_free(e);
				continue;
			}
			snprintf(e->node, sizeof(e->node), "%s", node);
			snprintf(e->uid, sizeof(e->uid), "%s", uid ? uid : "");
			cJSON_AddItemToArray(keys, cJSON_CreateString(key));
		}
		cJSON_AddItemToArray(e->containers, cJSON_CreateString(ctr));
	}
	if (!san || hmap_put(&x->nodes, node, keys, NULL) < 0)
		cJSON_Delete(keys);
	pthread_rwlock_unlock(&x->lock);
}

int podindex_lookup(struct podindex *x, const char *ns, const char *pod, const char *container,
		    struct podindex_pod *out)
{
	struct podindex_entry *e;
	const cJSON *c;
	char key[400];
	int found = 0;

	snprintf(key, sizeof(key), "%s/%s", ns, pod);
	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock(&x->lock);
	if ((e = hmap_get(&x->pods, key))) {
		found = 1;
		memcpy(out->node, e->node, sizeof(out->node));
		memcpy(out->uid, e->uid, sizeof(out->uid));
		out->container_audited = !container;
		cJSON_ArrayForEach(c, e->containers)
			if (container && !strcmp(c->valuestring, container))
				out->container_audited = true;
	}
	pthread_rwlock_unlock(&x->lock);
	return found;
}

size_t podindex_count(struct podindex *x)
{
	size_t n;

	pthread_rwlock_rdlock(&x->lock);
	n = x->pods.size;
	pthread_rwlock_unlock(&x->lock);
	return n;
}
