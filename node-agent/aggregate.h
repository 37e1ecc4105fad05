/* SPDX-License-Identifier: Apache-2.0 */
/* Exec aggregation: repeated identical executions (same file, argv, user
 * and session root; one batch is one container and session) within a
 * window become one entry with count, first and last. Decided from the
 * entries alone (their times, not the clock), so that the batcher re-run
 * after a crash forms the same records. Typed lines and every other kind
 * are never aggregated. */
#ifndef SHELLAUDIT_AGGREGATE_H
#define SHELLAUDIT_AGGREGATE_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define AGGREGATE_WINDOW_MS 10000
/* Exec entries of a batch looked back at, newest first. */
#define AGGREGATE_LOOKBACK 32

/* Folds exec entry e into an identical exec of entries (a batch's array)
 * whose first time is at most window_ms before e's last: that entry gets
 * count (2 and up), first (its time) and last (e's last). true when folded
 * (e is not to be added), false when e is an entry of its own. An e that
 * was folded already (count, first, last: aggregate_exec_into) counts
 * for its count. */
bool aggregate_exec(cJSON *entries, const cJSON *e, long window_ms);

/* aggregate_exec with prev as the only candidate: folds exec entry e (one
 * exec, or several folded already) into prev when they are the same exec
 * and e's last time is at most window_ms after prev's first. For the
 * spool, which folds the execs of one gather before journaling them, as
 * the batcher would have. */
bool aggregate_exec_into(cJSON *prev, const cJSON *e, long window_ms);

/* aggregate_exec_into for one more exec known to be the same as prev's
 * (by its bytes, spool_fold_again), at time `last`: true when it is within
 * window_ms of prev's first and was folded. *first_ms is prev's first
 * time in ms, kept by the caller for the next exec into prev (each exec
 * of a loop comes here): -1 before the first call, found then. */
bool aggregate_exec_again(cJSON *prev, const char *last, long window_ms, long long *first_ms);

/*
 * Whether the texts a and b of two entries (JSON objects as the spool
 * prints them) differ at most in their time and process: every member but
 * "time", "pid" and "ppid" alike, in the same order, byte for byte. Then
 * aggregate_exec takes them for the same exec when one is; when false, it
 * may still (a text laid out otherwise), so the caller parses them. Never
 * true for an entry folded already (its "count"): it stands for more than
 * one exec.
 */
bool aggregate_text_same(const char *a, size_t alen, const char *b, size_t blen);

/* aggregate_exec of an exec entry of time etime that is the same
 * (aggregate_text_same) as `like`, an exec entry already parsed: folds it
 * where aggregate_exec would fold it, and says so; `like` stands for it in
 * every comparison (their aggregated members are alike). */
bool aggregate_exec_like(cJSON *entries, const cJSON *like, const char *etime, long window_ms);

#endif
