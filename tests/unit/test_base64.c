// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "unit.h"

static void test_base64_roundtrip_and_rejects(void)
{
	unsigned char *out;
	size_t n;
	char *enc;

	UNIT_CHECK(base64_decode("aGVsbG8=", 8, &out, &n) == 0 && n == 5 &&
		   !memcmp(out, "hello", 5));
	free(out);
	UNIT_CHECK(base64_decode("aGVs\nbG8h", 9, &out, &n) == 0 && n == 6);
	free(out);
	UNIT_CHECK(base64_decode("aGVsbG8", 7, &out, &n) == -EINVAL);
	UNIT_CHECK(base64_decode("a===", 4, &out, &n) == -EINVAL);
	UNIT_CHECK(base64_decode("aG=Vs", 5, &out, &n) == -EINVAL);
	enc = base64_encode("hello!?", 7);
	UNIT_CHECK_STR(enc, "aGVsbG8hPw==");
	free(enc);
}

UNIT_MAIN(UNIT_TEST(test_base64_roundtrip_and_rejects))
