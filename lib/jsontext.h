/* SPDX-License-Identifier: Apache-2.0 */
/* A cJSON tree as compact JSON text, byte for byte what cJSON 1.7.15's
 * cJSON_PrintUnformatted gives, without its cost: it prints every number
 * with sprintf("%1.15g") and checks it with sscanf, which made number
 * printing a tenth of the agent's CPU under an exec flood. Integers below
 * 1e15 here take a short path (the text is the same); other numbers go the
 * way cJSON's do. And an object read without building the members its
 * reader may not need (jsontext_parse_lazy). */
#ifndef SHELLAUDIT_JSONTEXT_H
#define SHELLAUDIT_JSONTEXT_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* The text of j (the caller frees it), its length in *len when len is not
 * NULL; NULL when out of memory or j holds an invalid item or a raw one
 * without text (where cJSON_PrintUnformatted gives NULL too). */
char *jsontext_print(const cJSON *j, size_t *len);

/* A caller's buffer that texts are appended to, kept from one use to the
 * next: a writer of many small texts allocates it once. p is
 * NUL-terminated after each append that succeeded; jsontext_out_free
 * frees it. */
struct jsontext_out {
	char *p;
	size_t len, cap;
};

/* Appends j's text, as jsontext_print gives it: 0, or -ENOMEM, or -EINVAL
 * where jsontext_print gives NULL for j; on error o->len is as it was. */
int jsontext_append(struct jsontext_out *o, const cJSON *j);
/* Appends n bytes of s as they are: 0 or -ENOMEM. */
int jsontext_append_bytes(struct jsontext_out *o, const char *s, size_t n);
void jsontext_out_free(struct jsontext_out *o);

/* The length jsontext_print would give j's text, in *len, without making
 * it: 0, or -EINVAL where jsontext_print gives NULL for j. */
int jsontext_length(const cJSON *j, size_t *len);

/* The JSON object of text[0, len) as cJSON_ParseWithLength reads it, except
 * that the values of its members named in raw (a NULL-terminated list) are
 * kept unparsed, as raw items holding their text, for jsontext_expand to
 * parse if they are wanted: a reader that needs a few members of a large
 * object does not build the rest. Text it cannot read so (not an object,
 * an escaped member name) is parsed whole. A raw value is only checked
 * for its strings and brackets to end: invalid JSON inside one fails its
 * jsontext_expand, not this. NULL when the text is no JSON cJSON reads, or
 * out of memory. */
cJSON *jsontext_parse_lazy(const char *text, size_t len, const char *const *raw);

/* Parses obj's raw members called name (jsontext_parse_lazy) in place: 0
 * (also when there is none), -EINVAL when its text is no JSON value
 * or memory ran out (cJSON does not tell them apart). */
int jsontext_expand(cJSON *obj, const char *name);

#endif
