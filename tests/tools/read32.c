// SPDX-License-Identifier: Apache-2.0
/* read32: cat through 32-bit (ia32) read syscalls (int $0x80 from 64-bit
 * code, as a 32-bit program would make them), for the BPF tests: the
 * syscall tracepoints never see those, the raw sys_exit hook does. Built
 * static, so that a test can drop it into a container's root. x86-64 only;
 * elsewhere it says so and exits 2.
 *
 *   read32         reads until the end of input;
 *   read32 --aio   one read of up to 4096 bytes through ia32 io_setup,
 *                  io_submit (an iocb array of 32-bit pointers) and
 *                  io_getevents. */
#include <linux/aio_abi.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__)
/* An ia32 syscall: its number and three arguments, 32 bits each. */
static long sys32(long nr, unsigned long a, unsigned long b, unsigned long c)
{
	long n;

	__asm__ volatile("int $0x80"
			 : "=a"(n)
			 : "a"(nr), "b"(a), "c"(b), "d"(c)
			 : "memory", "r8", "r9", "r10", "r11");
	return n;
}

/* One read of fd 0 through ia32 AIO into buf (below 2 GiB, as what it
 * points at): the bytes read, or < 0. */
static long aio32(char *buf)
{
	/* ctx, the iocb, its pointer and the event, below 2 GiB too. */
	struct low {
		__u32 ctx, ptr;
		struct iocb cb;
		struct io_event ev;
	} *l = (struct low *)(buf + 4096);
	long n;

	memset(l, 0, sizeof(*l));
	if ((n = sys32(245, 1, (unsigned long)&l->ctx, 0)) < 0) /* io_setup */
		return n;
	l->cb.aio_lio_opcode = IOCB_CMD_PREAD;
	l->cb.aio_fildes = 0;
	l->cb.aio_buf = (unsigned long)buf;
	l->cb.aio_nbytes = 4096;
	l->ptr = (__u32)(unsigned long)&l->cb;
	if ((n = sys32(248, l->ctx, 1, (unsigned long)&l->ptr)) != 1) /* io_submit */
		return n < 0 ? n : -1;
	/* io_getevents(ctx, 1, 1, &ev, NULL) takes five arguments. */
	__asm__ volatile("int $0x80"
			 : "=a"(n)
			 : "a"(247), "b"(l->ctx), "c"(1), "d"(1), "S"(&l->ev), "D"(0)
			 : "memory", "r8", "r9", "r10", "r11");
	return n == 1 ? (long)l->ev.res : -1;
}
#endif

int main(int argc, char **argv)
{
#if defined(__x86_64__)
	/* A 32-bit syscall takes 32-bit pointers: memory below 2 GiB. */
	char *buf = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	long n;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "--aio"))) {
		fprintf(stderr, "usage: read32 [--aio]\n");
		return 2;
	}
	if (buf == MAP_FAILED) {
		perror("read32: mmap");
		return 1;
	}
	if (argc == 2) {
		n = aio32(buf);
		return n < 0 || write(1, buf, (size_t)n) != n ? 1 : 0;
	}
	for (;;) {
		n = sys32(3, 0, (unsigned long)buf, 4096); /* read(0, buf, 4096) */
		if (n <= 0)
			break;
		if (write(1, buf, (size_t)n) != n)
			return 1;
	}
	return n < 0 ? 1 : 0;
#else
	(void)argc;
	(void)argv;
	fprintf(stderr, "read32: x86-64 only\n");
	return 2;
#endif
}
