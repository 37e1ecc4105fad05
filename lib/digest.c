// SPDX-License-Identifier: Apache-2.0
/* Canonical JSON and SHA-256 (OpenSSL's libcrypto, which libcurl already
 * brings onto the machine). */
#include "digest.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

struct digest_buf {
	char *p;
	size_t len, cap;
	int err;
};

static void digest_put(struct digest_buf *b, const char *s, size_t n)
{
	char *p;

	if (b->err)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(p = realloc(b->p, cap))) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void digest_string(struct digest_buf *b, const char *s)
{
	char esc[8];

	digest_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			digest_put(b, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			digest_put(b, esc, 6);
		} else {
			digest_put(b, s, 1);
		}
	}
	digest_put(b, "\"", 1);
}

static int digest_cmp_keys(const void *a, const void *b)
{
	return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

static void digest_value(struct digest_buf *b, const cJSON *j, const char *const *skip)
{
	const cJSON *c;
	char num[32];

	if (cJSON_IsNull(j)) {
		digest_put(b, "null", 4);
	} else if (cJSON_IsTrue(j)) {
		digest_put(b, "true", 4);
	} else if (cJSON_IsFalse(j)) {
		digest_put(b, "false", 5);
	} else if (cJSON_IsNumber(j)) {
		double v = j->valuedouble;

		/* Only integers below 2^53 survive every JSON parser unchanged. */
		if (v != floor(v) || fabs(v) > 9007199254740992.0) {
			b->err = -EINVAL;
			return;
		}
		snprintf(num, sizeof(num), "%lld", (long long)v);
		digest_put(b, num, strlen(num));
	} else if (cJSON_IsString(j)) {
		digest_string(b, j->valuestring);
	} else if (cJSON_IsArray(j)) {
		digest_put(b, "[", 1);
		cJSON_ArrayForEach(c, j) {
			if (c != j->child)
				digest_put(b, ",", 1);
			digest_value(b, c, NULL);
		}
		digest_put(b, "]", 1);
	} else if (cJSON_IsObject(j)) {
		size_t n = 0, i, k;
		const cJSON **keys;
		bool first = true;

		cJSON_ArrayForEach(c, j)
			n++;
		if (!(keys = calloc(n ? n : 1, sizeof(*keys)))) {
			b->err = -ENOMEM;
			return;
		}
		n = 0;
		cJSON_ArrayForEach(c, j)
			keys[n++] = c;
		qsort(keys, n, sizeof(*keys), digest_cmp_keys);
		digest_put(b, "{", 1);
		for (i = 0; i < n; i++) {
			bool skipped = false;

			for (k = 0; skip && skip[k]; k++)
				skipped |= !strcmp(skip[k], keys[i]->string);
			if (skipped)
				continue;
			if (!first)
				digest_put(b, ",", 1);
			first = false;
			digest_string(b, keys[i]->string);
			digest_put(b, ":", 1);
			digest_value(b, keys[i], NULL);
		}
		digest_put(b, "}", 1);
		free(keys);
	} else {
		b->err = -EINVAL;
	}
}

char *digest_canonical(const cJSON *j)
{
	struct digest_buf b = { 0 };

	digest_value(&b, j, NULL);
	if (b.err) {
		free(b.p);
		errno = -b.err;
		return NULL;
	}
	return b.p;
}

static EVP_MD *digest_sha256;
static pthread_once_t digest_once = PTHREAD_ONCE_INIT;

/* Fetched once: EVP_sha256() makes EVP_Digest look the implementation up
 * again on every call (OpenSSL 3), which cost more than the hashing of a
 * container ID. Kept for the process's life. */
static void digest_fetch(void)
{
	digest_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void digest_bytes(const void *data, size_t n, char out[DIGEST_STR_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	pthread_once(&digest_once, digest_fetch);
	EVP_Digest(data, n, md, &len, digest_sha256 ? digest_sha256 : EVP_sha256(), NULL);
	memcpy(out, "sha256:", 7);
	for (i = 0; i < len && i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	/* A string even if EVP_Digest gave nothing. */
	out[7 + 2 * i] = '\0';
}

int digest_json(const cJSON *j, const char *const *skip, char out[DIGEST_STR_LEN])
{
	struct digest_buf b = { 0 };

	digest_value(&b, j, skip);
	if (b.err) {
		free(b.p);
		return b.err;
	}
	digest_bytes(b.p, b.len, out);
	free(b.p);
	return 0;
}
