// SPDX-License-Identifier: Apache-2.0
/* realfile: mountinfo lines and overlay options, read as hostile input. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "unit.h"
#include "../../node-agent/realfile.h"

static char line[REALFILE_LINE_MAX];
static struct realfile_mount m;

/* Parses s (copied, so the result stays valid until the next call). */
static int parse(const char *s)
{
	snprintf(line, sizeof(line), "%s", s);
	return realfile_parse_mountinfo(line, &m);
}

static void test_realfile_plain_mount(void)
{
	UNIT_CHECK(parse("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root "
			 "rw,errors=continue\n") == 0);
	UNIT_CHECK(m.id == 36);
	UNIT_CHECK_STR(m.root, "/mnt1");
	UNIT_CHECK_STR(m.mountpoint, "/mnt2");
	UNIT_CHECK_STR(m.fstype, "ext3");
	UNIT_CHECK(m.upper == NULL && m.nlower == 0);
}

static void test_realfile_overlay_layers_in_order(void)
{
	UNIT_CHECK(parse("66 43 0:39 / / rw,relatime shared:5 master:2 - overlay overlay "
			 "rw,lowerdir=/l/3/fs:/l/2/fs:/l/1/fs,upperdir=/s/9/fs,workdir=/s/9/work,"
			 "index=off") == 0);
	UNIT_CHECK_STR(m.fstype, "overlay");
	UNIT_CHECK_STR(m.mountpoint, "/");
	UNIT_CHECK_STR(m.upper, "/s/9/fs");
	UNIT_CHECK(m.nlower == 3);
	UNIT_CHECK_STR(m.lower[0], "/l/3/fs");
	UNIT_CHECK_STR(m.lower[1], "/l/2/fs");
	UNIT_CHECK_STR(m.lower[2], "/l/1/fs");
}

static void test_realfile_read_only_overlay_has_no_upper(void)
{
	UNIT_CHECK(parse("70 43 0:40 / /ro ro - overlay overlay ro,lowerdir=/a:/b") == 0);
	UNIT_CHECK(m.upper == NULL);
	UNIT_CHECK(m.nlower == 2);
}

static void test_realfile_octal_escapes(void)
{
	/* A space in the mount point; in the layers a comma and a colon,
	 * escaped for the overlay ('\') and then for mountinfo (octal). */
	UNIT_CHECK(parse("66 43 0:39 / /my\\040root rw - overlay overlay "
			 "rw,lowerdir=/lo\\134\\054w:/a\\134:b:/tab\\011x,upperdir=/u\\040p,"
			 "workdir=/w") == 0);
	UNIT_CHECK_STR(m.mountpoint, "/my root");
	UNIT_CHECK(m.nlower == 3);
	UNIT_CHECK_STR(m.lower[0], "/lo,w");
	UNIT_CHECK_STR(m.lower[1], "/a:b");
	UNIT_CHECK_STR(m.lower[2], "/tab\tx");
	UNIT_CHECK_STR(m.upper, "/u p");
}

static void test_realfile_bad_escapes_refused(void)
{
	UNIT_CHECK(parse("66 43 0:39 / /x\\04 rw - overlay overlay rw,lowerdir=/a") == -EINVAL);
	UNIT_CHECK(parse("66 43 0:39 / /x\\999 rw - overlay overlay rw,lowerdir=/a") == -EINVAL);
	UNIT_CHECK(parse("66 43 0:39 / /x\\000y rw - overlay overlay rw,lowerdir=/a") == -EINVAL);
	UNIT_CHECK(parse("66 43 0:39 / /x\\ rw - overlay overlay rw,lowerdir=/a") == -EINVAL);
	/* An overlay escape with nothing to escape. */
	UNIT_CHECK(parse("66 43 0:39 / / rw - overlay overlay rw,lowerdir=/a\\134") == -EINVAL);
}

static void test_realfile_data_only_layers_left_out(void)
{
	UNIT_CHECK(parse("66 43 0:39 / / rw - overlay overlay rw,lowerdir=/a:/b::/d1:/d2,"
			 "upperdir=/u,workdir=/w") == 0);
	UNIT_CHECK(m.nlower == 2);
	UNIT_CHECK_STR(m.lower[1], "/b");
}

static void test_realfile_lowerdir_plus(void)
{
	UNIT_CHECK(parse("66 43 0:39 / / rw - overlay overlay rw,lowerdir+=/a,lowerdir+=/b:c,"
			 "datadir+=/d,upperdir=/u,workdir=/w") == 0);
	UNIT_CHECK(m.nlower == 2);
	UNIT_CHECK_STR(m.lower[0], "/a");
	UNIT_CHECK_STR(m.lower[1], "/b:c");
	UNIT_CHECK(parse("66 43 0:39 / / rw - overlay overlay rw,lowerdir=/a,lowerdir+=/b") ==
		   -EINVAL);
}

static void test_realfile_uncertain_layers_refused(void)
{
	/* containerd shortens long options to paths relative to a directory
	 * it changed into: not nameable from here. */
	UNIT_CHECK(parse("66 43 0:39 / / rw - overlay overlay rw,lowerdir=1/fs:2/fs,"
			 "upperdir=/u,workdir=/w") == -ENOTSUP);
	UNIT_CHECK(parse("66 43 0:39 / / rw - overlay overlay rw,lowerdir=/a,upperdir=u,"
			 "workdir=w") == -ENOTSUP);
	UNIT_CHECK(parse("66 43 0:39 / / rw - overlay overlay rw,lowerdir=/a,"
			 "upperdir=/u\\134x,workdir=/w") == -ENOTSUP);
	UNIT_CHECK(parse("66 43 0:39 / / rw - overlay overlay rw,lowerdir=/a,upperdir=/u,"
			 "upperdir=/v") == -EINVAL);
}

static void test_realfile_missing_fields_refused(void)
{
	UNIT_CHECK(parse("") == -EINVAL);
	UNIT_CHECK(parse("66") == -EINVAL);
	UNIT_CHECK(parse("66 43 0:39 / / rw overlay overlay rw,lowerdir=/a") == -EINVAL);
	UNIT_CHECK(parse("66 43 0:39 / / rw - overlay overlay") == -EINVAL);
	UNIT_CHECK(parse("66 43 0:39 / / rw - overlay") == -EINVAL);
	UNIT_CHECK(parse("x6 43 0:39 / / rw - overlay overlay rw,lowerdir=/a") == -EINVAL);
	UNIT_CHECK(parse("-6 43 0:39 / / rw - overlay overlay rw,lowerdir=/a") == -EINVAL);
	UNIT_CHECK(parse("66 43 0:39 rel / rw - overlay overlay rw,lowerdir=/a") == -EINVAL);
	UNIT_CHECK(parse("66 43 0:39 / / rw - overlay overlay rw,upperdir=/u") == -EINVAL);
	UNIT_CHECK(parse("66 43 0:39 / / rw - overlay overlay rw,lowerdir=") == -EINVAL);
	UNIT_CHECK(parse("66 43 0:39 / / rw - overlay overlay rw,lowerdir=:/a") == -EINVAL);
	/* An empty source field is a field. */
	UNIT_CHECK(parse("66 43 0:39 / / rw - overlay  rw,lowerdir=/a") == 0);
}

static void test_realfile_absurd_lines_refused(void)
{
	char *big = malloc(REALFILE_LINE_MAX);
	size_t n;
	int i;

	if (!big)
		abort();
	/* More fields than any mountinfo line has. */
	n = (size_t)snprintf(big, REALFILE_LINE_MAX, "66 43 0:39 / / rw");
	for (i = 0; i < 100; i++)
		n += (size_t)snprintf(big + n, REALFILE_LINE_MAX - n, " shared:%d", i);
	snprintf(big + n, REALFILE_LINE_MAX - n, " - overlay overlay rw,lowerdir=/a");
	UNIT_CHECK(parse(big) == -EINVAL);
	/* More lower layers than kept. */
	n = (size_t)snprintf(big, REALFILE_LINE_MAX, "66 43 0:39 / / rw - overlay overlay "
						     "rw,lowerdir=/l");
	for (i = 0; i < REALFILE_LOWER_MAX; i++)
		n += (size_t)snprintf(big + n, REALFILE_LINE_MAX - n, ":/l%d", i);
	UNIT_CHECK(parse(big) == -ENOTSUP);
	free(big);
}

static void test_realfile_read_skips_long_lines(void)
{
	size_t cap = 4096 * 4, n;
	char *text = malloc(cap);
	FILE *f;

	if (!text)
		abort();
	/* A line longer than the buffer before ours, then ours. */
	n = (size_t)snprintf(text, cap, "7 1 0:1 / /");
	memset(text + n, 'a', 9000);
	n += 9000;
	n += (size_t)snprintf(text + n, cap - n,
			      " rw - tmpfs x rw\n"
			      "8 1 0:2 / /b rw - overlay overlay rw,lowerdir=/a\n");
	f = fmemopen(text, n, "r");
	UNIT_CHECK(f && realfile_read_mount(f, 8, line, 4096, &m) == 0);
	UNIT_CHECK_STR(m.mountpoint, "/b");
	if (f)
		fclose(f);
	f = fmemopen(text, n, "r");
	UNIT_CHECK(f && realfile_read_mount(f, 7, line, 4096, &m) == -E2BIG);
	if (f)
		fclose(f);
	f = fmemopen(text, n, "r");
	UNIT_CHECK(f && realfile_read_mount(f, 9, line, 4096, &m) == -ENOENT);
	if (f)
		fclose(f);
	/* "80" is not mount 8. */
	f = fmemopen("80 1 0:2 / /c rw - tmpfs x rw\n", 31, "r");
	UNIT_CHECK(f && realfile_read_mount(f, 8, line, 4096, &m) == -ENOENT);
	if (f)
		fclose(f);
	free(text);
}

static void test_realfile_key_of_plain_file_is_its_inode(void)
{
	char path[] = "/tmp/test_realfile.XXXXXX";
	struct realfile_key k;
	const char *why = "unset";
	struct stat st;
	int fd = mkstemp(path);

	UNIT_CHECK(fd >= 0);
	if (fd < 0)
		return;
	unlink(path);
	UNIT_CHECK(fstat(fd, &st) == 0);
	UNIT_CHECK(realfile_key_of(fd, getpid(), &k, &why) == 0);
	UNIT_CHECK(k.kind == REALFILE_INODE && k.dev == st.st_dev && k.ino == st.st_ino);
	UNIT_CHECK(why == NULL);
	close(fd);
	UNIT_CHECK(realfile_key_of(fd, getpid(), &k, NULL) == -EBADF);
}

static void test_realfile_key_names_have_no_dots(void)
{
	struct realfile_key a = { 0 }, b = { 0 };
	char s[96];

	a.kind = REALFILE_OVERLAY_LOWER;
	a.dev = makedev(254, 1);
	a.ino = 0xc80e1;
	realfile_key_str(&a, s, sizeof(s));
	UNIT_CHECK_STR(s, "lfe_1-c80e1");
	b = a;
	UNIT_CHECK(realfile_key_equal(&a, &b));
	b.kind = REALFILE_OVERLAY_UPPER;
	UNIT_CHECK(!realfile_key_equal(&a, &b));
	b.kind = REALFILE_OVERLAY_HANDLE;
	b.ino = 0;
	b.fh_len = 32;
	memset(b.fh, 0x2e, b.fh_len); /* '.' bytes */
	realfile_key_str(&b, s, sizeof(s));
	UNIT_CHECK(strlen(s) == strlen("hfe_1-") + 32 && !strchr(s, '.'));
	a = b;
	a.fh[31] = 0;
	UNIT_CHECK(!realfile_key_equal(&a, &b));
	UNIT_CHECK_STR(realfile_kind_name(REALFILE_OVERLAY_UPPER), "overlay-upper");
	UNIT_CHECK_STR(realfile_kind_name(REALFILE_INODE), "inode");
}

UNIT_MAIN(UNIT_TEST(test_realfile_plain_mount), UNIT_TEST(test_realfile_overlay_layers_in_order),
	  UNIT_TEST(test_realfile_read_only_overlay_has_no_upper),
	  UNIT_TEST(test_realfile_octal_escapes), UNIT_TEST(test_realfile_bad_escapes_refused),
	  UNIT_TEST(test_realfile_data_only_layers_left_out),
	  UNIT_TEST(test_realfile_lowerdir_plus), UNIT_TEST(test_realfile_uncertain_layers_refused),
	  UNIT_TEST(test_realfile_missing_fields_refused),
	  UNIT_TEST(test_realfile_absurd_lines_refused),
	  UNIT_TEST(test_realfile_read_skips_long_lines),
	  UNIT_TEST(test_realfile_key_of_plain_file_is_its_inode),
	  UNIT_TEST(test_realfile_key_names_have_no_dots))
