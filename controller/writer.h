/* SPDX-License-Identifier: Apache-2.0 */
/* The controller's API writes, run concurrently on a few threads so that
 * one slow request delays neither the others nor the loop. The loop builds
 * each job (what to send, computed from its caches) and submits it; a
 * writer thread checks that this replica surely leads (lease_valid) right
 * before sending, sends, and hands the job back with its result through
 * writer_fd. The rate limit is the loop's: it submits only what its token
 * bucket allows. */
#ifndef SHELLAUDIT_CONTROLLER_WRITER_H
#define SHELLAUDIT_CONTROLLER_WRITER_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "digest.h"
#include "kubeconfig.h"
#include "lease.h"

/* ret when the job was not sent because leadership was not certain. */
#define WRITER_NOT_LEADER (-ENOLCK)

struct write_job {
	char key[320];		/* the work queue key it serves */
	const char *method;	/* "POST", "PATCH" (merge patch), "DELETE", "GET" */
	char path[640];
	char *body;		/* owned; JSON, or NULL */
	char uid[64], rv[64];	/* DELETE preconditions ("" for none) */
	char hash[DIGEST_STR_LEN]; /* the caller's note of what it wrote */
	bool keep_body;		/* got: the object answered (always for GET) */

	/* results */
	int ret;		/* 0, kube_response_errno() or a transport error */
	int retry_after;	/* seconds, from a 429 */
	long long date;		/* the API server's clock when it answered (its
				 * Date, seconds since the epoch), 0 when unknown */
	char message[256];
	char new_rv[64];	/* resourceVersion the write left */
	cJSON *got;		/* the object answered, on success (GET or
				 * keep_body), owned */
	struct write_job *next;
};

struct writer;

/* A new job for key; NULL on ENOMEM. Free with write_job_free(). */
struct write_job *write_job_new(const char *key, const char *method, const char *path);
void write_job_free(struct write_job *j);

/* nthreads threads, each with its own client; lease may be NULL (always
 * leads). cfg and lease must outlive the writer. Stop with writer_stop(). */
int writer_start(const struct kubeconfig *cfg, int nthreads, const struct lease *lease,
		 struct writer **out);
/* Stops the threads (a request in flight is aborted) and frees the jobs
 * still queued or done. NULL-safe. */
void writer_stop(struct writer *w);
/* Queues j (taken). */
void writer_submit(struct writer *w, struct write_job *j);
/* Readable when finished jobs wait; read them with writer_done. */
int writer_fd(const struct writer *w);
/* A finished job (the caller frees it), or NULL. */
struct write_job *writer_done(struct writer *w);
/* Jobs submitted and not yet taken back with writer_done. */
size_t writer_pending(const struct writer *w);

#endif
