// SPDX-License-Identifier: Apache-2.0
/* lib/kube: splitting a server URL (hostile ones included), mapping a
 * Status to an errno, and, against a one-connection server on loopback,
 * may_send: a request it refuses never reaches the peer; against a
 * loopback server whose list never ends, that kube_list still does. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kube.h"
#include "kubeconfig.h"
#include "loopback.h"
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

/* A server for one connection: counts the bytes the client sends until
 * it closes or its request is whole, then answers 200. Each wait is
 * bounded (5 s), so a client that never comes cannot hang the test. */
struct one_server {
	int lfd;
	size_t got;
};

static void *one_server_run(void *arg)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
				 "Connection: close\r\n\r\n{}";
	struct one_server *s = arg;
	struct pollfd p = { .fd = s->lfd, .events = POLLIN };
	char buf[8192];
	ssize_t n;
	int fd;

	if (poll(&p, 1, 5000) != 1 || (fd = accept(s->lfd, NULL, NULL)) < 0)
		return NULL;
	p.fd = fd;
	while (s->got < sizeof(buf) && poll(&p, 1, 5000) == 1 &&
	       (n = read(fd, buf + s->got, sizeof(buf) - s->got)) > 0) {
		s->got += (size_t)n;
		if (memmem(buf, s->got, "\r\n\r\n{}", 6))
			break;
	}
	if (s->got)
		(void)!write(fd, ok, sizeof(ok) - 1);
	close(fd);
	return NULL;
}

static bool refuse(void *arg)
{
	(void)arg;
	return false;
}

static bool allow(void *arg)
{
	(void)arg;
	return true;
}

/* One PATCH with body "{}" through a client whose may_send is `may`;
 * returns kube_request's result, *got the bytes the server read. */
static int request_with(bool (*may)(void *), size_t *got)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct one_server srv = { .lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0) };
	struct kube_client_opts opts = { .timeout_ms = 5000, .may_send = may };
	struct kube_client *c = NULL;
	struct kube_response resp;
	char server[64];
	struct kubeconfig cfg = { .server = server, .namespace = "default" };
	pthread_t t;
	int ret = -EIO;

	*got = 0;
	if (srv.lfd < 0 || bind(srv.lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(srv.lfd, 1) < 0 || getsockname(srv.lfd, (struct sockaddr *)&a, &alen) < 0) {
		close(srv.lfd);
		return -errno;
	}
	snprintf(server, sizeof(server), "http://127.0.0.1:%d", ntohs(a.sin_port));
	if (pthread_create(&t, NULL, one_server_run, &srv)) {
		close(srv.lfd);
		return -EAGAIN;
	}
	if (kube_client_new(&cfg, &opts, &c) == 0) {
		ret = kube_request(c, "PATCH", "/api/v1/namespaces/default/configmaps/x",
				   "application/merge-patch+json", "{}", &resp);
		if (ret == 0 && resp.code != 200)
			ret = -EPROTO;
		kube_response_clear(&resp);
	}
	kube_client_free(c);
	/* A refused request leaves the connection closed unsent: the
	 * server sees end of file and returns. */
	pthread_join(t, NULL);
	close(srv.lfd);
	*got = srv.got;
	return ret;
}

static void test_kube_may_send_refused_request_never_reaches_peer(void)
{
	size_t got;

	UNIT_CHECK(request_with(allow, &got) == 0);
	UNIT_CHECK(got > 0);
	UNIT_CHECK(request_with(refuse, &got) == -ECANCELED);
	UNIT_CHECK(got == 0);
}

/* A list page that always says there is more: with the same continue
 * token each time when arg is NULL, a new one each time otherwise. The
 * 20th request is not answered, so that a client that follows for ever
 * fails instead of hanging the test. */
static bool answer_endless_page(int fd, const char *head, int n, void *arg)
{
	char body[256], msg[512];
	int len;

	(void)head;
	if (n >= 20)
		return false;
	snprintf(body, sizeof(body),
		 "{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":\"9\","
		 "\"continue\":\"t%d\"},\"items\":[{\"metadata\":{\"name\":\"x\"}}]}",
		 arg ? n : 0);
	len = snprintf(msg, sizeof(msg),
		       "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		       "Content-Length: %zu\r\n\r\n%s",
		       strlen(body), body);
	return loopback_write(fd, msg, (size_t)len);
}

static int count_item(const cJSON *item, void *arg)
{
	(void)item;
	(*(int *)arg)++;
	return 0;
}

/* kube_list of an endless list with limit; *requests the pages asked. */
static int list_endless(bool new_token, long limit, int *items, int *requests,
			struct kube_response *resp)
{
	struct loopback_server srv = { .answer = answer_endless_page,
				       .arg = new_token ? &srv : NULL };
	struct kube_client_opts opts = { .timeout_ms = 5000 };
	struct kubeconfig cfg = { .server = srv.url, .namespace = "default" };
	struct kube_client *c = NULL;
	char *rv = NULL;
	int ret = -EIO;

	*items = 0;
	*requests = 0;
	memset(resp, 0, sizeof(*resp));
	if ((ret = loopback_start(&srv)) < 0)
		return ret;
	if ((ret = kube_client_new(&cfg, &opts, &c)) == 0)
		ret = kube_list(c, "/api/v1/configmaps", limit, count_item, items, &rv, resp);
	kube_client_free(c);
	loopback_stop(&srv);
	*requests = atomic_load(&srv.requests);
	UNIT_CHECK(!rv);
	free(rv);
	return ret;
}

static void test_kube_list_ends_when_the_server_repeats_its_continue_token(void)
{
	struct kube_response resp;
	int items, requests;

	UNIT_CHECK(list_endless(false, 500, &items, &requests, &resp) == -EPROTO);
	UNIT_CHECK(requests == 2);
	UNIT_CHECK(items == 2);
	UNIT_CHECK(strstr(resp.message, "same continue token") != NULL);
	kube_response_clear(&resp);
}

static void test_kube_list_ends_past_its_page_bound(void)
{
	struct kube_response resp;
	int items, requests;

	/* A limit that allows 3 pages: a new token on every page is cut at
	 * the third. */
	UNIT_CHECK(list_endless(true, KUBE_LIST_MAX_ITEMS / 3, &items, &requests, &resp) ==
		   -EOVERFLOW);
	UNIT_CHECK(requests == 3);
	UNIT_CHECK(items == 3);
	UNIT_CHECK(strstr(resp.message, "past 3 pages") != NULL);
	kube_response_clear(&resp);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT_TEST(test_kube_server_parse_splits_host_port_and_prefix),
		UNIT_TEST(test_kube_server_parse_refuses_hostile_urls),
		UNIT_TEST(test_kube_response_errno_and_status),
		UNIT_TEST(test_kube_may_send_refused_request_never_reaches_peer),
		UNIT_TEST(test_kube_list_ends_when_the_server_repeats_its_continue_token),
		UNIT_TEST(test_kube_list_ends_past_its_page_bound),
	};

	return unit_main(tests, ARRAY_SIZE(tests));
}
