// SPDX-License-Identifier: Apache-2.0
/* lib/ringbuf against the kernel's own ring buffer: a real BPF_MAP_TYPE_RINGBUF
 * map, filled by a small socket filter program (bpf_ringbuf_output of the
 * time, run by BPF_PROG_TEST_RUN). Records read and not released are read
 * again by the next reader (as by an agent restarted after a crash), those
 * released are not; a rewind reads them again, a skip releases them
 * unread; the poll fd wakes for a record at the consumer position. Needs
 * root (make test runs as root). */
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include "ringbuf.h"
#include "unit.h"

#define RING_SIZE (64u << 10)

struct fixture {
	int map, prog;
};

/* A map and a program writing one record per run: the time, twice (16
 * bytes: with its header a record of 24, so that some wrap around the
 * ring's end). */
static int fixture_open(struct fixture *f)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_ktime_get_ns },
		{ .code = BPF_STX | BPF_MEM | BPF_DW,
		  .dst_reg = BPF_REG_10,
		  .src_reg = BPF_REG_0,
		  .off = -8 },
		{ .code = BPF_STX | BPF_MEM | BPF_DW,
		  .dst_reg = BPF_REG_10,
		  .src_reg = BPF_REG_0,
		  .off = -16 },
		/* BPF_LD | BPF_DW | BPF_IMM; BPF_IMM is 0 */
		{ .code = BPF_LD | BPF_DW,
		  .dst_reg = BPF_REG_1,
		  .src_reg = BPF_PSEUDO_MAP_FD,
		  .imm = 0 },
		{ 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X,
		  .dst_reg = BPF_REG_2,
		  .src_reg = BPF_REG_10 },
		/* BPF_ALU64 | BPF_ADD | BPF_K; BPF_ADD and BPF_K are 0 */
		{ .code = BPF_ALU64, .dst_reg = BPF_REG_2, .imm = -16 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_3, .imm = 16 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_4, .imm = 0 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_ringbuf_output },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	f->prog = -1;
	f->map = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "ut_ring", 0, 0, RING_SIZE, NULL);
	if (f->map < 0)
		return -errno;
	insns[3].imm = f->map;
	f->prog = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "ut_ring", "GPL", insns,
				ARRAY_SIZE(insns), NULL);
	return f->prog < 0 ? -errno : 0;
}

static void fixture_close(struct fixture *f)
{
	if (f->prog >= 0)
		close(f->prog);
	if (f->map >= 0)
		close(f->map);
}

/* n more records. */
static int fixture_write(struct fixture *f, int n)
{
	unsigned char pkt[64] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = sizeof(pkt), .repeat = n);

	return bpf_prog_test_run_opts(f->prog, &o) ? -errno : 0;
}

/* Reads up to n records into out (their times); returns how many, or -1
 * for a record that is not the same time twice. */
static int read_times(struct ringbuf *r, uint64_t *out, int n)
{
	uint64_t t[2];
	const void *data;
	size_t len;
	int i;

	for (i = 0; i < n && ringbuf_next(r, &data, &len) == 1; i++) {
		if (len != sizeof(t))
			return -1;
		memcpy(t, data, sizeof(t));
		if (t[0] != t[1] || !t[0])
			return -1;
		out[i] = t[0];
	}
	return i;
}

/* The fixture with n records written, and a reader of them (NULL, and a
 * failed check, when any of it fails). */
static struct ringbuf *fixture_reader(struct fixture *f, int n)
{
	struct ringbuf *r = NULL;

	UNIT_CHECK(fixture_open(f) == 0);
	UNIT_CHECK(fixture_write(f, n) == 0);
	UNIT_CHECK(ringbuf_new(f->map, RING_SIZE, &r) == 0);
	return r;
}

static void test_ringbuf_unreleased_read_again(void)
{
	struct fixture f;
	struct ringbuf *a = NULL, *b = NULL;
	uint64_t ta[8] = { 0 }, tb[8] = { 0 };

	if (!(a = fixture_reader(&f, 5)))
		goto out;
	UNIT_CHECK(read_times(a, ta, 8) == 5);
	UNIT_CHECK(ringbuf_held(a) == 5);
	UNIT_CHECK(ta[0] && ta[0] < ta[1] && ta[3] < ta[4]);
	/* Gone without a release, as a killed reader: all five again. */
	ringbuf_free(a);
	a = NULL;
	UNIT_CHECK(ringbuf_new(f.map, RING_SIZE, &b) == 0);
	if (!b)
		goto out;
	UNIT_CHECK(read_times(b, tb, 8) == 5);
	UNIT_CHECK(!memcmp(ta, tb, 5 * sizeof(ta[0])));
out:
	ringbuf_free(b);
	fixture_close(&f);
}

static void test_ringbuf_released_not_read_again(void)
{
	struct fixture f;
	struct ringbuf *a = NULL, *b = NULL;
	uint64_t ta[8] = { 0 }, tb[8] = { 0 };

	if (!(a = fixture_reader(&f, 5)))
		goto out;
	UNIT_CHECK(read_times(a, ta, 3) == 3);
	ringbuf_release(a);
	UNIT_CHECK(ringbuf_held(a) == 0);
	UNIT_CHECK(read_times(a, ta + 3, 8) == 2);
	ringbuf_free(a);
	/* The next reader meets the two read after the release only. */
	UNIT_CHECK(ringbuf_new(f.map, RING_SIZE, &b) == 0);
	if (!b)
		goto out;
	UNIT_CHECK(read_times(b, tb, 8) == 2);
	UNIT_CHECK(tb[0] == ta[3] && tb[1] == ta[4]);
	/* A rewind reads them once more; a release after it frees them. */
	ringbuf_rewind(b);
	UNIT_CHECK(read_times(b, tb, 8) == 2 && tb[0] == ta[3]);
	ringbuf_release(b);
	UNIT_CHECK(read_times(b, tb, 8) == 0);
	ringbuf_rewind(b);
	UNIT_CHECK(read_times(b, tb, 8) == 0);
out:
	ringbuf_free(b);
	fixture_close(&f);
}

/* A restarted reader that knows the first records were handled: it
 * peeks, rewinds and skips through them; the rest stay for it. */
static void test_ringbuf_skip_releases_what_it_passes(void)
{
	struct fixture f;
	struct ringbuf *a = NULL, *b = NULL;
	uint64_t ta[8] = { 0 }, tb[8] = { 0 };

	if (!(a = fixture_reader(&f, 5)))
		goto out;
	UNIT_CHECK(read_times(a, ta, 8) == 5);
	ringbuf_rewind(a);
	UNIT_CHECK(ringbuf_skip(a, 3) == 3);
	UNIT_CHECK(ringbuf_held(a) == 0);
	UNIT_CHECK(read_times(a, tb, 8) == 2 && tb[0] == ta[3]);
	ringbuf_free(a);
	UNIT_CHECK(ringbuf_new(f.map, RING_SIZE, &b) == 0);
	if (!b)
		goto out;
	UNIT_CHECK(read_times(b, tb, 8) == 2 && tb[0] == ta[3] && tb[1] == ta[4]);
	ringbuf_rewind(b);
	UNIT_CHECK(ringbuf_skip(b, 10) == 2);
	ringbuf_rewind(b);
	UNIT_CHECK(read_times(b, tb, 8) == 0);
out:
	ringbuf_free(b);
	fixture_close(&f);
}

/* Records across the ring's end (mapped once, not twice as libbpf does)
 * read whole, in order. */
static void test_ringbuf_records_that_wrap_read_whole(void)
{
	struct fixture f;
	struct ringbuf *r = NULL;
	static uint64_t t[2100];
	int i, ok = 1;

	UNIT_CHECK(fixture_open(&f) == 0);
	UNIT_CHECK(ringbuf_new(f.map, RING_SIZE, &r) == 0);
	if (!r)
		goto out;
	/* 2,000 records of 24 bytes, twice: the second lot crosses the end
	 * of the 64 KiB, one of them in its middle. */
	UNIT_CHECK(fixture_write(&f, 2000) == 0);
	UNIT_CHECK(read_times(r, t, 2100) == 2000);
	ringbuf_release(r);
	UNIT_CHECK(fixture_write(&f, 2000) == 0);
	UNIT_CHECK(read_times(r, t, 2100) == 2000);
	for (i = 1; i < 2000; i++)
		ok &= t[i] > t[i - 1];
	UNIT_CHECK(ok);
	ringbuf_release(r);
out:
	ringbuf_free(r);
	fixture_close(&f);
}

static void test_ringbuf_poll_wakes_at_consumer(void)
{
	struct fixture f;
	struct ringbuf *r = NULL;
	struct epoll_event ev;
	uint64_t t[4];

	UNIT_CHECK(fixture_open(&f) == 0);
	UNIT_CHECK(ringbuf_new(f.map, RING_SIZE, &r) == 0);
	if (!r)
		goto out;
	UNIT_CHECK(epoll_wait(ringbuf_fd(r), &ev, 1, 0) == 0);
	UNIT_CHECK(fixture_write(&f, 1) == 0);
	UNIT_CHECK(epoll_wait(ringbuf_fd(r), &ev, 1, 1000) == 1);
	UNIT_CHECK(read_times(r, t, 4) == 1);
	ringbuf_release(r);
	UNIT_CHECK(epoll_wait(ringbuf_fd(r), &ev, 1, 0) == 0);
out:
	ringbuf_free(r);
	fixture_close(&f);
}

/* The fill counts what is not released, read or not, up to the whole ring
 * (records of 24 bytes in a ring of 64 KiB). */
static void test_ringbuf_fill_counts_unreleased(void)
{
	struct fixture f;
	struct ringbuf *r;
	uint64_t t[1024];

	if (!(r = fixture_reader(&f, 1024)))
		goto out;
	UNIT_CHECK(ringbuf_fill(r) == 1024 * 24 * 1024 / RING_SIZE);
	UNIT_CHECK(read_times(r, t, 1024) == 1024);
	UNIT_CHECK(ringbuf_fill(r) == 1024 * 24 * 1024 / RING_SIZE);
	ringbuf_release(r);
	UNIT_CHECK(ringbuf_fill(r) == 0);
	/* More than it holds: full, the rest refused by the kernel. */
	UNIT_CHECK(fixture_write(&f, 4000) == 0);
	UNIT_CHECK(ringbuf_fill(r) == RING_SIZE / 24 * 24 * 1024 / RING_SIZE);
	UNIT_CHECK(read_times(r, t, 1024) == 1024);
	ringbuf_release(r);
	UNIT_CHECK(ringbuf_fill(r) == (RING_SIZE / 24 - 1024) * 24 * 1024 / RING_SIZE);
out:
	ringbuf_free(r);
	fixture_close(&f);
}

/* The positions: records of 24 bytes reserved, released once released. */
static void test_ringbuf_positions_count_bytes(void)
{
	struct fixture f;
	struct ringbuf *r;
	uint64_t t[16];

	if (!(r = fixture_reader(&f, 16)))
		goto out;
	UNIT_CHECK(ringbuf_reserved(r) == 16 * 24);
	UNIT_CHECK(ringbuf_released(r) == 0);
	UNIT_CHECK(read_times(r, t, 10) == 10);
	UNIT_CHECK(ringbuf_released(r) == 0);
	ringbuf_release(r);
	UNIT_CHECK(ringbuf_released(r) == 10 * 24);
	UNIT_CHECK(fixture_write(&f, 4) == 0);
	UNIT_CHECK(ringbuf_reserved(r) == 20 * 24);
	UNIT_CHECK(read_times(r, t, 16) == 10);
	ringbuf_release(r);
	UNIT_CHECK(ringbuf_released(r) == ringbuf_reserved(r));
out:
	ringbuf_free(r);
	fixture_close(&f);
}

static void test_ringbuf_bad_size(void)
{
	struct ringbuf *r = NULL;

	UNIT_CHECK(ringbuf_new(-1, 3000, &r) == -EINVAL);
	UNIT_CHECK(ringbuf_new(-1, 0, &r) == -EINVAL);
	UNIT_CHECK(ringbuf_new(-1, RING_SIZE, &r) < 0);
	UNIT_CHECK(!r);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT_TEST(test_ringbuf_unreleased_read_again),
		UNIT_TEST(test_ringbuf_released_not_read_again),
		UNIT_TEST(test_ringbuf_skip_releases_what_it_passes),
		UNIT_TEST(test_ringbuf_records_that_wrap_read_whole),
		UNIT_TEST(test_ringbuf_poll_wakes_at_consumer),
		UNIT_TEST(test_ringbuf_fill_counts_unreleased),
		UNIT_TEST(test_ringbuf_positions_count_bytes),
		UNIT_TEST(test_ringbuf_bad_size),
	};

	return unit_main(tests, ARRAY_SIZE(tests));
}
