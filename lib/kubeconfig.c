// SPDX-License-Identifier: Apache-2.0
/* kubeconfig parsing: clusters, users and contexts merged over several
 * files, inline or file credentials, and the in-cluster configuration. */
#include "kubeconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "util.h"
#include "yamljson.h"

#define KUBECONFIG_MAX_FILES 16

/* The last token read from token_file, shared by the threads of one config. */
struct kubeconfig_tokens {
	pthread_mutex_t lock;
	char *last;
};

static void kubeconfig_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void kubeconfig_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Reads a whole regular file of at most max bytes, NUL-terminated.
 * Caller frees *out. */
static int kubeconfig_read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	ssize_t n;
	size_t got = 0;
	int fd, ret = 0;

	/* O_NONBLOCK: a FIFO's open would wait for a writer; it is no
	 * regular file and refused below. Regular files ignore the flag. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		goto out;
	}
	if ((size_t)st.st_size > max) {
		ret = -EFBIG;
		goto out;
	}
	if (!(buf = malloc(max + 1))) {
		ret = -ENOMEM;
		goto out;
	}
	/* Read to EOF rather than trusting st_size: the file may change. */
	while (got <= max && (n = read(fd, buf + got, max + 1 - got)) > 0)
		got += (size_t)n;
	if (n < 0) {
		ret = -errno;
		goto out;
	}
	if (got > max) {
		ret = -EFBIG;
		goto out;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return ret;
}

/* A zeroed config with its token cache. */
static struct kubeconfig *kubeconfig_alloc(void)
{
	struct kubeconfig *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return NULL;
	if (!(cfg->tokens = calloc(1, sizeof(*cfg->tokens)))) {
		free(cfg);
		return NULL;
	}
	pthread_mutex_init(&cfg->tokens->lock, NULL);
	return cfg;
}

static void kubeconfig_wipe_free(char *secret)
{
	if (secret)
		explicit_bzero(secret, strlen(secret));
	free(secret);
}

void kubeconfig_free(struct kubeconfig *cfg)
{
	if (!cfg)
		return;
	if (cfg->tokens) {
		kubeconfig_wipe_free(cfg->tokens->last);
		pthread_mutex_destroy(&cfg->tokens->lock);
		free(cfg->tokens);
	}
	free(cfg->server);
	free(cfg->namespace);
	free(cfg->ca_pem);
	free(cfg->cert_pem);
	kubeconfig_wipe_free(cfg->key_pem);
	kubeconfig_wipe_free(cfg->token);
	free(cfg->token_file);
	free(cfg->tls_server_name);
	free(cfg);
}

struct kubeconfig_files {
	cJSON *docs[KUBECONFIG_MAX_FILES];
	char *paths[KUBECONFIG_MAX_FILES];
	size_t n;
};

static void kubeconfig_files_free(struct kubeconfig_files *f)
{
	size_t i;

	for (i = 0; i < f->n; i++) {
		cJSON_Delete(f->docs[i]);
		free(f->paths[i]);
	}
}

/* Finds the entry `name` in the list `list` ("clusters", "users", "contexts")
 * of the first file that has it; *file gets that file's index. */
static const cJSON *kubeconfig_find(const struct kubeconfig_files *f, const char *list,
				    const char *inner, const char *name, size_t *file)
{
	const cJSON *e;
	size_t i;

	for (i = 0; i < f->n; i++) {
		cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(f->docs[i], list)) {
			const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");

			if (cJSON_IsString(nm) && !strcmp(nm->valuestring, name)) {
				*file = i;
				return cJSON_GetObjectItemCaseSensitive(e, inner);
			}
		}
	}
	return NULL;
}

/* A string field, or NULL; -EINVAL (with err) when present but not a string. */
static int kubeconfig_str(const cJSON *obj, const char *key, const char **out, const char *path,
			  const char *where, char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v)) {
		kubeconfig_err(err, errlen, "%s: %s.%s: not a string", path, where, key);
		return -EINVAL;
	}
	*out = v->valuestring;
	return 0;
}

/* Bytes that would end or split an HTTP header. */
static bool kubeconfig_has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Resolves a path of a kubeconfig relative to the directory of that file. */
static char *kubeconfig_rel(const char *file, const char *p)
{
	char dir[PATH_MAX], *d, *out;
	size_t n;

	if (p[0] == '/')
		return strdup(p);
	snprintf(dir, sizeof(dir), "%s", file);
	d = dirname(dir);
	n = strlen(d) + strlen(p) + 2;
	if (!(out = malloc(n)))
		return NULL;
	snprintf(out, n, "%s/%s", d, p);
	return out;
}

/* Fills *pem from `<key>-data` (base64) or `<key>` (a file path). */
static int kubeconfig_pem(const cJSON *obj, const char *key, const char *file, const char *where,
			  char **pem, size_t *len, char *err, size_t errlen)
{
	char datakey[64];
	const char *data, *path;
	char *abs;
	int ret;

	snprintf(datakey, sizeof(datakey), "%s-data", key);
	if ((ret = kubeconfig_str(obj, datakey, &data, file, where, err, errlen)) < 0 ||
	    (ret = kubeconfig_str(obj, key, &path, file, where, err, errlen)) < 0)
		return ret;
	if (data) {
		ret = base64_decode(data, strlen(data), (unsigned char **)pem, len);
		if (ret < 0)
			kubeconfig_err(err, errlen, "%s: %s.%s: not valid base64", file, where,
				       datakey);
		return ret;
	}
	if (!path)
		return 0;
	if (!(abs = kubeconfig_rel(file, path)))
		return -ENOMEM;
	ret = kubeconfig_read_file(abs, KUBECONFIG_MAX_FILE, pem, len);
	if (ret < 0)
		kubeconfig_err(err, errlen, "%s: %s.%s: cannot read %s: %s", file, where, key, abs,
			       strerror(-ret));
	free(abs);
	return ret;
}

static int kubeconfig_fill(const struct kubeconfig_files *f, const char *context,
			   struct kubeconfig *cfg, char *err, size_t errlen)
{
	/* Honoured by kubectl, not here: refused rather than silently dropped
	 * (a request as the wrong user, or past a proxy meant to be used). */
	static const char *const unsupported[] = {"username", "password",  "as",
						  "as-uid",   "as-groups", "as-user-extra"};
	const cJSON *ctx, *cluster, *user, *v;
	const char *cluster_name, *user_name, *ns, *server, *s;
	size_t fi = 0, ci = 0, ui = 0, i;
	int ret;

	if (!context) {
		for (i = 0; i < f->n && !context; i++) {
			v = cJSON_GetObjectItemCaseSensitive(f->docs[i], "current-context");
			if (cJSON_IsString(v) && v->valuestring[0])
				context = v->valuestring;
		}
		if (!context) {
			kubeconfig_err(err, errlen, "%s: no current-context", f->paths[0]);
			return -EINVAL;
		}
	}
	if (!(ctx = kubeconfig_find(f, "contexts", "context", context, &fi)) ||
	    !cJSON_IsObject(ctx)) {
		kubeconfig_err(err, errlen, "%s: context \"%.100s\" not found", f->paths[0],
			       context);
		return -EINVAL;
	}
	if ((ret = kubeconfig_str(ctx, "cluster", &cluster_name, f->paths[fi], "context", err,
				  errlen)) < 0 ||
	    (ret = kubeconfig_str(ctx, "user", &user_name, f->paths[fi], "context", err, errlen)) <
		    0 ||
	    (ret = kubeconfig_str(ctx, "namespace", &ns, f->paths[fi], "context", err, errlen)) < 0)
		return ret;
	if (!cluster_name) {
		kubeconfig_err(err, errlen, "%s: context \"%.100s\" has no cluster", f->paths[fi],
			       context);
		return -EINVAL;
	}
	if (!(cluster = kubeconfig_find(f, "clusters", "cluster", cluster_name, &ci)) ||
	    !cJSON_IsObject(cluster)) {
		kubeconfig_err(err, errlen, "%s: cluster \"%.100s\" not found", f->paths[fi],
			       cluster_name);
		return -EINVAL;
	}
	if ((ret = kubeconfig_str(cluster, "server", &server, f->paths[ci], "cluster", err,
				  errlen)) < 0)
		return ret;
	if (!server || (strncmp(server, "https://", 8) && strncmp(server, "http://", 7))) {
		kubeconfig_err(err, errlen, "%s: cluster \"%.100s\": server must be an http(s) URL",
			       f->paths[ci], cluster_name);
		return -EINVAL;
	}
	if (!(cfg->server = strdup(server)) || !(cfg->namespace = strdup(ns ? ns : "default")))
		return -ENOMEM;
	while (strlen(cfg->server) > 8 && cfg->server[strlen(cfg->server) - 1] == '/')
		cfg->server[strlen(cfg->server) - 1] = '\0';
	v = cJSON_GetObjectItemCaseSensitive(cluster, "insecure-skip-tls-verify");
	cfg->insecure = cJSON_IsTrue(v) || (cJSON_IsString(v) && !strcmp(v->valuestring, "true"));
	if ((ret = kubeconfig_str(cluster, "tls-server-name", &s, f->paths[ci], "cluster", err,
				  errlen)) < 0)
		return ret;
	if (s && !(cfg->tls_server_name = strdup(s)))
		return -ENOMEM;
	if ((ret = kubeconfig_pem(cluster, "certificate-authority", f->paths[ci], "cluster",
				  &cfg->ca_pem, &cfg->ca_len, err, errlen)) < 0)
		return ret;
	/* client-go: "specifying a root certificates file with the insecure
	 * flag is not allowed": which of the two was meant is not ours to guess. */
	if (cfg->insecure && cfg->ca_pem) {
		kubeconfig_err(err, errlen,
			       "%s: cluster \"%.100s\": insecure-skip-tls-verify together with a "
			       "certificate-authority is not allowed",
			       f->paths[ci], cluster_name);
		return -EINVAL;
	}
	if (cJSON_GetObjectItemCaseSensitive(cluster, "proxy-url")) {
		kubeconfig_err(err, errlen, "%s: cluster \"%.100s\": proxy-url is not supported",
			       f->paths[ci], cluster_name);
		return -EINVAL;
	}
	if (!user_name)
		return 0;
	if (!(user = kubeconfig_find(f, "users", "user", user_name, &ui)) ||
	    !cJSON_IsObject(user)) {
		kubeconfig_err(err, errlen, "%s: user \"%.100s\" not found", f->paths[fi],
			       user_name);
		return -EINVAL;
	}
	if ((ret = kubeconfig_pem(user, "client-certificate", f->paths[ui], "user", &cfg->cert_pem,
				  &cfg->cert_len, err, errlen)) < 0 ||
	    (ret = kubeconfig_pem(user, "client-key", f->paths[ui], "user", &cfg->key_pem,
				  &cfg->key_len, err, errlen)) < 0)
		return ret;
	if (!cfg->cert_pem != !cfg->key_pem) {
		kubeconfig_err(err, errlen,
			       "%s: user \"%.100s\": client-certificate and client-key go together",
			       f->paths[ui], user_name);
		return -EINVAL;
	}
	if ((ret = kubeconfig_str(user, "token", &s, f->paths[ui], "user", err, errlen)) < 0)
		return ret;
	if (s && kubeconfig_has_ctl(s)) {
		kubeconfig_err(err, errlen, "%s: user \"%.100s\": token: control characters",
			       f->paths[ui], user_name);
		return -EINVAL;
	}
	if (s && !(cfg->token = strdup(s)))
		return -ENOMEM;
	if ((ret = kubeconfig_str(user, "tokenFile", &s, f->paths[ui], "user", err, errlen)) < 0)
		return ret;
	if (s && !(cfg->token_file = kubeconfig_rel(f->paths[ui], s)))
		return -ENOMEM;
	if (cJSON_GetObjectItemCaseSensitive(user, "exec") ||
	    cJSON_GetObjectItemCaseSensitive(user, "auth-provider")) {
		kubeconfig_err(
			err, errlen,
			"%s: user \"%.100s\": exec and auth-provider plugins are not supported",
			f->paths[ui], user_name);
		return -EINVAL;
	}
	for (i = 0; i < ARRAY_SIZE(unsupported); i++) {
		if (cJSON_GetObjectItemCaseSensitive(user, unsupported[i])) {
			kubeconfig_err(err, errlen, "%s: user \"%.100s\": %s is not supported",
				       f->paths[ui], user_name, unsupported[i]);
			return -EINVAL;
		}
	}
	return 0;
}

int kubeconfig_load(const char *paths, const char *context, struct kubeconfig **out, char *err,
		    size_t errlen)
{
	struct kubeconfig_files files = { 0 };
	struct kubeconfig *cfg = NULL;
	char *list = NULL, *save = NULL, *p, *buf = NULL;
	char perr[256];
	size_t len;
	int ret = 0;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (!paths || !*paths) {
		kubeconfig_err(err, errlen, "no kubeconfig given");
		return -EINVAL;
	}
	if (!(list = strdup(paths)))
		return -ENOMEM;
	for (p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
		cJSON *doc;

		if (files.n == KUBECONFIG_MAX_FILES) {
			kubeconfig_err(err, errlen, "more than %d kubeconfig files",
				       KUBECONFIG_MAX_FILES);
			ret = -EINVAL;
			goto out;
		}
		ret = kubeconfig_read_file(p, KUBECONFIG_MAX_FILE, &buf, &len);
		if (ret == -ENOENT && strchr(paths, ':'))
			continue; /* like kubectl: missing files in a list are skipped */
		if (ret < 0) {
			kubeconfig_err(err, errlen, "%s: %s", p, strerror(-ret));
			goto out;
		}
		ret = yamljson_parse(buf, len, &doc, perr, sizeof(perr));
		free(buf);
		buf = NULL;
		if (ret < 0) {
			kubeconfig_err(err, errlen, "%s: %s", p, perr);
			goto out;
		}
		if (!cJSON_IsObject(doc)) {
			cJSON_Delete(doc);
			kubeconfig_err(err, errlen, "%s: not a kubeconfig (no mapping at the top)",
				       p);
			ret = -EINVAL;
			goto out;
		}
		files.docs[files.n] = doc;
		if (!(files.paths[files.n++] = strdup(p))) {
			ret = -ENOMEM;
			goto out;
		}
	}
	if (files.n == 0) {
		kubeconfig_err(err, errlen, "%s: no such file", paths);
		ret = -ENOENT;
		goto out;
	}
	if (!(cfg = kubeconfig_alloc())) {
		ret = -ENOMEM;
		goto out;
	}
	ret = kubeconfig_fill(&files, context, cfg, err, errlen);
out:
	if (ret < 0) {
		kubeconfig_free(cfg);
		cfg = NULL;
		if (ret == -ENOMEM && errlen && !err[0])
			kubeconfig_err(err, errlen, "out of memory");
	}
	kubeconfig_files_free(&files);
	free(list);
	*out = cfg;
	return ret;
}

int kubeconfig_in_cluster(const char *root, struct kubeconfig **out, char *err, size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	struct kubeconfig *cfg;
	char path[PATH_MAX], *ns = NULL;
	size_t len, n;
	int ret = 0;

	*out = NULL;
	if (!root)
		root = "/var/run/secrets/kubernetes.io/serviceaccount";
	if (!host || !*host || !port || !*port || strspn(port, "0123456789") != strlen(port)) {
		kubeconfig_err(err, errlen,
			       "not in a cluster: KUBERNETES_SERVICE_HOST/PORT unset or invalid");
		return -ENOENT;
	}
	if (!(cfg = kubeconfig_alloc()))
		return -ENOMEM;
	n = strlen(host) + strlen(port) + 16;
	if (!(cfg->server = malloc(n))) {
		ret = -ENOMEM;
		goto out;
	}
	/* An IPv6 service host needs brackets in the URL. */
	snprintf(cfg->server, n, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
		 port);
	snprintf(path, sizeof(path), "%s/ca.crt", root);
	if ((ret = kubeconfig_read_file(path, KUBECONFIG_MAX_FILE, &cfg->ca_pem, &cfg->ca_len)) <
	    0) {
		kubeconfig_err(err, errlen, "%s: %s", path, strerror(-ret));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/token", root);
	if (access(path, R_OK) < 0) {
		ret = -errno;
		kubeconfig_err(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!(cfg->token_file = strdup(path))) {
		ret = -ENOMEM;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/namespace", root);
	if (kubeconfig_read_file(path, 256, &ns, &len) == 0)
		ns[strcspn(ns, " \n")] = '\0';
	cfg->namespace = ns && *ns ? ns : strdup("default");
	if (ns && !*ns)
		free(ns);
	if (!cfg->namespace)
		ret = -ENOMEM;
out:
	if (ret < 0) {
		kubeconfig_free(cfg);
		cfg = NULL;
	}
	*out = cfg;
	return ret;
}

char *kubeconfig_token(const struct kubeconfig *cfg)
{
	struct kubeconfig_tokens *t = cfg->tokens;
	char *tok = NULL, *copy;
	size_t len = 0;

	if (!cfg->token_file)
		return cfg->token ? strdup(cfg->token) : NULL;
	if (kubeconfig_read_file(cfg->token_file, 64 << 10, &tok, &len) == 0) {
		while (len > 0 &&
		       (tok[len - 1] == '\n' || tok[len - 1] == ' ' || tok[len - 1] == '\r'))
			tok[--len] = '\0';
		/* Control bytes would end the Authorization header early: a
		 * file caught mid-write, or one made to inject headers. */
		if (len == 0 || kubeconfig_has_ctl(tok)) {
			kubeconfig_wipe_free(tok);
			tok = NULL;
		}
	}
	pthread_mutex_lock(&t->lock);
	if (tok && (!t->last || strcmp(t->last, tok))) {
		/* A rotated token: keep it for when the file cannot be read. */
		if ((copy = strdup(tok))) {
			kubeconfig_wipe_free(t->last);
			t->last = copy;
		}
	} else if (!tok) {
		tok = t->last ? strdup(t->last) : cfg->token ? strdup(cfg->token) : NULL;
	}
	pthread_mutex_unlock(&t->lock);
	return tok;
}
