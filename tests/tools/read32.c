// SPDX-License-Identifier: Apache-2.0
/* read32: cat through 32-bit (ia32) read syscalls (int $0x80 from 64-bit
 * code, as a 32-bit program would make them), for the BPF tests: the
 * syscall tracepoints never see those, the raw sys_exit hook does. Built
 * static, so that a test can drop it into a container's root. x86-64 only;
 * elsewhere it says so and exits 2. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
#if defined(__x86_64__)
	/* A 32-bit syscall takes 32-bit pointers: a buffer below 2 GiB. */
	char *buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	long n;

	if (buf == MAP_FAILED) {
		perror("read32: mmap");
		return 1;
	}
	for (;;) {
		/* ia32 read(0, buf, 4096) */
		__asm__ volatile("int $0x80"
				 : "=a"(n)
				 : "a"(3), "b"(0), "c"(buf), "d"(4096)
				 : "memory", "r8", "r9", "r10", "r11");
		if (n <= 0)
			break;
		if (write(1, buf, (size_t)n) != n)
			return 1;
	}
	return n < 0 ? 1 : 0;
#else
	fprintf(stderr, "read32: x86-64 only\n");
	return 2;
#endif
}
