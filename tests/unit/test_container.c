// SPDX-License-Identifier: Apache-2.0
/* container: container IDs from kubelet strings and from cgroup paths. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"
#include "../../node-agent/container.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char *from_path(const char *path)
{
	static char out[CONTAINER_ID_MAX];

	if (container_id_from_cgroup_path(path, out, sizeof(out)) != 0)
		return "(none)";
	return out;
}

static void test_container_parse_id_strips_runtime_scheme(void)
{
	char out[CONTAINER_ID_MAX];

	UNIT_CHECK(container_parse_id("containerd://" ID, out, sizeof(out)) == 0);
	UNIT_CHECK_STR(out, ID);
	UNIT_CHECK(container_parse_id("cri-o://" ID, out, sizeof(out)) == 0);
	UNIT_CHECK_STR(out, ID);
	UNIT_CHECK(container_parse_id("docker://" ID, out, sizeof(out)) == 0);
	UNIT_CHECK_STR(out, ID);
	UNIT_CHECK(container_parse_id(ID, out, sizeof(out)) == 0);
	UNIT_CHECK_STR(out, ID);
}

static void test_container_parse_id_rejects_non_hex_and_odd_lengths(void)
{
	char out[CONTAINER_ID_MAX];

	UNIT_CHECK(container_parse_id("containerd://../../etc", out, sizeof(out)) == -EINVAL);
	UNIT_CHECK(container_parse_id("abc", out, sizeof(out)) == -EINVAL);
	UNIT_CHECK(container_parse_id("containerd://", out, sizeof(out)) == -EINVAL);
	UNIT_CHECK(container_parse_id("0123456789ABCDEF", out, sizeof(out)) == -EINVAL);
	UNIT_CHECK(container_parse_id("rkt://" ID, out, sizeof(out)) == -EINVAL);
	UNIT_CHECK(container_parse_id(ID, out, 10) == -EINVAL);
}

static void test_container_cgroupfs_driver_paths(void)
{
	UNIT_CHECK_STR(from_path("/kubepods/burstable/pod1b2c3d4e-aaaa-bbbb-cccc-1234567890ab/" ID),
		       ID);
	UNIT_CHECK_STR(from_path("/kubepods/besteffort/podx/" ID), ID);
	UNIT_CHECK_STR(from_path("/kubepods/pod1234/" ID), ID);
	UNIT_CHECK_STR(from_path("/docker/" ID), ID);
}

static void test_container_systemd_driver_paths(void)
{
	UNIT_CHECK_STR(from_path("/kubepods.slice/kubepods-burstable.slice/"
				 "kubepods-burstable-pod1b2c3d4e_aaaa.slice/cri-containerd-" ID
				 ".scope"),
		       ID);
	UNIT_CHECK_STR(from_path("/kubepods.slice/kubepods-pod1.slice/crio-" ID ".scope"), ID);
	UNIT_CHECK_STR(from_path("/system.slice/docker-" ID ".scope"), ID);
	UNIT_CHECK_STR(from_path("/machine.slice/libpod-" ID ".scope"), ID);
}

static void test_container_non_container_paths(void)
{
	UNIT_CHECK_STR(from_path("/"), "(none)");
	UNIT_CHECK_STR(from_path(""), "(none)");
	UNIT_CHECK_STR(from_path("/user.slice/user-0.slice/session-1.scope"), "(none)");
	UNIT_CHECK_STR(from_path("/kubepods.slice/kubepods-burstable.slice"), "(none)");
	/* CRI-O's monitor is beside the container, not in it. */
	UNIT_CHECK_STR(from_path("/kubepods.slice/kubepods-pod1.slice/crio-conmon-" ID ".scope"),
		       "(none)");
	UNIT_CHECK_STR(from_path("/kubepods/pod1/" ID "0"), "(none)");
	UNIT_CHECK_STR(from_path("/kubepods/pod1/0123456789abcdef"), "(none)");
	UNIT_CHECK_STR(from_path("/system.slice/cron-" ID ".scope"), "(none)");
}

static void test_container_mntns_of_self(void)
{
	struct container_ident id;
	struct stat st;

	UNIT_CHECK(stat("/proc/self/ns/mnt", &st) == 0);
	UNIT_CHECK(container_ident_of_pid(getpid(), &id) == 0);
	UNIT_CHECK(id.mntns == (uint64_t)st.st_ino);
	UNIT_CHECK(container_ident_of_pid(0x7ffffff0, &id) == -ENOENT);
}

static void test_container_find_pid_of_absent_container(void)
{
	pid_t pid;

	UNIT_CHECK(container_find_pid(ID, &pid) == -ESRCH);
}

UNIT_MAIN(UNIT_TEST(test_container_parse_id_strips_runtime_scheme),
	  UNIT_TEST(test_container_parse_id_rejects_non_hex_and_odd_lengths),
	  UNIT_TEST(test_container_cgroupfs_driver_paths),
	  UNIT_TEST(test_container_systemd_driver_paths),
	  UNIT_TEST(test_container_non_container_paths),
	  UNIT_TEST(test_container_mntns_of_self),
	  UNIT_TEST(test_container_find_pid_of_absent_container))
