/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Redaction of typed lines, arguments and file names by a target's rules,
 * before anything leaves the node (spool included). Every rule runs on the
 * text as it came (not on another rule's output) with lib/re, whose time is
 * linear in the text; where matches of several rules overlap, their union
 * is replaced once, by the replacement of the rule whose match starts
 * first (the first listed on a tie).
 */
#ifndef SHELLAUDIT_REDACT_H
#define SHELLAUDIT_REDACT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define REDACT_MAX_RULES 64
/* Work one rule may do on one text (lib/re's units: at most about one per
 * byte of text and instruction of the rule's program, far fewer for the
 * patterns secrets call for): a rule past it "cannot finish" (see
 * redact_result). A rule of 4000 instructions, say \w{4000}, can reach it
 * on a hostile 4096-byte line; [a-z]{40} on none of 65534. */
#define REDACT_BUDGET (1ull << 24)

struct redact_set;

/* Compiles a ShellAuditNode target's redact list ([{name, pattern,
 * replacement}], RE2 syntax as the API server checked it). A rule that does
 * not compile here (lib/re refuses Unicode classes and programs over
 * RE_MAX_PROGRAM) fails the whole set with -EINVAL and err naming it: a
 * target must not be audited with a secret-hiding rule silently missing.
 * rules may be NULL (no redaction). Caller frees *out with redact_free(). */
int redact_compile(const cJSON *rules, struct redact_set **out, char *err, size_t errlen);
void redact_free(struct redact_set *rs);
/* The name of rule i (as redact_result counts them), "" past the end. */
const char *redact_rule_name(const struct redact_set *rs, size_t i);

/* What redaction did. */
struct redact_result {
	uint64_t matched;	/* bit i: rule i matched */
	int unfinished;		/* a rule that ran out of REDACT_BUDGET, or -1 */
	int cut;		/* an output was cut at REDACT_MAX_OUT (replacements at
				 * every position of a long text) */
};

#define REDACT_MAX_OUT (1u << 20)

/*
 * Redacts the n bytes of a typed line (or a file name): *out (caller
 * frees, NUL-terminated) and *outlen get the result. Returns 0; -E2BIG
 * when a rule could not finish (res->unfinished names it, *out is NULL:
 * nothing of the text can be shown as redacted); -ENOMEM. res is reset
 * first (rs may be NULL: a copy).
 */
int redact_apply(const struct redact_set *rs, const char *in, size_t n, char **out,
		 size_t *outlen, struct redact_result *res);

/*
 * redact_apply for the n bytes of in as the end of a longer text that
 * starts with the blen bytes of before (a command typed over several
 * lines: before is what came already, shown then): the rules run on
 * before and in together, and what a match covers of in is replaced.
 * res->matched names the rules whose matches reach into in.
 */
int redact_apply_after(const struct redact_set *rs, const char *before, size_t blen, const char *in,
		       size_t n, char **out, size_t *outlen, struct redact_result *res);

/*
 * Redacts an exec's arguments (argc of them, argv[i] of len[i] bytes). The
 * rules run on each argument alone and on the command line the arguments
 * make when joined by single spaces, so that a secret split over two of
 * them (`mysql --password hunter2`) is found too; every argument a match
 * covers is redacted where it covers it. *out_argv (argc strings, each
 * NUL-terminated, *out_len their lengths; caller frees each and the
 * arrays) and *line (the joined command line, redacted; caller frees) get
 * the result. Returns as redact_apply.
 */
int redact_argv(const struct redact_set *rs, const char *const *argv, const size_t *len,
		size_t argc, char ***out_argv, size_t **out_len, char **line, size_t *linelen,
		struct redact_result *res);

#endif
