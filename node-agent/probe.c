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
#include <time.h>

#include "capture.h"
#include "clock.h"
#include "elfsym.h"
#include "log.h"
#include "realfile.h"
#include "refused.h"

#define PROBE_NEGATIVE_MAX 4096

struct probe_file {
	struct realfile_key key; /* what the probes are shared by */
	dev_t dev; /* as fstat shows it (the overlay's inode on overlayfs) */
	ino_t ino;
	off_t size;
	struct timespec mtime;
	/* Changed by every write and by every change of mtime, and set by no
	 * user: a file rewritten in place with its size and mtime put back
	 * (touch -r) is not the file it was. */
	struct timespec ctime;
};

/* Where one parse of a file found what the probes use: readline's offset,
 * and when the file has all three, rl_prep_terminal's and
 * rl_deprep_terminal's offsets and rl_line_buffer's distance from the
 * latter (else 0); with those, when the file is bash with its readline
 * inside, bash_execute_unix_command's offset (`bind -x` commands) and
 * rl_line_buffer's distance from it (else 0). A bash linking libreadline
 * (its readline imported: the library is probed for it) has
 * bash_execute_unix_command alone (readline 0), and rl_line_buffer's
 * distance when the variable is in the executable (a copy relocation, as
 * x86-64 PIE builds have it; else 0). */
#define PROBE_NLINKS 6 /* enum capture_probe */

struct probe_points {
	uint64_t readline, prep, deprep, line_buffer, bind_x, bind_x_line;
};

struct probe {
	struct probe_file file;
	struct probe_points at;
	/* By enum capture_probe: readline's return and entry, then when the
	 * file has them rl_deprep_terminal's and rl_prep_terminal's entries,
	 * bash_execute_unix_command's return and entry. */
	struct bpf_link *link[PROBE_NLINKS];
	uint32_t *owners;
	size_t nowners;
	char label[256];
	/* Keyed by its overlay inode (realfile.h), which a copy-up keeps:
	 * the key alone does not name the real file the probes are on. */
	bool by_overlay_inode;
	char pin[224]; /* probe_pin_name(); the links are pinned as pin-<program> */
};

/* A file known not to have a readline to probe, with the error it gave. */
struct probe_negative {
	struct probe_file file;
	int err;
	uint64_t until; /* CLOCK_MONOTONIC ns; 0: while the file is unchanged */
	struct probe_refusal ref;
};

/* The names one parse of a file looks up; the probes need the first. */
enum {
	PROBE_Q_READLINE,
	PROBE_Q_DEPREP,
	PROBE_Q_PREP,
	PROBE_Q_LINE_BUFFER,
	PROBE_Q_BIND_X,
	PROBE_Q_MAX
};

struct probe_set {
	struct capture *cap;
	struct refused *refused; /* the caller's */
	struct probe *probes;
	size_t nprobes;
	struct probe_negative *neg; /* a ring of PROBE_NEGATIVE_MAX */
	size_t nneg, negpos;	    /* entries in use, the next to write */
};

static int probe_file_stat(int fd, struct probe_file *f)
{
	struct stat st;

	memset(f, 0, sizeof(*f)); /* nothing left from before, even on failure */
	if (fstat(fd, &st))
		return -errno;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = st.st_size;
	f->mtime = st.st_mtim;
	f->ctime = st.st_ctim;
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

/* For a probed file: the same content as when it was examined, as far as
 * fstat tells (not dev and ino: every container shows its own overlay
 * inode of one real file). A file rewritten in place keeps its real file
 * and key, but not its readline's offset: the probes would land on
 * whatever the new file has there (the kernel also keeps the instruction
 * it found there first), and its readline would go unprobed. */
static bool probe_same_content(const struct probe_file *a, const struct probe_file *b)
{
	return a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec && a->ctime.tv_sec == b->ctime.tv_sec &&
	       a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* For the files known without readline: the file as fstat shows it, as
 * cheap as a check can be: the same inode with the same content. Its ctime
 * too: a user of the container can put size and mtime back after writing
 * a shell over a file known to have no readline, never ctime (an overlay
 * copy-up changes it: the file is read once more). */
static bool probe_same_file(const struct probe_file *a, const struct probe_file *b)
{
	return a->dev == b->dev && a->ino == b->ino && probe_same_content(a, b);
}

static struct probe *probe_find(struct probe_set *ps, const struct realfile_key *key)
{
	size_t i;

	for (i = 0; i < ps->nprobes; i++)
		if (realfile_key_equal(&ps->probes[i].file.key, key))
			return &ps->probes[i];
	return NULL;
}

int probe_set_new(struct capture *cap, struct refused *refused, struct probe_set **out)
{
	struct probe_set *ps = calloc(1, sizeof(*ps));

	if (!ps)
		return -ENOMEM;
	ps->cap = cap;
	ps->refused = refused;
	ps->neg = calloc(PROBE_NEGATIVE_MAX, sizeof(*ps->neg));
	if (!ps->neg) {
		probe_set_free(ps);
		return -ENOMEM;
	}
	*out = ps;
	return 0;
}

static void probe_unlink(struct probe *p)
{
	int i;

	for (i = PROBE_NLINKS - 1; i >= 0; i--) {
		if (p->link[i])
			capture_detach(p->link[i]);
		p->link[i] = NULL;
	}
}

static void probe_detach(struct probe *p)
{
	probe_unlink(p);
	log_with(LOG_INFO, LOG_KV("file", p->label),
		 p->at.readline ? "readline probe detached" : "bind -x probe detached");
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
		for (l = 0; l < PROBE_NLINKS; l++)
			if (ps->probes[i].link[l])
				capture_link_close(ps->probes[i].link[l]);
		free(ps->probes[i].owners);
	}
	free(ps->probes);
	free(ps->neg);
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

/* What makes a pinned link right for p, and nothing more: the real file
 * and the probe points in it (probe_replace keeps a probe on the same),
 * so a pin of another file or of another version of it is never taken for
 * p's, and a file touched since its probes were pinned keeps them across a
 * restart. A key that does not name the real file (an overlay inode) adds
 * what fstat says of the content: a copy-up changes ctime. (bpffs refuses
 * dots in names; realfile_key_str has none.) */
static void probe_pin_name(struct probe *p)
{
	const struct probe_file *f = &p->file;
	char key[96], content[80] = "";

	realfile_key_str(&f->key, key, sizeof(key));
	if (p->by_overlay_inode)
		snprintf(content, sizeof(content), "-%llx-%llx_%lx-%llx_%lx",
			 (unsigned long long)f->size, (unsigned long long)f->mtime.tv_sec,
			 (unsigned long)f->mtime.tv_nsec, (unsigned long long)f->ctime.tv_sec,
			 (unsigned long)f->ctime.tv_nsec);
	snprintf(p->pin, sizeof(p->pin), "rl-%s%s-%llx-%llx-%llx-%llx-%llx", key, content,
		 (unsigned long long)p->at.readline, (unsigned long long)p->at.prep,
		 (unsigned long long)p->at.deprep, (unsigned long long)p->at.line_buffer,
		 (unsigned long long)p->at.bind_x);
}

static void probe_points_of(const struct elfsym_query q[PROBE_Q_MAX], struct probe_points *at)
{
	memset(at, 0, sizeof(*at));
	if (q[PROBE_Q_READLINE].err) {
		/* bash linking libreadline (probe_examine): bind -x alone. */
		at->bind_x = q[PROBE_Q_BIND_X].sym.offset;
		if (q[PROBE_Q_LINE_BUFFER].err == 0)
			at->bind_x_line =
				q[PROBE_Q_LINE_BUFFER].sym.vaddr - q[PROBE_Q_BIND_X].sym.vaddr;
		return;
	}
	at->readline = q[PROBE_Q_READLINE].sym.offset;
	if (q[PROBE_Q_DEPREP].err == 0 && q[PROBE_Q_PREP].err == 0 &&
	    q[PROBE_Q_LINE_BUFFER].err == 0) {
		at->prep = q[PROBE_Q_PREP].sym.offset;
		at->deprep = q[PROBE_Q_DEPREP].sym.offset;
		at->line_buffer = q[PROBE_Q_LINE_BUFFER].sym.vaddr - q[PROBE_Q_DEPREP].sym.vaddr;
		if (q[PROBE_Q_BIND_X].err == 0) {
			at->bind_x = q[PROBE_Q_BIND_X].sym.offset;
			at->bind_x_line =
				q[PROBE_Q_LINE_BUFFER].sym.vaddr - q[PROBE_Q_BIND_X].sym.vaddr;
		}
	}
}

/* Attaches the readline probes of p to the file at fd, at p->at. */
static int probe_attach(struct probe_set *ps, struct probe *p, int fd, const char **recovery,
			bool *adopted)
{
	char path[64];
	int err;

	*recovery = "no";
	/* The path the kernel resolves is this very open file, whatever
	 * happens to the path inside the container meanwhile. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	/* bash linking libreadline: its `bind -x` function only (readline's
	 * probes are on the library). With no rl_line_buffer of its own
	 * (cookie 0) the line is not sent, the terminal's reads still are. */
	if (!p->at.readline) {
		err = probe_link(ps, p, CAPTURE_BIND_X_RET, path, p->at.bind_x, 0, adopted);
		return err ? err :
			     probe_link(ps, p, CAPTURE_BIND_X_ENTER, path, p->at.bind_x,
					p->at.bind_x_line, adopted);
	}
	/* The return probe first, then the entry probe that arms it: a call
	 * entered between the two is left to the recovery probe. */
	err = probe_link(ps, p, CAPTURE_READLINE_RET, path, p->at.readline, 0, adopted);
	if (!err)
		err = probe_link(ps, p, CAPTURE_READLINE_ENTER, path, p->at.readline, 0, adopted);
	if (err)
		return err;
	/* Recovering the call already running, and the callback interface,
	 * need rl_deprep_terminal, rl_prep_terminal and rl_line_buffer. */
	if (p->at.deprep &&
	    probe_link(ps, p, CAPTURE_PREP_ENTER, path, p->at.prep, 0, adopted) == 0 &&
	    probe_link(ps, p, CAPTURE_DEPREP_ENTER, path, p->at.deprep, p->at.line_buffer,
		       adopted) == 0)
		*recovery = "yes";
	/* bash's `bind -x` commands, run from inside readline: the return
	 * first, as for readline. */
	if (p->at.bind_x &&
	    probe_link(ps, p, CAPTURE_BIND_X_RET, path, p->at.bind_x, 0, adopted) == 0)
		probe_link(ps, p, CAPTURE_BIND_X_ENTER, path, p->at.bind_x, p->at.bind_x_line,
			   adopted);
	return 0;
}

static const struct probe_negative *probe_negative_find(const struct probe_set *ps,
							const struct probe_file *file, uint64_t now)
{
	size_t i;

	for (i = 0; i < ps->nneg; i++)
		if (probe_same_file(&ps->neg[i].file, file) &&
		    (!ps->neg[i].until || now < ps->neg[i].until))
			return &ps->neg[i];
	return NULL;
}

static void probe_negative_add(struct probe_set *ps, const struct probe_file *file, int err,
			       const struct probe_refusal *ref)
{
	struct probe_negative *n = &ps->neg[ps->negpos];

	ps->negpos = (ps->negpos + 1) % PROBE_NEGATIVE_MAX;
	if (ps->nneg < PROBE_NEGATIVE_MAX)
		ps->nneg++;

	n->file = *file;
	n->err = err;
	/* A file too slow to read now is looked at again later: the refused
	 * table says when. */
	n->until = err == -ETIMEDOUT ? clock_now_ns() + REFUSED_RETRY_MIN_S * 1000000000ull : 0;
	n->ref = *ref;
}

static void probe_refusal_set(struct probe_refusal *ref, bool known, const char *id,
			      const char *why)
{
	ref->refused = true;
	ref->known = known;
	snprintf(ref->id, sizeof(ref->id), "%s", id);
	snprintf(ref->why, sizeof(ref->why), "%s", why ? why : "");
}

/* The dev:ino fstat shows, for the log. */
static void probe_devino(const struct probe_file *file, char *buf, size_t cap)
{
	snprintf(buf, cap, "%u:%u:%lu", major(file->dev), minor(file->dev),
		 (unsigned long)file->ino);
}

/* Parses the file at fd once, within the bounds of elfsym.h, for every
 * symbol the probes use; or refuses it, from what the refused table knows
 * of its identity or from its headers. 0 and q filled, or an error. */
static int probe_examine(struct probe_set *ps, int fd, const struct probe_file *file,
			 const char *label, struct elfsym_query q[PROBE_Q_MAX],
			 struct probe_refusal *ref)
{
	static const char *const names[PROBE_Q_MAX] = { PROBE_SYMBOL, "rl_deprep_terminal",
							"rl_prep_terminal", "rl_line_buffer",
							"bash_execute_unix_command" };
	const struct refused_entry *known;
	const char *why = NULL;
	int64_t now = (int64_t)time(NULL);
	struct elfsym_file ef;
	char bytes[24], syms[24], secs[24], us[24], devino[64];
	bool bind_x_only = false;
	int err, i;

	probe_devino(file, devino, sizeof(devino));
	for (i = 0; i < PROBE_Q_MAX; i++) {
		q[i].name = names[i];
		q[i].type = i == PROBE_Q_LINE_BUFFER ? STT_OBJECT : STT_FUNC;
	}
	err = elfsym_open(&ef, fd, NULL, &why);
	if (ps->refused && ef.id[0] && (known = refused_find(ps->refused, ef.id, now))) {
		probe_refusal_set(ref, true, ef.id, known->why);
		err = known->err;
		goto out;
	}
	if (!err)
		err = elfsym_lookup(&ef, q, PROBE_Q_MAX, &why);
	/* bash linking libreadline: readline imported, bash's own
	 * bash_execute_unix_command there to probe (probe_points_of). */
	if (!err)
		bind_x_only = q[PROBE_Q_READLINE].err == -ENXIO && q[PROBE_Q_BIND_X].err == 0;
	if (!err && (err = q[PROBE_Q_READLINE].err))
		why = q[PROBE_Q_READLINE].why;
	/* One line per parse (a file refused by its id is not parsed): what
	 * it read and took, for the operator and the tests. */
	snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)ef.work.bytes);
	snprintf(syms, sizeof(syms), "%llu", (unsigned long long)ef.work.symbols);
	snprintf(secs, sizeof(secs), "%u", ef.work.sections);
	snprintf(us, sizeof(us), "%llu", (unsigned long long)(ef.work.ns / 1000));
	log_with(LOG_DEBUG,
		 LOG_KV("file", label, "inode", devino, "id", ef.id, "bytes_read", bytes, "symbols",
			syms, "sections", secs, "us", us, "result", err ? strerror(-err) : "found"),
		 "ELF file examined");
	if (ef.refused || err == -ETIMEDOUT) {
		probe_refusal_set(ref, false, ef.id, why);
		if (ps->refused && ef.id[0])
			refused_add(ps->refused, ef.id, err, why, err == -ETIMEDOUT, now);
	} else if (err) {
		/* Imported readline is the usual case for a program linking
		 * libreadline; everything else is worth a line. */
		log_with(err == -ENXIO || err == -ENOENT ? LOG_DEBUG : LOG_WARN,
			 LOG_KV("file", label, "inode", devino, "reason", why),
			 "no readline to probe");
	} else if (ps->refused && ef.id[0]) {
		refused_forget(ps->refused, ef.id); /* once too slow, read in time now */
	}
out:
	if (err && !bind_x_only)
		probe_negative_add(ps, file, err, ref);
	elfsym_close(&ef);
	return bind_x_only ? 0 : err;
}

/* Attaches a new probe at the points one parse of the file at fd found
 * (file: its identity, keywhy: why it is keyed by its overlay inode, or
 * NULL), owned by owner: 1 and *out, 0 when it turned out to be a probed
 * file's (its owner added, *out that probe), or a negative errno. */
static int probe_add_at(struct probe_set *ps, int fd, pid_t pid, uint32_t owner, const char *label,
			struct probe_file *file, const char *keywhy, const struct probe_points *at,
			struct probe **out)
{
	struct probe_file again;
	const char *recovery = "no";
	bool adopted = false;
	char devino[64], off[32], key[96];
	struct probe *p, *q2;
	int err;

	probe_devino(file, devino, sizeof(devino));
	if (keywhy)
		log_with(LOG_DEBUG, LOG_KV("file", label, "inode", devino, "reason", keywhy),
			 "overlay file keyed by its overlay inode");
	p = realloc(ps->probes, (ps->nprobes + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	ps->probes = p;
	p = &ps->probes[ps->nprobes];
	memset(p, 0, sizeof(*p));
	p->file = *file;
	p->at = *at;
	p->by_overlay_inode = keywhy != NULL;
	snprintf(p->label, sizeof(p->label), "%s", label);
	probe_pin_name(p);
	err = probe_attach(ps, p, fd, &recovery, &adopted);
	/* A uprobe lands on the real file at the time of the attach: a
	 * copy-up in between (the container rewrote or chmod'ed the file)
	 * changed it. The key must still hold after the attach, else the
	 * file is keyed by its overlay inode, which holds whatever happened. */
	if (!err && file->key.kind != REALFILE_INODE &&
	    (probe_file_of(fd, pid, &again, NULL) || !realfile_key_equal(&again.key, &file->key))) {
		log_with(LOG_WARN, LOG_KV("file", label, "inode", devino),
			 "file changed while probed; keyed by its overlay inode");
		probe_unlink(p);
		probe_file_fallback(&p->file);
		p->by_overlay_inode = true;
		if ((q2 = probe_find(ps, &p->file.key))) {
			*out = q2;
			err = probe_add_owner(q2, owner);
			return err ? err : 0;
		}
		probe_pin_name(p);
		adopted = false;
		err = probe_attach(ps, p, fd, &recovery, &adopted);
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
	realfile_key_str(&p->file.key, key, sizeof(key));
	snprintf(off, sizeof(off), "0x%llx",
		 (unsigned long long)(p->at.readline ? p->at.readline : p->at.bind_x));
	if (!p->at.readline)
		log_with(LOG_INFO,
			 LOG_KV("file", label, "inode", devino, "file_key",
				realfile_kind_name(p->file.key.kind), "real_file", key, "offset",
				off, "line", p->at.bind_x_line ? "yes" : "no",
				"from_previous_agent", adopted ? "yes" : "no"),
			 "bind -x probe attached: bash linking libreadline");
	else
		log_with(LOG_INFO,
			 LOG_KV("file", label, "inode", devino, "file_key",
				realfile_kind_name(p->file.key.kind), "real_file", key, "offset",
				off, "recovers_running_call", recovery, "bind_x",
				p->link[CAPTURE_BIND_X_ENTER] ? "yes" : "no", "from_previous_agent",
				adopted ? "yes" : "no"),
			 "readline probe attached");
	*out = p;
	return 1;
}

/* Examines the file at fd and attaches a new probe to it: probe_add_at's
 * results, or the examination's error. */
static int probe_add(struct probe_set *ps, int fd, pid_t pid, uint32_t owner, const char *label,
		     struct probe_file *file, const char *keywhy, struct probe_refusal *ref,
		     struct probe **out)
{
	struct elfsym_query q[PROBE_Q_MAX];
	struct probe_points at;
	int err;

	if ((err = probe_examine(ps, fd, file, label, q, ref)))
		return err;
	probe_points_of(q, &at);
	return probe_add_at(ps, fd, pid, owner, label, file, keywhy, &at, out);
}

/* Probe p's file changed since it was examined (probe_same_content): it is
 * examined again. With its readline and the other probe points where they
 * were (a touch, a chmod, a link: anything that changes ctime alone, which
 * the container's user can do to a running program) in the real file its
 * key names, p stays as it is:
 * detached, even for a moment, its probes would miss the return of a
 * readline call already running, and that line. Else (rewritten in place:
 * a running program cannot be) p's probes go and a new probe takes p's
 * owners (they run the new file from now on), or none when it has no
 * readline now. */
static int probe_replace(struct probe_set *ps, struct probe *p, int fd, pid_t pid, uint32_t owner,
			 const char *label, struct probe_file *file, const char *keywhy,
			 struct probe_refusal *ref, struct probe **out)
{
	struct elfsym_query q[PROBE_Q_MAX];
	struct probe_points at;
	uint32_t *owners;
	size_t nowners, i;
	struct probe *np = NULL;
	int err, ret;

	ret = probe_examine(ps, fd, file, label, q, ref);
	/* Only where the key names the real file: keyed by its overlay
	 * inode (keywhy), the file may have been copied up (a touch or a
	 * chmod does), and the probes are on the lower file the key still
	 * names, not on the one that runs now. */
	if (!ret) {
		probe_points_of(q, &at);
		if (!keywhy && !memcmp(&at, &p->at, sizeof(at))) {
			log_with(LOG_INFO, LOG_KV("file", label, "was", p->label),
				 "probed file changed since it was examined, its readline where it "
				 "was: probes kept");
			p->file.size = file->size;
			p->file.mtime = file->mtime;
			p->file.ctime = file->ctime;
			*out = p;
			return probe_add_owner(p, owner);
		}
	}
	log_with(LOG_INFO, LOG_KV("file", label, "was", p->label),
		 "probed file rewritten since it was examined: examined again");
	owners = p->owners;
	nowners = p->nowners;
	p->owners = NULL;
	probe_unlink(p);
	*p = ps->probes[--ps->nprobes];
	if (!ret)
		ret = probe_add_at(ps, fd, pid, owner, label, file, keywhy, &at, &np);
	for (i = 0, err = 0; ret >= 0 && np && i < nowners && !err; i++)
		err = probe_add_owner(np, owners[i]);
	free(owners);
	*out = np;
	return err ? err : ret;
}

/* What is remembered of file without a probe: its answer (a negative
 * errno) and *ref as it was then; 0 when nothing is. */
static int probe_negative_answer(const struct probe_set *ps, const struct probe_file *file,
				 struct probe_refusal *ref)
{
	const struct probe_negative *neg = probe_negative_find(ps, file, clock_now_ns());

	if (!neg)
		return 0;
	*ref = neg->ref;
	ref->known = ref->refused;
	return neg->err;
}

int probe_negative_of(const struct probe_set *ps, int fd, struct probe_refusal *ref)
{
	struct probe_refusal none;
	struct probe_file file;

	return probe_file_stat(fd, &file) ? 0 : probe_negative_answer(ps, &file, ref ? ref : &none);
}

int probe_acquire(struct probe_set *ps, int fd, pid_t pid, uint32_t owner, const char *label,
		  struct probe_refusal *ref)
{
	struct probe_refusal none;
	struct probe_file file;
	const char *keywhy = NULL;
	struct probe *p = NULL;
	int err;

	if (!ref)
		ref = &none;
	memset(ref, 0, sizeof(*ref));
	err = probe_file_stat(fd, &file);
	if (err)
		return err;
	if ((err = probe_negative_answer(ps, &file, ref)))
		return err;
	err = realfile_key_of(fd, pid, &file.key, &keywhy);
	if (err)
		return err;
	if ((p = probe_find(ps, &file.key))) {
		if (probe_same_content(&p->file, &file))
			err = probe_add_owner(p, owner);
		else
			err = probe_replace(ps, p, fd, pid, owner, label, &file, keywhy, ref, &p);
	} else {
		err = probe_add(ps, fd, pid, owner, label, &file, keywhy, ref, &p);
	}
	/* A bash linking libreadline has its bind -x probe: its readline is
	 * still to be found in the library. */
	return err >= 0 && p && !p->at.readline ? -ENXIO : err;
}

void probe_release_owner(struct probe_set *ps, uint32_t owner)
{
	size_t i, j;

	/* Last to first: a detached probe's slot takes the last one, which
	 * was already looked at. */
	for (i = ps->nprobes; i-- > 0;) {
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
		}
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
