// SPDX-License-Identifier: Apache-2.0
/* base64 for kubeconfig *-data fields and Secrets-free PEM blobs. */
#include "base64.h"

#include <errno.h>
#include <stdlib.h>

static const char base64_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int base64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int base64_decode(const char *src, size_t len, unsigned char **out, size_t *outlen)
{
	unsigned char *buf = malloc(len / 4 * 3 + 4);
	unsigned int acc = 0;
	size_t i, n = 0, quad = 0, pad = 0;
	int v;

	if (!buf)
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (c == '=') {
			if (quad < 2 || ++pad > 2)
				goto bad;
			quad++;
			continue;
		}
		if (pad || (v = base64_val(c)) < 0)
			goto bad;
		acc = acc << 6 | (unsigned int)v;
		if (++quad == 4) {
			buf[n++] = (unsigned char)(acc >> 16);
			buf[n++] = (unsigned char)(acc >> 8);
			buf[n++] = (unsigned char)acc;
			acc = 0;
			quad = 0;
		}
	}
	if (pad) {
		if (quad != 4)
			goto bad;
		/* The padded quad was counted as four sextets; undo the fill. */
		acc <<= 6 * pad;
		buf[n++] = (unsigned char)(acc >> 16);
		if (pad == 1)
			buf[n++] = (unsigned char)(acc >> 8);
	} else if (quad != 0) {
		goto bad;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
bad:
	free(buf);
	return -EINVAL;
}

char *base64_encode(const void *src, size_t n)
{
	const unsigned char *s = src;
	char *out = malloc((n + 2) / 3 * 4 + 1), *p = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < n; i += 3) {
		*p++ = base64_chars[s[i] >> 2];
		*p++ = base64_chars[(s[i] & 3) << 4 | s[i + 1] >> 4];
		*p++ = base64_chars[(s[i + 1] & 15) << 2 | s[i + 2] >> 6];
		*p++ = base64_chars[s[i + 2] & 63];
	}
	if (i < n) {
		*p++ = base64_chars[s[i] >> 2];
		if (i + 1 < n) {
			*p++ = base64_chars[(s[i] & 3) << 4 | s[i + 1] >> 4];
			*p++ = base64_chars[(s[i + 1] & 15) << 2];
		} else {
			*p++ = base64_chars[(s[i] & 3) << 4];
			*p++ = '=';
		}
		*p++ = '=';
	}
	*p = '\0';
	return out;
}
