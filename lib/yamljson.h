/* SPDX-License-Identifier: Apache-2.0 */
/* YAML documents (kubeconfig files, manifests) as cJSON trees. */
#ifndef SHELLAUDIT_YAMLJSON_H
#define SHELLAUDIT_YAMLJSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Bounds that keep hostile YAML (deep nesting, alias bombs) cheap. */
#define YAMLJSON_MAX_DEPTH 64
#define YAMLJSON_MAX_NODES 100000
/* Bytes of scalars in the tree, aliases expanded (an alias of a large
 * scalar costs its size each time it is named). */
#define YAMLJSON_MAX_BYTES (32 << 20)

/* Parses the first document of buf into *out. Scalars become strings, except
 * that plain (unquoted) true/false/null become JSON booleans and null.
 * On error returns -EINVAL and describes it (with line number) in err.
 * Caller frees *out with cJSON_Delete(). */
int yamljson_parse(const char *buf, size_t len, cJSON **out, char *err, size_t errlen);

#endif
