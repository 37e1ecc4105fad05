/* SPDX-License-Identifier: Apache-2.0 */
/* Rates and retries, written once: a token bucket, an exponential backoff
 * and the jitter both daemons put on every retry and watch timeout so that
 * a fleet of agents does not hammer the API server in step.
 *
 * Times are clock_now_ms() milliseconds (lib/clock.h), passed in so that
 * callers and tests choose the instant. Not thread-safe: one owner per
 * object. The jitter source is per thread, seeded from the kernel's random
 * pool, so it differs between processes and threads. */
#ifndef SHELLAUDIT_RATELIMIT_H
#define SHELLAUDIT_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

/* --- token bucket ----------------------------------------------------------- */

struct tokens {
	double per_ms;	/* refill rate */
	double burst;	/* capacity, at least 1 */
	double have;
	long last_ms;
};

/* A full bucket: `burst` at once, then `per_second`. */
void tokens_init(struct tokens *t, double per_second, double burst, long now_ms);
/* A new rate and capacity, keeping the tokens there (at most burst). */
void tokens_set_rate(struct tokens *t, double per_second, double burst);
/* Takes one token when there is one. */
bool tokens_take(struct tokens *t, long now_ms);
/* Milliseconds until a token is there (0: now). */
long tokens_wait_ms(struct tokens *t, long now_ms);
/* Tokens there now (refilled to now_ms). */
double tokens_available(struct tokens *t, long now_ms);

/* --- exponential backoff ------------------------------------------------------ */

/* base_ms * 2^attempt, at most max_ms, without jitter (attempt 0: base_ms). */
long backoff_delay_ms(long base_ms, long max_ms, unsigned attempt);

struct backoff {
	long base_ms, max_ms;
	unsigned attempt;	/* failures since the last success */
};

void backoff_init(struct backoff *b, long base_ms, long max_ms);
/* The delay before the next try after one more failure, jittered. */
long backoff_next_ms(struct backoff *b);
/* A success: the next failure waits base_ms again. */
void backoff_reset(struct backoff *b);

/* --- jitter ---------------------------------------------------------------------- */

/* A uniformly random value in [ms * (1 - frac), ms * (1 + frac)], frac in
 * [0, 1]; ms itself when ms <= 0. */
long jitter_ms(long ms, double frac);
/* A uniformly random 64-bit value (not for keys: xoshiro, seeded once per
 * thread from getrandom(2)). */
uint64_t jitter_u64(void);

#endif
