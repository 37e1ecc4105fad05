// SPDX-License-Identifier: Apache-2.0
/* lib/kubeconfig: merging files (first wins), inline and file credentials,
 * errors that name the file and key, what is refused (exec and
 * auth-provider plugins, insecure with a CA, settings this client cannot
 * honour), token files read at each request, in-cluster config and token
 * rotation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kubeconfig.h"
#include "unit.h"
#include "util.h"

static char dir[64];

static const char *write_file(const char *name, const char *content)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f) {
		fputs(content, f);
		fclose(f);
	}
	return path;
}

static const char *path_of(const char *name)
{
	static char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

static void check_error(const char *content, const char *expect);

#define GOOD_CONFIG                                                   \
	"apiVersion: v1\n"                                            \
	"kind: Config\n"                                              \
	"current-context: admin@local\n"                              \
	"clusters:\n"                                                 \
	"- name: local\n"                                             \
	"  cluster:\n"                                                \
	"    server: https://127.0.0.1:6443/\n"                       \
	"    certificate-authority-data: LS0tQ0EtLS0=\n"              \
	"users:\n"                                                    \
	"- name: admin\n"                                             \
	"  user:\n"                                                   \
	"    client-certificate: certs/admin.crt\n"                   \
	"    client-key-data: S0VZ\n"                                 \
	"contexts:\n"                                                 \
	"- name: admin@local\n"                                       \
	"  context: {cluster: local, user: admin, namespace: audit}\n"

static void test_kubeconfig_inline_and_relative_file(void)
{
	struct kubeconfig *cfg;
	char err[256], certdir[128];

	snprintf(certdir, sizeof(certdir), "%s/certs", dir);
	mkdir(certdir, 0700);
	write_file("certs/admin.crt", "CERT");
	UNIT_CHECK(kubeconfig_load(write_file("good", GOOD_CONFIG), NULL, &cfg, err, sizeof(err)) ==
		   0);
	if (!cfg) {
		fprintf(stderr, "    %s\n", err);
		return;
	}
	UNIT_CHECK_STR(cfg->server, "https://127.0.0.1:6443");
	UNIT_CHECK_STR(cfg->namespace, "audit");
	UNIT_CHECK_STR(cfg->ca_pem, "---CA---");
	UNIT_CHECK(cfg->ca_len == 8);
	UNIT_CHECK_STR(cfg->cert_pem, "CERT");
	UNIT_CHECK_STR(cfg->key_pem, "KEY");
	UNIT_CHECK(!cfg->insecure);
	kubeconfig_free(cfg);
}

static void test_kubeconfig_merges_files_first_wins(void)
{
	struct kubeconfig *cfg;
	char err[256], paths[600], a[128], b[128];

	/* c2 and u2 are in both files, with other values in the second: the
	 * first file's win, as the context and what only b has are merged in. */
	write_file("a", "current-context: other\n"
			"contexts:\n- name: other\n  context: {cluster: c2, user: u2}\n"
			"clusters:\n- name: c2\n"
			"  cluster: {server: 'https://10.0.0.1', insecure-skip-tls-verify: true}\n"
			"users:\n- name: u2\n  user: {token: abc}\n");
	write_file(
		"b",
		"current-context: ignored\n"
		"contexts:\n- name: other\n  context: {cluster: c3, user: u3, namespace: from-b}\n"
		"clusters:\n- name: c2\n  cluster: {server: 'https://10.0.0.2'}\n"
		"- name: c3\n  cluster: {server: 'https://10.0.0.3'}\n"
		"users:\n- name: u2\n  user: {token: from-b}\n"
		"- name: u3\n  user: {token: u3-token}\n");
	snprintf(a, sizeof(a), "%s", path_of("a"));
	snprintf(b, sizeof(b), "%s", path_of("b"));
	snprintf(paths, sizeof(paths), "%s:%s/missing:%s", a, dir, b);
	UNIT_CHECK(kubeconfig_load(paths, NULL, &cfg, err, sizeof(err)) == 0);
	if (!cfg) {
		fprintf(stderr, "    %s\n", err);
		return;
	}
	UNIT_CHECK_STR(cfg->server, "https://10.0.0.1");
	UNIT_CHECK(cfg->insecure);
	UNIT_CHECK_STR(cfg->token, "abc");
	UNIT_CHECK_STR(cfg->namespace, "default");
	kubeconfig_free(cfg);

	/* What only the second file has is merged in. */
	write_file("a", "current-context: other\n");
	UNIT_CHECK(kubeconfig_load(paths, NULL, &cfg, err, sizeof(err)) == 0);
	if (!cfg) {
		fprintf(stderr, "    %s\n", err);
		return;
	}
	UNIT_CHECK_STR(cfg->server, "https://10.0.0.3");
	UNIT_CHECK_STR(cfg->token, "u3-token");
	UNIT_CHECK_STR(cfg->namespace, "from-b");
	kubeconfig_free(cfg);
}

/* Credentials from a program are refused, with a message that says so and
 * names the file and the user; a token file is read at each request. */
static void test_kubeconfig_exec_plugins_refused_token_file_read(void)
{
	struct kubeconfig *cfg;
	char err[256], *tok;

	check_error("contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n"
		    "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
		    "users:\n- name: u\n  user:\n    exec:\n"
		    "      apiVersion: client.authentication.k8s.io/v1\n      command: aws\n",
		    "user \"u\": exec and auth-provider plugins are not supported");
	check_error("contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n"
		    "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
		    "users:\n- name: u\n  user:\n    auth-provider: {name: gcp}\n",
		    "exec and auth-provider plugins are not supported");

	write_file("tok", "from-the-file\n");
	write_file("tf",
		   "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		   "current-context: x\nclusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
		   "users:\n- name: u\n  user: {tokenFile: tok}\n");
	UNIT_CHECK(kubeconfig_load(path_of("tf"), NULL, &cfg, err, sizeof(err)) == 0);
	if (!cfg) {
		fprintf(stderr, "    %s\n", err);
		return;
	}
	tok = kubeconfig_token(cfg);
	UNIT_CHECK_STR(tok, "from-the-file");
	free(tok);
	write_file("tok", "rotated");
	tok = kubeconfig_token(cfg);
	UNIT_CHECK_STR(tok, "rotated");
	free(tok);
	kubeconfig_free(cfg);
}

static void check_error(const char *content, const char *expect)
{
	struct kubeconfig *cfg = (void *)1;
	char err[256] = "";
	int r = kubeconfig_load(write_file("bad", content), NULL, &cfg, err, sizeof(err));

	UNIT_CHECK(r < 0);
	UNIT_CHECK(cfg == NULL);
	if (!strstr(err, expect) || !strstr(err, "/bad")) {
		fprintf(stderr, "    error \"%s\" lacks \"%s\" or the file name\n", err, expect);
		UNIT_CHECK(0);
	}
}

static void test_kubeconfig_errors_name_file_and_key(void)
{
	check_error("current-context: x\n", "context \"x\" not found");
	check_error("clusters: [\n", "line");
	check_error("- a\n- b\n", "not a kubeconfig");
	check_error("", "not a kubeconfig");
	check_error("contexts:\n- name: x\n  context: {user: u}\ncurrent-context: x\n",
		    "has no cluster");
	check_error("contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n"
		    "clusters:\n- name: c\n  cluster: {server: ftp://x}\n",
		    "server must be an http(s) URL");
	check_error("contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n"
		    "clusters:\n- name: c\n  cluster: {server: 'https://x', "
		    "certificate-authority-data: '@@@'}\n",
		    "certificate-authority-data: not valid base64");
	check_error("contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n"
		    "clusters:\n- name: c\n  cluster: {server: [1]}\n",
		    "cluster.server: not a string");
	check_error("contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n"
		    "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
		    "users:\n- name: u\n  user: {client-certificate-data: QQ==}\n",
		    "client-certificate and client-key go together");
	check_error("contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n"
		    "clusters:\n- name: c\n  cluster: {server: 'https://x', certificate-authority: "
		    "/nonexistent/ca}\n",
		    "certificate-authority: cannot read /nonexistent/ca");
	check_error(
		"a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, "
		"*a]\n"
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, "
		"*c, *c, *c, *c]\n"
		"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, "
		"*e, *e, *e]\n",
		"too deep or too large");
	check_error("a: 1\na: 2\n", "duplicate key");
}

#define CTX_CU "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n"

static void test_kubeconfig_refuses_what_it_cannot_honour(void)
{
	/* client-go: "specifying a root certificates file with the insecure
	 * flag is not allowed". */
	check_error(
	    CTX_CU
	    "clusters:\n- name: c\n  cluster: {server: 'https://x', insecure-skip-tls-verify: true,"
	    " certificate-authority-data: LS0tQ0EtLS0=}\n",
	    "insecure-skip-tls-verify together with a certificate-authority is not allowed");
	check_error(
	    CTX_CU
	    "clusters:\n- name: c\n  cluster: {server: 'https://x', proxy-url: 'http://p:3128'}\n",
	    "proxy-url is not supported");
	check_error(CTX_CU "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
			   "users:\n- name: u\n  user: {token: t, as: someone-else}\n",
		    "user \"u\": as is not supported");
	check_error(CTX_CU "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
			   "users:\n- name: u\n  user: {username: admin, password: secret}\n",
		    "username is not supported");
	check_error(CTX_CU "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
			   "users:\n- name: u\n  user: {token: t, as-groups: [system:masters]}\n",
		    "as-groups is not supported");
	check_error(CTX_CU "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
			   "users:\n- name: u\n  user: {token: \"a\\r\\nX-Injected: 1\"}\n",
		    "token: control characters");
}

static void test_kubeconfig_token_file_keeps_the_last_good_token(void)
{
	struct kubeconfig *cfg;
	char err[256], *tok, text[512];

	write_file("tok", "one\n");
	snprintf(text, sizeof(text),
		 CTX_CU "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
			"users:\n- name: u\n  user: {token: inline, tokenFile: %s}\n",
		 path_of("tok"));
	UNIT_CHECK(kubeconfig_load(write_file("withfile", text), NULL, &cfg, err, sizeof(err)) ==
		   0);
	if (!cfg) {
		fprintf(stderr, "    %s\n", err);
		return;
	}
	tok = kubeconfig_token(cfg);
	UNIT_CHECK_STR(tok, "one");
	free(tok);
	write_file("tok", "two");
	tok = kubeconfig_token(cfg);
	UNIT_CHECK_STR(tok, "two");
	free(tok);
	/* Unreadable (mid-rotation): the last token read, not the inline one. */
	unlink(path_of("tok"));
	tok = kubeconfig_token(cfg);
	UNIT_CHECK_STR(tok, "two");
	free(tok);
	write_file("tok", "\n");
	tok = kubeconfig_token(cfg);
	UNIT_CHECK_STR(tok, "two");
	free(tok);
	write_file("tok", "evil\r\nX-Injected: 1\n");
	tok = kubeconfig_token(cfg);
	UNIT_CHECK_STR(tok, "two");
	free(tok);
	write_file("tok", "three\n");
	tok = kubeconfig_token(cfg);
	UNIT_CHECK_STR(tok, "three");
	free(tok);
	kubeconfig_free(cfg);
}

/* Runs fn in a child: whether it returned within two seconds. */
static bool returns_in_time(void (*fn)(void))
{
	struct timespec step = { 0, 10 * 1000000L };
	pid_t pid = fork();
	int i, status;

	if (pid == 0) {
		fn();
		_exit(0);
	}
	for (i = 0; i < 200; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status);
		nanosleep(&step, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return false;
}

static void load_with_fifo_certificate(void)
{
	struct kubeconfig *cfg;
	char err[256];

	/* Refused with an error that names the file, not a hang. */
	if (kubeconfig_load(path_of("fifocfg"), NULL, &cfg, err, sizeof(err)) != -EINVAL ||
	    !strstr(err, "fifo.crt"))
		_exit(1);
}

static void token_from_fifo(void)
{
	struct kubeconfig *cfg;
	char err[256], *tok;

	if (kubeconfig_load(path_of("fifotok"), NULL, &cfg, err, sizeof(err)) != 0)
		_exit(1);
	tok = kubeconfig_token(cfg);
	free(tok);
	kubeconfig_free(cfg);
}

/* A path of a kubeconfig that names a FIFO (or a token file replaced by
 * one) is no regular file: open(2) of it waited for a writer forever, at
 * load or at every request. */
static void test_kubeconfig_a_fifo_is_refused_without_waiting(void)
{
	unlink(path_of("fifo.crt"));
	UNIT_CHECK(mkfifo(path_of("fifo.crt"), 0600) == 0);
	write_file("fifocfg", "current-context: c\n"
			      "clusters: [{name: k, cluster: {server: 'https://h:1'}}]\n"
			      "users: [{name: u, user: {client-certificate: fifo.crt, "
			      "client-key-data: S0VZ}}]\n"
			      "contexts: [{name: c, context: {cluster: k, user: u}}]\n");
	UNIT_CHECK(returns_in_time(load_with_fifo_certificate));
	write_file("fifotok", "current-context: c\n"
			      "clusters: [{name: k, cluster: {server: 'https://h:1'}}]\n"
			      "users: [{name: u, user: {tokenFile: fifo.crt}}]\n"
			      "contexts: [{name: c, context: {cluster: k, user: u}}]\n");
	UNIT_CHECK(returns_in_time(token_from_fifo));
	unlink(path_of("fifo.crt"));
}

static void test_kubeconfig_missing_single_file(void)
{
	struct kubeconfig *cfg;
	char err[256];

	UNIT_CHECK(kubeconfig_load("/nonexistent/kubeconfig", NULL, &cfg, err, sizeof(err)) ==
		   -ENOENT);
	UNIT_CHECK(strstr(err, "/nonexistent/kubeconfig") != NULL);
	UNIT_CHECK(kubeconfig_load(dir, NULL, &cfg, err, sizeof(err)) == -EINVAL);
}

static void test_kubeconfig_in_cluster_and_token_rotation(void)
{
	struct kubeconfig *cfg;
	char err[256], *tok;

	write_file("ca.crt", "CA");
	write_file("token", "first\n");
	write_file("namespace", "shellaudit-system");
	unsetenv("KUBERNETES_SERVICE_HOST");
	UNIT_CHECK(kubeconfig_in_cluster(dir, &cfg, err, sizeof(err)) == -ENOENT);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	UNIT_CHECK(kubeconfig_in_cluster(dir, &cfg, err, sizeof(err)) == 0);
	if (!cfg)
		return;
	UNIT_CHECK_STR(cfg->server, "https://[fd00::1]:443");
	UNIT_CHECK_STR(cfg->namespace, "shellaudit-system");
	tok = kubeconfig_token(cfg);
	UNIT_CHECK_STR(tok, "first");
	free(tok);
	write_file("token", "second");
	tok = kubeconfig_token(cfg);
	UNIT_CHECK_STR(tok, "second");
	free(tok);
	kubeconfig_free(cfg);
}
int main(void)
{
	static const struct unit_test tests[] = {
		UNIT_TEST(test_kubeconfig_inline_and_relative_file),
		UNIT_TEST(test_kubeconfig_merges_files_first_wins),
		UNIT_TEST(test_kubeconfig_exec_plugins_refused_token_file_read),
		UNIT_TEST(test_kubeconfig_errors_name_file_and_key),
		UNIT_TEST(test_kubeconfig_refuses_what_it_cannot_honour),
		UNIT_TEST(test_kubeconfig_token_file_keeps_the_last_good_token),
		UNIT_TEST(test_kubeconfig_missing_single_file),
	  UNIT_TEST(test_kubeconfig_a_fifo_is_refused_without_waiting),
		UNIT_TEST(test_kubeconfig_in_cluster_and_token_rotation),
	};
	char cmd[128];
	int ret;

	snprintf(dir, sizeof(dir), "/tmp/test_kubeconfig.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	ret = unit_main(tests, ARRAY_SIZE(tests));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return ret;
}
