// SPDX-License-Identifier: Apache-2.0
/* Token bucket, backoff and jitter (see ratelimit.h). */
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ratelimit.h"

void tokens_init(struct tokens *t, double per_second, double burst, long now_ms)
{
	t->per_ms = per_second > 0 ? per_second / 1000.0 : 0;
	t->burst = burst >= 1 ? burst : 1;
	t->have = t->burst;
	t->last_ms = now_ms;
}

void tokens_set_rate(struct tokens *t, double per_second, double burst)
{
	t->per_ms = per_second > 0 ? per_second / 1000.0 : 0;
	t->burst = burst >= 1 ? burst : 1;
	if (t->have > t->burst)
		t->have = t->burst;
}

static void tokens_refill(struct tokens *t, long now_ms)
{
	if (now_ms > t->last_ms) {
		t->have += (double)(now_ms - t->last_ms) * t->per_ms;
		if (t->have > t->burst)
			t->have = t->burst;
	}
	t->last_ms = now_ms;
}

bool tokens_take(struct tokens *t, long now_ms)
{
	tokens_refill(t, now_ms);
	if (t->have < 1)
		return false;
	t->have -= 1;
	return true;
}

double tokens_available(struct tokens *t, long now_ms)
{
	tokens_refill(t, now_ms);
	return t->have;
}

long tokens_wait_ms(struct tokens *t, long now_ms)
{
	tokens_refill(t, now_ms);
	if (t->have >= 1)
		return 0;
	if (t->per_ms <= 0)
		return -1;
	return (long)((1 - t->have) / t->per_ms) + 1;
}

long backoff_delay_ms(long base_ms, long max_ms, unsigned attempt)
{
	long d = base_ms > 0 ? base_ms : 1;

	while (attempt-- && d < max_ms)
		d *= 2;
	return d < max_ms ? d : max_ms;
}

void backoff_init(struct backoff *b, long base_ms, long max_ms)
{
	b->base_ms = base_ms;
	b->max_ms = max_ms > base_ms ? max_ms : base_ms;
	b->attempt = 0;
}

long backoff_next_ms(struct backoff *b)
{
	long d = backoff_delay_ms(b->base_ms, b->max_ms, b->attempt);

	if (b->attempt < 64)
		b->attempt++;
	return jitter_ms(d, 0.5);
}

void backoff_reset(struct backoff *b)
{
	b->attempt = 0;
}

/* xoshiro256** (Blackman and Vigna), one state per thread. */
static _Thread_local uint64_t jitter_state[4];
static _Thread_local int jitter_seeded;

static uint64_t jitter_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static void jitter_seed(void)
{
	struct timespec ts;
	uint64_t *s = jitter_state;

	if (getrandom(s, sizeof(jitter_state), GRND_NONBLOCK) != (ssize_t)sizeof(jitter_state)) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		s[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
		s[1] = (uint64_t)ts.tv_sec * 0x9e3779b97f4a7c15ULL;
		s[2] = (uint64_t)(uintptr_t)&jitter_state;
		s[3] = 0x2545f4914f6cdd1dULL;
	}
	if (!(s[0] | s[1] | s[2] | s[3]))
		s[0] = 1;
	jitter_seeded = 1;
}

uint64_t jitter_u64(void)
{
	uint64_t *s = jitter_state, r, t;

	if (!jitter_seeded)
		jitter_seed();
	r = jitter_rotl(s[1] * 5, 7) * 9;
	t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = jitter_rotl(s[3], 45);
	return r;
}

long jitter_ms(long ms, double frac)
{
	long span;

	if (ms <= 0)
		return ms;
	if (frac < 0)
		frac = 0;
	if (frac > 1)
		frac = 1;
	span = (long)((double)ms * frac);
	if (span <= 0)
		return ms;
	return ms - span + (long)(jitter_u64() % (uint64_t)(2 * span + 1));
}
