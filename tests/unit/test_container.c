// SPDX-License-Identifier: Apache-2.0
/* container: container IDs from kubelet strings and from cgroup paths, a
 * container's init from its runtime's state, /proc/PID/stat. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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

static void test_container_find_init_of_absent_container(void)
{
	const char *how = NULL;
	pid_t pid;

	UNIT_CHECK(container_find_init(ID, "/nonexistent:", &pid, &how) == -ESRCH);
	UNIT_CHECK(container_find_init(ID, NULL, &pid, &how) == -ESRCH);
}

static void test_container_runtime_state_gives_the_init(void)
{
	static const char good[] = "{\"id\":\"x\",\"init_process_pid\":4242,"
				   "\"init_process_start\":123456789,\"config\":{}}";
	pid_t pid = 0;
	uint64_t start = 0;

	UNIT_CHECK(container_runtime_state_parse(good, sizeof(good) - 1, &pid, &start) == 0);
	UNIT_CHECK(pid == 4242 && start == 123456789);
}

/* The runtime root is the host's, but a state file is still checked: no
 * pid out of range, no fraction, nothing but numbers. */
static void test_container_runtime_state_refuses_odd_values(void)
{
	static const char *const bad[] = {
		"{\"init_process_pid\":0,\"init_process_start\":1}",
		"{\"init_process_pid\":-4,\"init_process_start\":1}",
		"{\"init_process_pid\":99999999,\"init_process_start\":1}",
		"{\"init_process_pid\":12.5,\"init_process_start\":1}",
		"{\"init_process_pid\":\"12\",\"init_process_start\":1}",
		"{\"init_process_pid\":12}",
		"{\"init_process_pid\":12,\"init_process_start\":-1}",
		"[1,2]",
		"{\"init_process_pid\":12,",
		"",
	};
	pid_t pid;
	uint64_t start;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		UNIT_CHECK(container_runtime_state_parse(bad[i], strlen(bad[i]), &pid, &start) ==
			   -EINVAL);
}

/* A state.json naming a process that is not (or no longer) the container's
 * is not believed: the pid exists but its start time is not the one
 * recorded, or it is not in the container's cgroup. */
static void test_container_runtime_state_is_checked_against_the_process(void)
{
	char dir[] = "/tmp/sa-unit-runtime-XXXXXX", path[256];
	const char *how = NULL;
	pid_t pid = 0;
	FILE *f;

	UNIT_CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/k8s.io", dir);
	UNIT_CHECK(mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/k8s.io/%s", dir, ID);
	UNIT_CHECK(mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/k8s.io/%s/state.json", dir, ID);
	f = fopen(path, "w");
	UNIT_CHECK(f != NULL);
	if (f) {
		/* This very process, with a start time it does not have. */
		fprintf(f, "{\"init_process_pid\":%d,\"init_process_start\":1}", (int)getpid());
		fclose(f);
	}
	UNIT_CHECK(container_find_init(ID, dir, &pid, &how) == -ESRCH);
	unlink(path);
	snprintf(path, sizeof(path), "%s/k8s.io/%s", dir, ID);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/k8s.io", dir);
	rmdir(path);
	rmdir(dir);
}

/* The name is the process's to choose: parentheses and spaces in it must
 * not shift the fields. */
static void test_container_proc_stat_survives_a_hostile_name(void)
{
	struct container_stat cs = { 0 };
	char old[17] = { 0 };

	prctl(PR_GET_NAME, old);
	prctl(PR_SET_NAME, ") 1 2 3 (x");
	UNIT_CHECK(container_proc_stat(getpid(), &cs) == 0);
	UNIT_CHECK(cs.ppid == getppid());
	UNIT_CHECK(cs.sid == getsid(0));
	UNIT_CHECK(cs.start > 0);
	prctl(PR_SET_NAME, old);
	UNIT_CHECK(container_proc_stat(0x7ffffff0, &cs) == -ENOENT);
}

static void test_container_mntns_id_of_self(void)
{
	struct container_ident id;
	int fd = open("/proc/self/ns/mnt", O_RDONLY);

	/* 0 only on kernels without the ids; then the ident says so too. */
	UNIT_CHECK(fd >= 0);
	UNIT_CHECK(container_ident_of_pid(getpid(), &id) == 0);
	UNIT_CHECK(id.nsid == container_mntns_id(fd));
	UNIT_CHECK(container_mntns_id(-1) == 0);
	close(fd);
}

UNIT_MAIN(UNIT_TEST(test_container_parse_id_strips_runtime_scheme),
	  UNIT_TEST(test_container_parse_id_rejects_non_hex_and_odd_lengths),
	  UNIT_TEST(test_container_cgroupfs_driver_paths),
	  UNIT_TEST(test_container_systemd_driver_paths),
	  UNIT_TEST(test_container_non_container_paths),
	  UNIT_TEST(test_container_mntns_of_self),
	  UNIT_TEST(test_container_find_init_of_absent_container),
	  UNIT_TEST(test_container_runtime_state_gives_the_init),
	  UNIT_TEST(test_container_runtime_state_refuses_odd_values),
	  UNIT_TEST(test_container_runtime_state_is_checked_against_the_process),
	  UNIT_TEST(test_container_proc_stat_survives_a_hostile_name),
	  UNIT_TEST(test_container_mntns_id_of_self))
