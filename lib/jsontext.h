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

#include <stdbool.h>
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

/* Whether a and b are the same JSON the same way: same types, names and
 * values, members and elements in the same order (so their texts are the
 * same). Linear in their size, where cJSON_Compare looks every member up
 * in the other object (and says the same of members in another order).
 * Two NULLs are the same. */
bool jsontext_same(const cJSON *a, const cJSON *b);

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

/*
 * Building a tree that is printed and deleted within one call (an entry as
 * the capture thread makes it) without an allocation per member name and
 * per borrowed value. key must be a string constant: it is neither copied
 * nor freed, and cJSON_Duplicate of the tree keeps pointing at it. Each
 * adds to obj and returns the member added, or NULL when out of memory
 * (nothing added; obj or a value NULL gives NULL).
 *   jsontext_add_str   a copy of value
 *   jsontext_add_ref   value itself, which must outlive the tree (a
 *                      duplicate of the tree holds a copy)
 *   jsontext_add_num   a number
 *   jsontext_add_true  true
 *   jsontext_add_item  item, which obj owns from then on (deleted when
 *                      it cannot be added)
 *   jsontext_add_raw_ref  the JSON text value (a raw member, printed as
 *                      it is), borrowed as jsontext_add_ref's
 *   jsontext_add_tree_ref  the tree v, borrowed as
 *                      cJSON_AddItemReferenceToObject's
 */
cJSON *jsontext_add_str(cJSON *obj, const char *key, const char *value);
cJSON *jsontext_add_ref(cJSON *obj, const char *key, const char *value);
cJSON *jsontext_add_raw_ref(cJSON *obj, const char *key, const char *value);
cJSON *jsontext_add_tree_ref(cJSON *obj, const char *key, const cJSON *v);
cJSON *jsontext_add_num(cJSON *obj, const char *key, double n);
cJSON *jsontext_add_true(cJSON *obj, const char *key);
cJSON *jsontext_add_item(cJSON *obj, const char *key, cJSON *item);

/* Reading the members of a JSON object's text without parsing them, in
 * order: jsontext_iter_next gives the next one's name (its bytes between
 * the quotes) and its value (its text), as spans of the text; 1 while there
 * is one, 0 after the last, -1 when the text is not laid out as this reads
 * it (not an object, cut short, or a name with an escape). Values are
 * followed by their strings and brackets only, as jsontext_parse_lazy's
 * raw ones. */
struct jsontext_iter {
	const char *p, *end;
	bool started;
};
struct jsontext_member {
	const char *key, *v;
	size_t keylen, vlen;
};
void jsontext_iter_init(struct jsontext_iter *it, const char *text, size_t len);
int jsontext_iter_next(struct jsontext_iter *it, struct jsontext_member *m);

/* Parses obj's raw members called name (jsontext_parse_lazy) in place: 0
 * (also when there is none), -EINVAL when its text is no JSON value
 * or memory ran out (cJSON does not tell them apart). */
int jsontext_expand(cJSON *obj, const char *name);
/* Parses raw member m of obj in place as jsontext_expand does: the parsed
 * member, or NULL (m not raw, or its text no JSON value; m stays). When
 * text is not NULL, m's text is handed to *text (the caller frees it). */
cJSON *jsontext_expand_member(cJSON *obj, cJSON *m, char **text);

#endif
