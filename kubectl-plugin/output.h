/* SPDX-License-Identifier: Apache-2.0 */
/* What kubectl-shellaudit writes: text a terminal shows rather than acts
 * on, aligned tables, and JSON or YAML documents for machines. Every string
 * it writes comes from AuditRecords, which an audited user's typing and a
 * tenant's edits reach: none of it can move the cursor, set a window
 * title or reorder what is shown. */
#ifndef SHELLAUDIT_PLUGIN_OUTPUT_H
#define SHELLAUDIT_PLUGIN_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

#include <cjson/cJSON.h>

enum out_format { OUT_TEXT, OUT_JSON, OUT_YAML };

/* "json" or "yaml" (kubectl's -o); -EINVAL otherwise. */
int out_parse_format(const char *s, enum out_format *out);

/* Writes s as it is stored, through escape_terminal: a backslash stays a
 * backslash, a control character or bidi override becomes visible. */
void out_text(FILE *f, const char *s);
/* The same into a new string the caller frees; NULL when out of memory. */
char *out_text_dup(const char *s);
/* out_text for each line of s, newlines kept: text another module wrote
 * with values from records in it (verify's findings). */
void out_text_lines(FILE *f, const char *s);

/* SGR colors, written only when on is true. */
#define OUT_BOLD "\033[1m"
#define OUT_DIM "\033[2m"
#define OUT_RED "\033[31m"
#define OUT_YELLOW "\033[33m"
#define OUT_RESET "\033[0m"
void out_color(FILE *f, bool on, const char *sgr);

/*
 * A JSON document: indented, or on one line when compact, then a newline.
 * Every character escape_cp_unsafe_after() flags is written as a \u escape
 * and every invalid UTF-8 byte as \ufffd, so the document means what the
 * record holds (the same strings, valid UTF-8) and shows on a terminal.
 */
void out_json(FILE *f, const cJSON *v, bool compact);
/* A YAML document ("---" first when start is set): strings plain when they
 * cannot be read as anything else, else double-quoted with the escapes of
 * out_json. */
void out_yaml(FILE *f, const cJSON *v, bool start);

/* An aligned table like kubectl get's: columns separated by three spaces,
 * cells escaped by out_text_dup. */
struct out_table;
int out_table_new(int ncols, const char *const *headers, struct out_table **out);
/* Adds a row of ncols cells (copied). */
int out_table_row(struct out_table *t, const char *const *cells);
void out_table_print(FILE *f, const struct out_table *t);
void out_table_free(struct out_table *t);

#endif
