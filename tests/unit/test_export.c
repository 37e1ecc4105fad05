// SPDX-License-Identifier: Apache-2.0
/* export: entries as JSON lines with the container's identity and session;
 * a reader that stops reading never blocks the writer, and what it missed
 * is one counted gap line, not silence. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"
#include "unit.h"

static cJSON *identity(void)
{
	cJSON *id = cJSON_CreateObject();

	cJSON_AddStringToObject(id, "ns", "shop");
	cJSON_AddStringToObject(id, "pod", "web");
	cJSON_AddStringToObject(id, "podUID", "u-1");
	cJSON_AddStringToObject(id, "container", "main");
	cJSON_AddStringToObject(id, "containerID", "containerd://c1");
	cJSON_AddStringToObject(id, "node", "n1");
	cJSON_AddNumberToObject(id, "retention", 3600);
	return id;
}

static cJSON *line_entry(const char *text)
{
	cJSON *e = cJSON_CreateObject();

	cJSON_AddStringToObject(e, "time", "2026-12-01T00:00:00.000001Z");
	cJSON_AddStringToObject(e, "kind", "line");
	cJSON_AddStringToObject(e, "text", text);
	/* An entry cannot overwrite the identity beside it. */
	cJSON_AddStringToObject(e, "pod", "forged");
	return e;
}

/* Reads everything fd has now (non-blocking), NUL-terminated; caller frees. */
static char *slurp(int fd, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	ssize_t r;

	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		if (n + 4096 >= cap) {
			char *bigger = realloc(buf, cap * 2);

			if (!bigger)
				break;
			buf = bigger;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static void test_export_entry_carries_identity_and_session(void)
{
	cJSON *id = identity(), *sess = cJSON_CreateObject(), *e = line_entry("echo a\\u001b[2J"),
	      *got;
	int p[2];
	size_t n;
	char *out;
	struct export *x = NULL;
	struct export_stats st;

	cJSON_AddStringToObject(sess, "id", "42");
	UNIT_CHECK(pipe(p) == 0);
	UNIT_CHECK(export_open_fd(p[1], &x) == 0);
	UNIT_CHECK(export_entry(x, id, sess, e) == 0);
	out = slurp(p[0], &n);
	UNIT_CHECK(n > 0 && out[n - 1] == '\n' && !strchr(out, '\n')[1]);
	got = cJSON_Parse(out);
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(got, "namespace")), "shop");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(got, "pod")), "web");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(got, "container")), "main");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(got, "containerID")),
		       "containerd://c1");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(got, "node")), "n1");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
			       cJSON_GetObjectItem(got, "session"), "id")),
		       "42");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(got, "text")), "echo a\\u001b[2J");
	UNIT_CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(got, "kind")), "line");
	UNIT_CHECK(!cJSON_GetObjectItem(got, "retention"));
	export_get_stats(x, &st);
	UNIT_CHECK(st.lines == 1 && st.dropped == 0);
	cJSON_Delete(got);
	free(out);
	export_free(x);
	close(p[0]);
	close(p[1]);
	cJSON_Delete(id);
	cJSON_Delete(sess);
	cJSON_Delete(e);
}

/* Reads and flushes until neither has anything left; caller frees. */
static char *drain_all(struct export *x, int fd, size_t *len)
{
	size_t cap = 1 << 20, n = 0, got;
	char *all = malloc(cap), *part;

	do {
		export_flush(x);
		part = slurp(fd, &got);
		if (n + got + 1 > cap) {
			char *bigger = realloc(all, 2 * (n + got + 1));

			if (!bigger) {
				free(part);
				break;
			}
			all = bigger;
			cap = 2 * (n + got + 1);
		}
		memcpy(all + n, part, got);
		n += got;
		free(part);
	} while (got);
	all[n] = '\0';
	*len = n;
	return all;
}

static void test_export_stalled_reader_never_blocks_and_gets_a_gap(void)
{
	cJSON *id = identity(), *e = line_entry("x"), *item;
	char big[8192], *out, *nl, *line, *first, *then;
	struct export *x = NULL;
	struct export_stats st;
	unsigned long long count = 0;
	size_t n, n2, lines = 0, gaps = 0, after_gap = 0;
	int p[2], i;

	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cJSON_ReplaceItemInObject(e, "text", cJSON_CreateString(big));
	UNIT_CHECK(pipe(p) == 0);
	UNIT_CHECK(export_open_fd(p[1], &x) == 0);
	/* Nobody reads: far more than the pipe and the buffer hold. If a write
	 * blocked, the test would hang here. */
	for (i = 0; i < 2 * (int)(EXPORT_BUFFER_MAX / sizeof(big)); i++)
		UNIT_CHECK(export_entry(x, id, NULL, e) == 0);
	export_get_stats(x, &st);
	UNIT_CHECK(st.dropped > 0);
	UNIT_CHECK(st.lines + st.dropped == (uint64_t)i);
	/* The reader catches up: everything buffered, then the gap, then new
	 * entries, in that order. */
	first = drain_all(x, p[0], &n);
	cJSON_ReplaceItemInObject(e, "text", cJSON_CreateString("after"));
	UNIT_CHECK(export_entry(x, id, NULL, e) == 0);
	then = drain_all(x, p[0], &n2);
	out = malloc(n + n2 + 1);
	memcpy(out, first, n);
	memcpy(out + n, then, n2 + 1);
	free(first);
	free(then);
	for (line = out; (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		item = cJSON_Parse(line);
		UNIT_CHECK(item != NULL);
		if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(item, "kind")), "gap")) {
			gaps++;
			count = (unsigned long long)cJSON_GetNumberValue(
				cJSON_GetObjectItem(item, "count"));
		} else if (gaps && !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(item, "text")),
					   "after")) {
			after_gap++;
		}
		lines++;
		cJSON_Delete(item);
	}
	UNIT_CHECK(gaps == 1);
	UNIT_CHECK(count == st.dropped);
	UNIT_CHECK(after_gap == 1);
	export_get_stats(x, &st);
	UNIT_CHECK(st.gaps == 1);
	free(out);
	export_free(x);
	close(p[0]);
	close(p[1]);
	cJSON_Delete(id);
	cJSON_Delete(e);
}

static void test_export_file_is_appended_and_private(void)
{
	char path[] = "/tmp/test_export.XXXXXX";
	cJSON *id = identity(), *e = line_entry("one");
	struct export *x = NULL;
	struct stat st;
	char buf[4096];
	ssize_t n;
	int fd = mkstemp(path);

	UNIT_CHECK(fd >= 0);
	close(fd);
	unlink(path);
	UNIT_CHECK(export_open(path, &x) == 0);
	UNIT_CHECK(export_entry(x, id, NULL, e) == 0);
	export_free(x);
	UNIT_CHECK(export_open(path, &x) == 0);
	UNIT_CHECK(export_entry(x, id, NULL, e) == 0);
	export_free(x);
	UNIT_CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	fd = open(path, O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	UNIT_CHECK(strstr(buf, "\"text\":\"one\"") &&
		   strstr(strchr(buf, '\n'), "\"text\":\"one\""));
	UNIT_CHECK(export_open("/nonexistent-dir/x", &x) < 0);
	unlink(path);
	cJSON_Delete(id);
	cJSON_Delete(e);
}

static void test_export_null_is_off(void)
{
	struct export_stats st;

	UNIT_CHECK(export_entry(NULL, NULL, NULL, NULL) == 0);
	export_flush(NULL);
	export_get_stats(NULL, &st);
	UNIT_CHECK(st.lines == 0);
	export_free(NULL);
}

UNIT_MAIN(UNIT_TEST(test_export_entry_carries_identity_and_session),
	  UNIT_TEST(test_export_stalled_reader_never_blocks_and_gets_a_gap),
	  UNIT_TEST(test_export_file_is_appended_and_private), UNIT_TEST(test_export_null_is_off))
