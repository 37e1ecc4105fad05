/* SPDX-License-Identifier: Apache-2.0 */
/* A cJSON tree as compact JSON text, byte for byte what cJSON 1.7.15's
 * cJSON_PrintUnformatted gives, without its cost: it prints every number
 * with sprintf("%1.15g") and checks it with sscanf, which made number
 * printing a tenth of the agent's CPU under an exec flood. Integers below
 * 1e15 here take a short path (the text is the same); other numbers go the
 * way cJSON's do. */
#ifndef SHELLAUDIT_JSONTEXT_H
#define SHELLAUDIT_JSONTEXT_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* The text of j (the caller frees it), its length in *len when len is not
 * NULL; NULL when out of memory or j holds an invalid item or a raw one
 * without text (where cJSON_PrintUnformatted gives NULL too). */
char *jsontext_print(const cJSON *j, size_t *len);

/* The length jsontext_print would give j's text, in *len, without making
 * it: 0, or -EINVAL where jsontext_print gives NULL for j. */
int jsontext_length(const cJSON *j, size_t *len);

#endif
