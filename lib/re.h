/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Regular expressions in RE2 syntax (Go's regexp/syntax, which the API
 * server checks patterns against), matched in time linear in the text: the
 * pattern is compiled to a program (Thompson's construction) that a Pike VM
 * runs over the text once, every thread in step, so no text makes it
 * backtrack. Matches are leftmost-first, as Go's and RE2's: of the matches
 * that start leftmost, the one the pattern prefers (greedy or lazy repeats,
 * alternatives in order).
 *
 * Patterns come from an administrator, texts from anyone (an audited
 * user's typing): a text is any bytes, read as UTF-8 where it is, each
 * invalid byte one U+FFFD. What is supported: literals, ., [classes] with
 * ranges, negation, [:ascii:] classes and \d \s \w (and \D \S \W), the
 * escapes \a \f \t \n \r \v \x.. \x{...} \0.. \Q...\E and escaped
 * punctuation, groups (capturing, (?:), (?P<name>), (?<name>)), |, the
 * repeats * + ? {n} {n,} {n,m} (at most 1000) and their lazy forms, the
 * assertions ^ $ \A \z \b \B, and the flags i, m, s, U ((?flags) and
 * (?flags:re)). Unicode classes (\pL, \p{Greek}) are refused with an error
 * saying so. Case folding ((?i)) covers ASCII, Latin-1, Greek and Cyrillic
 * letters and the few other characters that fold to ASCII ones (U+017F,
 * U+212A, U+212B), not the rest of Unicode.
 */
#ifndef SHELLAUDIT_RE_H
#define SHELLAUDIT_RE_H

#include <stddef.h>
#include <stdint.h>

/* A compiled program has at most this many instructions (a pattern like
 * (x{1000}){1000} is refused): the time per byte of text is bounded by it. */
#define RE_MAX_PROGRAM 10000
#define RE_MAX_REPEAT 1000

struct re;

/* Compiles the NUL-terminated pattern. On -EINVAL, err (errlen bytes) says
 * what is wrong and where. Caller frees *out with re_free(). */
int re_compile(const char *pattern, struct re **out, char *err, size_t errlen);
void re_free(struct re *re);

/*
 * The leftmost-first match in the n bytes of text that starts at or after
 * byte offset from (assertions see the whole text: ^ and \b before from
 * look at what precedes it). Returns 1 with the match in [*ms, *me), 0 when
 * there is none, -E2BIG when *budget ran out first (one unit per thread
 * step: the work is at most about (n + 1) * 2 * re_program_size() units),
 * -ENOMEM. *budget is decreased by the work done.
 */
int re_search(const struct re *re, const void *text, size_t n, size_t from, size_t *ms,
	      size_t *me, uint64_t *budget);

/*
 * Memory for searches of one program, made once for many of them (all the
 * matches in one text): re_search makes its own at each call, which costs
 * time in the program's size whatever the budget says. Caller frees *out
 * with re_scratch_free(); it must not outlive re.
 */
struct re_scratch;
int re_scratch_new(const struct re *re, struct re_scratch **out);
void re_scratch_free(struct re_scratch *sc);
/* re_search with sc (re_scratch_new's for this re; -EINVAL for another's). */
int re_search_in(const struct re *re, struct re_scratch *sc, const void *text, size_t n,
		 size_t from, size_t *ms, size_t *me, uint64_t *budget);

size_t re_program_size(const struct re *re);

#endif
