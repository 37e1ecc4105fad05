/* SPDX-License-Identifier: Apache-2.0 */
/* Checking a container's chain of AuditRecords: each record's digest and
 * link, its signature by its node's key, and the chain's ends against what
 * the node publishes in its ShellAuditNode status (signing key and chain
 * head), where tenants cannot write. */
#ifndef SHELLAUDIT_VERIFY_H
#define SHELLAUDIT_VERIFY_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include <cjson/cJSON.h>

/* Times from another clock (the node's, the API server's) are trusted to
 * within this many seconds. */
#define VERIFY_CLOCK_SLACK_S 60

struct verify_result {
	long records;
	long first_sequence, last_sequence;
	long missing;		/* gaps in the sequence */
	long altered;		/* digest does not match the content */
	long broken_links;	/* previousDigest differs from the previous digest */
	long duplicates;	/* two records claim one sequence */
	long bad_signatures;	/* unsigned, or not signed by the node's published key */
	long deleted_first;	/* the oldest records went before their retention */
	long deleted_last;	/* records up to the node's published head are gone, or
				 * the record at the head is not the one published */
	long no_head;		/* the node publishes no head for this chain */
};

/* What a node publishes that one chain is checked against. */
struct verify_anchor {
	const char *node;
	/* status.signingKey: its ID and base64 public key; NULL when the node
	 * publishes none (or its ShellAuditNode is gone). */
	const char *key_id, *public_key;
	/* The status.heads item of this chain's container, or NULL. */
	const cJSON *head;
};

/*
 * Verifies the records (AuditRecord objects, any order) of one container
 * on one node: sequences contiguous, each digest recomputed from its
 * content, each previousDigest equal to the digest before it and, when
 * anchor is given, each record signed by anchor's key; the first record
 * present, when above 0, must say its predecessor's retention has passed
 * (spec.previousKeptUntil); the last must reach the head anchor publishes
 * unless that head's retention has passed. n may be 0 (a head whose
 * records are all gone). now is the verifier's clock. Writes one line per
 * finding to out (if non-NULL); 0 when intact, -EBADMSG otherwise.
 */
int verify_records(cJSON *const *records, size_t n, const struct verify_anchor *anchor, time_t now,
		   FILE *out, struct verify_result *res);

/* verify_records without an anchor: the chain's structure alone (digests,
 * links, sequence), not who signed it nor whether its newest records are
 * gone. */
int verify_chain(cJSON *const *records, size_t n, FILE *out, struct verify_result *res);

/*
 * A pod runs on one node for its whole life, so every record naming its
 * UID (spec.pod.uid) names that node: records of one pod UID on two nodes,
 * or (pod_uid and pod_node given: the pod as the API server has it now) on
 * another node than the pod's, were written by a node that never ran it
 * (a node's root can sign records for its own node about any pod). Writes
 * one line per pod UID and node found wrong to out (if non-NULL); returns
 * how many records are wrong.
 */
long verify_pod_nodes(cJSON *const *records, size_t n, const char *pod_uid, const char *pod_node,
		      FILE *out);

struct kube_client;

/*
 * Checks every chain (one per container ID) of a container: lists the
 * AuditRecords of the namespace and keeps those whose spec names the pod
 * and container (labels are not trusted), reads the ShellAuditNode of each
 * node the records name (and of the pod's node while the pod exists), and
 * runs verify_records on each chain against its node's key and head. A
 * head published for the container whose records are all gone is a chain
 * too; with no record at all, every ShellAuditNode is searched for one.
 * Records of one container ID claiming two nodes are a finding. Writes
 * findings to out. 0 when every chain is intact, -EBADMSG when one is
 * not, -ENODATA when there is no record and no head (verify_exit_status
 * says 3: a trail deleted whole with its heads is not "intact"), another
 * negative errno when the API cannot be read.
 */
int verify_container(struct kube_client *c, const char *ns, const char *pod, const char *container,
		     FILE *out);

/* The exit status of both `verify` commands (`kubectl shellaudit verify`
 * and `shellaudit-agent verify`) for verify_container's result: 0 intact,
 * 1 broken, 3 no records, 2 anything else (the records could not be read). */
int verify_exit_status(int ret);

#endif
