// SPDX-License-Identifier: Apache-2.0
/* Target parsing and resolution (see target.h). */
#include "target.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "log.h"

int target_parse_pid(const char *spec, pid_t *pid)
{
	char *end;
	long v;

	if (strncmp(spec, "pid:", 4) == 0)
		spec += 4;
	/* NUL-terminated: after a matched "pid:" comes at least the NUL. */
	// NOLINTNEXTLINE(clang-analyzer-core.uninitialized.ArraySubscript)
	if (!isdigit((unsigned char)*spec))
		return -EINVAL;
	errno = 0;
	v = strtol(spec, &end, 10);
	if (*end || errno || v <= 0 || v > 4194304)
		return -EINVAL;
	*pid = (pid_t)v;
	return 0;
}

int target_parse_line(const char *line, char spec[TARGET_SPEC_MAX], char name[TARGET_NAME_MAX])
{
	char id[CONTAINER_ID_MAX];
	const char *p = line, *s, *n;
	size_t slen, nlen;
	pid_t pid;

	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == '#')
		return -ENODATA;
	s = p;
	while (*p && !isspace((unsigned char)*p))
		p++;
	slen = (size_t)(p - s);
	while (isspace((unsigned char)*p))
		p++;
	n = p;
	while (*p && *p != '#' && *p != '\n' && *p != '\r')
		p++;
	while (p > n && isspace((unsigned char)p[-1]))
		p--;
	nlen = (size_t)(p - n);
	if (slen >= TARGET_SPEC_MAX || nlen >= TARGET_NAME_MAX)
		return -EINVAL;
	memcpy(spec, s, slen);
	spec[slen] = '\0';
	if (target_parse_pid(spec, &pid) == 0)
		snprintf(spec, TARGET_SPEC_MAX, "pid:%d", (int)pid);
	else if (container_parse_id(spec, id, sizeof(id)) != 0)
		return -EINVAL;
	if (nlen) {
		memcpy(name, n, nlen);
		name[nlen] = '\0';
	} else {
		snprintf(name, TARGET_NAME_MAX, "%s", spec);
	}
	return 0;
}

int target_load_file(const char *path, struct target_list *list)
{
	char line[1024], spec[TARGET_SPEC_MAX], name[TARGET_NAME_MAX], lineno[16];
	unsigned int no = 0;
	FILE *f;
	int err;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		no++;
		err = target_parse_line(line, spec, name);
		if (err == -ENODATA)
			continue;
		if (err) {
			snprintf(lineno, sizeof(lineno), "%u", no);
			log_with(LOG_WARN, LOG_KV("file", path, "line", lineno),
				 "ignoring target: not a pid or container ID");
			continue;
		}
		if (!target_list_add(list, spec, name)) {
			fclose(f);
			return -ENOMEM;
		}
	}
	fclose(f);
	return 0;
}

struct target *target_list_find_spec(struct target_list *list, const char *spec)
{
	size_t i;

	for (i = 0; i < list->n; i++)
		if (strcmp(list->t[i].spec, spec) == 0)
			return &list->t[i];
	return NULL;
}

struct target *target_list_find_id(struct target_list *list, uint32_t id)
{
	size_t i;

	for (i = 0; i < list->n; i++)
		if (list->t[i].id == id)
			return &list->t[i];
	return NULL;
}

/* The id the kernel tags a target's events with, derived from its spec
 * (FNV-1a) so that an agent restarting after a crash reads the events its
 * predecessor's programs tagged while no agent ran. A clash within the
 * list takes the next free value. */
static uint32_t target_id_for(const struct target_list *list, const char *spec)
{
	uint32_t h = 2166136261u;
	const unsigned char *p;
	size_t i;

	for (p = (const unsigned char *)spec; *p; p++)
		h = (h ^ *p) * 16777619u;
	for (;;) {
		if (h == 0)
			h = 1;
		for (i = 0; i < list->n; i++)
			if (list->t[i].id == h)
				break;
		if (i == list->n)
			return h;
		h++;
	}
}

struct target *target_list_add(struct target_list *list, const char *spec, const char *name)
{
	struct target *t = target_list_find_spec(list, spec);

	if (t)
		return t;
	if (list->n == list->cap) {
		size_t cap = list->cap ? 2 * list->cap : 8;

		t = realloc(list->t, cap * sizeof(*t));
		if (!t)
			return NULL;
		list->t = t;
		list->cap = cap;
	}
	t = &list->t[list->n++];
	memset(t, 0, sizeof(*t));
	t->id = target_id_for(list, spec);
	t->nsfd = -1;
	snprintf(t->spec, sizeof(t->spec), "%s", spec);
	snprintf(t->name, sizeof(t->name), "%s", name ? name : spec);
	return t;
}

void target_list_remove(struct target_list *list, size_t i)
{
	list->t[i] = list->t[--list->n];
}

void target_list_free(struct target_list *list)
{
	free(list->t);
	memset(list, 0, sizeof(*list));
}

int target_resolve(struct target *t, const char *runtime_roots)
{
	struct container_ident ident;
	char id[CONTAINER_ID_MAX];
	const char *found = "pid";
	pid_t pid;
	int err;

	if (target_parse_pid(t->spec, &pid) != 0) {
		err = container_parse_id(t->spec, id, sizeof(id));
		if (err)
			return err;
		err = container_find_init(id, runtime_roots, &pid, &found);
		if (err)
			return err;
	}
	err = container_ident_of_pid(pid, &ident);
	if (!err)
		err = discover_scope_of_pid(pid, &t->scope);
	if (err)
		return err == -ENOENT ? -ESRCH : err;
	t->pid = pid;
	t->mntns = ident.mntns;
	t->nsid = ident.nsid;
	t->cgroup = ident.cgroup;
	t->start = ident.start;
	t->found = found;
	return 0;
}

bool target_owns_event(const struct target *t, uint64_t nsid)
{
	return t->active && (!t->nsid || !nsid || t->nsid == nsid);
}
