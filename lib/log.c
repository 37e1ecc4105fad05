// SPDX-License-Identifier: Apache-2.0
/* JSON-lines logger. The level is the only state, owned by the process's
 * main loop (set once from flags before anything else runs). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "escape.h"
#include "util.h"

/* A field is at most LOG_VALUE_MAX escaped bytes, doubled by JSON escaping
 * in the worst case; a line stops taking fields before it could overflow. */
#define LOG_VALUE_MAX 2048
#define LOG_LINE_MAX 16384

static enum log_level log_level = LOG_INFO;
static const char *const log_names[] = { "error", "warn", "info", "debug" };

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

int log_parse_level(const char *s, enum log_level *out)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(log_names); i++) {
		if (s && strcmp(s, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Appends "s" as a JSON string: escape_text makes it valid UTF-8 without
 * control characters, at most LOG_VALUE_MAX - 1 bytes, which JSON's quoting
 * at most doubles. The caller guarantees 2 * LOG_VALUE_MAX + 2 bytes of room. */
static size_t log_put_string(char *buf, size_t len, const char *s)
{
	char esc[LOG_VALUE_MAX];

	escape_text(esc, sizeof(esc), s, strlen(s));
	buf[len++] = '"';
	len += escape_json(buf + len, 2 * LOG_VALUE_MAX, esc);
	buf[len++] = '"';
	return len;
}

/*
 * Appends a short literal; the caller guarantees the room. buf is counted
 * (len) and written with fwrite(): no NUL needed.
 */
static size_t log_put_raw(char *buf, size_t len, const char *s)
{
	size_t n = strlen(s);

	memcpy(buf + len, s, n); // NOLINT(bugprone-not-null-terminated-result): counted buffer
	return len + n;
}

void log_with(enum log_level level, const char *const *kv, const char *fmt, ...)
{
	char buf[LOG_LINE_MAX], msg[LOG_VALUE_MAX], ts[40];
	struct timespec now;
	struct tm tm;
	size_t len = 0;
	int saved = errno;
	va_list ap;

	if (level > log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts) - 8, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + strlen(ts), 8, ".%03dZ", (int)(now.tv_nsec / 1000000));
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	len = log_put_raw(buf, len, "{\"time\":\"");
	len = log_put_raw(buf, len, ts);
	len = log_put_raw(buf, len, "\",\"level\":\"");
	len = log_put_raw(buf, len, log_names[level]);
	len = log_put_raw(buf, len, "\",\"msg\":");
	len = log_put_string(buf, len, msg);
	for (; kv && kv[0]; kv += 2) {
		if (len + 4 * LOG_VALUE_MAX + 64 > LOG_LINE_MAX) {
			len = log_put_raw(buf, len, ",\"fieldsTruncated\":true");
			break;
		}
		len = log_put_raw(buf, len, ",");
		len = log_put_string(buf, len, kv[0]);
		len = log_put_raw(buf, len, ":");
		len = kv[1] ? log_put_string(buf, len, kv[1]) : log_put_raw(buf, len, "null");
	}
	len = log_put_raw(buf, len, "}\n");
	fwrite(buf, 1, len, stderr);
	errno = saved;
}
