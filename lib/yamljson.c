// SPDX-License-Identifier: Apache-2.0
/* YAML to cJSON through libyaml's document loader. */
#include "yamljson.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <yaml.h>

struct yamljson_ctx {
	yaml_document_t *doc;
	size_t nodes, bytes;
	char *err;
	size_t errlen;
};

static cJSON *yamljson_node(struct yamljson_ctx *c, yaml_node_t *n, int depth)
{
	cJSON *j = NULL, *child;

	if (!n)
		return NULL;
	/* Counting every visit also bounds alias expansion, which shares nodes. */
	if (depth > YAMLJSON_MAX_DEPTH || ++c->nodes > YAMLJSON_MAX_NODES) {
		snprintf(c->err, c->errlen, "line %zu: document too deep or too large",
			 n->start_mark.line + 1);
		return NULL;
	}
	switch (n->type) {
	case YAML_SCALAR_NODE: {
		const char *v = (const char *)n->data.scalar.value;
		size_t len = n->data.scalar.length;

		if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
			if ((len == 4 && !strcmp(v, "true")) || (len == 4 && !strcmp(v, "True")))
				return cJSON_CreateTrue();
			if ((len == 5 && !strcmp(v, "false")) || (len == 5 && !strcmp(v, "False")))
				return cJSON_CreateFalse();
			if (len == 0 || (len == 4 && !strcmp(v, "null")) ||
			    (len == 1 && v[0] == '~'))
				return cJSON_CreateNull();
		}
		c->bytes += len;
		if (c->bytes > YAMLJSON_MAX_BYTES) {
			snprintf(c->err, c->errlen,
				 "line %zu: document too large once its aliases are expanded",
				 n->start_mark.line + 1);
			return NULL;
		}
		if (strlen(v) != len) {
			snprintf(c->err, c->errlen, "line %zu: NUL byte in a scalar",
				 n->start_mark.line + 1);
			return NULL;
		}
		return cJSON_CreateString(v);
	}
	case YAML_SEQUENCE_NODE: {
		yaml_node_item_t *it;

		if (!(j = cJSON_CreateArray()))
			return NULL;
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
			child = yamljson_node(c, yaml_document_get_node(c->doc, *it), depth + 1);
			if (!child)
				goto fail;
			cJSON_AddItemToArray(j, child);
		}
		return j;
	}
	case YAML_MAPPING_NODE: {
		yaml_node_pair_t *p;

		if (!(j = cJSON_CreateObject()))
			return NULL;
		for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(c->doc, p->key);

			if (!k || k->type != YAML_SCALAR_NODE) {
				snprintf(c->err, c->errlen, "line %zu: mapping key is not a scalar",
					 n->start_mark.line + 1);
				goto fail;
			}
			/* A key may be an alias too: its bytes count as a scalar's. */
			c->bytes += k->data.scalar.length;
			if (c->bytes > YAMLJSON_MAX_BYTES) {
				snprintf(c->err, c->errlen,
					 "line %zu: document too large, its aliases expanded",
					 k->start_mark.line + 1);
				goto fail;
			}
			if (cJSON_GetObjectItemCaseSensitive(j,
							     (const char *)k->data.scalar.value)) {
				snprintf(c->err, c->errlen, "line %zu: duplicate key %.64s",
					 k->start_mark.line + 1,
					 (const char *)k->data.scalar.value);
				goto fail;
			}
			child = yamljson_node(c, yaml_document_get_node(c->doc, p->value),
					      depth + 1);
			if (!child)
				goto fail;
			cJSON_AddItemToObject(j, (const char *)k->data.scalar.value, child);
		}
		return j;
	}
	default:
		snprintf(c->err, c->errlen, "line %zu: unexpected node", n->start_mark.line + 1);
		return NULL;
	}
fail:
	cJSON_Delete(j);
	return NULL;
}

int yamljson_parse(const char *buf, size_t len, cJSON **out, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct yamljson_ctx c = { &doc, 0, 0, err, errlen };
	yaml_node_t *root;
	int ret = 0;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "line %zu: %s", parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "invalid YAML");
		ret = -EINVAL;
		goto out_parser;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root) {
		*out = cJSON_CreateNull();
	} else if (!(*out = yamljson_node(&c, root, 0))) {
		if (errlen && !err[0])
			snprintf(err, errlen, "out of memory");
		ret = -EINVAL;
	}
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
	return ret;
}
