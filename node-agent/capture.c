/* Loading the BPF object and moving its events to the agent. */
#include "capture.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "shellaudit.skel.h"

struct capture {
	struct shellaudit_bpf *skel;
	struct ring_buffer *rb;
	capture_handler_fn fn;
	void *ctx;
	int ncpus;
	bool recovery; /* deprep_enter and prep_enter loaded */
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

/* Checks the record against its declared lengths before anyone reads it. */
static int capture_on_record(void *ctx, void *data, size_t size)
{
	struct capture *c = ctx;
	struct capture_event ev = { 0 };
	const struct sa_event_hdr *h = data;

	if (size < sizeof(*h))
		return 0;
	ev.hdr = h;
	switch (h->type) {
	case SA_EV_LINE: {
		const struct sa_line_event *e = data;

		if (size < offsetof(struct sa_line_event, line) ||
		    e->len > size - offsetof(struct sa_line_event, line))
			return 0;
		ev.text = e->line;
		ev.text_len = e->len;
		break;
	}
	case SA_EV_EXEC: {
		const struct sa_exec_event *e = data;

		if (size < sizeof(*e) || e->args_len > SA_ARGS_CAP ||
		    e->filename_len >= SA_FILENAME_CAP)
			return 0;
		ev.text = e->args;
		ev.text_len = e->args_len;
		ev.filename = e->filename;
		ev.filename_len = e->filename_len;
		ev.argc = e->argc;
		break;
	}
	case SA_EV_EXIT: {
		const struct sa_exit_event *e = data;

		if (size < sizeof(*e))
			return 0;
		ev.exit_code = e->exit_code;
		break;
	}
	default:
		return 0;
	}
	c->fn(c->ctx, &ev);
	return 0;
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
	err = bpf_map__set_max_entries(c->skel->maps.events, opts->ringbuf_bytes);
	if (err) {
		log_error("ring buffer size %u refused: %s", opts->ringbuf_bytes, strerror(-err));
		return err;
	}
	if (!c->recovery) {
		bpf_program__set_autoload(c->skel->progs.deprep_enter, false);
		bpf_program__set_autoload(c->skel->progs.prep_enter, false);
	}
	err = shellaudit_bpf__load(c->skel);
	*at_load = err != 0;
	if (err && !c->recovery)
		log_error("cannot load the BPF programs (root, BTF at /sys/kernel/btf/vmlinux "
			  "and a kernel >= 5.8 are needed): %s",
			  strerror(-err));
	return err;
}

int capture_open(const struct capture_opts *opts, capture_handler_fn fn, void *ctx,
		 struct capture **out)
{
	struct capture *c;
	bool at_load;
	int err;

	libbpf_set_print(capture_libbpf_print);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fn = fn;
	c->ctx = ctx;
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus <= 0) {
		err = c->ncpus ? c->ncpus : -EINVAL;
		log_error("cannot count possible CPUs: %s", strerror(-err));
		goto fail;
	}
	/* The recovery programs need bpf_get_func_ip and attach cookies in
	 * uprobes (Linux 6.6): without them, load the rest. */
	c->recovery = true;
	err = capture_load(c, opts, &at_load);
	if (err && at_load) {
		log_warn("this kernel refused the line-recovery programs (%s): loading without "
			 "them, a line being read when its shell is probed will be missed",
			 strerror(-err));
		shellaudit_bpf__destroy(c->skel);
		c->skel = NULL;
		c->recovery = false;
		err = capture_load(c, opts, &at_load);
	}
	if (err)
		goto fail;
	c->skel->links.sched_exec = bpf_program__attach(c->skel->progs.sched_exec);
	if (!c->skel->links.sched_exec) {
		err = -errno;
		log_error("cannot attach to tracepoint sched_process_exec: %s", strerror(-err));
		goto fail;
	}
	c->skel->links.sched_exit = bpf_program__attach(c->skel->progs.sched_exit);
	if (!c->skel->links.sched_exit) {
		err = -errno;
		log_error("cannot attach to tracepoint sched_process_exit: %s", strerror(-err));
		goto fail;
	}
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.events), capture_on_record, c, NULL);
	if (!c->rb) {
		err = -errno;
		log_error("cannot set up the ring buffer: %s", strerror(-err));
		goto fail;
	}
	*out = c;
	return 0;
fail:
	capture_close(c);
	return err;
}

void capture_close(struct capture *c)
{
	if (!c)
		return;
	ring_buffer__free(c->rb);
	shellaudit_bpf__destroy(c->skel);
	free(c);
}

int capture_fd(struct capture *c)
{
	return ring_buffer__epoll_fd(c->rb);
}

int capture_poll(struct capture *c, int timeout_ms)
{
	int n = ring_buffer__poll(c->rb, timeout_ms);

	return n == -EINTR ? 0 : n;
}

int capture_drain(struct capture *c)
{
	return ring_buffer__consume(c->rb);
}

int capture_target_add(struct capture *c, uint64_t mntns, uint32_t id)
{
	struct sa_target_key key = { .mntns = mntns };
	struct sa_target_val val = { .id = id };

	if (bpf_map__update_elem(c->skel->maps.targets, &key, sizeof(key), &val, sizeof(val),
				 BPF_ANY))
		return -errno;
	return 0;
}

int capture_target_del(struct capture *c, uint64_t mntns)
{
	struct sa_target_key key = { .mntns = mntns };

	if (bpf_map__delete_elem(c->skel->maps.targets, &key, sizeof(key), 0) && errno != ENOENT)
		return -errno;
	return 0;
}

int capture_attach_uprobe(struct capture *c, enum capture_probe which, const char *path,
			  uint64_t offset, uint64_t cookie, struct bpf_link **out)
{
	LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = which == CAPTURE_READLINE_RET,
		    .bpf_cookie = cookie);
	struct bpf_program *prog = which == CAPTURE_READLINE_RET   ? c->skel->progs.readline_ret :
				   which == CAPTURE_READLINE_ENTER ? c->skel->progs.readline_enter :
				   which == CAPTURE_DEPREP_ENTER   ? c->skel->progs.deprep_enter :
								     c->skel->progs.prep_enter;
	struct bpf_link *link;

	if (!c->recovery && (which == CAPTURE_DEPREP_ENTER || which == CAPTURE_PREP_ENTER))
		return -EOPNOTSUPP;
	link = bpf_program__attach_uprobe_opts(prog, -1, path, offset, &opts);
	if (!link)
		return -errno;
	*out = link;
	return 0;
}

void capture_detach(struct bpf_link *link)
{
	bpf_link__destroy(link);
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
