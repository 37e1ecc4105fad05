/* SPDX-License-Identifier: Apache-2.0 */
/* spool_use: the bytes of the entries journal each container holds, so
 * that one container's flood (or a held one's records) cannot take the
 * whole spool from the others. Counted per range of positions (a bucket)
 * rather than per entry: an acknowledgement gives a range's bytes back once
 * it is passed whole, so a container's figure may count up to one bucket of
 * bytes already acknowledged, never less than it holds. Memory: one small
 * map per bucket the unacknowledged part of the journal spans. */
#ifndef SHELLAUDIT_SPOOL_USE_H
#define SHELLAUDIT_SPOOL_USE_H

#include <stdint.h>

struct spool_use;

/* bucket_bytes > 0: the range one bucket counts (a fraction of the bound). */
int spool_use_new(uint64_t bucket_bytes, struct spool_use **out);
void spool_use_free(struct spool_use *u);
/* An item of cid at pos, len bytes, was appended; positions only grow.
 * -ENOMEM leaves the item uncounted. */
int spool_use_add(struct spool_use *u, const char *cid, uint64_t pos, uint64_t len);
/* Everything before acked was acknowledged. */
void spool_use_ack(struct spool_use *u, uint64_t acked);
/* The bytes cid holds (0 for a container with none, or for a NULL u). */
uint64_t spool_use_of(const struct spool_use *u, const char *cid);

#endif
