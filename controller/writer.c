// SPDX-License-Identifier: Apache-2.0
/* Writer threads. Each owns its kube_client; the two job lists (todo,
 * done) are shared under one mutex; the loop owns a job from creation to
 * submit and again from writer_done to write_job_free. */
#include "writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "jsontext.h"
#include "kube.h"

struct writer {
	const struct kubeconfig *cfg;
	const struct lease *lease;
	int nthreads;
	pthread_t *threads;
	int started;
	atomic_int stop;
	int efd;
	pthread_mutex_t lock;	/* guards the lists and pending */
	pthread_cond_t cond;
	struct write_job *todo, *todo_tail, *done;
	size_t pending;
};

struct write_job *write_job_new(const char *key, const char *method, const char *path)
{
	struct write_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	snprintf(j->key, sizeof(j->key), "%s", key);
	snprintf(j->path, sizeof(j->path), "%s", path);
	j->method = method;
	return j;
}

void write_job_free(struct write_job *j)
{
	if (!j)
		return;
	free(j->body);
	cJSON_Delete(j->got);
	free(j);
}

/* The resourceVersion in a response body. */
static void writer_take_rv(struct write_job *j, const struct kube_response *resp)
{
	cJSON *obj = resp->body ? cJSON_ParseWithLength(resp->body, resp->len) : NULL;
	const char *rv = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion"));

	snprintf(j->new_rv, sizeof(j->new_rv), "%s", rv ? rv : "");
	if (j->keep_body || !strcmp(j->method, "GET")) {
		j->got = obj;
		obj = NULL;
	}
	cJSON_Delete(obj);
}

/* The DeleteOptions of a DELETE with preconditions (uid, resourceVersion),
 * as j->body. */
static int writer_preconditions(struct write_job *j)
{
	cJSON *opts = cJSON_CreateObject(), *pre;

	if (!opts || !cJSON_AddStringToObject(opts, "kind", "DeleteOptions") ||
	    !cJSON_AddStringToObject(opts, "apiVersion", "v1") ||
	    !(pre = cJSON_AddObjectToObject(opts, "preconditions")) ||
	    (j->uid[0] && !cJSON_AddStringToObject(pre, "uid", j->uid)) ||
	    (j->rv[0] && !cJSON_AddStringToObject(pre, "resourceVersion", j->rv)) ||
	    !(j->body = jsontext_print(opts, NULL))) {
		cJSON_Delete(opts);
		return -ENOMEM;
	}
	cJSON_Delete(opts);
	return 0;
}

/* kube_client_opts.may_send: asked again once the connection is up, right
 * before the request goes out. */
static bool writer_may_send(void *arg)
{
	const struct writer *w = arg;

	return !w->lease || lease_valid(w->lease);
}

static void writer_not_sent(struct write_job *j)
{
	j->ret = WRITER_NOT_LEADER;
	snprintf(j->message, sizeof(j->message), "not sure to lead: not sent");
}

static void writer_run(struct writer *w, struct kube_client *c, struct write_job *j)
{
	struct kube_response resp;
	int ret;

	/* Checked here and again right before sending (writer_may_send): a
	 * replica that cannot be sure it still leads writes nothing. The
	 * conditional writes are the fence for a request already under way,
	 * e.g. of a process stopped between the check and the send. */
	if (!writer_may_send(w)) {
		writer_not_sent(j);
		return;
	}
	if (!strcmp(j->method, "DELETE") && !j->body && (j->uid[0] || j->rv[0]) &&
	    (ret = writer_preconditions(j)) < 0) {
		j->ret = ret;
		snprintf(j->message, sizeof(j->message), "out of memory");
		return;
	}
	ret = kube_request(c, j->method, j->path,
			   !strcmp(j->method, "PATCH") ? "application/merge-patch+json" :
							 "application/json",
			   j->body, &resp);
	if (ret == -ECANCELED && !writer_may_send(w)) {
		writer_not_sent(j);
		kube_response_clear(&resp);
		return;
	}
	if (ret == 0)
		ret = kube_response_errno(&resp);
	if (ret == 0)
		writer_take_rv(j, &resp);
	j->ret = ret;
	j->retry_after = resp.retry_after;
	j->date = resp.date;
	snprintf(j->message, sizeof(j->message), "%.255s", resp.message);
	kube_response_clear(&resp);
}

static void *writer_thread(void *arg)
{
	struct writer *w = arg;
	struct kube_client_opts copts = { .stop = &w->stop,
					  .may_send = writer_may_send,
					  .may_send_arg = w };
	struct kube_client *c = NULL;
	struct write_job *j;
	uint64_t one = 1;
	int ret = kube_client_new(w->cfg, &copts, &c);

	pthread_setname_np(pthread_self(), "sa-writer");
	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (!w->todo && !atomic_load(&w->stop))
			pthread_cond_wait(&w->cond, &w->lock);
		if (atomic_load(&w->stop)) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		j = w->todo;
		w->todo = j->next;
		if (!w->todo)
			w->todo_tail = NULL;
		pthread_mutex_unlock(&w->lock);
		j->next = NULL;
		if (ret < 0) {
			j->ret = ret;
			snprintf(j->message, sizeof(j->message), "no API client");
		} else {
			writer_run(w, c, j);
		}
		pthread_mutex_lock(&w->lock);
		j->next = w->done;
		w->done = j;
		pthread_mutex_unlock(&w->lock);
		(void)!write(w->efd, &one, sizeof(one));
	}
	kube_client_free(c);
	return NULL;
}

int writer_start(const struct kubeconfig *cfg, int nthreads, const struct lease *lease,
		 struct writer **out)
{
	struct writer *w = calloc(1, sizeof(*w));
	int ret = 0, i;

	*out = NULL;
	if (!w)
		return -ENOMEM;
	w->cfg = cfg;
	w->lease = lease;
	w->nthreads = nthreads > 0 ? nthreads : 1;
	atomic_init(&w->stop, 0);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->threads = calloc((size_t)w->nthreads, sizeof(*w->threads));
	if (w->efd < 0 || !w->threads) {
		ret = w->efd < 0 ? -errno : -ENOMEM;
		goto fail;
	}
	for (i = 0; i < w->nthreads; i++) {
		if ((ret = -pthread_create(&w->threads[i], NULL, writer_thread, w)) < 0)
			goto fail;
		w->started++;
	}
	*out = w;
	return 0;
fail:
	writer_stop(w);
	return ret;
}

static void writer_free_list(struct write_job *j)
{
	struct write_job *next;

	for (; j; j = next) {
		next = j->next;
		write_job_free(j);
	}
}

void writer_stop(struct writer *w)
{
	int i;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->stop, 1);
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (i = 0; i < w->started; i++)
		pthread_join(w->threads[i], NULL);
	writer_free_list(w->todo);
	writer_free_list(w->done);
	free(w->threads);
	if (w->efd >= 0)
		close(w->efd);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

void writer_submit(struct writer *w, struct write_job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->todo_tail)
		w->todo_tail->next = j;
	else
		w->todo = j;
	w->todo_tail = j;
	w->pending++;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int writer_fd(const struct writer *w)
{
	return w->efd;
}

struct write_job *writer_done(struct writer *w)
{
	struct write_job *j;
	uint64_t cnt;

	pthread_mutex_lock(&w->lock);
	j = w->done;
	if (j) {
		w->done = j->next;
		w->pending--;
	} else {
		(void)!read(w->efd, &cnt, sizeof(cnt));
	}
	pthread_mutex_unlock(&w->lock);
	if (j)
		j->next = NULL;
	return j;
}

size_t writer_pending(const struct writer *w)
{
	size_t n;

	pthread_mutex_lock((pthread_mutex_t *)&w->lock);
	n = w->pending;
	pthread_mutex_unlock((pthread_mutex_t *)&w->lock);
	return n;
}
