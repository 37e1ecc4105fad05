/* SPDX-License-Identifier: Apache-2.0 */
/* The containers to audit: parsed from flags or a targets file, resolved to
 * a process and a mount namespace. */
#ifndef SHELLAUDIT_TARGET_H
#define SHELLAUDIT_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "discover.h"

#define TARGET_SPEC_MAX 160
#define TARGET_NAME_MAX 128

struct target {
	uint32_t id; /* from the spec: the same across agent restarts */
	char spec[TARGET_SPEC_MAX]; /* "pid:N" or a container ID */
	char name[TARGET_NAME_MAX]; /* what entries call the container */
	pid_t pid; /* the container's init, 0 until resolved */
	uint64_t mntns;
	uint64_t nsid; /* id of the mount namespace (never reused), 0 unknown */
	uint64_t cgroup;
	uint64_t start; /* when the init started: clock ticks since boot */
	const char *found; /* how the init was found (static) */
	struct discover_scope scope; /* mntns and root, when resolved */
	bool active; /* in the kernel's target map */
	uint32_t kflags; /* SA_TARGET_* in the kernel's map, while active */
	bool duplicate; /* same container as another active target */
	bool probing;	/* its readline probes are wanted: discovery knows it */
	bool announced; /* "target added" said since it was activated */
	unsigned marked; /* processes the kernel marked when it was added */
	int nsfd; /* the mount namespace, held open while active */
};

struct target_list {
	struct target *t;
	size_t n, cap;
};

/*
 * Parses one line of a targets file: "SPEC [NAME]", where SPEC is a pid
 * ("1234" or "pid:1234") or a container ID as the kubelet reports it
 * ("containerd://<hex>", "cri-o://<hex>", "docker://<hex>" or bare hex).
 * NAME defaults to SPEC. Blank lines and '#' comments give -ENODATA;
 * anything else unparsable -EINVAL.
 */
int target_parse_line(const char *line, char spec[TARGET_SPEC_MAX], char name[TARGET_NAME_MAX]);

/* Normalises a pid spec to "pid:N"; 0 if spec is a pid, -EINVAL if not. */
int target_parse_pid(const char *spec, pid_t *pid);

/* Reads a targets file into list (appending). Returns 0 or a negative errno;
 * bad lines are logged with their number and skipped. */
int target_load_file(const char *path, struct target_list *list);

/* Appends a target unless one with the same spec exists; returns it. */
struct target *target_list_add(struct target_list *list, const char *spec, const char *name);
struct target *target_list_find_spec(struct target_list *list, const char *spec);
struct target *target_list_find_id(struct target_list *list, uint32_t id);
void target_list_remove(struct target_list *list, size_t i);
void target_list_free(struct target_list *list);

/* Finds the init of the target's container and its identity; a container
 * ID through the runtime state under `runtime_roots` (colon-separated, see
 * container_find_init) when there is one. 0, or -ESRCH while the container
 * has no process on this node. */
int target_resolve(struct target *t, const char *runtime_roots);

/* True when an event tagged with the target's id belongs to it: the target
 * is active and the event's container identity (the mount namespace id the
 * kernel recognised it by) is the target's, or either is unknown (0). */
bool target_owns_event(const struct target *t, uint64_t nsid);

#endif
