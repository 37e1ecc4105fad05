/* SPDX-License-Identifier: Apache-2.0 */
/* Redaction of typed lines and arguments by a target's rules, before
 * anything leaves the node (spool included). */
#ifndef SHELLAUDIT_REDACT_H
#define SHELLAUDIT_REDACT_H

#include <stddef.h>

#include <cjson/cJSON.h>

struct redact_set;

/* Compiles a ShellAuditNode target's redact list ([{name, pattern,
 * replacement}], RE2 syntax as the API server checked it). A rule that does
 * not compile here fails the whole set with -EINVAL and err naming it: a
 * target must not be audited with a secret-hiding rule silently missing.
 * rules may be NULL (no redaction). Caller frees *out with redact_free(). */
int redact_compile(const cJSON *rules, struct redact_set **out, char *err, size_t errlen);
void redact_free(struct redact_set *rs);

/* Applies every rule in order to n bytes of in; *out (caller frees, NUL-
 * terminated) and *outlen get the result, *hits how many matches were
 * replaced. Matching is bounded (match and depth limits): a pathological
 * pattern fails with -E2BIG rather than hanging, and the caller must then
 * withhold the text. */
int redact_apply(const struct redact_set *rs, const char *in, size_t n, char **out,
		 size_t *outlen, unsigned *hits);

#endif
