// SPDX-License-Identifier: Apache-2.0
/* The webhook's certificates and caBundle (see webhookcert.h). */
#include "webhookcert.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

#define WEBHOOKCERT_CA_DAYS 365
/* A CA is renewed once it has less than this left... */
#define WEBHOOKCERT_CA_MARGIN_S (30L * 86400)
#define WEBHOOKCERT_DNS_MAX 4

struct webhookcert {
	char *dns[WEBHOOKCERT_DNS_MAX];
	size_t ndns;
	long rotate_s;
	struct cert_pair ca, prev_ca; /* prev_ca: while serving certificates it signed live */
	time_t ca_until;
	struct cert_pair leaf;
	time_t leaf_made;
	bool ca_in_bundle;   /* the caBundle holds ca (a new CA waits for it) */
	bool leaf_from_prev; /* the leaf was signed by prev_ca */
};

void webhookcert_free(struct webhookcert *wc)
{
	size_t i;

	if (!wc)
		return;
	for (i = 0; i < wc->ndns; i++)
		free(wc->dns[i]);
	certs_pair_clear(&wc->ca);
	certs_pair_clear(&wc->prev_ca);
	certs_pair_clear(&wc->leaf);
	free(wc);
}

static int webhookcert_sign(struct webhookcert *wc, const struct cert_pair *ca, time_t now,
			    char *err, size_t errlen)
{
	struct cert_pair leaf;
	int ret;

	/* Valid for two periods: a renewal that fails leaves a day to retry. */
	ret = certs_make_server(ca, "shellaudit-session-webhook", (const char *const *)wc->dns,
				wc->ndns, 2 * wc->rotate_s, &leaf, err, errlen);
	if (ret < 0)
		return ret;
	certs_pair_clear(&wc->leaf);
	wc->leaf = leaf;
	wc->leaf_made = now;
	return 0;
}

int webhookcert_new(const char *const *dns, size_t n, long rotate_s, struct webhookcert **out,
		    char *err, size_t errlen)
{
	struct webhookcert *wc = calloc(1, sizeof(*wc));
	time_t now = time(NULL);
	size_t i;
	int ret;

	*out = NULL;
	if (!wc)
		return -ENOMEM;
	if (n == 0 || n > WEBHOOKCERT_DNS_MAX) {
		snprintf(err, errlen, "want 1 to %d DNS names", WEBHOOKCERT_DNS_MAX);
		free(wc);
		return -EINVAL;
	}
	for (i = 0; i < n; i++)
		if (!(wc->dns[wc->ndns++] = strdup(dns[i]))) {
			webhookcert_free(wc);
			return -ENOMEM;
		}
	wc->rotate_s = rotate_s > 60 ? rotate_s : 60;
	if ((ret = certs_make_ca("shellaudit-session-webhook-ca", WEBHOOKCERT_CA_DAYS * 86400L,
				 &wc->ca, err, errlen)) < 0 ||
	    (ret = webhookcert_sign(wc, &wc->ca, now, err, errlen)) < 0) {
		webhookcert_free(wc);
		return ret;
	}
	wc->ca_until = now + WEBHOOKCERT_CA_DAYS * 86400L;
	*out = wc;
	return 0;
}

const struct cert_pair *webhookcert_leaf(const struct webhookcert *wc)
{
	return &wc->leaf;
}

int webhookcert_tick(struct webhookcert *wc, time_t now, char *err, size_t errlen)
{
	int ret;

	if (wc->ca_until - now < WEBHOOKCERT_CA_MARGIN_S && wc->ca_in_bundle) {
		struct cert_pair ca;

		if ((ret = certs_make_ca("shellaudit-session-webhook-ca",
					 WEBHOOKCERT_CA_DAYS * 86400L, &ca, err, errlen)) < 0)
			return ret;
		certs_pair_clear(&wc->prev_ca);
		wc->prev_ca = wc->ca;
		wc->ca = ca;
		wc->ca_until = now + WEBHOOKCERT_CA_DAYS * 86400L;
		wc->ca_in_bundle = false;
		wc->leaf_from_prev = true;
	}
	/* The new CA signs once API servers trust it. */
	if (wc->leaf_from_prev && wc->ca_in_bundle) {
		if ((ret = webhookcert_sign(wc, &wc->ca, now, err, errlen)) < 0)
			return ret;
		wc->leaf_from_prev = false;
		return 1;
	}
	if (now - wc->leaf_made < wc->rotate_s)
		return 0;
	if ((ret = webhookcert_sign(wc, wc->leaf_from_prev ? &wc->prev_ca : &wc->ca, now, err,
				    errlen)) < 0)
		return ret;
	return 1;
}

struct webhookcert_cert {
	char *pem;
	time_t until;
};

struct webhookcert_collect {
	struct webhookcert_cert c[64];
	size_t n;
};

static int webhookcert_collect(const char *pem, time_t until, void *arg)
{
	struct webhookcert_collect *k = arg;

	if (k->n == sizeof(k->c) / sizeof(k->c[0]))
		return 0;
	if (!(k->c[k->n].pem = strdup(pem)))
		return -ENOMEM;
	k->c[k->n++].until = until;
	return 0;
}

static int webhookcert_newest_first(const void *a, const void *b)
{
	const struct webhookcert_cert *x = a, *y = b;

	return (x->until < y->until) - (x->until > y->until);
}

/* Appends pem, NUL and all, at out + used (the caller sized out for every
 * piece and one NUL); the new length. */
static size_t webhookcert_put(char *out, size_t used, const char *pem)
{
	size_t n = strlen(pem);

	memcpy(out + used, pem, n + 1);
	return used + n;
}

char *webhookcert_merge(const char *current, size_t len, const char *const *own, size_t nown,
			time_t now, bool *changed)
{
	struct webhookcert_collect cur = { 0 }, mine = { 0 };
	size_t i, j, cap = 1, kept = 0, used = 0;
	char *out = NULL;

	*changed = false;
	/* A broken bundle is replaced by a good one. */
	if (certs_bundle_foreach(current ? current : "", current ? len : 0, webhookcert_collect,
				 &cur) < 0)
		*changed = true;
	for (i = 0; i < nown; i++)
		if (own[i] &&
		    certs_bundle_foreach(own[i], strlen(own[i]), webhookcert_collect, &mine) < 0)
			goto out;
	qsort(cur.c, cur.n, sizeof(cur.c[0]), webhookcert_newest_first);
	for (i = 0; i < mine.n; i++)
		cap += strlen(mine.c[i].pem);
	for (i = 0; i < cur.n; i++)
		cap += strlen(cur.c[i].pem);
	if (!(out = malloc(cap)))
		goto out;
	for (i = 0; i < mine.n && kept < WEBHOOKCERT_BUNDLE_MAX; i++, kept++)
		used = webhookcert_put(out, used, mine.c[i].pem);
	for (i = 0; i < cur.n; i++) {
		bool ours = false;

		for (j = 0; j < mine.n; j++)
			ours |= !strcmp(cur.c[i].pem, mine.c[j].pem);
		if (ours || cur.c[i].until <= now || kept == WEBHOOKCERT_BUNDLE_MAX)
			continue;
		used = webhookcert_put(out, used, cur.c[i].pem);
		kept++;
	}
	out[used] = '\0'; /* when nothing was put */
	/* Changed unless it holds the same certificates (order aside). */
	if (!*changed) {
		struct webhookcert_collect after = { 0 };

		certs_bundle_foreach(out, strlen(out), webhookcert_collect, &after);
		*changed = after.n != cur.n;
		for (i = 0; !*changed && i < after.n; i++) {
			bool there = false;

			for (j = 0; j < cur.n; j++)
				there |= !strcmp(after.c[i].pem, cur.c[j].pem);
			*changed = !there;
		}
		for (i = 0; i < after.n; i++)
			free(after.c[i].pem);
	}
out:
	for (i = 0; i < cur.n; i++)
		free(cur.c[i].pem);
	for (i = 0; i < mine.n; i++)
		free(mine.c[i].pem);
	return out;
}

int webhookcert_patch(struct webhookcert *wc, struct kube_client *c, const char *name, time_t now,
		      char *err, size_t errlen)
{
	const char *own[2] = { wc->ca.cert_pem, wc->prev_ca.cert_pem };
	struct kube_response resp = { 0 };
	char path[512];
	cJSON *vwc = NULL, *hook;
	bool any = false;
	int ret;

	snprintf(path, sizeof(path),
		 "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/%s", name);
	if ((ret = kube_get(c, path, &vwc, &resp)) < 0) {
		snprintf(err, errlen, "cannot read it: %s", resp.message);
		kube_response_clear(&resp);
		return ret;
	}
	kube_response_clear(&resp);
	cJSON_ArrayForEach(hook, cJSON_GetObjectItemCaseSensitive(vwc, "webhooks")) {
		cJSON *cc = cJSON_GetObjectItemCaseSensitive(hook, "clientConfig");
		const char *b64 =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cc, "caBundle"));
		unsigned char *pem = NULL;
		size_t len = 0;
		bool changed;
		char *merged, *enc;

		if (!cJSON_IsObject(cc))
			continue;
		if (b64 && *b64 && base64_decode(b64, strlen(b64), &pem, &len) < 0) {
			pem = NULL;
			len = 0;
		}
		merged = webhookcert_merge((const char *)pem, len, own, own[1] ? 2 : 1, now,
					   &changed);
		free(pem);
		if (!merged) {
			cJSON_Delete(vwc);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		if (changed || !b64) {
			enc = base64_encode(merged, strlen(merged));
			cJSON_DeleteItemFromObjectCaseSensitive(cc, "caBundle");
			cJSON_AddStringToObject(cc, "caBundle", enc ? enc : "");
			free(enc);
			any = true;
		}
		free(merged);
	}
	if (!any) {
		cJSON_Delete(vwc);
		wc->ca_in_bundle = true;
		return 0;
	}
	/* An update carries the resourceVersion read: a replica that wrote
	 * meanwhile makes this one 409, and the next tick merges again. */
	ret = kube_update(c, path, vwc, NULL, &resp);
	cJSON_Delete(vwc);
	if (ret < 0)
		snprintf(err, errlen, "cannot update it: %s", resp.message);
	else
		wc->ca_in_bundle = true;
	kube_response_clear(&resp);
	return ret < 0 ? ret : 1;
}
