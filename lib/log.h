/* SPDX-License-Identifier: Apache-2.0 */
/* JSON-lines logging on stderr: time, level, msg and the object's identity. */
#ifndef SHELLAUDIT_LOG_H
#define SHELLAUDIT_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Key/value pairs of a log line, e.g. LOG_KV("pod", name, "ns", ns). */
#define LOG_KV(...) ((const char *const[]){ __VA_ARGS__, NULL })

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info" or "debug"; -EINVAL otherwise. */
int log_parse_level(const char *s, enum log_level *out);

/* Writes one line; kv is NULL or a NULL-terminated list of key, value pairs
 * (a NULL value is written as null). Values and message are escaped. */
void log_with(enum log_level level, const char *const *kv, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(...) log_with(LOG_ERROR, NULL, __VA_ARGS__)
#define log_warn(...) log_with(LOG_WARN, NULL, __VA_ARGS__)
#define log_info(...) log_with(LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_with(LOG_DEBUG, NULL, __VA_ARGS__)

#endif
