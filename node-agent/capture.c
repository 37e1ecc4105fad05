// SPDX-License-Identifier: Apache-2.0
/* Loading the BPF object and moving its events to the agent. */
#include "capture.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/perf_event.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <openssl/evp.h>

#include "log.h"
#include "ringbuf.h"
#include "shellaudit.skel.h"
#include "tracepoint.h"
#include "util.h"

#define CAPTURE_BPF_FS_MAGIC 0xcafe4a11

/* The syscalls of terminal capture with the tracepoint hook, and the pin
 * names of their links: their ends (tty_read_tp), then the beginnings of
 * the reads (tty_enter_tp: what the read was given, see sa_read_start);
 * the raw hook has two links, sys_exit and sys_enter. splice, vmsplice,
 * sendfile and tee: what a terminal or a session's stdin pipe gives
 * without a read (vmsplice copies out as readv does; the others' bytes are
 * counted); io_submit: Linux AIO reads of a terminal. */
static const char *const capture_tty_tps[] = {
	"sys_exit_read",	"sys_exit_readv",      "sys_exit_preadv2",   "sys_exit_splice",
	"sys_exit_vmsplice",	"sys_exit_sendfile64", "sys_exit_tee",	     "sys_exit_io_submit",
	"sys_enter_read",	"sys_enter_readv",     "sys_enter_preadv2",  "sys_enter_splice",
	"sys_enter_sendfile64", "sys_enter_tee",       "sys_enter_io_submit"
};
static const char *const capture_tty_pins[] = { "link_tty_read",
						"link_tty_readv",
						"link_tty_preadv2",
						"link_tty_splice",
						"link_tty_vmsplice",
						"link_tty_sendfile",
						"link_tty_tee",
						"link_tty_io_submit",
						"link_tty_read_enter",
						"link_tty_readv_enter",
						"link_tty_preadv2_enter",
						"link_tty_splice_enter",
						"link_tty_sendfile_enter",
						"link_tty_tee_enter",
						"link_tty_io_submit_enter" };
#define CAPTURE_TTY_PIN_SYS_EXIT "link_tty_sys_exit"
#define CAPTURE_TTY_PIN_SYS_ENTER "link_tty_sys_enter"
#define CAPTURE_TTY_PIN_URING "link_tty_uring"
#define CAPTURE_TTY_PIN_URING_FILE "link_tty_uring_file"
#define CAPTURE_TTY_PIN_IA32_EXIT "link_tty_ia32_exit"
#define CAPTURE_TTY_PIN_IA32_ENTER "link_tty_ia32_enter"
#define CAPTURE_TTY_NLINKS 15
#define CAPTURE_TTY_NEXITS 8 /* the first links: tty_read_tp's */
_Static_assert(sizeof(capture_tty_tps) / sizeof(capture_tty_tps[0]) == CAPTURE_TTY_NLINKS &&
		       sizeof(capture_tty_pins) / sizeof(capture_tty_pins[0]) == CAPTURE_TTY_NLINKS,
	       "one tracepoint and one pin name per link");

/* The period of stdin_tick on each CPU, in ns of the CPU's clock. */
#define CAPTURE_STDIN_TICK_NS (250ull * 1000 * 1000)

struct capture {
	struct shellaudit_bpf *skel;
	struct ringbuf *rb;
	capture_handler_fn fn;
	void (*before_release)(void *ctx);
	void *ctx;
	int ncpus;
	enum capture_tty_hook tty_hook; /* loaded: TRACEPOINT, SYS_EXIT or OFF */
	bool recovery; /* deprep_enter and prep_enter loaded */
	bool resumed; /* the pinned state of an earlier agent was taken over */
	bool replaced; /* the pinned state of another build or settings was removed */
	bool tty_on;   /* capture_tty_set on */
	/* With the terminal hook, io_uring's reads (uring_done), where the
	 * kernel has io_uring's tracepoints; and the inputs of its splices as
	 * they are taken (uring_file), where it has that tracepoint too. */
	bool uring, uring_file;
	/* With the tracepoints, tty_read_raw and tty_enter_raw loaded too
	 * (ia32), for the 32-bit syscalls those never see: attached from the
	 * first 32-bit exec in a target, in their place, while the hook is
	 * (see capture_tty_ia32_on). */
	bool ia32, ia32_tried;
	char tty_why[256];				/* why OFF */
	long tty_ids[CAPTURE_TTY_NLINKS];		/* TRACEPOINT: the tracepoints' ids */
	struct bpf_link *tty_links[CAPTURE_TTY_NLINKS]; /* attached, or NULL */
	struct bpf_link *uring_link, *uring_file_link;	/* uring, uring_file: attached, or NULL */
	struct bpf_link *ia32_links[2];			/* ia32: attached, or NULL */
	struct bpf_link **tick_links;			/* stdin_tick per CPU (ncpus), or NULL */
	uint64_t replaced_unread; /* events in its ring buffer no agent read */
	char dir[PATH_MAX - 256]; /* <pin_dir>/<build key>, "" when not pinning */
};

/* libbpf's own messages, at debug unless they are warnings. */
static int capture_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char msg[1024];
	size_t n;

	if (level == LIBBPF_DEBUG && log_get_level() < LOG_DEBUG)
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_with(level == LIBBPF_WARN ? LOG_WARN : LOG_DEBUG, LOG_KV("source", "libbpf"), "%s",
		 msg);
	return 0;
}

/* Record data of size bytes as an event, checked against its declared
 * lengths before anyone reads it: false when malformed. */
static bool capture_decode(const void *data, size_t size, struct capture_event *out)
{
	struct capture_event ev = { 0 };
	const struct sa_event_hdr *h = data;

	if (size < sizeof(*h))
		return false;
	ev.hdr = h;
	switch (h->type) {
	case SA_EV_LINE: {
		const struct sa_line_event *e = data;

		if (size < offsetof(struct sa_line_event, line) ||
		    e->len > size - offsetof(struct sa_line_event, line))
			return false;
		ev.text = e->line;
		ev.text_len = e->len;
		ev.skipped = e->skipped;
		break;
	}
	case SA_EV_EXEC: {
		const struct sa_exec_event *e = data;

		/* Sized to its argv (up to SA_ARGS_CAP). */
		if (size < offsetof(struct sa_exec_event, args) || e->args_len > SA_ARGS_CAP ||
		    e->args_len > size - offsetof(struct sa_exec_event, args) ||
		    e->filename_len >= SA_FILENAME_CAP || e->unlinked_len >= SA_UNLINKED_CAP)
			return false;
		ev.text = e->args;
		ev.text_len = e->args_len;
		ev.filename = e->filename;
		ev.filename_len = e->filename_len;
		if (h->flags & SA_F_UNLINKED) {
			ev.unlinked = e->unlinked;
			ev.unlinked_len = e->unlinked_len;
		}
		ev.argc = e->argc;
		ev.stdio = e->stdio;
		break;
	}
	case SA_EV_EXIT: {
		const struct sa_exit_event *e = data;

		if (size < sizeof(*e))
			return false;
		ev.exit_code = e->exit_code;
		break;
	}
	case SA_EV_TTY: {
		const struct sa_tty_event *e = data;

		if (size < sizeof(*e) ||
		    e->len > (e->hdr.flags & SA_F_TTY_STDIN ? SA_STDIN_CAP : SA_TTY_CAP) ||
		    e->len > size - sizeof(*e))
			return false;
		ev.text = e->data;
		ev.text_len = e->len;
		ev.tty = e->tty;
		ev.asked = e->count;
		ev.lost = e->lost;
		ev.skipped = e->skipped;
		ev.calls = e->calls;
		break;
	}
	case SA_EV_NS: {
		const struct sa_ns_event *e = data;

		if (size < sizeof(*e))
			return false;
		ev.ns = e;
		break;
	}
	default: return false;
	}
	*out = ev;
	return true;
}

/*
 * Pinned state: the maps, the tracepoint links and every uprobe link live
 * in <pin_dir>/<key> on a BPF file system, so the programs keep capturing
 * into the ring buffer while no agent runs (a crash, kill -9, an OOM kill)
 * and the next agent takes them over and reads what was captured meanwhile.
 * The key covers the BPF object and the settings compiled into it: an agent
 * of another build or other settings removes the old state instead of
 * mixing programs that disagree on the record layout.
 */
static void capture_key(const struct capture_opts *opts, char out[17])
{
	unsigned char md[EVP_MAX_MD_SIZE] = { 0 };
	char cfg[64];
	size_t sz;
	const void *elf = shellaudit_bpf__elf_bytes(&sz);
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	int i;

	snprintf(cfg, sizeof(cfg), "%u %u %u", opts->line_max, opts->args_max, opts->ringbuf_bytes);
	/* Cannot fail in practice; md staying zero would only lose the build check. */
	if (h && EVP_DigestInit_ex(h, EVP_sha256(), NULL) && EVP_DigestUpdate(h, elf, sz) &&
	    EVP_DigestUpdate(h, cfg, strlen(cfg)))
		EVP_DigestFinal_ex(h, md, NULL);
	EVP_MD_CTX_free(h);
	for (i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Unlinks every pin in dir and dir itself. Unpinning a link nobody holds
 * detaches it; a map goes when its last program does. */
static void capture_remove_dir(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) && errno != ENOENT)
			log_with(LOG_WARN, LOG_KV("path", path), "cannot unpin: %s",
				 strerror(errno));
	}
	closedir(d);
	if (rmdir(dir) && errno != ENOENT)
		log_with(LOG_WARN, LOG_KV("path", dir), "cannot remove: %s", strerror(errno));
}

/* The records waiting in the pinned ring buffer at path, counted from the
 * kernel's own record headers (their payload is another build's and is
 * not decoded): what its programs captured and no agent read. */
static uint64_t capture_count_unread(const char *path)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);
	struct ringbuf *r = NULL;
	const void *data;
	uint64_t n = 0;
	size_t size;
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return 0;
	/* Read, never released: the state is removed after. */
	if (!bpf_obj_get_info_by_fd(fd, &info, &len) && info.type == BPF_MAP_TYPE_RINGBUF &&
	    !ringbuf_new(fd, info.max_entries, &r))
		while (ringbuf_next(r, &data, &size) == 1)
			n++;
	ringbuf_free(r);
	close(fd);
	return n;
}

/* Sets c->dir up under pin_dir, or leaves it empty (no pinning) with a
 * line that says why capture will not outlive this process. */
static void capture_pin_setup(struct capture *c, const struct capture_opts *opts)
{
	char buf[PATH_MAX], key[17], path[PATH_MAX];
	const char *parent;
	struct statfs sf;
	struct dirent *de;
	DIR *d;

	c->dir[0] = '\0';
	if (!opts->pin_dir || !opts->pin_dir[0])
		return;
	snprintf(buf, sizeof(buf), "%s", opts->pin_dir);
	parent = dirname(buf);
	if (statfs(parent, &sf) || sf.f_type != CAPTURE_BPF_FS_MAGIC) {
		log_with(LOG_WARN, LOG_KV("dir", parent),
			 "not a BPF file system (mount one there, e.g. `mount -t bpf bpf "
			 "/sys/fs/bpf`): capture stops whenever the agent does");
		return;
	}
	if (mkdir(opts->pin_dir, 0700) && errno != EEXIST) {
		log_with(LOG_WARN, LOG_KV("dir", opts->pin_dir),
			 "cannot create the pin directory: %s; capture stops whenever the agent "
			 "does",
			 strerror(errno));
		return;
	}
	capture_key(opts, key);
	/* Another build's state: its programs would disagree with ours. */
	if ((d = opendir(opts->pin_dir))) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.' || !strcmp(de->d_name, key))
				continue;
			char unread[24], events[PATH_MAX + 16];
			uint64_t n;

			snprintf(path, sizeof(path), "%s/%s", opts->pin_dir, de->d_name);
			snprintf(events, sizeof(events), "%s/map_events", path);
			n = capture_count_unread(events);
			snprintf(unread, sizeof(unread), "%" PRIu64, n);
			log_with(LOG_WARN, LOG_KV("dir", path, "unread_events", unread),
				 "removing the capture state of another agent build or settings; "
				 "what it captured and no agent read is lost");
			capture_remove_dir(path);
			c->replaced = true;
			c->replaced_unread += n;
		}
		closedir(d);
	}
	if ((size_t)snprintf(c->dir, sizeof(c->dir), "%s/%s", opts->pin_dir, key) >=
		    sizeof(c->dir) ||
	    (mkdir(c->dir, 0700) && errno != EEXIST)) {
		log_with(LOG_WARN, LOG_KV("dir", opts->pin_dir),
			 "cannot create the pin directory; capture stops whenever the agent does");
		c->dir[0] = '\0';
		return;
	}
	snprintf(path, sizeof(path), "%s/map_events", c->dir);
	c->resumed = access(path, F_OK) == 0;
}

static int capture_pin_maps(struct capture *c)
{
	struct bpf_map *maps[] = { c->skel->maps.targets,     c->skel->maps.events,
				   c->skel->maps.in_readline, c->skel->maps.counters,
				   c->skel->maps.reported,    c->skel->maps.marks,
				   c->skel->maps.tty_partial, c->skel->maps.tty_mode };
	char path[PATH_MAX];
	size_t i;
	int err;

	if (!c->dir[0])
		return 0;
	for (i = 0; i < ARRAY_SIZE(maps); i++) {
		snprintf(path, sizeof(path), "%s/map_%s", c->dir, bpf_map__name(maps[i]));
		if ((err = bpf_map__set_pin_path(maps[i], path)))
			return err;
	}
	return 0;
}

/* The link pinned as `name`, taken over, or NULL (none, or not pinning);
 * path gets where it is or would be pinned. */
static struct bpf_link *capture_pinned_link(const struct capture *c, const char *name,
					    char path[PATH_MAX])
{
	if (!c->dir[0] || !name)
		return NULL;
	snprintf(path, PATH_MAX, "%s/%s", c->dir, name);
	return access(path, F_OK) == 0 ? bpf_link__open(path) : NULL;
}

/* Pins a new link where capture_pinned_link looked; a link left unpinned
 * still works, it just does not outlive the agent. */
static void capture_pin_link(const struct capture *c, struct bpf_link *link, const char *name,
			     const char *path)
{
	int err;

	if (c->dir[0] && name && (err = bpf_link__pin(link, path)))
		log_with(LOG_WARN, LOG_KV("path", path),
			 "cannot pin a link (it will not outlive the agent): %s", strerror(-err));
}

/* Takes over the pinned link `name` or attaches prog and pins the link. */
static struct bpf_link *capture_attach_pinned(struct capture *c, struct bpf_program *prog,
					      const char *name)
{
	char path[PATH_MAX];
	struct bpf_link *link = capture_pinned_link(c, name, path);

	if (link)
		return link;
	if ((link = bpf_program__attach(prog)))
		capture_pin_link(c, link, name, path);
	return link;
}

/* capture_attach_pinned for the program of tracepoint tp, its link in
 * *link and pinned as link_<name>; logs what it returns. */
static int capture_attach_sched(struct capture *c, struct bpf_program *prog, struct bpf_link **link,
				const char *name, const char *tp)
{
	char pin[64];
	int err;

	snprintf(pin, sizeof(pin), "link_%s", name);
	*link = capture_attach_pinned(c, prog, pin);
	if (*link)
		return 0;
	err = -errno;
	log_error("cannot attach to tracepoint %s: %s", tp, strerror(-err));
	return err;
}

/* stdin_tick on each CPU (a cpu-clock perf event every
 * CAPTURE_STDIN_TICK_NS), its links pinned as link_stdin_tick_<cpu>; a
 * CPU offline now gets none. Without them, bytes a thread gathered wait
 * for it to sleep: said, not fatal. */
static void capture_attach_ticks(struct capture *c)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_period = CAPTURE_STDIN_TICK_NS,
	};
	char pin[64], path[PATH_MAX];
	int cpu, fd, err = 0, n = 0;

	if (!(c->tick_links = calloc((size_t)c->ncpus, sizeof(*c->tick_links)))) {
		log_error("cannot attach the stdin ticks: %s", strerror(ENOMEM));
		return;
	}
	for (cpu = 0; cpu < c->ncpus; cpu++) {
		snprintf(pin, sizeof(pin), "link_stdin_tick_%d", cpu);
		if ((c->tick_links[cpu] = capture_pinned_link(c, pin, path))) {
			n++;
			continue;
		}
		fd = (int)syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (fd < 0) {
			if (errno != ENODEV && !err) /* ENODEV: offline */
				err = -errno;
			continue;
		}
		if (!(c->tick_links[cpu] =
			      bpf_program__attach_perf_event(c->skel->progs.stdin_tick, fd))) {
			err = err ? err : -errno;
			close(fd);
			continue;
		}
		capture_pin_link(c, c->tick_links[cpu], pin, path);
		n++;
	}
	if (err)
		log_warn("stdin ticks on %d of %d CPUs: on the others, bytes of a session's "
			 "stdin read by a thread that then runs without a pause wait for its "
			 "pause: %s",
			 n, c->ncpus, strerror(-err));
}

/* Opens, configures and loads the skeleton into c->skel; *at_load tells
 * whether it was the kernel's verifier or loader that said no. */
static int capture_load(struct capture *c, const struct capture_opts *opts, bool *at_load)
{
	int err;

	*at_load = false;
	c->skel = shellaudit_bpf__open();
	if (!c->skel) {
		err = -errno;
		log_error("cannot open the BPF object: %s", strerror(-err));
		return err;
	}
	c->skel->rodata->line_max = opts->line_max;
	c->skel->rodata->args_max = opts->args_max;
	c->skel->rodata->raw_beside_tp = c->tty_hook == CAPTURE_TTY_TRACEPOINT;
	err = bpf_map__set_max_entries(c->skel->maps.events, opts->ringbuf_bytes);
	if (err) {
		log_error("ring buffer size %u refused: %s", opts->ringbuf_bytes, strerror(-err));
		return err;
	}
	err = capture_pin_maps(c);
	if (err) {
		log_error("cannot set the pin paths: %s", strerror(-err));
		return err;
	}
	if (!c->recovery) {
		bpf_program__set_autoload(c->skel->progs.deprep_enter, false);
		bpf_program__set_autoload(c->skel->progs.prep_enter, false);
		bpf_program__set_autoload(c->skel->progs.bind_x_enter, false);
		bpf_program__set_autoload(c->skel->progs.bind_x_ret, false);
	}
	bpf_program__set_autoload(c->skel->progs.tty_read_tp,
				  c->tty_hook == CAPTURE_TTY_TRACEPOINT);
	bpf_program__set_autoload(c->skel->progs.tty_enter_tp,
				  c->tty_hook == CAPTURE_TTY_TRACEPOINT);
	c->ia32 = c->ia32 && c->tty_hook == CAPTURE_TTY_TRACEPOINT;
	bpf_program__set_autoload(c->skel->progs.tty_read_raw,
				  c->tty_hook == CAPTURE_TTY_SYS_EXIT || c->ia32);
	bpf_program__set_autoload(c->skel->progs.tty_enter_raw,
				  c->tty_hook == CAPTURE_TTY_SYS_EXIT || c->ia32);
	c->uring = c->tty_hook != CAPTURE_TTY_OFF &&
		   libbpf_find_vmlinux_btf_id("io_uring_complete", BPF_TRACE_RAW_TP) >= 0;
	bpf_program__set_autoload(c->skel->progs.uring_done, c->uring);
	c->uring_file =
		c->uring && libbpf_find_vmlinux_btf_id("io_uring_file_get", BPF_TRACE_RAW_TP) >= 0;
	bpf_program__set_autoload(c->skel->progs.uring_file, c->uring_file);
	bpf_program__set_autoload(c->skel->progs.stdin_sleep, c->tty_hook != CAPTURE_TTY_OFF);
	bpf_program__set_autoload(c->skel->progs.stdin_tick, c->tty_hook != CAPTURE_TTY_OFF);
	err = shellaudit_bpf__load(c->skel);
	*at_load = err != 0;
	if (err && !c->recovery && c->tty_hook == CAPTURE_TTY_OFF)
		log_error("cannot load the BPF programs (root, BTF at /sys/kernel/btf/vmlinux "
			  "and a kernel >= 5.12 are needed): %s",
			  strerror(-err));
	return err;
}

const char *capture_tty_hook_name(enum capture_tty_hook h)
{
	switch (h) {
	case CAPTURE_TTY_AUTO:
		return "auto";
	case CAPTURE_TTY_TRACEPOINT:
		return "tracepoint";
	case CAPTURE_TTY_SYS_EXIT:
		return "sys_exit";
	case CAPTURE_TTY_OFF:
		break;
	}
	return "off";
}

/* Picks the terminal hook before load: the syscall tracepoints (cheapest for
 * processes that are not audited) when their ids can be read, else the raw
 * sys_exit tracepoint, which needs no tracefs. c->tty_why says why not the
 * one asked for. */
static void capture_tty_choose(struct capture *c, enum capture_tty_hook want)
{
	bool detached = false;
	long id = 0;
	size_t i;
	int fs;

	c->tty_hook = want;
	if (want != CAPTURE_TTY_AUTO && want != CAPTURE_TTY_TRACEPOINT)
		return;
	fs = tracepoint_fs_open(&detached);
	for (i = 0; fs >= 0 && i < CAPTURE_TTY_NLINKS; i++) {
		id = tracepoint_id(fs, "syscalls", capture_tty_tps[i]);
		if (id < 0)
			break;
		c->tty_ids[i] = id;
	}
	if (fs >= 0)
		close(fs);
	if (fs >= 0 && id >= 0) {
		c->tty_hook = CAPTURE_TTY_TRACEPOINT;
		return;
	}
	if (fs < 0)
		snprintf(c->tty_why, sizeof(c->tty_why),
			 "no tracefs to read the syscall tracepoints' ids from: %s",
			 strerror((int)-fs));
	else
		snprintf(c->tty_why, sizeof(c->tty_why),
			 "no tracepoint syscalls/%s in this kernel (CONFIG_FTRACE_SYSCALLS): %s",
			 capture_tty_tps[i], strerror((int)-id));
	c->tty_hook = want == CAPTURE_TTY_AUTO ? CAPTURE_TTY_SYS_EXIT : CAPTURE_TTY_OFF;
}

/* Removes the pinned links of the terminal hook this agent does not use
 * (a previous agent chose the other one): both would capture. */
static void capture_tty_unpin_other(struct capture *c)
{
	char path[PATH_MAX];
	size_t i;

	if (!c->dir[0])
		return;
	if (c->tty_hook != CAPTURE_TTY_SYS_EXIT) {
		snprintf(path, sizeof(path), "%s/%s", c->dir, CAPTURE_TTY_PIN_SYS_EXIT);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s", c->dir, CAPTURE_TTY_PIN_SYS_ENTER);
		unlink(path);
	}
	if (!c->ia32) {
		snprintf(path, sizeof(path), "%s/%s", c->dir, CAPTURE_TTY_PIN_IA32_EXIT);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s", c->dir, CAPTURE_TTY_PIN_IA32_ENTER);
		unlink(path);
	}
	for (i = 0; c->tty_hook != CAPTURE_TTY_TRACEPOINT && i < CAPTURE_TTY_NLINKS; i++) {
		snprintf(path, sizeof(path), "%s/%s", c->dir, capture_tty_pins[i]);
		unlink(path);
	}
}

/* Loads the skeleton, dropping what this kernel refuses: the recovery
 * programs (before 6.6), then the tracepoints' 32-bit programs, then the
 * terminal hook, then both. */
static int capture_load_all(struct capture *c, const struct capture_opts *opts)
{
	static const struct {
		bool recovery, tty, ia32;
	} tries[] = { { true, true, true },   { false, true, true },  { true, true, false },
		      { false, true, false }, { true, false, false }, { false, false, false } };
	const bool want_recovery = c->recovery;
	const enum capture_tty_hook want_tty = c->tty_hook;
	char first[128] = "";
	bool at_load;
	size_t i;
	int err = -EINVAL;

	for (i = 0; i < ARRAY_SIZE(tries); i++) {
		if ((tries[i].recovery && !want_recovery) ||
		    (tries[i].tty && want_tty == CAPTURE_TTY_OFF) ||
		    (tries[i].ia32 && want_tty != CAPTURE_TTY_TRACEPOINT))
			continue;
		c->recovery = tries[i].recovery;
		c->tty_hook = tries[i].tty ? want_tty : CAPTURE_TTY_OFF;
		c->ia32 = tries[i].ia32;
		err = capture_load(c, opts, &at_load);
		if (!err || !at_load)
			break;
		if (!first[0])
			snprintf(first, sizeof(first), "%s", strerror(-err));
		shellaudit_bpf__destroy(c->skel);
		c->skel = NULL;
	}
	if (err)
		return err;
	if (want_recovery && !c->recovery)
		log_warn("this kernel refused the line-recovery programs (%s): loading without "
			 "them, a line being read when its shell is probed will be missed",
			 first);
	if (want_tty != CAPTURE_TTY_OFF && c->tty_hook == CAPTURE_TTY_OFF)
		snprintf(c->tty_why, sizeof(c->tty_why),
			 "this kernel refused the %s terminal program: %s",
			 capture_tty_hook_name(want_tty), first);
	else if (want_tty == CAPTURE_TTY_TRACEPOINT && !c->ia32)
		log_warn("this kernel refused the programs for 32-bit syscalls (%s): what a "
			 "32-bit program reads from a terminal is not seen",
			 first);
	return 0;
}

int capture_open(const struct capture_opts *opts, capture_handler_fn fn, void *ctx,
		 struct capture **out)
{
	struct capture *c;
	int err;

	libbpf_set_print(capture_libbpf_print);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fn = fn;
	c->before_release = opts->before_release;
	c->ctx = ctx;
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus <= 0) {
		err = c->ncpus ? c->ncpus : -EINVAL;
		log_error("cannot count possible CPUs: %s", strerror(-err));
		goto fail;
	}
	capture_pin_setup(c, opts);
	/* The recovery programs need bpf_get_func_ip and attach cookies in
	 * uprobes (Linux 6.6): without them, load the rest. */
	c->recovery = !opts->no_recovery;
	capture_tty_choose(c, opts->tty_hook);
	err = capture_load_all(c, opts);
	if (err)
		goto fail;
	capture_tty_unpin_other(c);
	if (c->tty_hook == CAPTURE_TTY_OFF && opts->tty_hook != CAPTURE_TTY_OFF)
		log_with(LOG_WARN, LOG_KV("reason", c->tty_why),
			 "terminal capture is off: typed lines are captured from readline only");
	else if (c->tty_hook == CAPTURE_TTY_SYS_EXIT)
		log_with(LOG_INFO,
			 LOG_KV("hook", "sys_exit", "reason",
				c->tty_why[0] ? c->tty_why : "asked for"),
			 "terminal capture through the raw sys_exit tracepoint (every syscall)");
	else if (c->tty_hook == CAPTURE_TTY_TRACEPOINT)
		log_with(LOG_INFO, LOG_KV("hook", "tracepoint"),
			 "terminal capture through the syscall tracepoints of read, readv, "
			 "preadv2, splice, vmsplice, sendfile, tee and io_submit");
	if ((err = capture_attach_sched(c, c->skel->progs.sched_exec, &c->skel->links.sched_exec,
					"sched_exec", "sched_process_exec")) ||
	    (err = capture_attach_sched(c, c->skel->progs.sched_exit, &c->skel->links.sched_exit,
					"sched_exit", "sched_process_exit")) ||
	    (err = capture_attach_sched(c, c->skel->progs.sched_fork, &c->skel->links.sched_fork,
					"sched_fork", "sched_process_fork")))
		goto fail;
	/* A session's stdin, byte by byte: what a thread gathered goes out
	 * when it sleeps. */
	if (c->tty_hook != CAPTURE_TTY_OFF &&
	    (err = capture_attach_sched(c, c->skel->progs.stdin_sleep, &c->skel->links.stdin_sleep,
					"stdin_sleep", "sched_switch")))
		goto fail;
	/* ... or, if it never sleeps, at a tick. */
	if (c->tty_hook != CAPTURE_TTY_OFF)
		capture_attach_ticks(c);
	if ((err = ringbuf_new(bpf_map__fd(c->skel->maps.events),
			       bpf_map__max_entries(c->skel->maps.events), &c->rb))) {
		log_error("cannot set up the ring buffer: %s", strerror(-err));
		goto fail;
	}
	if (c->resumed)
		log_with(LOG_INFO, LOG_KV("dir", c->dir),
			 "took over the capture state of the previous agent: what it captured "
			 "while no agent ran is read now");
	*out = c;
	return 0;
fail:
	/* Pins this agent made for state that never ran go; a state taken
	 * over keeps capturing. */
	if (c->skel && !c->resumed)
		capture_unpin(c);
	capture_close(c);
	return err;
}

void capture_close(struct capture *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < CAPTURE_TTY_NLINKS; i++)
		bpf_link__destroy(c->tty_links[i]);
	for (i = 0; i < ARRAY_SIZE(c->ia32_links); i++)
		bpf_link__destroy(c->ia32_links[i]);
	bpf_link__destroy(c->uring_link);
	bpf_link__destroy(c->uring_file_link);
	for (i = 0; c->tick_links && i < (size_t)c->ncpus; i++)
		bpf_link__destroy(c->tick_links[i]);
	free(c->tick_links);
	ringbuf_free(c->rb);
	/* Pinned links and maps stay: the programs go on capturing for the
	 * next agent. */
	shellaudit_bpf__destroy(c->skel);
	free(c);
}

void capture_unpin(struct capture *c)
{
	if (c && c->dir[0]) {
		capture_remove_dir(c->dir);
		c->dir[0] = '\0';
	}
}

int capture_uninstall(const char *pin_dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(pin_dir);

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, de->d_name);
		capture_remove_dir(path);
		n++;
	}
	closedir(d);
	if (rmdir(pin_dir) && errno != ENOENT)
		return -errno;
	return n;
}

bool capture_replaced(const struct capture *c, uint64_t *unread)
{
	*unread = c->replaced_unread;
	return c->replaced;
}

bool capture_pinned(const struct capture *c)
{
	return c->dir[0] != '\0';
}

bool capture_resumed(const struct capture *c)
{
	return c->resumed;
}

int capture_fd(struct capture *c)
{
	return ringbuf_fd(c->rb);
}

unsigned capture_fill(const struct capture *c)
{
	return ringbuf_fill(c->rb);
}

uint64_t capture_reserved(const struct capture *c)
{
	return ringbuf_reserved(c->rb);
}

uint64_t capture_released(const struct capture *c)
{
	return ringbuf_released(c->rb);
}

/* Records handled are released to the kernel once what was made of them
 * is safe (before_release), CAPTURE_CHUNK at a time: one write for many
 * records, and a flood holds little of the ring buffer. */
#define CAPTURE_CHUNK 64

static void capture_release(struct capture *c)
{
	if (c->before_release)
		c->before_release(c->ctx);
	ringbuf_release(c->rb);
}

static void capture_tty_ia32_on(struct capture *c, bool taken_over);

bool capture_tty_moved(const struct capture *c)
{
	return c->ia32_links[0] != NULL;
}

int capture_drain(struct capture *c)
{
	struct capture_event ev;
	const void *data;
	size_t len;
	int n = 0;

	/* The kernel wakes a reader only for a record at the consumer
	 * position: after each release, one more look. */
	for (;;) {
		while (ringbuf_next(c->rb, &data, &len) == 1) {
			if (capture_decode(data, len, &ev)) {
				if (ev.hdr->type == SA_EV_EXEC && (ev.hdr->flags & SA_F_EXEC_IA32))
					capture_tty_ia32_on(c, false);
				c->fn(c->ctx, &ev);
			}
			if (n < INT_MAX)
				n++;
			if (ringbuf_held(c->rb) >= CAPTURE_CHUNK)
				capture_release(c);
		}
		if (!ringbuf_held(c->rb))
			return n;
		capture_release(c);
	}
}

int capture_skip_handled(struct capture *c,
			 void (*handled)(const struct capture_event *evs, size_t n, bool *out,
					 void *arg),
			 void *arg)
{
	struct capture_event evs[CAPTURE_CHUNK];
	bool done[CAPTURE_CHUNK] = { false };
	size_t at[CAPTURE_CHUNK], n = 0, i, len, read = 0, through = 0;
	const void *data;

	/* What the previous agent read and did not release is at most a
	 * chunk, first in the ring. */
	while (read < CAPTURE_CHUNK && ringbuf_next(c->rb, &data, &len) == 1) {
		if (capture_decode(data, len, &evs[n]))
			at[n++] = read;
		read++;
	}
	if (n)
		handled(evs, n, done, arg);
	for (i = 0; i < n; i++)
		if (done[i])
			through = at[i] + 1;
	ringbuf_rewind(c->rb);
	/* Through the last one handled, undecodable ones before it too. */
	return through ? (int)ringbuf_skip(c->rb, through) : 0;
}

int capture_target_add(struct capture *c, uint64_t mntns, const struct sa_target_val *val)
{
	struct sa_target_key key = { .mntns = mntns };

	if (bpf_map__update_elem(c->skel->maps.targets, &key, sizeof(key), val, sizeof(*val),
				 BPF_ANY))
		return -errno;
	return 0;
}

int capture_target_get(struct capture *c, uint64_t mntns, struct sa_target_val *out)
{
	struct sa_target_key key = { .mntns = mntns };

	if (bpf_map__lookup_elem(c->skel->maps.targets, &key, sizeof(key), out, sizeof(*out), 0))
		return -errno;
	return 0;
}

int capture_mark_task(struct capture *c, int pidfd, const struct sa_mark *m)
{
	if (bpf_map__update_elem(c->skel->maps.marks, &pidfd, sizeof(pidfd), m, sizeof(*m),
				 BPF_NOEXIST) == 0)
		return 1;
	return errno == EEXIST ? 0 : -errno;
}

int capture_task_mark(struct capture *c, int pidfd, struct sa_mark *out)
{
	if (bpf_map__lookup_elem(c->skel->maps.marks, &pidfd, sizeof(pidfd), out, sizeof(*out), 0))
		return -errno;
	return 0;
}

uint32_t capture_target_of_pid(struct capture *c, pid_t pid)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	struct sa_mark m;
	bool ok;

	if (pidfd < 0)
		return 0;
	ok = capture_task_mark(c, pidfd, &m) == 0;
	close(pidfd);
	return ok ? m.target : 0;
}

int capture_target_del(struct capture *c, uint64_t mntns)
{
	struct sa_target_key key = { .mntns = mntns };

	if (bpf_map__delete_elem(c->skel->maps.targets, &key, sizeof(key), 0) && errno != ENOENT)
		return -errno;
	return 0;
}

int capture_attach_uprobe(struct capture *c, enum capture_probe which, const char *path,
			  uint64_t offset, uint64_t cookie, const char *pin, bool *adopted,
			  struct bpf_link **out)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts,
		    .retprobe = which == CAPTURE_READLINE_RET || which == CAPTURE_BIND_X_RET,
		    .bpf_cookie = cookie);
	struct bpf_program *prog = which == CAPTURE_READLINE_RET   ? c->skel->progs.readline_ret :
				   which == CAPTURE_READLINE_ENTER ? c->skel->progs.readline_enter :
				   which == CAPTURE_DEPREP_ENTER   ? c->skel->progs.deprep_enter :
				   which == CAPTURE_BIND_X_RET	   ? c->skel->progs.bind_x_ret :
				   which == CAPTURE_BIND_X_ENTER   ? c->skel->progs.bind_x_enter :
								     c->skel->progs.prep_enter;
	char pinpath[PATH_MAX];
	struct bpf_link *link;

	*adopted = false;
	if (!c->recovery && which != CAPTURE_READLINE_RET && which != CAPTURE_READLINE_ENTER)
		return -EOPNOTSUPP;
	if ((link = capture_pinned_link(c, pin, pinpath))) {
		*adopted = true;
		*out = link;
		return 0;
	}
	link = bpf_program__attach_uprobe_opts(prog, -1, path, offset, &opts);
	if (!link)
		return -errno;
	capture_pin_link(c, link, pin, pinpath);
	*out = link;
	return 0;
}

void capture_link_close(struct bpf_link *link)
{
	bpf_link__destroy(link);
}

void capture_detach(struct bpf_link *link)
{
	if (bpf_link__pin_path(link))
		bpf_link__unpin(link);
	bpf_link__destroy(link);
}

int capture_sweep_links(struct capture *c, bool (*keep)(const char *pin, void *arg), void *arg)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int n = 0;

	if (!c->dir[0] || !(d = opendir(c->dir)))
		return 0;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "rl-", 3) || keep(de->d_name, arg))
			continue;
		snprintf(path, sizeof(path), "%s/%s", c->dir, de->d_name);
		if (unlink(path) == 0)
			n++;
	}
	closedir(d);
	return n;
}

int capture_targets(struct capture *c,
		    void (*fn)(uint64_t mntns, const struct sa_target_val *v, void *arg), void *arg)
{
	struct sa_target_key key, next;
	struct sa_target_val val;
	void *prev = NULL;

	while (bpf_map__get_next_key(c->skel->maps.targets, prev, &next, sizeof(next)) == 0) {
		key = next;
		prev = &key;
		if (!bpf_map__lookup_elem(c->skel->maps.targets, &key, sizeof(key), &val,
					  sizeof(val), 0))
			fn(key.mntns, &val, arg);
	}
	return 0;
}

int capture_sweep_targets(struct capture *c, bool (*keep)(uint64_t mntns, void *arg), void *arg)
{
	struct sa_target_key key, next, *gone = NULL, *g;
	size_t ngone = 0, i;
	void *prev = NULL;
	int n = 0;

	while (bpf_map__get_next_key(c->skel->maps.targets, prev, &next, sizeof(next)) == 0) {
		key = next;
		prev = &key;
		if (keep(key.mntns, arg))
			continue;
		if (!(g = realloc(gone, (ngone + 1) * sizeof(*g)))) {
			free(gone);
			return -ENOMEM;
		}
		gone = g;
		gone[ngone++] = key;
	}
	for (i = 0; i < ngone; i++)
		if (bpf_map__delete_elem(c->skel->maps.targets, &gone[i], sizeof(gone[i]), 0) == 0)
			n++;
	free(gone);
	return n;
}

static int capture_u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Collects the ids of the target map's entries (capture_targets' fn). */
struct capture_ids {
	uint32_t id[SA_MAX_TARGETS];
	size_t n;
};

static void capture_ids_add(uint64_t mntns, const struct sa_target_val *v, void *arg)
{
	struct capture_ids *ids = arg;

	(void)mntns;
	if (ids->n < SA_MAX_TARGETS)
		ids->id[ids->n++] = v->id;
}

/* Whether stream rate v can go: nothing counted, idle since before
 * idle_before. */
static bool capture_stream_idle(const struct sa_stdin_rate *v, uint64_t idle_before)
{
	return !v->skipped && !v->aio && !v->lines && v->tat < idle_before;
}

int capture_sweep_streams(struct capture *c, uint64_t idle_before)
{
	struct bpf_map *m = c->skel->maps.stdin_rate;
	struct capture_ids *ids = malloc(sizeof(*ids));
	uint64_t *keys = malloc(SA_STDIN_STREAMS * sizeof(*keys)), key, next;
	struct sa_stdin_rate v;
	size_t nkeys = 0, i;
	void *prev = NULL;
	int n = 0;

	if (!ids || !keys) {
		free(ids);
		free(keys);
		return -ENOMEM;
	}
	ids->n = 0;
	capture_targets(c, capture_ids_add, ids);
	qsort(ids->id, ids->n, sizeof(ids->id[0]), capture_u32_cmp);
	/* The keys first: removing the key get_next_key stands on starts
	 * the walk again. */
	while (nkeys < SA_STDIN_STREAMS &&
	       bpf_map__get_next_key(m, prev, &next, sizeof(next)) == 0) {
		key = next;
		prev = &key;
		keys[nkeys++] = key;
	}
	for (i = 0; i < nkeys; i++) {
		uint32_t target = (uint32_t)(keys[i] >> 32);

		/* Its target gone, no reader is left to report its count. */
		if (!bsearch(&target, ids->id, ids->n, sizeof(ids->id[0]), capture_u32_cmp)) {
			n += bpf_map__delete_elem(m, &keys[i], sizeof(keys[i]), 0) == 0;
			continue;
		}
		if (bpf_map__lookup_elem(m, &keys[i], sizeof(keys[i]), &v, sizeof(v), 0) ||
		    !capture_stream_idle(&v, idle_before))
			continue;
		/* Taken out with its value as it was then: a stream that was
		 * read since goes back (a program that still holds the entry
		 * writes to one no stream sees, harmless while it is idle). */
		if (bpf_map_lookup_and_delete_elem(bpf_map__fd(m), &keys[i], &v))
			continue;
		if (capture_stream_idle(&v, idle_before))
			n++;
		else
			bpf_map__update_elem(m, &keys[i], sizeof(keys[i]), &v, sizeof(v),
					     BPF_NOEXIST);
	}
	free(ids);
	free(keys);
	return n;
}

int capture_stream(struct capture *c, uint64_t key, struct sa_stdin_rate *v, bool set)
{
	struct bpf_map *m = c->skel->maps.stdin_rate;

	if (set ? bpf_map__update_elem(m, &key, sizeof(key), v, sizeof(*v), BPF_ANY) :
		  bpf_map__lookup_elem(m, &key, sizeof(key), v, sizeof(*v), 0))
		return -errno;
	return 0;
}

int capture_reported(struct capture *c, uint64_t v[SA_CNT_MAX], bool set)
{
	uint32_t i;

	for (i = 0; i < SA_CNT_MAX; i++) {
		int err = set ? bpf_map__update_elem(c->skel->maps.reported, &i, sizeof(i), &v[i],
						     sizeof(v[i]), BPF_ANY) :
				bpf_map__lookup_elem(c->skel->maps.reported, &i, sizeof(i), &v[i],
						     sizeof(v[i]), 0);
		if (err)
			return -errno;
	}
	return 0;
}

enum capture_tty_hook capture_tty_hook(const struct capture *c, const char **why)
{
	*why = c->tty_hook == CAPTURE_TTY_OFF ? c->tty_why : NULL;
	return c->tty_hook;
}

/* Attaches tty_read_tp (tty_enter_tp past the exits) to tracepoint i as a
 * perf event link. */
static struct bpf_link *capture_tty_attach_tp(struct capture *c, size_t i)
{
	struct bpf_link *link;
	int pfd = tracepoint_perf_open(c->tty_ids[i]);

	if (pfd < 0) {
		errno = -pfd;
		return NULL;
	}
	link = bpf_program__attach_perf_event(i < CAPTURE_TTY_NEXITS ? c->skel->progs.tty_read_tp :
								       c->skel->progs.tty_enter_tp,
					      pfd);
	if (!link) {
		int err = errno;

		close(pfd);
		errno = err;
	}
	return link;
}

/* Sets tty_mode (see the BPF side): 1, every syscall to the raw programs. */
static int capture_tty_mode(struct capture *c, uint32_t v)
{
	uint32_t k = 0;

	return bpf_map__update_elem(c->skel->maps.tty_mode, &k, sizeof(k), &v, sizeof(v), BPF_ANY) ?
		       -errno :
		       0;
}

/* Detaches the terminal links of the tracepoint hook. */
static void capture_tty_detach_links(struct capture *c)
{
	size_t i;

	for (i = 0; i < CAPTURE_TTY_NLINKS; i++) {
		if (c->tty_links[i])
			capture_detach(c->tty_links[i]);
		c->tty_links[i] = NULL;
	}
}

/* Detaches the raw programs' links of a move (capture_tty_ia32_on). */
static void capture_tty_detach_raw(struct capture *c)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(c->ia32_links); i++) {
		if (c->ia32_links[i])
			capture_detach(c->ia32_links[i]);
		c->ia32_links[i] = NULL;
	}
}

/* A 32-bit program runs in a target (SA_F_EXEC_IA32), or a previous agent
 * saw one (taken over): with the tracepoints attached, terminal capture
 * moves to the raw sys_exit and sys_enter programs, which see 32-bit
 * syscalls, until it is detached. They are attached beside the
 * tracepoints (taking 32-bit syscalls only), take every syscall from the
 * store to tty_mode on (the tracepoints' programs none), and the
 * tracepoints' links go: the raw ones alone cost every syscall of the
 * node less than both. Tried once per attachment of the hook. */
static void capture_tty_ia32_on(struct capture *c, bool taken_over)
{
	int err = 0;

	if (!c->ia32 || c->ia32_tried || !c->tty_on)
		return;
	c->ia32_tried = true;
	if (!(c->ia32_links[0] = capture_attach_pinned(c, c->skel->progs.tty_read_raw,
						       CAPTURE_TTY_PIN_IA32_EXIT)) ||
	    !(c->ia32_links[1] = capture_attach_pinned(c, c->skel->progs.tty_enter_raw,
						       CAPTURE_TTY_PIN_IA32_ENTER)))
		err = -errno;
	if (!err)
		err = capture_tty_mode(c, 1);
	if (err) {
		/* The tracepoints take every 64-bit syscall, as before (or
		 * after a previous agent's move, once attached). */
		capture_tty_detach_raw(c);
		capture_tty_mode(c, 0);
		log_with(LOG_ERROR, LOG_KV("reason", strerror(-err)),
			 "a 32-bit program runs in an audited container, and what it reads from a "
			 "terminal is not seen: the raw tracepoints refused");
		return;
	}
	capture_tty_detach_links(c);
	log_with(LOG_INFO, LOG_KV("hook", "sys_exit", "taken_over", taken_over ? "yes" : "no"),
		 "a 32-bit program runs in an audited container: terminal capture moves to the "
		 "raw sys_exit and sys_enter tracepoints, which see its syscalls, until it is "
		 "detached (every syscall of the node pays them)");
}

/* Takes over or attaches link i of the hook loaded: NULL with errno. */
static struct bpf_link *capture_tty_link(struct capture *c, size_t i)
{
	const char *pin = c->tty_hook == CAPTURE_TTY_TRACEPOINT ? capture_tty_pins[i] :
			  i == 0				? CAPTURE_TTY_PIN_SYS_EXIT :
								  CAPTURE_TTY_PIN_SYS_ENTER;
	char path[PATH_MAX];
	struct bpf_link *link = capture_pinned_link(c, pin, path);

	if (link)
		return link;
	link = c->tty_hook == CAPTURE_TTY_TRACEPOINT ?
		       capture_tty_attach_tp(c, i) :
		       bpf_program__attach(i == 0 ? c->skel->progs.tty_read_raw :
						    c->skel->progs.tty_enter_raw);
	if (link)
		capture_pin_link(c, link, pin, path);
	return link;
}

int capture_tty_set(struct capture *c, bool on)
{
	size_t i, n = c->tty_hook == CAPTURE_TTY_TRACEPOINT ? CAPTURE_TTY_NLINKS : 2;
	char path[PATH_MAX];
	bool raw;
	int err;

	if (c->tty_hook == CAPTURE_TTY_OFF)
		return on ? -EOPNOTSUPP : 0;
	if (on == c->tty_on)
		return 0;
	if (!on) {
		if (c->ia32)
			capture_tty_mode(c, 0);
		capture_tty_detach_links(c);
		capture_tty_detach_raw(c);
		if (c->uring_link)
			capture_detach(c->uring_link);
		if (c->uring_file_link)
			capture_detach(c->uring_file_link);
		c->uring_link = c->uring_file_link = NULL;
		c->tty_on = c->ia32_tried = false;
		return 1;
	}
	/* Where a previous agent had moved to the raw programs, it goes on
	 * so, with no tracepoint attached; elsewhere the tracepoints'
	 * programs take every 64-bit syscall (after an agent stopped between
	 * its two steps of the way back). */
	snprintf(path, sizeof(path), "%s/%s", c->dir, CAPTURE_TTY_PIN_IA32_EXIT);
	raw = c->ia32 && c->dir[0] && !access(path, F_OK);
	if (c->ia32 && !raw && (err = capture_tty_mode(c, 0)))
		return err;
	c->tty_on = true;
	if (raw)
		capture_tty_ia32_on(c, true);
	/* (One stopped in the middle of its move left both pinned.) */
	for (i = 0; capture_tty_moved(c) && c->dir[0] && i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", c->dir, capture_tty_pins[i]);
		unlink(path);
	}
	for (i = 0; !capture_tty_moved(c) && i < n; i++) {
		if (!(c->tty_links[i] = capture_tty_link(c, i))) {
			err = -errno;
			capture_tty_set(c, false);
			return err ? err : -EINVAL;
		}
	}
	/* Without it, terminal capture goes on, blind to io_uring only. */
	if (c->uring && !(c->uring_link = capture_attach_pinned(c, c->skel->progs.uring_done,
								CAPTURE_TTY_PIN_URING)))
		log_with(LOG_WARN, LOG_KV("reason", strerror(errno)),
			 "io_uring reads of terminals are not seen: its tracepoint refused");
	/* Without it, a splice's input is what its fd names at completion. */
	if (c->uring_file && !(c->uring_file_link = capture_attach_pinned(
				       c, c->skel->progs.uring_file, CAPTURE_TTY_PIN_URING_FILE)))
		log_with(LOG_WARN, LOG_KV("reason", strerror(errno)),
			 "io_uring splices of terminals whose fd is moved while they wait are not "
			 "seen: its tracepoint refused");
	return 1;
}

int capture_counters(struct capture *c, uint64_t out[SA_CNT_MAX])
{
	uint64_t *vals;
	uint32_t i;
	int cpu, err = 0;

	vals = calloc((size_t)c->ncpus, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (i = 0; i < SA_CNT_MAX; i++) {
		out[i] = 0;
		if (bpf_map__lookup_elem(c->skel->maps.counters, &i, sizeof(i), vals,
					 sizeof(*vals) * (size_t)c->ncpus, 0)) {
			err = -errno;
			break;
		}
		for (cpu = 0; cpu < c->ncpus; cpu++)
			out[i] += vals[cpu];
	}
	free(vals);
	return err;
}
