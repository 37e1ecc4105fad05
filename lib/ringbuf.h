/* SPDX-License-Identifier: Apache-2.0 */
/* A reader of a BPF ring buffer map (BPF_MAP_TYPE_RINGBUF) that tells the
 * kernel a record is read only when told to (ringbuf_release), not after
 * each record as libbpf's ring_buffer__consume does: what was read and not
 * released stays in the ring, and a reader that comes after (an agent
 * restarted after a crash, the map pinned) reads it again. So a caller can
 * gather what it makes of many records and release them once that is
 * safe, instead of one write per record.
 *
 * The kernel wakes the map's poll (ringbuf_fd) for a record only when the
 * consumer position is at it: a caller releases before it waits. Positions
 * and record headers come from the kernel, but every walk is bounded by
 * the ring's size whatever they say. One thread at a time. */
#ifndef SHELLAUDIT_RINGBUF_H
#define SHELLAUDIT_RINGBUF_H

#include <stddef.h>
#include <stdint.h>

struct ringbuf;

/* Maps the ring buffer map map_fd, of size bytes (its max_entries: a power
 * of two, a multiple of the page size). map_fd stays the caller's. Caller
 * frees *out with ringbuf_free(). */
int ringbuf_new(int map_fd, uint32_t size, struct ringbuf **out);
/* Unmaps; what was read and not released stays in the ring. */
void ringbuf_free(struct ringbuf *r);

/* An epoll fd, readable when records wait at the consumer position. */
int ringbuf_fd(const struct ringbuf *r);

/* The next committed record after those read: 1 with *data and *len set
 * (valid until released; a record that wraps around the ring's end is a
 * copy, valid until the next one that wraps), 0 when there is none yet (or
 * the next one is still being written). Discarded records are passed
 * over. */
int ringbuf_next(struct ringbuf *r, const void **data, size_t *len);
/* Records read and not released. */
size_t ringbuf_held(const struct ringbuf *r);
/* How full the ring is: the bytes of records not released (read or not),
 * in parts per 1024 of its size (0 to 1024). */
unsigned ringbuf_fill(const struct ringbuf *r);
/* How far the ring's records go, in bytes since it was made: reserved by
 * writers (committed or not), and released by the reader. Either may be
 * read from any thread. A record committed before a call to
 * ringbuf_reserved() ends at or before what it returns. */
uint64_t ringbuf_reserved(const struct ringbuf *r);
uint64_t ringbuf_released(const struct ringbuf *r);
/* Tells the kernel that the records read are done with: their room is
 * free for new records. */
void ringbuf_release(struct ringbuf *r);
/* Reads nothing more than what was released: the records read and not
 * released are read again by the next ringbuf_next. */
void ringbuf_rewind(struct ringbuf *r);
/* Reads up to n more records (discarded ones not counted) without looking
 * at them and releases all that was read: for records a caller knows it
 * handled already. Returns how many it read. */
size_t ringbuf_skip(struct ringbuf *r, size_t n);

#endif
