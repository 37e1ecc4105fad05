// SPDX-License-Identifier: Apache-2.0
/* The program's clock (see clock.h). */
#include <time.h>
#include <unistd.h>

#include "clock.h"

uint64_t clock_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

long clock_now_ms(void)
{
	return (long)(clock_now_ns() / 1000000ULL);
}

int64_t clock_wall_offset_ns(void)
{
	struct timespec mono, wall;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &wall);
	return ((int64_t)wall.tv_sec - mono.tv_sec) * 1000000000LL + (wall.tv_nsec - mono.tv_nsec);
}

uint64_t clock_from_boot_ticks(uint64_t ticks)
{
	struct timespec boot;
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t now = clock_now_ns(), boot_ns, at;

	clock_gettime(CLOCK_BOOTTIME, &boot);
	boot_ns = (uint64_t)boot.tv_sec * 1000000000ULL + (uint64_t)boot.tv_nsec;
	at = ticks * (1000000000ULL / (uint64_t)(hz > 0 ? hz : 100));
	/* now - (boot_ns - at), in an order that cannot wrap. */
	if (at > boot_ns)
		return now;
	return boot_ns - at >= now ? 0 : now - (boot_ns - at);
}
