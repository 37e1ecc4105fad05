/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes label selectors: metav1.LabelSelector and the string form of
 * ?labelSelector=, evaluated against an object's labels. */
#ifndef SHELLAUDIT_SELECTOR_H
#define SHELLAUDIT_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

enum selector_op { SELECTOR_IN, SELECTOR_NOT_IN, SELECTOR_EXISTS, SELECTOR_DOES_NOT_EXIST };

struct selector_req {
	char *key;
	enum selector_op op;
	char **values;
	size_t nvalues;
};

struct selector {
	struct selector_req *reqs;
	size_t nreqs;
	/* A null LabelSelector selects nothing; an empty one everything. */
	bool nothing;
};

/* Builds a selector from a LabelSelector JSON object (NULL or JSON null:
 * selects nothing). On -EINVAL, err says which field is wrong. Caller frees
 * *out with selector_free(). */
int selector_from_json(const cJSON *json, struct selector **out, char *err, size_t errlen);

/* Parses the string form ("app=demo,tier!=db,env in (a,b),!legacy").
 * Caller frees *out with selector_free(). */
int selector_parse(const char *s, struct selector **out, char *err, size_t errlen);

/* Whether labels (a JSON object of strings, or NULL for none) match. */
bool selector_matches(const struct selector *sel, const cJSON *labels);

/* Writes the string form into buf; -ENOSPC when cap is too small and
 * -EINVAL for a selector that selects nothing (it has no string form). */
int selector_format(const struct selector *sel, char *buf, size_t cap);

void selector_free(struct selector *sel);

/* Label key (optional DNS-subdomain prefix, '/', name) and value rules. */
bool selector_valid_key(const char *key);
bool selector_valid_value(const char *value);

#endif
