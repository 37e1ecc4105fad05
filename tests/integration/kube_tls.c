// SPDX-License-Identifier: Apache-2.0
/*
 * lib/kube and lib/watch TLS and credentials, over both watch transports,
 * against the peers test_kube_tls.sh starts:
 *   kube_tls ca-pin PINNED SYSTEM BUNDLE
 *       a server whose certificate comes from a CA the system trusts (in
 *       the test's private trust store): the client pinned to another CA
 *       (PINNED) refuses it, the one without a CA (SYSTEM) accepts it, and
 *       so does one whose CA file is a bundle with that CA second (BUNDLE);
 *   kube_tls server-name NONE RIGHT WRONG INSECURE
 *       the real API server reached at an address its certificate does not
 *       name: refused without tls-server-name (NONE) or with a name it
 *       does not carry (WRONG), requests and watches work with one it
 *       carries (RIGHT), and with insecure-skip-tls-verify (INSECURE);
 *   kube_tls token KUBECONFIG TOKEN_FILE TOKEN_A TOKEN_B
 *       the kubeconfig's tokenFile rotated from A to B and removed: requests
 *       and websocket watches authenticate with the token of the moment,
 *       then with the last one read.
 * Each kubeconfig argument is a file. Prints one line per check and
 * "N passed, N failed" last.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "kube.h"
#include "kubeconfig.h"
#include "log.h"
#include "watch.h"

#define NS "tls-test"
#define CM "/api/v1/namespaces/" NS "/configmaps"

struct outcome {
	int get;	 /* GET of a small path */
	int chunked, ws; /* a 2 s watch over each transport */
	char get_msg[512], chunked_msg[512], ws_msg[512];
};

static int ignore(const char *type, const cJSON *obj, void *arg)
{
	(void)type;
	(void)obj;
	(void)arg;
	return 0;
}

static int tries(const char *kc, const char *get_path, struct outcome *o)
{
	struct kube_client_opts chunked = {.connect_timeout_ms = 3000};
	struct kube_client_opts ws = {.websocket = true, .connect_timeout_ms = 3000};
	struct kubeconfig *cfg = NULL;
	struct kube_client *c = NULL;
	struct kube_response resp;
	char err[512], *rv = NULL;

	memset(o, 0, sizeof(*o));
	if (kubeconfig_load(kc, NULL, &cfg, err, sizeof(err)) < 0) {
		printf("       %s\n", err);
		return -1;
	}
	kube_client_new(cfg, &chunked, &c);
	o->get = kube_get(c, get_path, NULL, &resp);
	snprintf(o->get_msg, sizeof(o->get_msg), "%s", resp.message);
	o->chunked = watch_stream(c, CM, &rv, 2, ignore, NULL, &resp);
	snprintf(o->chunked_msg, sizeof(o->chunked_msg), "%s", resp.message);
	kube_client_free(c);
	free(rv);
	rv = NULL;
	kube_client_new(cfg, &ws, &c);
	o->ws = watch_stream(c, CM, &rv, 2, ignore, NULL, &resp);
	snprintf(o->ws_msg, sizeof(o->ws_msg), "%s", resp.message);
	kube_client_free(c);
	free(rv);
	kubeconfig_free(cfg);
	return 0;
}

static void show(const struct outcome *o)
{
	printf("       get %d: %s\n       chunked %d: %s\n       websocket %d: %s\n", o->get,
	       o->get_msg, o->chunked, o->chunked_msg, o->ws, o->ws_msg);
}

/* A refusal in the handshake, not past it: curl's and OpenSSL's words. */
static int tls_refused(int r, const char *msg)
{
	return r < 0 && (strstr(msg, "SSL") || strstr(msg, "TLS") || strstr(msg, "certificate"));
}

static int ca_pin(char **kc)
{
	struct outcome o;

	/* The fake server answers GET with JSON and a websocket upgrade with 404:
	 * a client past the handshake gets 0 and -ENOENT. */
	if (tries(kc[0], "/api", &o) == 0) {
		CHECK("CA-pinned client refuses a certificate of another CA the system trusts "
		      "(request)",
		      tls_refused(o.get, o.get_msg));
		CHECK("CA-pinned client refuses it (chunked watch)",
		      tls_refused(o.chunked, o.chunked_msg));
		CHECK("CA-pinned client refuses it (websocket watch)", tls_refused(o.ws, o.ws_msg));
		if (!tls_refused(o.get, o.get_msg) || !tls_refused(o.ws, o.ws_msg))
			show(&o);
	}
	if (tries(kc[1], "/api", &o) == 0) {
		CHECK("without a CA the system trust store is used: the same server is accepted "
		      "(request)",
		      o.get == 0);
		CHECK("and over a websocket (the upgrade, past TLS, gets the server's 404)",
		      o.ws == -ENOENT);
		if (o.get || o.ws != -ENOENT)
			show(&o);
	}
	if (tries(kc[2], "/api", &o) == 0) {
		CHECK("a CA bundle is trusted whole: its second certificate signs the server "
		      "(request)",
		      o.get == 0);
		CHECK("a CA bundle is trusted whole (websocket)", o.ws == -ENOENT);
		if (o.get || o.ws != -ENOENT)
			show(&o);
	}
	return check_summary();
}

static int server_name(char **kc)
{
	struct outcome o;

	if (tries(kc[0], "/version", &o) == 0) {
		CHECK("an address the API server's certificate does not name is refused (request)",
		      tls_refused(o.get, o.get_msg));
		CHECK("and refused by both watch transports",
		      tls_refused(o.chunked, o.chunked_msg) && tls_refused(o.ws, o.ws_msg));
	}
	if (tries(kc[1], "/version", &o) == 0) {
		CHECK("tls-server-name the certificate carries: requests work", o.get == 0);
		CHECK("tls-server-name: a chunked watch runs to its timeout", o.chunked == 0);
		CHECK("tls-server-name: a websocket watch runs to its timeout", o.ws == 0);
		if (o.get || o.chunked || o.ws)
			show(&o);
	}
	if (tries(kc[2], "/version", &o) == 0) {
		CHECK("a tls-server-name the certificate does not carry is refused (request)",
		      tls_refused(o.get, o.get_msg));
		CHECK("and refused by both watch transports",
		      tls_refused(o.chunked, o.chunked_msg) && tls_refused(o.ws, o.ws_msg));
	}
	if (tries(kc[3], "/version", &o) == 0) {
		CHECK("insecure-skip-tls-verify: requests and both watch transports work",
		      o.get == 0 && o.chunked == 0 && o.ws == 0);
		if (o.get || o.chunked || o.ws)
			show(&o);
	}
	return check_summary();
}

/* Who the API server says we are (a SelfSubjectReview). */
static void whoami(struct kube_client *c, char *out, size_t cap)
{
	cJSON *req = cJSON_Parse(
	    "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"SelfSubjectReview\"}");
	cJSON *got = NULL;
	const char *name;

	out[0] = '\0';
	if (kube_create(c, "/apis/authentication.k8s.io/v1/selfsubjectreviews", req, &got, NULL) ==
	    0) {
		name = cJSON_GetStringValue(cJSON_GetObjectItem(
		    cJSON_GetObjectItem(cJSON_GetObjectItem(got, "status"), "userInfo"),
		    "username"));
		snprintf(out, cap, "%s", name ? name : "");
	}
	cJSON_Delete(got);
	cJSON_Delete(req);
}

static int ws_watch(const struct kubeconfig *cfg)
{
	struct kube_client_opts ws = {.websocket = true};
	struct kube_client *c = NULL;
	char *rv = NULL;
	int r;

	kube_client_new(cfg, &ws, &c);
	r = watch_stream(c, CM, &rv, 1, ignore, NULL, NULL);
	kube_client_free(c);
	free(rv);
	return r;
}

static int put_token(const char *file, const char *token_file)
{
	char tmp[4096], cmd[8300];

	/* As the kubelet swaps a projected token: a new file renamed over. */
	snprintf(tmp, sizeof(tmp), "%s.new", file);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && mv '%s' '%s'", token_file, tmp, tmp, file);
	return system(cmd);
}

static int token(char **arg)
{
	struct kubeconfig *cfg = NULL;
	struct kube_client *c = NULL;
	char err[512], who[256];

	if (kubeconfig_load(arg[0], NULL, &cfg, err, sizeof(err)) < 0) {
		printf("  FAIL kubeconfig: %s\n", err);
		return 1;
	}
	kube_client_new(cfg, NULL, &c);
	put_token(arg[1], arg[2]);
	whoami(c, who, sizeof(who));
	CHECK("the token file's token authenticates requests",
	      !strcmp(who, "system:serviceaccount:" NS ":sa-a"));
	CHECK("and websocket watches (sa-a may watch configmaps)", ws_watch(cfg) == 0);
	put_token(arg[1], arg[3]);
	whoami(c, who, sizeof(who));
	CHECK("the rotated token is used from the next request on",
	      !strcmp(who, "system:serviceaccount:" NS ":sa-b"));
	CHECK("and by the next websocket watch (sa-b may not watch configmaps: 403)",
	      ws_watch(cfg) == -EACCES);
	unlink(arg[1]);
	whoami(c, who, sizeof(who));
	CHECK("a token file that cannot be read: the last token read is sent, not none",
	      !strcmp(who, "system:serviceaccount:" NS ":sa-b"));
	CHECK("also over a websocket", ws_watch(cfg) == -EACCES);
	put_token(arg[1], arg[2]);
	whoami(c, who, sizeof(who));
	CHECK("the file back: its token again", !strcmp(who, "system:serviceaccount:" NS ":sa-a"));
	kube_client_free(c);
	kubeconfig_free(cfg);
	return check_summary();
}

int main(int argc, char **argv)
{
	log_set_level(LOG_ERROR);
	if (argc == 5 && !strcmp(argv[1], "ca-pin"))
		return ca_pin(argv + 2);
	if (argc == 6 && !strcmp(argv[1], "server-name"))
		return server_name(argv + 2);
	if (argc == 6 && !strcmp(argv[1], "token"))
		return token(argv + 2);
	fprintf(stderr, "usage: kube_tls ca-pin|server-name|token ARGS...\n");
	return 2;
}
