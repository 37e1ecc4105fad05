// SPDX-License-Identifier: Apache-2.0
/* cat32: cat as a 32-bit (ia32) program, whose reads the syscall
 * tracepoints never see: its exec in an audited container is what makes
 * the agent attach the raw tracepoints for 32-bit syscalls. For the BPF
 * tests. Copies fd 0 to fd 1 until the end of input or a read that ends a
 * line (on a terminal, the first line typed); exits 0, or 1 on an error.
 *
 * Built -m32 -nostdlib -static (no i386 C library need be installed), so
 * that a test can drop it into a container's root. Elsewhere than x86 it
 * is an ordinary program that exits 2. */
#if defined(__i386__)
static long sys3(long nr, long a, long b, long c)
{
	long r;

	__asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return r;
}

#define NR_EXIT 1
#define NR_READ 3
#define NR_WRITE 4

void _start(void);
void _start(void)
{
	static char buf[4096];
	long n, w, off;
	int status = 0;

	while ((n = sys3(NR_READ, 0, (long)buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (n == -4) /* EINTR */
				continue;
			status = 1;
			break;
		}
		for (off = 0; off < n; off += w) {
			w = sys3(NR_WRITE, 1, (long)(buf + off), n - off);
			if (w <= 0) {
				status = 1;
				n = 0;
				break;
			}
		}
		if (!n || buf[n - 1] == '\n')
			break;
	}
	for (;;)
		sys3(NR_EXIT, status, 0, 0);
}
#else
int main(void)
{
	return 2;
}
#endif
