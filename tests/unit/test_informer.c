// SPDX-License-Identifier: Apache-2.0
/* lib/informer against a loopback API server: a relist that finds every
 * object gone, while the owner's thread is short of memory, removes what
 * it can and writes nothing out of bounds. */
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "informer.h"
#include "kubeconfig.h"
#include "loopback.h"
#include "unit.h"

#define OBJECTS 20

/* realloc, failing for this thread's calls of fail_size bytes. */
static __thread size_t fail_size;
static atomic_int failed;

// NOLINTNEXTLINE(readability-inconsistent-declaration-parameter-name): libc's names are reserved
void *realloc(void *p, size_t n)
{
	static void *(*real)(void *, size_t);

	if (fail_size && n == fail_size) {
		atomic_fetch_add(&failed, 1);
		return NULL;
	}
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "realloc");
	return real(p, n);
}

/* The first list holds OBJECTS config maps, every later one none; a watch
 * is answered 410 Gone, so that the informer lists again. */
static bool answer_list_then_none(int fd, const char *head, int n, void *arg)
{
	atomic_int *lists = arg;
	char body[4096], msg[4608];
	size_t len = 0;
	int i, k;

	(void)n;
	if (strstr(head, "watch=1")) {
		static const char gone[] =
			"{\"kind\":\"Status\",\"reason\":\"Expired\",\"code\":410}";

		k = snprintf(msg, sizeof(msg),
			     "HTTP/1.1 410 Gone\r\nContent-Type: application/json\r\n"
			     "Content-Length: %zu\r\n\r\n%s",
			     strlen(gone), gone);
		return loopback_write(fd, msg, (size_t)k);
	}
	k = atomic_fetch_add(lists, 1);
	len += (size_t)snprintf(
		body, sizeof(body),
		"{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":\"%d\"},"
		"\"items\":[",
		k + 1);
	for (i = 0; k == 0 && i < OBJECTS; i++)
		len += (size_t)snprintf(
			body + len, sizeof(body) - len,
			"%s{\"metadata\":{\"namespace\":\"default\",\"name\":\"cm%d\"}}",
			i ? "," : "", i);
	len += (size_t)snprintf(body + len, sizeof(body) - len, "]}");
	k = snprintf(msg, sizeof(msg),
		     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		     "Content-Length: %zu\r\n\r\n%s",
		     len, body);
	return loopback_write(fd, msg, (size_t)k);
}

static void test_informer_relist_short_of_memory_stays_in_bounds(void)
{
	atomic_int lists = 0;
	struct loopback_server srv = { .answer = answer_list_then_none, .arg = &lists };
	struct kubeconfig cfg = { .server = srv.url, .namespace = "default" };
	struct informer_opts o = { .path = "/api/v1/configmaps" };
	struct informer *inf = NULL;
	int i;

	UNIT_CHECK(loopback_start(&srv) == 0);
	UNIT_CHECK(informer_start(&cfg, NULL, &o, &inf) == 0);
	/* A third list: the second one (everything gone) is queued whole. */
	for (i = 0; i < 100 && atomic_load(&lists) < 3; i++)
		usleep(100 * 1000);
	UNIT_CHECK(atomic_load(&lists) >= 3);
	/* The sweep of the gone keys can hold 16, then cannot grow. */
	fail_size = 32 * sizeof(char *);
	if (inf)
		informer_process(inf);
	fail_size = 0;
	UNIT_CHECK(atomic_load(&failed) >= 1);
	/* The 16 it holds are removed; the others wait for the next relist
	 * (which may have come already). */
	UNIT_CHECK(inf && informer_synced(inf) && informer_size(inf) <= OBJECTS - 16);
	informer_stop(inf);
	loopback_stop(&srv);
}

UNIT_MAIN(UNIT_TEST(test_informer_relist_short_of_memory_stays_in_bounds))
