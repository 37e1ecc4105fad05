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

#include <cjson/cJSON.h>

#define AGGREGATE_WINDOW_MS 10000
/* Exec entries of a batch looked back at, newest first. */
#define AGGREGATE_LOOKBACK 32

/* Folds exec entry e into an identical exec of entries (a batch's array)
 * whose first time is at most window_ms before e's: that entry gets count
 * (2 and up), first (its time) and last (e's time). true when folded (e is
 * not to be added), false when e is an entry of its own. */
bool aggregate_exec(cJSON *entries, const cJSON *e, long window_ms);

#endif
