// SPDX-License-Identifier: Apache-2.0
/* webhookcert: the serving certificate is renewed once its period has
 * passed, not before, and names the Service; the caBundle merge puts this
 * replica's CAs first, keeps other replicas' CAs until they expire, drops
 * expired ones, holds at most WEBHOOKCERT_BUNDLE_MAX, says unchanged when
 * nothing changed (in whatever order) and replaces a broken bundle. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certs.h"
#include "unit.h"
#include "webhookcert.h"

static int count(const char *pem, time_t until, void *arg)
{
	(void)pem;
	(void)until;
	(*(int *)arg)++;
	return 0;
}

static int n_certs(const char *b)
{
	int n = 0;

	certs_bundle_foreach(b, strlen(b), count, &n);
	return n;
}

static void test_webhookcert_renews_the_serving_certificate_each_period(void)
{
	static const char *const dns[] = { "shellaudit-controller.shellaudit-system.svc" };
	struct webhookcert *wc;
	char err[256], *first;
	time_t now = time(NULL);

	UNIT_CHECK(webhookcert_new(dns, 1, 3600, &wc, err, sizeof(err)) == 0);
	first = strdup(webhookcert_leaf(wc)->cert_pem);
	UNIT_CHECK(webhookcert_tick(wc, now + 10, err, sizeof(err)) == 0);
	UNIT_CHECK_STR(webhookcert_leaf(wc)->cert_pem, first);
	UNIT_CHECK(webhookcert_tick(wc, now + 3601, err, sizeof(err)) == 1);
	UNIT_CHECK(strcmp(webhookcert_leaf(wc)->cert_pem, first) != 0);
	UNIT_CHECK(strstr(webhookcert_leaf(wc)->key_pem, "PRIVATE KEY") != NULL);
	free(first);
	webhookcert_free(wc);
}

static void test_webhookcert_merges_the_bundle_of_several_replicas(void)
{
	struct cert_pair mine, other, old, extra[10];
	char err[256], *b1, *b2, *b3, *b4, *big, *bad;
	const char *own[1];
	time_t now = time(NULL);
	bool changed;
	size_t i, len;

	certs_make_ca("mine", 86400, &mine, err, sizeof(err));
	certs_make_ca("other", 86400, &other, err, sizeof(err));
	certs_make_ca("old", 100, &old, err, sizeof(err));
	own[0] = mine.cert_pem;
	/* Empty: ours goes in. */
	b1 = webhookcert_merge(NULL, 0, own, 1, now, &changed);
	UNIT_CHECK(changed && n_certs(b1) == 1 && !strcmp(b1, mine.cert_pem));
	/* Again: nothing to change. */
	b2 = webhookcert_merge(b1, strlen(b1), own, 1, now, &changed);
	UNIT_CHECK(!changed);
	/* Another replica's and an old one: ours first, both kept while valid. */
	len = strlen(other.cert_pem) + strlen(old.cert_pem) + 1;
	big = malloc(len);
	snprintf(big, len, "%s%s", other.cert_pem, old.cert_pem);
	b3 = webhookcert_merge(big, strlen(big), own, 1, now, &changed);
	UNIT_CHECK(changed && n_certs(b3) == 3 &&
		   !strncmp(b3, mine.cert_pem, strlen(mine.cert_pem)));
	/* The same set in another order: unchanged. */
	free(big);
	len = strlen(b3) + 1;
	big = malloc(len);
	snprintf(big, len, "%s%s", strstr(b3 + 1, "-----BEGIN"), mine.cert_pem);
	free(b2);
	b2 = webhookcert_merge(big, strlen(big), own, 1, now, &changed);
	UNIT_CHECK(!changed);
	/* Once the old one expired, it goes. */
	b4 = webhookcert_merge(b3, strlen(b3), own, 1, now + 1000, &changed);
	UNIT_CHECK(changed && n_certs(b4) == 2 && strstr(b4, other.cert_pem) != NULL);
	/* Ten other replicas: at most eight in all, ours kept. */
	free(big);
	big = calloc(1, 20000);
	for (i = 0; i < 10; i++) {
		certs_make_ca("r", 86400 + (long)i, &extra[i], err, sizeof(err));
		snprintf(big + strlen(big), 20000 - strlen(big), "%s", extra[i].cert_pem);
	}
	free(b1);
	b1 = webhookcert_merge(big, strlen(big), own, 1, now, &changed);
	UNIT_CHECK(changed && n_certs(b1) == WEBHOOKCERT_BUNDLE_MAX &&
		   strstr(b1, mine.cert_pem) != NULL);
	/* The newest of the others were kept, the oldest dropped. */
	UNIT_CHECK(strstr(b1, extra[9].cert_pem) != NULL && strstr(b1, extra[0].cert_pem) == NULL);
	/* A broken bundle: replaced. */
	bad = strdup("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
	free(b2);
	b2 = webhookcert_merge(bad, strlen(bad), own, 1, now, &changed);
	UNIT_CHECK(changed && n_certs(b2) == 1);
	for (i = 0; i < 10; i++)
		certs_pair_clear(&extra[i]);
	free(bad);
	free(big);
	free(b1);
	free(b2);
	free(b3);
	free(b4);
	certs_pair_clear(&mine);
	certs_pair_clear(&other);
	certs_pair_clear(&old);
}

UNIT_MAIN(UNIT_TEST(test_webhookcert_renews_the_serving_certificate_each_period),
	  UNIT_TEST(test_webhookcert_merges_the_bundle_of_several_replicas))
