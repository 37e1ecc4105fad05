// SPDX-License-Identifier: Apache-2.0
/* A BPF ring buffer reader that releases on demand (see ringbuf.h). The
 * layout is the kernel's (kernel/bpf/ringbuf.c): the consumer position's
 * page read-write, then the producer position's page and the data pages.
 * libbpf maps the data pages twice in a row, so that a record that wraps
 * reads as one; the kernel maps every page of a mapping at once, so that
 * costs the ring's size again in RSS. They are mapped once here, and the
 * rare record that wraps is copied whole into a buffer of its own. */
#include "ringbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/bpf.h>

struct ringbuf {
	unsigned long *consumer; /* the kernel's consumer position */
	const unsigned long *producer;
	const unsigned char *data;
	size_t page, mapped; /* bytes mapped at producer */
	/* A record that wraps, copied whole; the ring's size, allocated, not
	 * touched until one does (valid until the next). */
	unsigned char *wrapped;
	uint64_t mask;
	uint64_t pos; /* after the last record read */
	size_t held;  /* records read since the last release */
	int epfd;
};

int ringbuf_new(int map_fd, uint32_t size, struct ringbuf **out)
{
	struct epoll_event ev = { .events = EPOLLIN };
	long page = sysconf(_SC_PAGESIZE);
	struct ringbuf *r;
	void *p;
	int err;

	if (page <= 0 || !size || (size & (size - 1)) || size % (uint32_t)page)
		return -EINVAL;
	if (!(r = calloc(1, sizeof(*r))))
		return -ENOMEM;
	if (!(r->wrapped = malloc(size))) {
		free(r);
		return -ENOMEM;
	}
	r->page = (size_t)page;
	r->mask = size - 1;
	r->mapped = r->page + (size_t)size;
	r->epfd = -1;
	p = mmap(NULL, r->page, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	r->consumer = p;
	p = mmap(NULL, r->mapped, PROT_READ, MAP_SHARED, map_fd, (off_t)r->page);
	if (p == MAP_FAILED)
		goto fail;
	r->producer = p;
	r->data = (const unsigned char *)p + r->page;
	if ((r->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    epoll_ctl(r->epfd, EPOLL_CTL_ADD, map_fd, &ev) < 0)
		goto fail;
	r->pos = __atomic_load_n(r->consumer, __ATOMIC_ACQUIRE);
	*out = r;
	return 0;
fail:
	err = -errno;
	ringbuf_free(r);
	return err;
}

void ringbuf_free(struct ringbuf *r)
{
	if (!r)
		return;
	if (r->epfd >= 0)
		close(r->epfd);
	if (r->producer)
		munmap((void *)r->producer, r->mapped);
	if (r->consumer)
		munmap(r->consumer, r->page);
	free(r->wrapped);
	free(r);
}

int ringbuf_fd(const struct ringbuf *r)
{
	return r->epfd;
}

int ringbuf_next(struct ringbuf *r, const void **data, size_t *len)
{
	uint64_t prod = __atomic_load_n(r->producer, __ATOMIC_ACQUIRE);
	uint64_t cons = __atomic_load_n(r->consumer, __ATOMIC_ACQUIRE);

	/* Never past the producer, never more than the ring from the
	 * consumer: a walk ends whatever the positions say. */
	while (r->pos < prod && r->pos - cons < r->mask + 1) {
		/* Headers are 8-aligned and the size a multiple of 8: a
		 * header never wraps, its data may. */
		const uint32_t *hdr = (const uint32_t *)(r->data + (r->pos & r->mask));
		uint32_t h = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
		uint32_t l = h & ~(uint32_t)(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
		size_t off = (size_t)((r->pos + BPF_RINGBUF_HDR_SZ) & r->mask), first;

		if (h & BPF_RINGBUF_BUSY_BIT || l > r->mask + 1 - BPF_RINGBUF_HDR_SZ)
			return 0;
		r->pos += ((uint64_t)l + BPF_RINGBUF_HDR_SZ + 7) & ~7ull;
		r->held++;
		if (h & BPF_RINGBUF_DISCARD_BIT)
			continue;
		*len = l;
		if (off + l <= r->mask + 1) {
			*data = r->data + off;
			return 1;
		}
		first = r->mask + 1 - off;
		memcpy(r->wrapped, r->data + off, first);
		memcpy(r->wrapped + first, r->data, l - first);
		*data = r->wrapped;
		return 1;
	}
	return 0;
}

size_t ringbuf_held(const struct ringbuf *r)
{
	return r->held;
}

uint64_t ringbuf_reserved(const struct ringbuf *r)
{
	return __atomic_load_n(r->producer, __ATOMIC_ACQUIRE);
}

uint64_t ringbuf_released(const struct ringbuf *r)
{
	return __atomic_load_n(r->consumer, __ATOMIC_ACQUIRE);
}

unsigned ringbuf_fill(const struct ringbuf *r)
{
	uint64_t prod = ringbuf_reserved(r), cons = ringbuf_released(r);
	uint64_t used = prod > cons ? prod - cons : 0;

	/* Bounded whatever the positions say. */
	return used > r->mask ? 1024 : (unsigned)(used * 1024 / (r->mask + 1));
}

void ringbuf_release(struct ringbuf *r)
{
	__atomic_store_n(r->consumer, (unsigned long)r->pos, __ATOMIC_RELEASE);
	r->held = 0;
}

void ringbuf_rewind(struct ringbuf *r)
{
	r->pos = __atomic_load_n(r->consumer, __ATOMIC_ACQUIRE);
	r->held = 0;
}

size_t ringbuf_skip(struct ringbuf *r, size_t n)
{
	const void *data;
	size_t i, len;

	for (i = 0; i < n && ringbuf_next(r, &data, &len) == 1; i++)
		;
	ringbuf_release(r);
	return i;
}
