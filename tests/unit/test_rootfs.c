// SPDX-License-Identifier: Apache-2.0
/* rootfs: paths resolve inside the given root, never outside it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "../../node-agent/rootfs.h"

static char base[64];
static int rootfd = -1;

static void put(const char *rel, const char *content)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	f = fopen(p, "w");
	if (f) {
		fputs(content, f);
		fclose(f);
	}
}

static void link_at(const char *target, const char *rel)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	if (symlink(target, p))
		perror("symlink");
}

/* base/outside/secret (the host) and base/root (the container). */
static void setup(void)
{
	char p[256];

	snprintf(base, sizeof(base), "/tmp/test_rootfs.XXXXXX");
	if (!mkdtemp(base))
		abort();
	snprintf(p, sizeof(p), "%s/outside", base);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/root", base);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/root/bin", base);
	mkdir(p, 0755);
	put("outside/secret", "host");
	put("root/bin/real", "inside");
	link_at("real", "root/bin/rel");
	link_at("/bin/real", "root/bin/abs");
	link_at("../../../../outside/secret", "root/bin/dotdot");
	link_at("/../outside/secret", "root/bin/absdotdot");
	snprintf(p, sizeof(p), "%s/outside/secret", base);
	link_at(p, "root/bin/hostpath");
	link_at("/proc/self/root/etc/passwd", "root/bin/magic");
	snprintf(p, sizeof(p), "%s/root/bin/fifo", base);
	mkfifo(p, 0600);
	snprintf(p, sizeof(p), "%s/root", base);
	rootfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static void teardown(void)
{
	char cmd[128];

	close(rootfd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", base);
}

static const char *content(int fd)
{
	static char buf[64];
	ssize_t n;

	if (fd < 0)
		return "(error)";
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void test_rootfs_opens_plain_and_linked_files_inside(void)
{
	setup();
	UNIT_CHECK_STR(content(rootfs_open_file(rootfd, "/bin/real")), "inside");
	UNIT_CHECK_STR(content(rootfs_open_file(rootfd, "bin/rel")), "inside");
	UNIT_CHECK_STR(content(rootfs_open_file(rootfd, "/bin/abs")), "inside");
	teardown();
}

static void test_rootfs_dotdot_and_absolute_links_stay_inside(void)
{
	setup();
	UNIT_CHECK(rootfs_open_file(rootfd, "/bin/dotdot") == -ENOENT);
	UNIT_CHECK(rootfs_open_file(rootfd, "/bin/absdotdot") == -ENOENT);
	UNIT_CHECK(rootfs_open_file(rootfd, "/../outside/secret") == -ENOENT);
	UNIT_CHECK(rootfs_open_file(rootfd, "/bin/hostpath") == -ENOENT);
	teardown();
}

static void test_rootfs_same_path_inside_is_what_opens(void)
{
	setup();
	char p[256];

	/* Once the container has its own file at the path a link names, that
	 * is the file opened, not the host's. */
	snprintf(p, sizeof(p), "%s/root/outside", base);
	mkdir(p, 0755);
	put("root/outside/secret", "container's own");
	UNIT_CHECK_STR(content(rootfs_open_file(rootfd, "/bin/dotdot")), "container's own");
	UNIT_CHECK_STR(content(rootfs_open_file(rootfd, "/bin/absdotdot")), "container's own");
	teardown();
}

/* The root here is the host's "/", which has /proc: a magic link there
 * resolves unless RESOLVE_NO_MAGICLINKS refuses it (-ELOOP); without the
 * flag RESOLVE_IN_ROOT would fail it differently (-EXDEV) or open it. */
static void test_rootfs_magic_links_are_refused(void)
{
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd;

	UNIT_CHECK(root >= 0);
	UNIT_CHECK(rootfs_open_file(root, "/proc/self/root/etc/passwd") == -ELOOP);
	UNIT_CHECK(rootfs_open_file(root, "/proc/self/exe") == -ELOOP);
	UNIT_CHECK(rootfs_readlink(root, "/proc/self/root/etc", (char[64]){ 0 }, 64) == -ELOOP);
	/* A symlink in the container to a magic link's path resolves inside
	 * the container's root, which has no /proc. */
	setup();
	fd = rootfs_open_file(rootfd, "/bin/magic");
	UNIT_CHECK(fd == -ENOENT);
	if (fd >= 0)
		close(fd);
	teardown();
	close(root);
}

static void test_rootfs_only_regular_files(void)
{
	setup();
	UNIT_CHECK(rootfs_open_file(rootfd, "/bin") == -EINVAL);
	UNIT_CHECK(rootfs_open_file(rootfd, "/bin/fifo") == -EINVAL); /* and does not block */
	teardown();
}

static void test_rootfs_readlink_reports_the_link(void)
{
	setup();
	char buf[256];

	UNIT_CHECK(rootfs_readlink(rootfd, "/bin/abs", buf, sizeof(buf)) == 0);
	UNIT_CHECK_STR(buf, "/bin/real");
	UNIT_CHECK(rootfs_readlink(rootfd, "/bin/real", buf, sizeof(buf)) == -EINVAL);
	UNIT_CHECK(rootfs_readlink(rootfd, "/nope", buf, sizeof(buf)) == -ENOENT);
	teardown();
}

static void test_rootfs_open_root_of_self(void)
{
	int fd = rootfs_open_root(getpid());

	UNIT_CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	UNIT_CHECK(rootfs_open_root(0x7ffffff0) < 0);
}

UNIT_MAIN(UNIT_TEST(test_rootfs_opens_plain_and_linked_files_inside),
	  UNIT_TEST(test_rootfs_dotdot_and_absolute_links_stay_inside),
	  UNIT_TEST(test_rootfs_same_path_inside_is_what_opens),
	  UNIT_TEST(test_rootfs_magic_links_are_refused),
	  UNIT_TEST(test_rootfs_only_regular_files),
	  UNIT_TEST(test_rootfs_readlink_reports_the_link),
	  UNIT_TEST(test_rootfs_open_root_of_self))
