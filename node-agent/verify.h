/* SPDX-License-Identifier: Apache-2.0 */
/* Checking a container's chain of AuditRecords. */
#ifndef SHELLAUDIT_VERIFY_H
#define SHELLAUDIT_VERIFY_H

#include <stdio.h>

#include <cjson/cJSON.h>

struct verify_result {
	long records;
	long first_sequence, last_sequence;
	long missing;		/* gaps in the sequence */
	long altered;		/* digest does not match the content */
	long broken_links;	/* previousDigest differs from the previous digest */
	long duplicates;	/* two records claim one sequence */
};

/*
 * Verifies the records (AuditRecord objects, any order) of one container:
 * sequences contiguous, each digest recomputed from its content, each
 * previousDigest equal to the digest before it. A chain that starts above
 * 0 is reported (older records expired) but is not an error by itself.
 * Writes one line per finding to out (if non-NULL); returns 0 when the
 * chain is intact, -EBADMSG otherwise.
 */
int verify_chain(cJSON *const *records, size_t n, FILE *out, struct verify_result *res);

struct kube_client;

/* Lists the AuditRecords of one container (namespace, pod and container
 * names: every chain of that container name, one after the other) and
 * verifies each chain, writing findings to out. 0 when every chain is
 * intact, -EBADMSG when one is not, -ENODATA when there is no record,
 * another negative errno when the records cannot be listed. */
int verify_container(struct kube_client *c, const char *ns, const char *pod, const char *container,
		     FILE *out);

/* The exit status of both `verify` commands (`kubectl shellaudit verify`
 * and `shellaudit-agent verify`) for verify_container's result: 0 intact,
 * 1 broken, 3 no records, 2 anything else (the records could not be read). */
int verify_exit_status(int ret);

#endif
