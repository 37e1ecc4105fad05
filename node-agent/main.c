// SPDX-License-Identifier: Apache-2.0
/* shellaudit-agent: flags, then the capture loop. */
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "agent.h"
#include "capture.h"
#include "kube.h"
#include "kubeconfig.h"
#include "log.h"
#include "target.h"
#include "verify.h"

#define MAIN_MAX_PIDS 256
#define MAIN_MMAP_THRESHOLD (16 << 10) /* see main() */

static void main_usage(FILE *f)
{
	fprintf(f,
		"Usage: shellaudit-agent [OPTIONS]\n"
		"\n"
		"Records every line typed into readline programs (bash, and programs linking\n"
		"libreadline such as sqlite3, bc, psql, python3's REPL, gdb) and every program\n"
		"executed inside the targeted containers, as JSON lines. What processes read\n"
		"from their terminal while readline is not reading it (busybox ash, dash,\n"
		"bash --noediting or after `set +o emacs`, the read builtin, cat) is\n"
		"captured as lines too, with \"source\":\"terminal\" (readline's lines say\n"
		"\"source\":\"readline\"). In programs using readline's callback interface\n"
		"(python3, gdb), Ctrl-D is an empty line.\n"
		"\n"
		"  --target-pid PID      audit the container of process PID: the processes of\n"
		"                        its mount namespace and all they start, whatever\n"
		"                        namespaces they move to; repeatable\n"
		"                                                          SHELLAUDIT_TARGET_PIDS\n"
		"                                                          (comma-separated)\n"
		"  --targets-file FILE   targets, one per line: PID or container ID\n"
		"                        (containerd://ID, cri-o://ID, docker://ID), then an\n"
		"                        optional name; re-read when it changes\n"
		"                                                          "
		"SHELLAUDIT_TARGETS_FILE\n"
		"  --output FILE         JSON lines to FILE (appended), '-' for stdout (default).\n"
		"                        In Kubernetes mode off unless given: then every entry\n"
		"                        spooled for an AuditRecord is also written there, after\n"
		"                        redaction, with its node, namespace, pod, container and\n"
		"                        session, for a log pipeline (Fluent Bit, Vector); a\n"
		"                        reader that does not keep up costs lines (a gap line),\n"
		"                        never capture                     SHELLAUDIT_OUTPUT\n"
		"  --max-line BYTES      longest line kept, longer ones are cut and marked\n"
		"                        \"truncated\" (default %d, at most %d)\n"
		"                                                          SHELLAUDIT_MAX_LINE\n"
		"  --max-args BYTES      bytes of argv kept per exec (default %d, at most %d)\n"
		"                                                          SHELLAUDIT_MAX_ARGS\n"
		"  --ringbuf-mb MB       kernel ring buffer size, a power of two (default 2)\n"
		"                                                          SHELLAUDIT_RINGBUF_MB\n"
		"  --no-terminal         do not capture terminal reads (--terminal: do, the\n"
		"                        default; in Kubernetes mode the policies decide per\n"
		"                        container, and --no-terminal turns it off on the node)\n"
		"                                                          SHELLAUDIT_TERMINAL\n"
		"                                                          (true or false)\n"
		"  --terminal-hook HOOK  the kernel hook of terminal capture: tracepoint (the\n"
		"                        tracepoints of read, readv, preadv2, splice,\n"
		"                        vmsplice, sendfile, tee and io_submit; not\n"
		"                        32-bit syscalls), sys_exit (every syscall's\n"
		"                        return; 32-bit syscalls too, costs more) or auto\n"
		"                        (default: tracepoint when the kernel has them)\n"
		"                                                     SHELLAUDIT_TERMINAL_HOOK\n"
		"  --bpf-dir DIR         pin the programs, links and ring buffer in DIR, on a\n"
		"                        BPF file system: after a crash (kill -9, OOM) capture\n"
		"                        goes on, and the next agent reads what was captured\n"
		"                        meanwhile. A stop (SIGTERM) keeps it too while there\n"
		"                        are targets, and removes it when there are none;\n"
		"                        `shellaudit-agent uninstall` removes it. '' : off.\n"
		"                        Default /sys/fs/bpf/shellaudit in Kubernetes mode,\n"
		"                        off otherwise                     SHELLAUDIT_BPF_DIR\n"
		"  --state-dir DIR       keep there what the agent learns that outlives it: the\n"
		"                        ELF files it refused to parse, by identity, so a\n"
		"                        restart does not parse them again; the signing key.\n"
		"                        Default: the spool dir's parent in Kubernetes mode\n"
		"                        (/var/lib/shellaudit), none otherwise\n"
		"                                                          SHELLAUDIT_STATE_DIR\n"
		"  --runtime-roots DIRS  where container runtimes keep their state, colon-\n"
		"                        separated: a container ID's init is the process the\n"
		"                        runtime recorded there (runc state.json), else the\n"
		"                        oldest process of its cgroup (default\n"
		"                        /run/containerd/runc:/run/runc:/run/docker/runtime-runc)\n"
		"                                                 SHELLAUDIT_RUNTIME_ROOTS\n"
		"\n"
		"Kubernetes mode (a DaemonSet): targets from the node's ShellAuditNode, entries\n"
		"through a durable spool to AuditRecords and Events.\n"
		"  --node-name NAME      this node; turns Kubernetes mode on   NODE_NAME\n"
		"  --kubeconfig FILE     in-cluster configuration when unset   KUBECONFIG\n"
		"  --spool-dir DIR       the spool (default /var/lib/shellaudit/spool); entries\n"
		"                        are fdatasync'd there before they are published\n"
		"                                                          SHELLAUDIT_SPOOL_DIR\n"
		"  --key-file FILE       the node's Ed25519 key that signs its AuditRecords,\n"
		"                        made at first start, 0600 (default node.key in the\n"
		"                        state dir)                       SHELLAUDIT_KEY_FILE\n"
		"  --spool-max-mb MB     spool bound; past it entries are counted and become a\n"
		"                        gap entry (default 256)          SHELLAUDIT_SPOOL_MAX_MB\n"
		"  --batch-entries N     an AuditRecord per session every N entries (100),\n"
		"  --batch-bytes BYTES   or BYTES of entries (262144),\n"
		"  --batch-ms MS         or MS after its first entry (1000)\n"
		"  --port N              /healthz, /readyz, /metrics (default 8081 with\n"
		"                        --node-name, else off; 0: off)\n"
		"                                                          SHELLAUDIT_PORT\n"
		"  --http-address ADDR   their bind address (default: all)  "
		"SHELLAUDIT_HTTP_ADDRESS\n"
		"  --drain-seconds N     on SIGTERM, publish the spool for at most N s (10)\n"
		"  --attribution-window SECS  a pending session (who exec'd into a pod, from the\n"
		"                        controller's webhook) is matched to a session that\n"
		"                        began up to SECS after the agent received it (10)\n"
		"                                              SHELLAUDIT_ATTRIBUTION_WINDOW\n"
		"  --attribution-delay-ms MS  a session is decided MS after it began, so that a\n"
		"                        pending session the watch brings late counts (1000)\n"
		"                                           SHELLAUDIT_ATTRIBUTION_DELAY_MS\n"
		"  --audit-wait SECS     how long a session waits for the API server's audit\n"
		"                        log when its pending session expects it (5)\n"
		"                                                     SHELLAUDIT_AUDIT_WAIT\n"
		"  --watch-transport T   chunked (default) or websocket: how the agent watches\n"
		"                        its ShellAuditNode        SHELLAUDIT_WATCH_TRANSPORT\n"
		"\n"
		"  shellaudit-agent uninstall [--bpf-dir DIR]\n"
		"                        ends capture on this node: removes the pinned\n"
		"                        programs, links and maps every agent build left in\n"
		"                        DIR (default /sys/fs/bpf/shellaudit)\n"
		"  shellaudit-agent verify --namespace NS --pod POD --container NAME [--kubeconfig "
		"F]\n"
		"                        checks the AuditRecord chains of a container: exit 0\n"
		"                        when intact, 1 when a record is missing (first, middle\n"
		"                        or last: the node's published chain head), altered,\n"
		"                        reordered, unsigned or not signed by its node's key;\n"
		"                        3 when there is none, 2 when they cannot be read (as\n"
		"                        `kubectl shellaudit verify`)\n"
		"\n"
		"  --log-level LEVEL     error, warn, info (default) or debug\n"
		"                                                          SHELLAUDIT_LOG_LEVEL\n"
		"  --help                this text\n"
		"  --version             the version\n"
		"\n"
		"An empty line (Enter alone) is an entry with \"line\":\"\". Ctrl-D at the\n"
		"prompt is an entry with \"eof\":true. The line a shell was already reading\n"
		"when it was probed (its container just targeted) is recovered when Enter is\n"
		"pressed and marked \"recovered\":true. The line a bash `bind -x` command\n"
		"runs on is an entry when the command starts, marked \"inexact\":true.\n"
		"Terminal lines: empty ones are not entries; a line edited with keys whose\n"
		"effect cannot be known (history, completion) is marked \"inexact\":true; a\n"
		"line typed with echo off (a password) is not recorded, only that it was\n"
		"(\"echo_off\":true). A line of a session's stdin that ended before its\n"
		"newline (its reader went on, a program started, a second passed) is marked\n"
		"\"no_newline\":true: the next one of its process may be the rest of it.\n"
		"Logs go to stderr as JSON lines.\n",
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

/* shellaudit-agent verify: an alias of `kubectl shellaudit verify`, with
 * this binary's flags; the work is verify.c's. */
static int main_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "namespace", required_argument, NULL, 'n' },
		{ "pod", required_argument, NULL, 'p' },
		{ "container", required_argument, NULL, 'c' },
		{ "kubeconfig", required_argument, NULL, 'k' },
		{ 0 },
	};
	const char *ns = NULL, *pod = NULL, *container = NULL, *kc = getenv("KUBECONFIG");
	struct kubeconfig *cfg = NULL;
	struct kube_client *c = NULL;
	char err[512];
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n': ns = optarg; break;
		case 'p': pod = optarg; break;
		case 'c': container = optarg; break;
		case 'k': kc = optarg; break;
		default: return 2;
		}
	}
	if (!ns || !pod || !container) {
		fprintf(stderr,
			"shellaudit-agent verify: --namespace, --pod and --container are needed\n");
		return 2;
	}
	ret = kc && *kc ? kubeconfig_load(kc, NULL, &cfg, err, sizeof(err)) :
			  kubeconfig_in_cluster(NULL, &cfg, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "shellaudit-agent verify: %s\n", err);
		return 2;
	}
	if ((ret = kube_client_new(cfg, NULL, &c)) < 0) {
		fprintf(stderr, "shellaudit-agent verify: cannot make a client for %s: %s\n",
			cfg->server, strerror(-ret));
		kubeconfig_free(cfg);
		return 2;
	}
	ret = verify_container(c, ns, pod, container, stdout);
	kube_client_free(c);
	kubeconfig_free(cfg);
	return verify_exit_status(ret);
}

/* shellaudit-agent uninstall: capture ends on this node. */
static int main_uninstall(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "bpf-dir", required_argument, NULL, 'b' },
		{ 0 },
	};
	const char *dir = getenv("SHELLAUDIT_BPF_DIR");
	int opt, n;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (opt != 'b')
			return 2;
		dir = optarg;
	}
	if (!dir || !*dir)
		dir = "/sys/fs/bpf/shellaudit";
	n = capture_uninstall(dir);
	if (n < 0) {
		log_with(LOG_ERROR, LOG_KV("dir", dir), "cannot remove the capture state: %s",
			 strerror(-n));
		return 1;
	}
	log_with(LOG_INFO, LOG_KV("dir", dir),
		 "capture ended on this node: %d pinned states removed", n);
	return 0;
}

/* libcurl's librtmp pulls in GnuTLS, whose library constructor
 * initialises it (and p11-kit's modules) in every process that loads it:
 * about 1 MiB of the agent's RSS for a library it never calls (its TLS is
 * OpenSSL's; librtmp would initialise GnuTLS itself for rtmps://, which
 * the agent never asks for). GNUTLS_NO_IMPLICIT_INIT=1 skips that, but only
 * when set before the process starts: the agent starts itself again once
 * with it, the same process (pid, fds, arguments, environment) under the
 * same name (the exec of /proc/self/exe would name it "exe": pgrep,
 * ps and top would not find it). Where that exec fails (no /proc), it goes
 * on as it is. Only when GnuTLS is loaded at all: the build links a static
 * libcurl without librtmp where it can (hack/libcurl.sh). */
#define MAIN_COMM_ENV "SHELLAUDIT_REEXEC_COMM"

static void main_skip_gnutls_init(char **argv)
{
	const char *comm = getenv(MAIN_COMM_ENV);
	char name[16] = "";

	if (comm) {
		prctl(PR_SET_NAME, comm, 0, 0, 0);
		unsetenv(MAIN_COMM_ENV);
	}
	if (!dlsym(RTLD_DEFAULT, "gnutls_global_init") || getenv("GNUTLS_NO_IMPLICIT_INIT") ||
	    prctl(PR_GET_NAME, name, 0, 0, 0) < 0 || setenv(MAIN_COMM_ENV, name, 1) < 0)
		return;
	if (setenv("GNUTLS_NO_IMPLICIT_INIT", "1", 1) == 0)
		execv("/proc/self/exe", argv);
	unsetenv("GNUTLS_NO_IMPLICIT_INIT");
	unsetenv(MAIN_COMM_ENV);
}

int main(int argc, char **argv)
{
	enum {
		OPT_PID = 256,
		OPT_FILE,
		OPT_OUT,
		OPT_LINE,
		OPT_ARGS,
		OPT_RB,
		OPT_LOG,
		OPT_HELP,
		OPT_VERSION,
		OPT_NODE,
		OPT_KUBECONFIG,
		OPT_SPOOL,
		OPT_SPOOL_MB,
		OPT_BATCH_N,
		OPT_BATCH_B,
		OPT_BATCH_MS,
		OPT_PORT,
		OPT_DRAIN,
		OPT_TRANSPORT,
		OPT_BPF_DIR,
		OPT_STATE_DIR,
		OPT_KEY,
		OPT_RUNTIME_ROOTS,
		OPT_ATTR_WINDOW,
		OPT_ATTR_DELAY,
		OPT_AUDIT_WAIT,
		OPT_HTTP_ADDR,
		OPT_TERMINAL,
		OPT_NO_TERMINAL,
		OPT_TERMINAL_HOOK
	};
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
		{ "node-name", required_argument, NULL, OPT_NODE },
		{ "kubeconfig", required_argument, NULL, OPT_KUBECONFIG },
		{ "spool-dir", required_argument, NULL, OPT_SPOOL },
		{ "spool-max-mb", required_argument, NULL, OPT_SPOOL_MB },
		{ "batch-entries", required_argument, NULL, OPT_BATCH_N },
		{ "batch-bytes", required_argument, NULL, OPT_BATCH_B },
		{ "batch-ms", required_argument, NULL, OPT_BATCH_MS },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "http-address", required_argument, NULL, OPT_HTTP_ADDR },
		{ "drain-seconds", required_argument, NULL, OPT_DRAIN },
		{ "watch-transport", required_argument, NULL, OPT_TRANSPORT },
		{ "bpf-dir", required_argument, NULL, OPT_BPF_DIR },
		{ "key-file", required_argument, NULL, OPT_KEY },
		{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
		{ "runtime-roots", required_argument, NULL, OPT_RUNTIME_ROOTS },
		{ "attribution-window", required_argument, NULL, OPT_ATTR_WINDOW },
		{ "attribution-delay-ms", required_argument, NULL, OPT_ATTR_DELAY },
		{ "audit-wait", required_argument, NULL, OPT_AUDIT_WAIT },
		{ "terminal", no_argument, NULL, OPT_TERMINAL },
		{ "no-terminal", no_argument, NULL, OPT_NO_TERMINAL },
		{ "terminal-hook", required_argument, NULL, OPT_TERMINAL_HOOK },
		{ 0 },
	};
	static pid_t pids[MAIN_MAX_PIDS];
	struct agent_opts o = {
		.line_max = SA_LINE_MAX_DEFAULT,
		.args_max = SA_ARGS_MAX_DEFAULT,
		.ringbuf_bytes = 2u << 20,
		.pids = pids,
	};
	const char *line = getenv("SHELLAUDIT_MAX_LINE"), *args = getenv("SHELLAUDIT_MAX_ARGS");
	const char *rb = getenv("SHELLAUDIT_RINGBUF_MB"), *level = getenv("SHELLAUDIT_LOG_LEVEL");
	const char *env_pids = getenv("SHELLAUDIT_TARGET_PIDS");
	const char *spool_mb = getenv("SHELLAUDIT_SPOOL_MAX_MB"), *port = getenv("SHELLAUDIT_PORT");
	const char *bn = NULL, *bb = NULL, *bms = NULL, *drain = NULL;
	const char *transport = getenv("SHELLAUDIT_WATCH_TRANSPORT");
	const char *awin = getenv("SHELLAUDIT_ATTRIBUTION_WINDOW");
	const char *adelay = getenv("SHELLAUDIT_ATTRIBUTION_DELAY_MS");
	const char *await = getenv("SHELLAUDIT_AUDIT_WAIT");
	const char *terminal = getenv("SHELLAUDIT_TERMINAL");
	const char *hook = getenv("SHELLAUDIT_TERMINAL_HOOK");
	enum log_level lvl;
	unsigned long v;
	int c;

	if (argc > 1 && !strcmp(argv[1], "verify"))
		return main_verify(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "uninstall"))
		return main_uninstall(argc - 1, argv + 1);
	main_skip_gnutls_init(argv);
	/* One malloc arena for all threads: the capture and the main thread
	 * take turns under the agent's lock anyway, and each arena of its
	 * own kept its own free memory. */
	mallopt(M_ARENA_MAX, 1);
	/* Blocks of 16 KiB and more (libbpf's parsed BTF at start, a record
	 * of 1,000 entries, its body, the upload buffer of each of the
	 * Events' 64 handles during a burst) are mapped on their own and go
	 * back whole when freed, instead of leaving the heap larger and holed
	 * (glibc's threshold otherwise rises to the largest block freed). At
	 * 64 KiB the handles' buffers, freed by the trim tick, left the heap
	 * 0.5 MiB larger after a burst of 10,000 lines. */
	mallopt(M_MMAP_THRESHOLD, MAIN_MMAP_THRESHOLD);
	o.node_name = getenv("NODE_NAME");
	o.kubeconfig = getenv("KUBECONFIG");
	o.spool_dir = getenv("SHELLAUDIT_SPOOL_DIR");
	o.key_file = getenv("SHELLAUDIT_KEY_FILE");
	if (!o.spool_dir || !*o.spool_dir)
		o.spool_dir = "/var/lib/shellaudit/spool";
	o.spool_max_bytes = 256u << 20;
	o.port = 8081;
	o.http_addr = getenv("SHELLAUDIT_HTTP_ADDRESS");
	o.drain_s = 10;
	o.targets_file = getenv("SHELLAUDIT_TARGETS_FILE");
	o.bpf_dir = getenv("SHELLAUDIT_BPF_DIR");
	o.state_dir = getenv("SHELLAUDIT_STATE_DIR");
	o.runtime_roots = getenv("SHELLAUDIT_RUNTIME_ROOTS");
	if (!o.runtime_roots)
		o.runtime_roots = "/run/containerd/runc:/run/runc:/run/docker/runtime-runc";
	/* Not a flag: only the tests of the pre-6.6 path want it. */
	o.no_recovery = !strcmp(getenv("SHELLAUDIT_NO_LINE_RECOVERY") ?: "", "1");
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
		case OPT_NODE: o.node_name = optarg; break;
		case OPT_KUBECONFIG: o.kubeconfig = optarg; break;
		case OPT_SPOOL: o.spool_dir = optarg; break;
		case OPT_KEY: o.key_file = optarg; break;
		case OPT_BPF_DIR: o.bpf_dir = optarg; break;
		case OPT_STATE_DIR: o.state_dir = optarg; break;
		case OPT_RUNTIME_ROOTS: o.runtime_roots = optarg; break;
		case OPT_ATTR_WINDOW: awin = optarg; break;
		case OPT_ATTR_DELAY: adelay = optarg; break;
		case OPT_AUDIT_WAIT: await = optarg; break;
		case OPT_SPOOL_MB: spool_mb = optarg; break;
		case OPT_BATCH_N: bn = optarg; break;
		case OPT_BATCH_B: bb = optarg; break;
		case OPT_BATCH_MS: bms = optarg; break;
		case OPT_PORT: port = optarg; break;
		case OPT_HTTP_ADDR: o.http_addr = optarg; break;
		case OPT_DRAIN: drain = optarg; break;
		case OPT_TRANSPORT: transport = optarg; break;
		case OPT_TERMINAL: terminal = "true"; break;
		case OPT_NO_TERMINAL: terminal = "false"; break;
		case OPT_TERMINAL_HOOK: hook = optarg; break;
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
		fprintf(stderr,
			"shellaudit-agent: --log-level must be error, warn, info or debug\n");
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
	if (o.node_name && !*o.node_name)
		o.node_name = NULL;
	/* Standalone agents are often several on one host (tests,
	 * development): they must not take over each other's probes. */
	if (!o.bpf_dir && o.node_name)
		o.bpf_dir = "/sys/fs/bpf/shellaudit";
	if (o.kubeconfig && !*o.kubeconfig)
		o.kubeconfig = NULL;
	/* The spool's parent is the directory the DaemonSet keeps on the host. */
	if (!o.state_dir && o.node_name) {
		static char state[PATH_MAX];

		snprintf(state, sizeof(state), "%s", o.spool_dir);
		o.state_dir = dirname(state);
	}
	if (spool_mb) {
		if (main_number("--spool-max-mb", spool_mb, 1, 1u << 20, &v))
			return 2;
		o.spool_max_bytes = (size_t)v << 20;
	}
	if (bn) {
		if (main_number("--batch-entries", bn, 1, 1000, &v))
			return 2;
		o.batch_entries = (int)v;
	}
	if (bb) {
		if (main_number("--batch-bytes", bb, 1024, 1u << 20, &v))
			return 2;
		o.batch_bytes = v;
	}
	if (bms) {
		if (main_number("--batch-ms", bms, 10, 3600000, &v))
			return 2;
		o.batch_ms = (long)v;
	}
	if (port) {
		if (main_number("--port", port, 0, 65535, &v))
			return 2;
		o.port = (int)v;
	} else if (!o.node_name) {
		o.port = 0; /* standalone: served only when asked for */
	}
	if (drain) {
		if (main_number("--drain-seconds", drain, 0, 3600, &v))
			return 2;
		o.drain_s = (long)v;
	}
	o.attribution_window_s = 10;
	o.attribution_delay_ms = 1000;
	o.audit_wait_s = 5;
	if (awin) {
		if (main_number("--attribution-window", awin, 1, 600, &v))
			return 2;
		o.attribution_window_s = (long)v;
	}
	if (adelay) {
		if (main_number("--attribution-delay-ms", adelay, 0, 60000, &v))
			return 2;
		o.attribution_delay_ms = (long)v;
	}
	if (await) {
		if (main_number("--audit-wait", await, 0, 600, &v))
			return 2;
		o.audit_wait_s = (long)v;
	}
	if (transport && *transport && strcmp(transport, "chunked") &&
	    strcmp(transport, "websocket")) {
		fprintf(stderr,
			"shellaudit-agent: --watch-transport (SHELLAUDIT_WATCH_TRANSPORT) "
			"must be chunked or websocket, not '%s'\n",
			transport);
		return 2;
	}
	o.websocket = transport && !strcmp(transport, "websocket");
	o.terminal = 1;
	if (terminal && *terminal) {
		if (!strcmp(terminal, "false") || !strcmp(terminal, "0")) {
			o.terminal = 0;
		} else if (strcmp(terminal, "true") && strcmp(terminal, "1")) {
			fprintf(stderr,
				"shellaudit-agent: SHELLAUDIT_TERMINAL must be true or false\n");
			return 2;
		}
	}
	o.tty_hook = CAPTURE_TTY_AUTO;
	if (hook && *hook) {
		if (!strcmp(hook, "tracepoint")) {
			o.tty_hook = CAPTURE_TTY_TRACEPOINT;
		} else if (!strcmp(hook, "sys_exit")) {
			o.tty_hook = CAPTURE_TTY_SYS_EXIT;
		} else if (strcmp(hook, "auto")) {
			fprintf(stderr, "shellaudit-agent: --terminal-hook must be auto, "
					"tracepoint or sys_exit\n");
			return 2;
		}
	}
	if (!o.npids && !o.targets_file && !o.node_name) {
		fprintf(stderr,
			"shellaudit-agent: nothing to audit: give --node-name (Kubernetes), "
			"--target-pid or --targets-file\n");
		return 2;
	}
	return agent_run(&o) ? 1 : 0;
}
