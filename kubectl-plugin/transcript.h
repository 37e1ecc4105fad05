/* SPDX-License-Identifier: Apache-2.0 */
/* A transcript: the entries of one or more sessions in the order they
 * happened, shown as a person reads a terminal (typed lines after a "$",
 * executed programs after a "+", lost events after a "!"), or as JSON or
 * YAML documents. */
#ifndef SHELLAUDIT_PLUGIN_TRANSCRIPT_H
#define SHELLAUDIT_PLUGIN_TRANSCRIPT_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "output.h"

struct chain;
struct records;
struct session;

struct transcript_item {
	const cJSON *entry; /* belongs to rec */
	const cJSON *rec;
	const struct session *session;
	struct timespec time;
	long sequence;
	int index; /* in the record's entries */
};

struct transcript {
	struct transcript_item *items;
	size_t n, cap;
	time_t since; /* entries before it are left out; 0: none */
};

/* Adds the entries of rec (a record of session s) at or after t->since. */
int transcript_add_record(struct transcript *t, const cJSON *rec, const struct session *s);
/* Adds every record of the chains in r whose session is s (any, when NULL)
 * and whose container is container (any, when NULL). */
int transcript_add_records(struct transcript *t, const struct records *r, const struct session *s,
			   const char *container);
/* Orders the items by time, then by their place in the chain. */
void transcript_sort(struct transcript *t);
void transcript_clear(struct transcript *t);

struct transcript_style {
	enum out_format format;
	bool session_column; /* text: name each entry's session (logs) */
	bool color;
	bool stream; /* json/yaml: one document per entry (logs -f) */
};

/* One entry as a person reads it, or as a document when st->stream. */
void transcript_print_item(FILE *f, const struct transcript_item *it,
			   const struct transcript_style *st);
/* The whole transcript: text lines, or one document {kind: Transcript,
 * entries: [...]} with head's members first (head may be NULL). */
void transcript_print(FILE *f, const struct transcript *t, const cJSON *head,
		      const struct transcript_style *st);

/* An entry as the documents hold it: the record's entry with its session,
 * namespace, pod, container, container ID, user, record and sequence.
 * Caller frees it. */
cJSON *transcript_item_json(const struct transcript_item *it);

#endif
