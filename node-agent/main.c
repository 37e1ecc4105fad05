/* shellaudit-agent: flags, then the capture loop. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "capture.h"
#include "log.h"
#include "target.h"

#define MAIN_MAX_PIDS 256

static void main_usage(FILE *f)
{
	fprintf(f,
		"Usage: shellaudit-agent [OPTIONS]\n"
		"\n"
		"Records every line typed into readline programs (bash, and programs linking\n"
		"libreadline such as bc, sqlite3, gdb) and every program executed inside the\n"
		"targeted containers, as JSON lines. Shells without readline (busybox ash,\n"
		"dash, bash --noediting) and programs reading with readline's callback API\n"
		"(python3's REPL) are not line-captured; what they run is, through exec capture.\n"
		"\n"
		"  --target-pid PID      audit the container (mount namespace) of process PID;\n"
		"                        repeatable                        SHELLAUDIT_TARGET_PIDS\n"
		"                                                          (comma-separated)\n"
		"  --targets-file FILE   targets, one per line: PID or container ID\n"
		"                        (containerd://ID, cri-o://ID, docker://ID), then an\n"
		"                        optional name; re-read when it changes\n"
		"                                                          SHELLAUDIT_TARGETS_FILE\n"
		"  --output FILE         JSON lines to FILE (appended), '-' for stdout (default)\n"
		"                                                          SHELLAUDIT_OUTPUT\n"
		"  --max-line BYTES      longest line kept, longer ones are cut and marked\n"
		"                        \"truncated\" (default %d, at most %d)\n"
		"                                                          SHELLAUDIT_MAX_LINE\n"
		"  --max-args BYTES      bytes of argv kept per exec (default %d, at most %d)\n"
		"                                                          SHELLAUDIT_MAX_ARGS\n"
		"  --ringbuf-mb MB       kernel ring buffer size, a power of two (default 8)\n"
		"                                                          SHELLAUDIT_RINGBUF_MB\n"
		"  --log-level LEVEL     error, warn, info (default) or debug\n"
		"                                                          SHELLAUDIT_LOG_LEVEL\n"
		"  --help                this text\n"
		"  --version             the version\n"
		"\n"
		"An empty line (Enter alone) is an entry with \"line\":\"\". Ctrl-D at the\n"
		"prompt is an entry with \"eof\":true. Logs go to stderr as JSON lines.\n",
		SA_LINE_MAX_DEFAULT, SA_LINE_CAP - 2, SA_ARGS_MAX_DEFAULT, SA_ARGS_CAP);
}

/* Parses a decimal in [min, max] or fails with a message naming the flag. */
static int main_number(const char *flag, const char *s, unsigned long min, unsigned long max,
		       unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!*s || *end || errno || v < min || v > max) {
		fprintf(stderr, "shellaudit-agent: %s must be a number from %lu to %lu, not '%s'\n",
			flag, min, max, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int main_add_pids(const char *s, pid_t *pids, size_t *n)
{
	char buf[4096], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (*n == MAIN_MAX_PIDS || target_parse_pid(tok, &pids[*n])) {
			fprintf(stderr, "shellaudit-agent: bad or too many target pids: '%s'\n",
				tok);
			return -EINVAL;
		}
		(*n)++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_PID = 256, OPT_FILE, OPT_OUT, OPT_LINE, OPT_ARGS, OPT_RB, OPT_LOG, OPT_HELP,
	       OPT_VERSION };
	static const struct option longopts[] = {
		{ "target-pid", required_argument, NULL, OPT_PID },
		{ "targets-file", required_argument, NULL, OPT_FILE },
		{ "output", required_argument, NULL, OPT_OUT },
		{ "max-line", required_argument, NULL, OPT_LINE },
		{ "max-args", required_argument, NULL, OPT_ARGS },
		{ "ringbuf-mb", required_argument, NULL, OPT_RB },
		{ "log-level", required_argument, NULL, OPT_LOG },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	static pid_t pids[MAIN_MAX_PIDS];
	struct agent_opts o = {
		.line_max = SA_LINE_MAX_DEFAULT,
		.args_max = SA_ARGS_MAX_DEFAULT,
		.ringbuf_bytes = 8u << 20,
		.pids = pids,
	};
	const char *line = getenv("SHELLAUDIT_MAX_LINE"), *args = getenv("SHELLAUDIT_MAX_ARGS");
	const char *rb = getenv("SHELLAUDIT_RINGBUF_MB"), *level = getenv("SHELLAUDIT_LOG_LEVEL");
	const char *env_pids = getenv("SHELLAUDIT_TARGET_PIDS");
	enum log_level lvl;
	unsigned long v;
	int c;

	o.targets_file = getenv("SHELLAUDIT_TARGETS_FILE");
	o.output = getenv("SHELLAUDIT_OUTPUT");
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_PID:
			if (main_add_pids(optarg, pids, &o.npids))
				return 2;
			env_pids = NULL;
			break;
		case OPT_FILE:
			o.targets_file = optarg;
			break;
		case OPT_OUT:
			o.output = optarg;
			break;
		case OPT_LINE:
			line = optarg;
			break;
		case OPT_ARGS:
			args = optarg;
			break;
		case OPT_RB:
			rb = optarg;
			break;
		case OPT_LOG:
			level = optarg;
			break;
		case OPT_HELP:
			main_usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("shellaudit-agent %s\n", SHELLAUDIT_VERSION);
			return 0;
		default:
			main_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "shellaudit-agent: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (env_pids && !o.npids && main_add_pids(env_pids, pids, &o.npids))
		return 2;
	if (level && log_parse_level(level, &lvl)) {
		fprintf(stderr, "shellaudit-agent: --log-level must be error, warn, info or debug\n");
		return 2;
	}
	if (level)
		log_set_level(lvl);
	if (line) {
		if (main_number("--max-line", line, 1, SA_LINE_CAP - 2, &v))
			return 2;
		o.line_max = (uint32_t)v;
	}
	if (args) {
		if (main_number("--max-args", args, 0, SA_ARGS_CAP, &v))
			return 2;
		o.args_max = (uint32_t)v;
	}
	if (rb) {
		if (main_number("--ringbuf-mb", rb, 1, 1024, &v))
			return 2;
		if (v & (v - 1)) {
			fprintf(stderr, "shellaudit-agent: --ringbuf-mb must be a power of two\n");
			return 2;
		}
		o.ringbuf_bytes = (uint32_t)(v << 20);
	}
	if (!o.npids && !o.targets_file) {
		fprintf(stderr, "shellaudit-agent: nothing to audit: give --target-pid or "
				"--targets-file\n");
		return 2;
	}
	return agent_run(&o) ? 1 : 0;
}
