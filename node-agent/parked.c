// SPDX-License-Identifier: Apache-2.0
/* parked: refused AuditRecords kept on disk and tried again; see parked.h. */
#include "parked.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "escape.h"
#include "jsontext.h"
#include "util.h"

struct parked_item {
	char file[NAME_MAX + 1]; /* NAMESPACE_NAME.json */
	char ns[64], name[254];
	struct parked_why why;
	uint64_t bytes;
};

struct parked {
	char dir[PATH_MAX - NAME_MAX - 2];
	struct parked_item *it; /* oldest first */
	size_t n, cap, next;
	uint64_t bytes;
};

/* Namespaces and record names are DNS labels and subdomains: lowercase
 * letters, digits, '-' and '.', which make a safe file name. */
static bool parked_name_ok(const char *s, size_t max)
{
	size_t i;

	if (!s || !*s || strlen(s) > max || s[0] == '.')
		return false;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '.'))
			return false;
	return true;
}

/* read(2) and write(2) until len bytes or an error (EINTR retried). */
static ssize_t parked_read_all(int fd, char *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = read(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -1 : (ssize_t)done;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int parked_write_all(int fd, const char *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = write(fd, buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static const char *parked_str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* The slot of file, or -1. */
static long parked_find(const struct parked *pk, const char *file)
{
	size_t i;

	for (i = 0; i < pk->n; i++)
		if (!strcmp(pk->it[i].file, file))
			return (long)i;
	return -1;
}

static int parked_push(struct parked *pk, const struct parked_item *item)
{
	if (pk->n == pk->cap) {
		size_t cap = pk->cap ? 2 * pk->cap : 16;
		struct parked_item *p = realloc(pk->it, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		memset(p + pk->cap, 0, (cap - pk->cap) * sizeof(*p));
		pk->it = p;
		pk->cap = cap;
	}
	pk->it[pk->n++] = *item;
	pk->bytes += item->bytes;
	return 0;
}

static void parked_drop(struct parked *pk, size_t i)
{
	pk->bytes -= pk->it[i].bytes;
	memmove(&pk->it[i], &pk->it[i + 1], (pk->n - i - 1) * sizeof(*pk->it));
	pk->n--;
	if (pk->next > i)
		pk->next--;
}

/* s (or "") into buf, cut to its size on a UTF-8 boundary; escaped when
 * it holds control characters or invalid UTF-8 (an answer is any bytes,
 * and the status it goes into must stay valid UTF-8). */
static void parked_copy(char *buf, size_t cap, const char *s)
{
	size_t n = s ? strlen(s) : 0, k;

	if (n && escape_needed(s, n)) {
		escape_text(buf, cap, s, n);
		return;
	}
	k = n ? escape_utf8_prefix(s, n, cap - 1) : 0;
	memcpy(buf, s ? s : "", k);
	buf[k] = '\0';
}

/* why's reason, message and causes from o: a metav1.Status, or a parked
 * file's document, which holds the same fields (causes at its top). Any
 * JSON: what is not a string is left empty, what is long is cut. */
static void parked_why_of(struct parked_why *why, const cJSON *o, const cJSON *causes)
{
	const cJSON *c;

	if (parked_str(o, "reason"))
		parked_copy(why->reason, sizeof(why->reason), parked_str(o, "reason"));
	if (parked_str(o, "message"))
		parked_copy(why->message, sizeof(why->message), parked_str(o, "message"));
	why->ncauses = 0;
	if (!cJSON_IsArray(causes))
		return;
	cJSON_ArrayForEach(c, causes) {
		struct parked_cause *pc;

		if (why->ncauses >= PARKED_CAUSES_MAX)
			break;
		if (!cJSON_IsObject(c))
			continue;
		pc = &why->causes[why->ncauses];
		parked_copy(pc->field, sizeof(pc->field), parked_str(c, "field"));
		parked_copy(pc->reason, sizeof(pc->reason), parked_str(c, "reason"));
		parked_copy(pc->message, sizeof(pc->message), parked_str(c, "message"));
		if (*pc->field || *pc->reason || *pc->message)
			why->ncauses++;
	}
}

void parked_why_from_status(struct parked_why *why, long code, const char *reason,
			    const char *message, const char *body, size_t len)
{
	cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;

	memset(why, 0, sizeof(*why));
	why->code = code;
	parked_copy(why->reason, sizeof(why->reason), reason);
	parked_copy(why->message, sizeof(why->message), message);
	if (cJSON_IsObject(j) && parked_str(j, "kind") && !strcmp(parked_str(j, "kind"), "Status"))
		parked_why_of(why, j,
			      cJSON_GetObjectItemCaseSensitive(
				      cJSON_GetObjectItemCaseSensitive(j, "details"), "causes"));
	cJSON_Delete(j);
}

/* Fills item from a parked file's document (its bytes: len). */
static int parked_item_of(const cJSON *doc, const char *file, uint64_t len,
			  struct parked_item *item)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(doc, "record"), "metadata");
	const char *ns = parked_str(md, "namespace"), *name = parked_str(md, "name");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(doc, "code");

	if (!parked_name_ok(ns, sizeof(item->ns) - 1) ||
	    !parked_name_ok(name, sizeof(item->name) - 1))
		return -EINVAL;
	memset(item, 0, sizeof(*item));
	snprintf(item->file, sizeof(item->file), "%s", file);
	snprintf(item->ns, sizeof(item->ns), "%s", ns);
	snprintf(item->name, sizeof(item->name), "%s", name);
	parked_why_of(&item->why, doc, cJSON_GetObjectItemCaseSensitive(doc, "causes"));
	/* An HTTP status, or 0 (a file edited by hand). */
	if (cJSON_IsNumber(code) && code->valuedouble >= 0 && code->valuedouble < 1000)
		item->why.code = (long)code->valuedouble;
	item->bytes = len;
	return 0;
}

/* Reads a parked file whole (bounded by PARKED_MAX_BYTES). */
static int parked_read(const struct parked *pk, const char *file, cJSON **out, uint64_t *len)
{
	char path[PATH_MAX];
	struct stat st;
	char *buf;
	ssize_t n;
	int fd;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/%s", pk->dir, file);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno ? -errno : -EIO;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > PARKED_MAX_BYTES) {
		close(fd);
		return -EBADMSG;
	}
	if (!(buf = malloc((size_t)st.st_size))) {
		close(fd);
		return -ENOMEM;
	}
	n = parked_read_all(fd, buf, (size_t)st.st_size);
	close(fd);
	*out = n == st.st_size ? cJSON_ParseWithLength(buf, (size_t)n) : NULL;
	free(buf);
	*len = (uint64_t)st.st_size;
	return *out ? 0 : -EBADMSG;
}

int parked_open(const char *dir, struct parked **out)
{
	struct parked *pk;
	struct dirent *de;
	DIR *d;
	int ret = 0;

	if (strlen(dir) >= sizeof(pk->dir))
		return -ENAMETOOLONG;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (!(pk = calloc(1, sizeof(*pk))))
		return -ENOMEM;
	snprintf(pk->dir, sizeof(pk->dir), "%s", dir);
	if (!(d = opendir(dir))) {
		ret = -errno;
		free(pk);
		return ret;
	}
	while ((de = readdir(d)) && pk->n < PARKED_MAX_FILES) {
		size_t l = strlen(de->d_name);
		struct parked_item item;
		uint64_t len;
		cJSON *doc;

		if (l < 6 || strcmp(de->d_name + l - 5, ".json"))
			continue;
		/* An unreadable file stays where it is, not counted: nothing
		 * is deleted that was not published. */
		if (parked_read(pk, de->d_name, &doc, &len) < 0)
			continue;
		ret = parked_item_of(doc, de->d_name, len, &item);
		cJSON_Delete(doc);
		if (ret == 0 && (ret = parked_push(pk, &item)) < 0)
			break;
		ret = 0;
	}
	closedir(d);
	if (ret < 0) {
		parked_free(pk);
		return ret;
	}
	*out = pk;
	return 0;
}

void parked_free(struct parked *pk)
{
	if (!pk)
		return;
	free(pk->it);
	free(pk);
}

/* Writes text to dir/file whole: a temporary file, fsync, rename, and the
 * directory's fsync. */
static int parked_write(const struct parked *pk, const char *file, const char *text, size_t len)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "%s/%s", pk->dir, file);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return -errno;
	if (parked_write_all(fd, text, len) < 0 || fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret) {
		unlink(tmp);
		return ret;
	}
	if ((fd = open(pk->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		if (fsync(fd) < 0)
			ret = -errno;
		close(fd);
	}
	return ret;
}

/* why as a parked file's fields (code, reason, message, causes) in doc. */
static void parked_why_to(const struct parked_why *why, cJSON *doc)
{
	cJSON *causes;
	int i;

	cJSON_AddNumberToObject(doc, "code", (double)why->code);
	cJSON_AddStringToObject(doc, "reason", why->reason);
	cJSON_AddStringToObject(doc, "message", why->message);
	if (!why->ncauses || !(causes = cJSON_AddArrayToObject(doc, "causes")))
		return;
	for (i = 0; i < why->ncauses && i < PARKED_CAUSES_MAX; i++) {
		const struct parked_cause *pc = &why->causes[i];
		cJSON *c = cJSON_CreateObject();

		if (!c)
			return;
		if (*pc->field)
			cJSON_AddStringToObject(c, "field", pc->field);
		if (*pc->reason)
			cJSON_AddStringToObject(c, "reason", pc->reason);
		if (*pc->message)
			cJSON_AddStringToObject(c, "message", pc->message);
		cJSON_AddItemToArray(causes, c);
	}
}

/* Whether one more file of len bytes of namespace ns would take it past
 * its share (PARKED_NS_SHARE of the files or of the bytes). */
static bool parked_ns_over(const struct parked *pk, const char *ns, size_t len)
{
	uint64_t bytes = len;
	size_t i, n = 1;

	for (i = 0; i < pk->n; i++) {
		if (strcmp(pk->it[i].ns, ns))
			continue;
		n++;
		bytes += pk->it[i].bytes;
	}
	return n > PARKED_MAX_FILES / PARKED_NS_SHARE ||
	       bytes > PARKED_MAX_BYTES / PARKED_NS_SHARE;
}

int parked_add(struct parked *pk, const cJSON *record, const struct parked_why *why)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(record, "metadata");
	const char *ns = parked_str(md, "namespace"), *name = parked_str(md, "name");
	struct parked_item item;
	char file[NAME_MAX + 1];
	cJSON *doc;
	char *text;
	size_t len;
	long at;
	int ret;

	if (!parked_name_ok(ns, sizeof(item.ns) - 1) ||
	    !parked_name_ok(name, sizeof(item.name) - 1))
		return -EINVAL;
	if (snprintf(file, sizeof(file), "%s_%s.json", ns, name) >= (int)sizeof(file))
		return -EINVAL;
	if (!(doc = cJSON_CreateObject()))
		return -ENOMEM;
	parked_why_to(why, doc);
	cJSON_AddItemToObject(doc, "record", cJSON_Duplicate(record, 1));
	text = jsontext_print(doc, NULL);
	if (!text || parked_item_of(doc, file, strlen(text), &item) < 0) {
		free(text);
		cJSON_Delete(doc);
		return text ? -EINVAL : -ENOMEM;
	}
	cJSON_Delete(doc);
	len = strlen(text);
	at = parked_find(pk, file);
	if (at < 0 && (pk->n >= PARKED_MAX_FILES || pk->bytes + len > PARKED_MAX_BYTES)) {
		free(text);
		return -ENOSPC;
	}
	if (at < 0 && parked_ns_over(pk, ns, len)) {
		free(text);
		return -EDQUOT;
	}
	ret = parked_write(pk, file, text, len);
	free(text);
	if (ret < 0)
		return ret;
	if (at >= 0)
		parked_drop(pk, (size_t)at); /* parked again: now the newest */
	return parked_push(pk, &item);
}

int parked_retry(struct parked *pk, parked_fn fn, void *arg, int max)
{
	char path[PATH_MAX];
	/* Each record once at most a call: one refused again is not sent
	 * again in the same turn. */
	size_t n0 = pk->n;
	int tried = 0, ret;

	while (tried < max && pk->n && (size_t)tried < n0) {
		size_t i = pk->next < pk->n ? pk->next : 0;
		struct parked_item *it = &pk->it[i];
		cJSON *doc = NULL;
		uint64_t len;

		pk->next = i + 1;
		tried++;
		if ((ret = parked_read(pk, it->file, &doc, &len)) == -ENOENT) {
			parked_drop(pk, i); /* removed by hand */
			continue;
		}
		if (ret < 0 || !doc)
			continue;
		ret = fn(cJSON_GetObjectItemCaseSensitive(doc, "record"), arg);
		cJSON_Delete(doc);
		if (ret > 0)
			break; /* the others would fare no better now */
		if (ret == 0) {
			snprintf(path, sizeof(path), "%s/%s", pk->dir, it->file);
			unlink(path);
			parked_drop(pk, i);
		}
	}
	return tried;
}

size_t parked_count(const struct parked *pk)
{
	return pk ? pk->n : 0;
}

cJSON *parked_summary(const struct parked *pk, int max)
{
	cJSON *a = cJSON_CreateArray();
	size_t i, from;

	if (!a || !pk)
		return a;
	from = pk->n > (size_t)max ? pk->n - (size_t)max : 0;
	for (i = pk->n; i > from; i--) {
		const struct parked_item *it = &pk->it[i - 1];
		cJSON *o = cJSON_CreateObject();

		if (!o)
			break;
		cJSON_AddStringToObject(o, "namespace", it->ns);
		cJSON_AddStringToObject(o, "name", it->name);
		parked_why_to(&it->why, o);
		/* A status leaves out what is empty. */
		if (!*it->why.reason)
			cJSON_DeleteItemFromObjectCaseSensitive(o, "reason");
		if (!*it->why.message)
			cJSON_DeleteItemFromObjectCaseSensitive(o, "message");
		cJSON_AddItemToArray(a, o);
	}
	return a;
}
