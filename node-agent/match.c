// SPDX-License-Identifier: Apache-2.0
/* Matching pending sessions to session roots (see match.h). */
#include "match.h"

#include <stdio.h>
#include <string.h>

const char *match_status_name(enum match_status s)
{
	switch (s) {
	case MATCH_MATCHED: return "Matched";
	case MATCH_AMBIGUOUS: return "Ambiguous";
	case MATCH_UNATTRIBUTED: return "Unattributed";
	case MATCH_WORKLOAD: return "Workload";
	}
	return "Unattributed";
}

const char *match_method_name(enum match_method m)
{
	switch (m) {
	case MATCH_BY_EPHEMERAL: return "EphemeralContainer";
	case MATCH_BY_DEBUGPOD: return "DebugPod";
	case MATCH_BY_TUPLE: return "AdmissionTuple";
	case MATCH_BY_NONE: break;
	}
	return NULL;
}

const char *match_stdin_name(enum match_stdin in)
{
	switch (in) {
	case MATCH_STDIN_NONE: return "none";
	case MATCH_STDIN_PIPE: return "pipe";
	case MATCH_STDIN_TTY: return "tty";
	case MATCH_STDIN_OTHER: return "other";
	case MATCH_STDIN_UNKNOWN: break;
	}
	return "unknown";
}

static bool match_eq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* Same pod (the UID too when both know it) and container. */
static bool match_same_container(const struct match_root *r, const struct match_pending *p)
{
	return match_eq(r->ns, p->ns) && match_eq(r->pod, p->pod) &&
	       (!r->pod_uid || !*r->pod_uid || !p->pod_uid || !*p->pod_uid ||
		match_eq(r->pod_uid, p->pod_uid)) &&
	       match_eq(r->container, p->container);
}

/* argv alike: equal, or, where a side was cut, equal as far as both go. */
static bool match_argv(const struct match_root *r, const struct match_pending *p)
{
	size_t i, n = r->argc < p->argc ? r->argc : p->argc;

	if (!r->have_argv)
		return false;
	if (r->argc != p->argc && !(r->argc < p->argc ? r->argv_truncated : p->argv_truncated))
		return false;
	for (i = 0; i < n; i++) {
		const char *a = r->argv[i] ? r->argv[i] : "", *b = p->argv[i] ? p->argv[i] : "";
		bool last = i == n - 1;

		if (!strcmp(a, b))
			continue;
		/* The last argument a cut side holds may be cut itself. */
		if (last && r->argv_truncated && r->argc <= p->argc && !strncmp(a, b, strlen(a)))
			continue;
		if (last && p->argv_truncated && p->argc <= r->argc && !strncmp(a, b, strlen(b)))
			continue;
		return false;
	}
	return true;
}

static bool match_stdio(const struct match_root *r, const struct match_pending *p)
{
	if (r->tty >= 0 && (r->tty == 1) != p->tty)
		return false;
	/* With a terminal, stdin is the terminal whatever was asked. */
	if (p->tty || r->in == MATCH_STDIN_UNKNOWN || r->in == MATCH_STDIN_OTHER ||
	    r->in == MATCH_STDIN_TTY)
		return true;
	return p->stdin == (r->in == MATCH_STDIN_PIPE);
}

static bool match_in_window(const struct match_root *r, const struct match_pending *p,
			    const struct match_window *w)
{
	return p->received_ns + w->before_ns >= r->exec_ns &&
	       p->received_ns <= r->exec_ns + w->after_ns;
}

static bool match_same_user(const struct match_pending *a, const struct match_pending *b)
{
	return match_eq(a->username, b->username) &&
	       ((!a->uid && !b->uid) || match_eq(a->uid ? a->uid : "", b->uid ? b->uid : ""));
}

/* Adds pending i to the candidates c (nc of them, earliest received
 * first), or counts it in *more past MATCH_MAX_CANDIDATES. */
static void match_candidate_add(const struct match_pending *p, size_t i, size_t *c, size_t *nc,
				size_t *more)
{
	size_t j;

	if (*nc == MATCH_MAX_CANDIDATES) {
		(*more)++;
		return;
	}
	for (j = *nc; j > 0 && p[c[j - 1]].received_ns > p[i].received_ns; j--)
		c[j] = c[j - 1];
	c[j] = i;
	(*nc)++;
}

/* Whether the nc candidates c are all the same person's. */
static bool match_one_user(const struct match_pending *p, const size_t *c, size_t nc)
{
	size_t i;

	for (i = 1; i < nc; i++)
		if (!match_same_user(&p[c[0]], &p[c[i]]))
			return false;
	return true;
}

/* Whether p names the root's pod by its UID (not only by its name). */
static bool match_same_uid(const struct match_root *r, const struct match_pending *p)
{
	return r->pod_uid && *r->pod_uid && match_eq(r->pod_uid, p->pod_uid);
}

/* The opener of the debug container or node-debug pod the root's own
 * processes run in. Every pending session that claims it counts, not the
 * first one listed: one that names the pod's UID beats one that names
 * none (the pod of that name may be another), and different people
 * claiming it leave it Ambiguous, all listed (where the webhook answers
 * any peer, a pending session can be forged ahead of the real one). */
static void match_own(const struct match_root *r, struct match_pending *p, size_t n,
		      struct match_result *out)
{
	size_t i, c[MATCH_MAX_CANDIDATES], nc = 0, more = 0;
	bool by_uid = false;

	for (i = 0; i < n; i++) {
		if ((p[i].kind != MATCH_EPHEMERAL && p[i].kind != MATCH_DEBUGPOD) ||
		    !match_same_container(r, &p[i]))
			continue;
		if (match_same_uid(r, &p[i]) && !by_uid) {
			by_uid = true; /* those naming no UID no longer count */
			nc = more = 0;
		} else if (by_uid && !match_same_uid(r, &p[i])) {
			continue;
		}
		match_candidate_add(p, i, c, &nc, &more);
	}
	if (nc == 0) {
		out->status = MATCH_WORKLOAD;
		snprintf(out->reason, sizeof(out->reason),
			 "the container's own processes: no one entered the container to start "
			 "them");
		return;
	}
	out->method = p[c[0]].kind == MATCH_EPHEMERAL ? MATCH_BY_EPHEMERAL : MATCH_BY_DEBUGPOD;
	if (match_one_user(p, c, nc) && !more) {
		out->status = MATCH_MATCHED;
		out->chosen = (long)c[0];
		return;
	}
	out->status = MATCH_AMBIGUOUS;
	memcpy(out->cand, c, nc * sizeof(c[0]));
	out->ncand = nc;
	snprintf(out->reason, sizeof(out->reason),
		 "%zu admitted sessions of different people claim this %s: any of them could "
		 "have opened it%s",
		 nc + more, out->method == MATCH_BY_EPHEMERAL ? "debug container" : "debug pod",
		 more ? " (only the first are listed)" : "");
}

/* Why nothing matched, said as precisely as the pendings allow. */
static void match_why_none(const struct match_root *r, const struct match_pending *p, size_t n,
			   const struct match_window *w, struct match_result *out)
{
	size_t i, differ = 0, outside = 0, taken = 0, used;
	long first_differ = -1;

	for (i = 0; i < n; i++) {
		if (p[i].kind != MATCH_EXEC || !match_same_container(r, &p[i]))
			continue;
		if (!match_in_window(r, &p[i], w))
			outside++;
		else if (p[i].consumed)
			taken++;
		else if (differ++ == 0)
			first_differ = (long)i;
	}
	if (!r->have_argv) {
		snprintf(out->reason, sizeof(out->reason),
			 "the session's first program was not seen (it started before the agent "
			 "watched the container)");
		return;
	}
	snprintf(out->reason, sizeof(out->reason),
		 "no exec of this container with this command, terminal and stdin was admitted "
		 "within %llu s before: the admission webhook did not see it (not installed, down "
		 "or too slow) or it was opened on the node itself (crictl, nsenter)",
		 (unsigned long long)(w->before_ns / 1000000000ull));
	used = strlen(out->reason);
	if (first_differ >= 0)
		snprintf(out->reason + used, sizeof(out->reason) - used,
			 "; %zu admitted just before "
			 "differ in command, terminal or stdin (the first: "
			 "%.64s by %.64s)",
			 differ, p[first_differ].argc ? p[first_differ].argv[0] : "",
			 p[first_differ].username ? p[first_differ].username : "?");
	else if (taken)
		snprintf(
			out->reason + used, sizeof(out->reason) - used,
			"; the alike ones admitted just before were matched to other sessions (one "
			"more began than were admitted)");
	else if (outside)
		snprintf(out->reason + used, sizeof(out->reason) - used,
			 "; admitted execs of the container came earlier or later");
}

void match_decide(const struct match_root *r, struct match_pending *p, size_t n,
		  const struct match_window *w, struct match_result *out)
{
	size_t i, c[MATCH_MAX_CANDIDATES], nc = 0, more = 0;

	memset(out, 0, sizeof(*out));
	out->chosen = -1;
	if (r->own) {
		match_own(r, p, n, out);
		return;
	}
	for (i = 0; i < n; i++) {
		if (p[i].kind != MATCH_EXEC || p[i].consumed || !match_same_container(r, &p[i]) ||
		    !match_in_window(r, &p[i], w) || !match_argv(r, &p[i]) ||
		    !match_stdio(r, &p[i]))
			continue;
		match_candidate_add(p, i, c, &nc, &more);
	}
	if (nc == 0) {
		out->status = MATCH_UNATTRIBUTED;
		match_why_none(r, p, n, w, out);
		return;
	}
	if (match_one_user(p, c, nc) && !more) {
		out->status = MATCH_MATCHED;
		out->method = MATCH_BY_TUPLE;
		out->chosen = (long)c[0];
		p[c[0]].consumed = true;
		if (nc > 1)
			snprintf(out->reason, sizeof(out->reason),
				 "%zu alike sessions of %.256s "
				 "began within the window; the earliest "
				 "admitted is taken",
				 nc, p[c[0]].username ? p[c[0]].username : "?");
		return;
	}
	out->status = MATCH_AMBIGUOUS;
	out->method = MATCH_BY_TUPLE;
	memcpy(out->cand, c, nc * sizeof(c[0]));
	out->ncand = nc;
	snprintf(out->reason, sizeof(out->reason),
		 "%zu alike sessions of different people were admitted into this container within "
		 "%llu s before to %llu ms after this one began: any of them could be it%s",
		 nc + more, (unsigned long long)(w->before_ns / 1000000000ull),
		 (unsigned long long)(w->after_ns / 1000000ull),
		 more ? " (only the first are listed)" : "");
}
