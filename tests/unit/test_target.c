// SPDX-License-Identifier: Apache-2.0
/* target: lines of a targets file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "unit.h"
#include "log.h"
#include "../../node-agent/target.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_target_pid_lines(void)
{
	char spec[TARGET_SPEC_MAX], name[TARGET_NAME_MAX];

	UNIT_CHECK(target_parse_line("1234\n", spec, name) == 0);
	UNIT_CHECK_STR(spec, "pid:1234");
	UNIT_CHECK_STR(name, "pid:1234");
	UNIT_CHECK(target_parse_line("  pid:42   web shell  # comment\n", spec, name) == 0);
	UNIT_CHECK_STR(spec, "pid:42");
	UNIT_CHECK_STR(name, "web shell");
}

static void test_target_container_id_lines(void)
{
	char spec[TARGET_SPEC_MAX], name[TARGET_NAME_MAX];

	UNIT_CHECK(target_parse_line("containerd://" ID " default/web/nginx", spec, name) == 0);
	UNIT_CHECK_STR(spec, "containerd://" ID);
	UNIT_CHECK_STR(name, "default/web/nginx");
}

static void test_target_blank_and_comment_lines_are_enodata(void)
{
	char spec[TARGET_SPEC_MAX], name[TARGET_NAME_MAX];

	UNIT_CHECK(target_parse_line("", spec, name) == -ENODATA);
	UNIT_CHECK(target_parse_line("   \n", spec, name) == -ENODATA);
	UNIT_CHECK(target_parse_line("# 1234", spec, name) == -ENODATA);
}

static void test_target_bad_lines_are_einval(void)
{
	char spec[TARGET_SPEC_MAX], name[TARGET_NAME_MAX];

	UNIT_CHECK(target_parse_line("pid:", spec, name) == -EINVAL);
	UNIT_CHECK(target_parse_line("pid:-3", spec, name) == -EINVAL);
	UNIT_CHECK(target_parse_line("0", spec, name) == -EINVAL);
	UNIT_CHECK(target_parse_line("99999999999", spec, name) == -EINVAL);
	UNIT_CHECK(target_parse_line("nginx", spec, name) == -EINVAL);
	UNIT_CHECK(target_parse_line("containerd://xyz", spec, name) == -EINVAL);
}

static void test_target_file_skips_bad_lines_and_duplicates(void)
{
	char path[] = "/tmp/test_target.XXXXXX";
	struct target_list l = { 0 };
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	log_set_level(LOG_ERROR); /* the bad line's warning is expected */
	fputs("# targets\n1\nbogus\npid:1 again\n2 two\n", f);
	fclose(f);
	UNIT_CHECK(target_load_file(path, &l) == 0);
	UNIT_CHECK(l.n == 2);
	if (l.n == 2) {
		UNIT_CHECK_STR(l.t[0].spec, "pid:1");
		UNIT_CHECK_STR(l.t[1].name, "two");
		UNIT_CHECK(l.t[0].id != l.t[1].id);
		UNIT_CHECK(l.t[0].nsfd == -1);
	}
	target_list_free(&l);
	unlink(path);
	UNIT_CHECK(target_load_file(path, &l) == -ENOENT);
}

static void test_target_resolve_pid_of_self(void)
{
	struct target_list l = { 0 };
	char spec[32];
	struct target *t;

	snprintf(spec, sizeof(spec), "pid:%d", (int)getpid());
	t = target_list_add(&l, spec, NULL);
	UNIT_CHECK(t && target_resolve(t, NULL) == 0);
	UNIT_CHECK(t && t->pid == getpid() && t->mntns != 0 && t->start != 0);
	t = target_list_add(&l, "pid:2147483", NULL);
	UNIT_CHECK(t && target_resolve(t, NULL) == -ESRCH);
	target_list_free(&l);
}

/* An event tagged with a target's id is the target's only when its
 * container identity (the mount namespace id the kernel recognised it by)
 * is the target's: an inode reused by another container after a crash
 * must not pass. */
static void test_target_owns_only_events_of_its_container(void)
{
	struct target t = { .id = 7, .nsid = 4269, .active = true };

	UNIT_CHECK(target_owns_event(&t, 4269));
	UNIT_CHECK(!target_owns_event(&t, 4270));
	/* A kernel without ids tags 0: nothing to check against. */
	UNIT_CHECK(target_owns_event(&t, 0));
	t.active = false;
	UNIT_CHECK(!target_owns_event(&t, 4269));
	t.active = true;
	t.nsid = 0;
	UNIT_CHECK(target_owns_event(&t, 4270));
}

/* The kernel tags events with the id: an agent restarted after a crash
 * must give each target the id its predecessor gave it, whatever the order
 * it learns them in. */
static void test_target_ids_come_from_the_spec(void)
{
	struct target_list a = { 0 }, b = { 0 };
	uint32_t x, y;

	x = target_list_add(&a, "containerd://aa", NULL)->id;
	y = target_list_add(&a, "containerd://bb", NULL)->id;
	target_list_add(&b, "containerd://bb", NULL);
	target_list_add(&b, "containerd://aa", NULL);
	UNIT_CHECK(x != 0 && y != 0 && x != y);
	UNIT_CHECK(target_list_find_spec(&b, "containerd://aa")->id == x);
	UNIT_CHECK(target_list_find_spec(&b, "containerd://bb")->id == y);
	target_list_free(&a);
	target_list_free(&b);
}

UNIT_MAIN(UNIT_TEST(test_target_pid_lines), UNIT_TEST(test_target_ids_come_from_the_spec),
	  UNIT_TEST(test_target_container_id_lines),
	  UNIT_TEST(test_target_blank_and_comment_lines_are_enodata),
	  UNIT_TEST(test_target_bad_lines_are_einval),
	  UNIT_TEST(test_target_file_skips_bad_lines_and_duplicates),
	  UNIT_TEST(test_target_resolve_pid_of_self),
	  UNIT_TEST(test_target_owns_only_events_of_its_container))
