/* SPDX-License-Identifier: Apache-2.0 */
/* Where and how to reach the API server: kubeconfig files or in-cluster. */
#ifndef SHELLAUDIT_KUBECONFIG_H
#define SHELLAUDIT_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define KUBECONFIG_MAX_FILE (4 << 20)

struct kubeconfig {
	char *server;		/* https://host:port, no trailing slash */
	char *namespace;	/* the context's namespace, or "default" */
	/* PEM blobs, from *-data fields or read from the named files */
	char *ca_pem;
	size_t ca_len;
	char *cert_pem;
	size_t cert_len;
	char *key_pem;
	size_t key_len;
	char *token;		/* bearer token, when given inline */
	char *token_file;	/* re-read on use: service-account tokens rotate */
	bool insecure;		/* insecure-skip-tls-verify (never with a CA: refused) */
	char *tls_server_name;	/* the name the server certificate must carry, and
				 * the SNI; the connection still goes to server */
	struct kubeconfig_tokens *tokens; /* private: the last token read from token_file */
};

/*
 * Loads the kubeconfig files of `paths` (colon-separated like KUBECONFIG;
 * the first file to set a value wins, as kubectl merges them) for `context`
 * (NULL: current-context). On -EINVAL or -ENOENT, err names the file and key
 * that are wrong. What this client cannot honour is refused rather than
 * ignored: exec and auth-provider plugins, username/password, impersonation
 * (as, as-groups, as-uid, as-user-extra), proxy-url; and, as client-go does,
 * insecure-skip-tls-verify together with a certificate-authority. Caller
 * frees *out with kubeconfig_free().
 */
int kubeconfig_load(const char *paths, const char *context, struct kubeconfig **out, char *err,
		    size_t errlen);

/* The in-cluster configuration: KUBERNETES_SERVICE_HOST/PORT, the service
 * account's CA and token files under root (normally
 * /var/run/secrets/kubernetes.io/serviceaccount). */
int kubeconfig_in_cluster(const char *root, struct kubeconfig **out, char *err, size_t errlen);

/* The bearer token to send now, or NULL for none. token_file is read again
 * on every call (projected tokens rotate); when it cannot be read, the last
 * token read from it is sent, as client-go does, else the inline token.
 * Thread-safe. Caller frees the result (and should wipe it). */
char *kubeconfig_token(const struct kubeconfig *cfg);

void kubeconfig_free(struct kubeconfig *cfg);

#endif
