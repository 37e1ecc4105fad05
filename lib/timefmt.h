/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes time formats: metav1.Time and metav1.MicroTime. */
#ifndef SHELLAUDIT_TIMEFMT_H
#define SHELLAUDIT_TIMEFMT_H

#include <stddef.h>
#include <time.h>

/* "2026-11-25T16:41:36Z" (metav1.Time) into buf (>= 21 bytes). */
void timefmt_rfc3339(const struct timespec *ts, char *buf, size_t cap);
/* "2026-11-25T16:41:36.890123Z" (metav1.MicroTime) into buf (>= 28 bytes). */
void timefmt_micro(const struct timespec *ts, char *buf, size_t cap);
/* Parses either form (and offsets like +02:00); -EINVAL when malformed. */
int timefmt_parse(const char *s, struct timespec *out);
/* Parses a retention-style duration "720h", "1h30m", "90s" (units h, m, s;
 * integers) into seconds; -EINVAL when malformed or above 100 years. */
int timefmt_duration(const char *s, long long *seconds);

#endif
