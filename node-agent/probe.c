// SPDX-License-Identifier: Apache-2.0
/* Refcounted readline uretprobes (see probe.h). */
#include "probe.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "capture.h"
#include "elfsym.h"
#include "log.h"
#include "realfile.h"

#define PROBE_NEGATIVE_MAX 4096

struct probe_file {
	struct realfile_key key; /* what the probes are shared by */
	dev_t dev; /* as fstat shows it (the overlay's inode on overlayfs) */
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct probe {
	struct probe_file file;
	uint64_t offset;
	/* readline's return and entry, then when the file has them
	 * rl_deprep_terminal's and rl_prep_terminal's entries. */
	struct bpf_link *link[4];
	uint32_t *owners;
	size_t nowners;
	char label[256];
	char pin[160]; /* "rl-<file>-<offset>": the links are pinned as pin-<program> */
};

struct probe_set {
	struct capture *cap;
	struct probe *probes;
	size_t nprobes;
	/* Files known not to have readline, with the error they gave. */
	struct probe_file *neg;
	int *neg_err;
	size_t nneg;
};

/* For the files known without readline: the file as fstat shows it, as
 * cheap as a check can be (a copy-up that keeps the content keeps the
 * answer; one that changes it changes size or mtime). */
static bool probe_same_file(const struct probe_file *a, const struct probe_file *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static int probe_file_stat(int fd, struct probe_file *f)
{
	struct stat st;

	if (fstat(fd, &st))
		return -errno;
	memset(&f->key, 0, sizeof(f->key));
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	f->mtime = st.st_mtim;
	return 0;
}

/* The file open at fd: its real file's key, and fstat's identity. */
static int probe_file_of(int fd, pid_t pid, struct probe_file *f, const char **why)
{
	int err = probe_file_stat(fd, f);

	return err ? err : realfile_key_of(fd, pid, &f->key, why);
}

/* Keys the file by the inode fstat shows: always safe (more probes on one
 * real file only cost time, the BPF side reports each hit once). */
static void probe_file_fallback(struct probe_file *f)
{
	memset(&f->key, 0, sizeof(f->key));
	f->key.kind = REALFILE_INODE;
	f->key.dev = f->dev;
	f->key.ino = f->ino;
}

static struct probe *probe_find(struct probe_set *ps, const struct realfile_key *key)
{
	size_t i;

	for (i = 0; i < ps->nprobes; i++)
		if (realfile_key_equal(&ps->probes[i].file.key, key))
			return &ps->probes[i];
	return NULL;
}

int probe_set_new(struct capture *cap, struct probe_set **out)
{
	struct probe_set *ps = calloc(1, sizeof(*ps));

	if (!ps)
		return -ENOMEM;
	ps->cap = cap;
	ps->neg = calloc(PROBE_NEGATIVE_MAX, sizeof(*ps->neg));
	ps->neg_err = calloc(PROBE_NEGATIVE_MAX, sizeof(*ps->neg_err));
	if (!ps->neg || !ps->neg_err) {
		probe_set_free(ps);
		return -ENOMEM;
	}
	*out = ps;
	return 0;
}

static void probe_unlink(struct probe *p)
{
	int i;

	for (i = 3; i >= 0; i--) {
		if (p->link[i])
			capture_detach(p->link[i]);
		p->link[i] = NULL;
	}
}

static void probe_detach(struct probe *p)
{
	probe_unlink(p);
	log_with(LOG_INFO, LOG_KV("file", p->label), "readline probe detached");
	free(p->owners);
}

void probe_set_free(struct probe_set *ps)
{
	size_t i;
	int l;

	if (!ps)
		return;
	/* Pinned probes stay attached for the next agent; the others go with
	 * their last handle. */
	for (i = 0; i < ps->nprobes; i++) {
		for (l = 0; l < 4; l++)
			if (ps->probes[i].link[l])
				capture_link_close(ps->probes[i].link[l]);
		free(ps->probes[i].owners);
	}
	free(ps->probes);
	free(ps->neg);
	free(ps->neg_err);
	free(ps);
}

static int probe_add_owner(struct probe *p, uint32_t owner)
{
	uint32_t *o;
	size_t i;

	for (i = 0; i < p->nowners; i++)
		if (p->owners[i] == owner)
			return 0;
	o = realloc(p->owners, (p->nowners + 1) * sizeof(*o));
	if (!o)
		return -ENOMEM;
	o[p->nowners++] = owner;
	p->owners = o;
	return 0;
}

/* Attaches (or takes over the pinned link of) program `which` at offset. */
static int probe_link(struct probe_set *ps, struct probe *p, enum capture_probe which,
		      const char *path, uint64_t offset, uint64_t cookie, bool *adopted)
{
	char pin[sizeof(p->pin) + 8];
	bool a;
	int err;

	snprintf(pin, sizeof(pin), "%s-%d", p->pin, (int)which);
	err = capture_attach_uprobe(ps->cap, which, path, offset, cookie, pin, &a,
				    &p->link[which]);
	*adopted |= a;
	return err;
}

static bool probe_pin_in_use(const char *pin, void *arg)
{
	const struct probe_set *ps = arg;
	size_t i, n;

	for (i = 0; i < ps->nprobes; i++) {
		n = strlen(ps->probes[i].pin);
		if (!strncmp(pin, ps->probes[i].pin, n) && pin[n] == '-')
			return true;
	}
	return false;
}

int probe_set_sweep(struct probe_set *ps)
{
	return capture_sweep_links(ps->cap, probe_pin_in_use, ps);
}

/* The real file's key, its size and mtime, and the offset: a pin of
 * another file or version of the file is never taken for this one. (bpffs
 * refuses dots in names; realfile_key_str has none.) */
static void probe_pin_name(struct probe *p)
{
	char key[96];

	realfile_key_str(&p->file.key, key, sizeof(key));
	snprintf(p->pin, sizeof(p->pin), "rl-%s-%llx-%llx_%lx-%llx", key,
		 (unsigned long long)p->file.size, (unsigned long long)p->file.mtime.tv_sec,
		 (unsigned long)p->file.mtime.tv_nsec, (unsigned long long)p->offset);
}

/* Attaches the readline probes of p (readline at sym) to the file at fd. */
static int probe_attach(struct probe_set *ps, struct probe *p, int fd, const struct elfsym *sym,
			const char **recovery, bool *adopted)
{
	struct elfsym dep, prep, buf;
	char path[64];
	int err;

	*recovery = "no";
	/* The path the kernel resolves is this very open file, whatever
	 * happens to the path inside the container meanwhile. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	/* The return probe first, then the entry probe that arms it: a call
	 * entered between the two is left to the recovery probe. */
	err = probe_link(ps, p, CAPTURE_READLINE_RET, path, sym->offset, 0, adopted);
	if (!err)
		err = probe_link(ps, p, CAPTURE_READLINE_ENTER, path, sym->offset, 0, adopted);
	if (err)
		return err;
	/* Recovering the call already running, and the callback interface,
	 * need rl_deprep_terminal, rl_prep_terminal and rl_line_buffer. */
	if (elfsym_find(fd, "rl_deprep_terminal", &dep, NULL) == 0 &&
	    elfsym_find(fd, "rl_prep_terminal", &prep, NULL) == 0 &&
	    elfsym_find_object(fd, "rl_line_buffer", &buf, NULL) == 0 &&
	    probe_link(ps, p, CAPTURE_PREP_ENTER, path, prep.offset, 0, adopted) == 0 &&
	    probe_link(ps, p, CAPTURE_DEPREP_ENTER, path, dep.offset, buf.vaddr - dep.vaddr,
		       adopted) == 0)
		*recovery = "yes";
	return 0;
}

int probe_acquire(struct probe_set *ps, int fd, pid_t pid, uint32_t owner, const char *label)
{
	struct probe_file file, again;
	struct elfsym sym;
	const char *why = NULL, *keywhy = NULL, *recovery = "no";
	bool adopted = false;
	char devino[64], off[32], key[96];
	struct probe *p, *q;
	size_t i;
	int err;

	err = probe_file_stat(fd, &file);
	if (err)
		return err;
	for (i = 0; i < ps->nneg; i++)
		if (probe_same_file(&ps->neg[i], &file))
			return ps->neg_err[i];
	err = realfile_key_of(fd, pid, &file.key, &keywhy);
	if (err)
		return err;
	if ((p = probe_find(ps, &file.key)))
		return probe_add_owner(p, owner);

	snprintf(devino, sizeof(devino), "%u:%u:%lu", major(file.dev), minor(file.dev),
		 (unsigned long)file.ino);
	err = elfsym_find(fd, PROBE_SYMBOL, &sym, &why);
	if (err) {
		/* Imported readline is the usual case for a program linking
		 * libreadline; everything else is worth a line. */
		log_with(err == -ENXIO || err == -ENOENT ? LOG_DEBUG : LOG_WARN,
			 LOG_KV("file", label, "inode", devino, "reason", why),
			 "no readline to probe");
		if (ps->nneg == PROBE_NEGATIVE_MAX)
			ps->nneg = 0;
		ps->neg[ps->nneg] = file;
		ps->neg_err[ps->nneg++] = err;
		return err;
	}
	if (keywhy)
		log_with(LOG_DEBUG, LOG_KV("file", label, "inode", devino, "reason", keywhy),
			 "overlay file keyed by its overlay inode");
	p = realloc(ps->probes, (ps->nprobes + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	ps->probes = p;
	p = &ps->probes[ps->nprobes];
	memset(p, 0, sizeof(*p));
	p->file = file;
	p->offset = sym.offset;
	snprintf(p->label, sizeof(p->label), "%s", label);
	probe_pin_name(p);
	err = probe_attach(ps, p, fd, &sym, &recovery, &adopted);
	/* A uprobe lands on the real file at the time of the attach: a
	 * copy-up in between (the container rewrote or chmod'ed the file)
	 * changed it. The key must still hold after the attach, else the
	 * file is keyed by its overlay inode, which holds whatever happened. */
	if (!err && file.key.kind != REALFILE_INODE &&
	    (probe_file_of(fd, pid, &again, NULL) ||
	     !realfile_key_equal(&again.key, &file.key))) {
		log_with(LOG_WARN, LOG_KV("file", label, "inode", devino),
			 "file changed while probed; keyed by its overlay inode");
		probe_unlink(p);
		probe_file_fallback(&p->file);
		if ((q = probe_find(ps, &p->file.key)))
			return probe_add_owner(q, owner);
		probe_pin_name(p);
		adopted = false;
		err = probe_attach(ps, p, fd, &sym, &recovery, &adopted);
	}
	if (err) {
		log_with(LOG_ERROR, LOG_KV("file", label, "inode", devino),
			 "cannot attach the readline probes: %s", strerror(-err));
		probe_unlink(p);
		return err;
	}
	err = probe_add_owner(p, owner);
	if (err) {
		probe_unlink(p);
		return err;
	}
	ps->nprobes++;
	snprintf(off, sizeof(off), "0x%llx", (unsigned long long)sym.offset);
	realfile_key_str(&p->file.key, key, sizeof(key));
	log_with(LOG_INFO,
		 LOG_KV("file", label, "inode", devino, "file_key",
			realfile_kind_name(p->file.key.kind), "real_file", key, "offset", off,
			"recovers_running_call", recovery, "from_previous_agent",
			adopted ? "yes" : "no"),
		 "readline probe attached");
	return 1;
}

void probe_release_owner(struct probe_set *ps, uint32_t owner)
{
	size_t i, j;

	for (i = 0; i < ps->nprobes;) {
		struct probe *p = &ps->probes[i];

		for (j = 0; j < p->nowners; j++) {
			if (p->owners[j] == owner) {
				p->owners[j] = p->owners[--p->nowners];
				break;
			}
		}
		if (p->nowners == 0) {
			probe_detach(p);
			ps->probes[i] = ps->probes[--ps->nprobes];
			continue;
		}
		i++;
	}
}

size_t probe_count(const struct probe_set *ps)
{
	return ps->nprobes;
}

size_t probe_count_owner(const struct probe_set *ps, uint32_t owner)
{
	size_t i, j, n = 0;

	for (i = 0; i < ps->nprobes; i++)
		for (j = 0; j < ps->probes[i].nowners; j++)
			if (ps->probes[i].owners[j] == owner)
				n++;
	return n;
}
