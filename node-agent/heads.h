/* SPDX-License-Identifier: Apache-2.0 */
/* Chain heads: per container, the newest AuditRecord of its chain that the
 * API server holds (sequence and digest), and until when its records are
 * kept. The agent publishes them in its ShellAuditNode status
 * (status.heads), which tenants cannot write, so that `verify` tells a
 * chain whose newest records were deleted from an intact one. Owned by the
 * agent's main loop. */
#ifndef SHELLAUDIT_HEADS_H
#define SHELLAUDIT_HEADS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>

/* At most this many heads are published (the CRD's maxItems): past it
 * heads go, and are counted, one at a time from the namespace holding the
 * most (a tenant's many short containers push out its own heads, not
 * another tenant's): of that namespace, those of containers no longer
 * audited first, whose records expire first. */
#define HEADS_MAX 1024

struct heads;

int heads_new(struct heads **out);
void heads_free(struct heads *h);

/* A record the API server accepted (or already had) at `now`: its
 * container's head moves to it unless the head is already further. 1 when
 * the head moved, 0 when not, -EINVAL for a record without identity. */
int heads_record(struct heads *h, const cJSON *record, time_t now);

/* Takes over the heads a previous agent published (a status.heads array;
 * hostile input: malformed items are skipped), keeping the further head
 * where both know a container. */
void heads_merge(struct heads *h, const cJSON *published);

/* Whether the container cid is audited now (heads of containers audited
 * now are never pruned for age). */
typedef bool (*heads_live_fn)(const char *cid, void *arg);

/*
 * Prunes the heads of containers not audited now whose records have all
 * expired (keepUntil passed) and applies HEADS_MAX, then returns status.heads
 * (sorted by container ID, so equal sets compare equal), which the caller
 * frees; NULL on ENOMEM.
 */
cJSON *heads_json(struct heads *h, heads_live_fn live, void *arg, time_t now);

/* The sequence of cid's head: 1 with *seq, 0 when none is known. */
int heads_seq(const struct heads *h, const char *cid, uint64_t *seq);

/* Heads dropped by HEADS_MAX since the agent started (their tails cannot
 * be checked). */
uint64_t heads_capped(const struct heads *h);
size_t heads_count(const struct heads *h);

#endif
