// SPDX-License-Identifier: Apache-2.0
/* lib/kube: the parts that need no server: splitting a server URL (hostile
 * ones included), and mapping a Status to an errno. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kube.h"
#include "unit.h"

static void test_kube_server_parse_splits_host_port_and_prefix(void)
{
	struct kube_server s;

	UNIT_CHECK(kube_server_parse("https://10.96.0.1:443", &s) == 0);
	UNIT_CHECK(s.tls && s.port == 443);
	UNIT_CHECK_STR(s.host, "10.96.0.1");
	UNIT_CHECK_STR(s.prefix, "");
	UNIT_CHECK(kube_server_parse("https://[fd00::1]:6443/k8s/clusters/c-1", &s) == 0);
	UNIT_CHECK_STR(s.host, "fd00::1");
	UNIT_CHECK(s.port == 6443);
	UNIT_CHECK_STR(s.prefix, "/k8s/clusters/c-1");
	UNIT_CHECK(kube_server_parse("https://api.example.com", &s) == 0);
	UNIT_CHECK(s.port == 443);
	UNIT_CHECK(kube_server_parse("http://localhost", &s) == 0);
	UNIT_CHECK(!s.tls && s.port == 80);
}

static void test_kube_server_parse_refuses_hostile_urls(void)
{
	static const char *const bad[] = {
	    "https://",		"https://:443",
	    "https://h:0",	"https://h:65536",
	    "https://h:12x",	"https://h:",
	    "https://[fd00::1", "https://[]:1",
	    "https://[::1]x:1", "https://h:99999999999999999999",
	};
	char longhost[400];
	struct kube_server s;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		if (kube_server_parse(bad[i], &s) != -EINVAL) {
			fprintf(stderr, "    accepted %s\n", bad[i]);
			UNIT_CHECK(0);
		}
	}
	memset(longhost, 'a', sizeof(longhost));
	memcpy(longhost, "https://", 8);
	longhost[sizeof(longhost) - 1] = '\0';
	UNIT_CHECK(kube_server_parse(longhost, &s) == -EINVAL);
}

static void test_kube_response_errno_and_status(void)
{
	struct kube_response r;
	static const char status[] = "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\","
				     "\"message\":\"slow down\",\"code\":429}";

	memset(&r, 0, sizeof(r));
	r.code = 429;
	kube_response_set_status(&r, status, strlen(status));
	UNIT_CHECK_STR(r.reason, "TooManyRequests");
	UNIT_CHECK_STR(r.message, "slow down");
	UNIT_CHECK(kube_response_errno(&r) == -EAGAIN);
	memset(&r, 0, sizeof(r));
	r.code = 410;
	kube_response_set_status(&r, "not json", 8);
	UNIT_CHECK_STR(r.reason, "");
	UNIT_CHECK(kube_response_errno(&r) == -ESTALE);
	r.code = 200;
	UNIT_CHECK(kube_response_errno(&r) == 0);
}

int main(void)
{
	static const struct unit_test tests[] = {
	    UNIT_TEST(test_kube_server_parse_splits_host_port_and_prefix),
	    UNIT_TEST(test_kube_server_parse_refuses_hostile_urls),
	    UNIT_TEST(test_kube_response_errno_and_status),
	};

	return unit_main(tests, ARRAY_SIZE(tests));
}
