/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The session webhook's TLS: a CA and the serving certificate it signs,
 * made in memory at start (no Secret: each replica has its own), the
 * serving certificate renewed every rotate_s, the CA renewed before it
 * expires; and the caBundle of the ValidatingWebhookConfiguration, which
 * must hold this replica's CAs next to the other replicas' (each adds its
 * own; expired ones go; at most WEBHOOKCERT_BUNDLE_MAX). Owned by the
 * sessions thread.
 */
#ifndef SHELLAUDIT_WEBHOOKCERT_H
#define SHELLAUDIT_WEBHOOKCERT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "certs.h"
#include "kube.h"

#define WEBHOOKCERT_BUNDLE_MAX 8

struct webhookcert;

/* A CA and a serving certificate for the n DNS names (the Service's). */
int webhookcert_new(const char *const *dns, size_t n, long rotate_s, struct webhookcert **out,
		    char *err, size_t errlen);
void webhookcert_free(struct webhookcert *wc);

/* The serving certificate now. */
const struct cert_pair *webhookcert_leaf(const struct webhookcert *wc);

/* Renews what is due at `now`: 1 when the serving certificate changed (the
 * server must take it), 0 nothing, <0 an error (err). A new CA signs
 * serving certificates only once the caBundle holds it
 * (webhookcert_patch). */
int webhookcert_tick(struct webhookcert *wc, time_t now, char *err, size_t errlen);

/* The caBundle (PEM) for `current` (PEM, len bytes): own's certificates
 * first, then the others not expired at `now` (newest first), at most
 * WEBHOOKCERT_BUNDLE_MAX; *changed when it differs from current. Caller
 * frees. */
char *webhookcert_merge(const char *current, size_t len, const char *const *own, size_t nown,
			time_t now, bool *changed);

/* Puts this replica's CAs into the caBundle of every webhook of the
 * ValidatingWebhookConfiguration `name`: 1 written, 0 it held them,
 * -ENOENT no such configuration, other -errno (err says). */
int webhookcert_patch(struct webhookcert *wc, struct kube_client *c, const char *name, time_t now,
		      char *err, size_t errlen);

#endif
