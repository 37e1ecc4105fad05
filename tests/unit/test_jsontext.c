// SPDX-License-Identifier: Apache-2.0
/* jsontext: the same text as cJSON_PrintUnformatted, byte for byte (the
 * spool's checks are of printed heads, printed by either), for numbers at
 * every edge of the short path, every byte in strings, nesting, raw and
 * invalid items, and many random trees; and objects read lazily as cJSON
 * reads them. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "jsontext.h"
#include "unit.h"

/* Whether jsontext_print gives what cJSON gives for j (NULL alike too),
 * and jsontext_length its length (or -EINVAL for NULL). */
static int same(const cJSON *j)
{
	char *want = cJSON_PrintUnformatted(j);
	size_t len = 0, counted = 0;
	char *got = jsontext_print(j, &len);
	int lret = jsontext_length(j, &counted);
	int ok = (!want && !got && lret == -EINVAL) ||
		 (want && got && !strcmp(want, got) && len == strlen(got) && lret == 0 &&
		  counted == len);

	if (!ok)
		fprintf(stderr, "    cJSON: %s\n    jsontext: %s\n", want ? want : "(null)",
			got ? got : "(null)");
	free(want);
	free(got);
	return ok;
}

static void test_jsontext_numbers_as_cjson(void)
{
	static const double nums[] = { 0,
				       1,
				       -1,
				       42,
				       4026531840.0,
				       -2147483648.0,
				       2147483648.0,
				       999999999999999.0,
				       -999999999999999.0,
				       1e15,
				       -1e15,
				       1e16,
				       9007199254740993.0,
				       1e300,
				       -1e-300,
				       0.1,
				       1.5,
				       -2.25,
				       1.0 / 3,
				       123456789.123456789,
				       DBL_MIN,
				       DBL_MAX,
				       5e-324 };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(nums); i++) {
		cJSON *n = cJSON_CreateNumber(nums[i]);

		UNIT_CHECK(same(n));
		cJSON_Delete(n);
	}
}

static void test_jsontext_negative_zero_nan_and_infinity(void)
{
	cJSON *a = cJSON_CreateArray();

	cJSON_AddItemToArray(a, cJSON_CreateNumber(-0.0));
	cJSON_AddItemToArray(a, cJSON_CreateNumber(NAN));
	cJSON_AddItemToArray(a, cJSON_CreateNumber(INFINITY));
	cJSON_AddItemToArray(a, cJSON_CreateNumber(-INFINITY));
	UNIT_CHECK(same(a));
	cJSON_Delete(a);
}

static void test_jsontext_every_byte_in_strings_and_keys(void)
{
	cJSON *o = cJSON_CreateObject();
	char s[256];
	int i;

	for (i = 1; i < 256; i++)
		s[i - 1] = (char)i;
	s[255] = '\0';
	cJSON_AddStringToObject(o, s, s);
	cJSON_AddStringToObject(o, "", "");
	cJSON_AddStringToObject(o, "q", "say \"hi\" \\ back\\");
	UNIT_CHECK(same(o));
	cJSON_Delete(o);
}

static void test_jsontext_nesting_and_literals(void)
{
	cJSON *o =
		cJSON_Parse("{\"a\":[1,[],{},[[{\"b\":null}]],true,false,\"x\"],\"c\":{\"d\":{}},"
			    "\"e\":[-3,0.5]}");

	UNIT_CHECK(o != NULL);
	UNIT_CHECK(same(o));
	cJSON_AddItemToObject(o, "raw", cJSON_CreateRaw("{\"as\":\"is\"}"));
	UNIT_CHECK(same(o));
	cJSON_Delete(o);
	o = cJSON_CreateArray();
	UNIT_CHECK(same(o));
	cJSON_Delete(o);
}

static void test_jsontext_references_print_what_they_point_to(void)
{
	cJSON *inner = cJSON_Parse("{\"ns\":\"n\",\"pid\":12}"), *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "t", "e");
	cJSON_AddItemReferenceToObject(o, "id", inner);
	UNIT_CHECK(same(o));
	cJSON_Delete(o);
	cJSON_Delete(inner);
}

static void test_jsontext_invalid_items_give_null(void)
{
	cJSON *o = cJSON_CreateObject(), *bad = cJSON_CreateRaw("x");

	free(bad->valuestring);
	bad->valuestring = NULL;
	cJSON_AddItemToObject(o, "bad", bad);
	UNIT_CHECK(jsontext_print(o, NULL) == NULL);
	UNIT_CHECK(same(o));
	bad->type = cJSON_Invalid;
	UNIT_CHECK(jsontext_print(o, NULL) == NULL);
	UNIT_CHECK(same(o));
	UNIT_CHECK(jsontext_print(NULL, NULL) == NULL);
	UNIT_CHECK(same(NULL));
	cJSON_Delete(o);
}

static unsigned rnd_state = 12345;

static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

static cJSON *random_tree(int depth)
{
	static const double scale[] = { 1, 10, 1e6, 1e9, 1e14, 1e15, 1e17, 1e-3 };
	char s[12];
	cJSON *j;
	int i, n;

	switch (depth > 3 ? rnd(4) : rnd(6)) {
	case 0:
		return cJSON_CreateNumber((double)(int)(rnd(2000001) - 1000000) *
					  scale[rnd(ARRAY_SIZE(scale))]);
	case 1: return cJSON_CreateNumber((double)rnd(1000000) / (1 + rnd(1000)));
	case 2:
		for (i = 0, n = (int)rnd(sizeof(s)); i < n; i++)
			s[i] = (char)(1 + rnd(255));
		s[n] = '\0';
		return cJSON_CreateString(s);
	case 3: return rnd(3) ? cJSON_CreateBool(rnd(2)) : cJSON_CreateNull();
	case 4:
		j = cJSON_CreateArray();
		for (i = 0, n = (int)rnd(5); i < n; i++)
			cJSON_AddItemToArray(j, random_tree(depth + 1));
		return j;
	default:
		j = cJSON_CreateObject();
		for (i = 0, n = (int)rnd(5); i < n; i++) {
			snprintf(s, sizeof(s), "k%c%d", (char)(1 + rnd(127)), i);
			cJSON_AddItemToObject(j, s, random_tree(depth + 1));
		}
		return j;
	}
}

static void test_jsontext_random_trees_as_cjson(void)
{
	int i, bad = 0;

	for (i = 0; i < 2000; i++) {
		cJSON *t = random_tree(0);

		bad += !same(t);
		cJSON_Delete(t);
	}
	UNIT_CHECK(bad == 0);
}

/* Texts appended to one kept buffer: each is jsontext_print's, after what
 * was there, the buffer NUL-terminated; an invalid item or bytes leave
 * what was appended before as it was and say which error it was. */
static void test_jsontext_append_to_a_kept_buffer(void)
{
	struct jsontext_out o = { 0 };
	cJSON *bad = cJSON_CreateObject(), *raw = cJSON_CreateRaw("x");
	size_t want = 0;
	int i, wrong = 0;

	for (i = 0; i < 300; i++) {
		cJSON *t = random_tree(0);
		size_t len = 0;
		char *p = jsontext_print(t, &len);

		/* every tenth, from the start again: the buffer is reused */
		if (i % 10 == 0)
			o.len = want = 0;
		wrong += !p || jsontext_append(&o, t) != 0 || o.len != want + len ||
			 memcmp(o.p + want, p, len) != 0 || o.p[o.len] != '\0';
		want += len;
		wrong += jsontext_append_bytes(&o, ",", 1) != 0 || strcmp(o.p + want, ",") != 0;
		want++;
		free(p);
		cJSON_Delete(t);
	}
	UNIT_CHECK(wrong == 0);
	free(raw->valuestring);
	raw->valuestring = NULL;
	cJSON_AddItemToObject(bad, "bad", raw);
	UNIT_CHECK(jsontext_append(&o, bad) == -EINVAL && o.len == want && o.p[want] == '\0');
	UNIT_CHECK(jsontext_append(&o, NULL) == -EINVAL && o.len == want);
	jsontext_out_free(&o);
	UNIT_CHECK(o.p == NULL && o.len == 0 && o.cap == 0);
	UNIT_CHECK(jsontext_append_bytes(&o, "{}", 2) == 0 && !strcmp(o.p, "{}"));
	jsontext_out_free(&o);
	jsontext_out_free(&o);
	cJSON_Delete(bad);
}

/* Whether text read lazily, its raw members then expanded, is the tree
 * cJSON reads; raw_seen: how many members stayed raw until expanded. */
static int lazy_same(const char *text, size_t len, int *raw_seen)
{
	static const char *const raw[] = { "id", "sess", NULL };
	cJSON *want = cJSON_ParseWithLength(text, len);
	cJSON *got = jsontext_parse_lazy(text, len, raw);
	int ok, i;

	const cJSON *m;

	*raw_seen = 0;
	for (m = got ? got->child : NULL; m; m = m->next)
		*raw_seen += cJSON_IsRaw(m);
	for (i = 0; raw[i]; i++) {
		if (jsontext_expand(got, raw[i]) < 0) {
			cJSON_Delete(got);
			got = NULL;
		}
	}
	ok = !want && !got;
	if (want && got) {
		/* Printed: member order and repeated names count too (cJSON_Compare
		 * finds only the first member of a name). */
		char *a = jsontext_print(want, NULL), *b = jsontext_print(got, NULL);

		ok = a && b && !strcmp(a, b);
		free(a);
		free(b);
	}
	if (!ok)
		fprintf(stderr, "    text: %.*s\n", (int)len, text);
	cJSON_Delete(want);
	cJSON_Delete(got);
	return ok;
}

static void test_jsontext_lazy_reads_what_cjson_reads(void)
{
	/* Each text and how many of its members stay raw: none where it is
	 * read whole (an escaped name, or no object cJSON reads). */
	static const struct {
		const char *text;
		int raw;
	} cases[] = {
		{ "{}", 0 },
		{ " { } ", 0 },
		{ "{\"t\":\"e\",\"id\":{\"a\":\"}]\\\"{\",\"b\":[1,{\"c\":null}]},\"e\":{\"x\":1}}",
		  1 },
		{ "{\"id\":\"a string, \\\\\\\" not an object\",\"sess\":[1,2,3]}", 2 },
		{ "{\"id\":-1.5e3,\"sess\":true,\"z\":false}", 2 },
		{ "{ \"id\" : { \"a\" : 1 } , \"sess\" : null }", 2 },
		{ "{\"id\":{\"a\":1}}trailing bytes", 1 },
		{ "{\"i\\u0064\":{\"a\":1}}", 0 },
		{ "{\"id\":{\"a\":1},\"id\":{\"b\":2}}", 2 },
		{ "{\"id\":{\"a\":1}", 0 },
		{ "{\"id\":{\"a\":1},}", 0 },
		{ "{\"e\":12abc}", 0 },
		{ "[1,2]", 0 },
		{ "\"id\"", 0 },
		{ "", 0 },
		{ "{\"id\":\"\\\"}", 0 },
	};
	size_t i;
	int raw;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		UNIT_CHECK(lazy_same(cases[i].text, strlen(cases[i].text), &raw));
		if (raw != cases[i].raw)
			fprintf(stderr, "    %zu: %d raw, expected %d\n", i, raw, cases[i].raw);
		UNIT_CHECK(raw == cases[i].raw);
	}
	UNIT_CHECK(jsontext_parse_lazy(NULL, 0, NULL) == NULL);
	UNIT_CHECK(jsontext_expand(NULL, "id") == 0);
}

static void test_jsontext_lazy_raw_value_invalid_fails_its_expand(void)
{
	static const char *const raw[] = { "id", NULL };
	static const char text[] = "{\"id\":{\"a\":},\"e\":{\"x\":1}}";
	cJSON *j = jsontext_parse_lazy(text, strlen(text), raw);

	/* Only strings and brackets are followed: the rest is read. */
	UNIT_CHECK(j && cJSON_IsRaw(cJSON_GetObjectItemCaseSensitive(j, "id")));
	UNIT_CHECK(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "e"), "x"));
	UNIT_CHECK(jsontext_expand(j, "id") == -EINVAL);
	cJSON_Delete(j);
}

static void test_jsontext_lazy_random_objects_as_cjson(void)
{
	int i, bad = 0, raw = 0, n;

	for (i = 0; i < 2000; i++) {
		cJSON *t = random_tree(1), *o = cJSON_CreateObject();
		char *text;

		cJSON_AddItemToObject(o, rnd(2) ? "id" : "t", random_tree(1));
		cJSON_AddItemToObject(o, "x", t);
		cJSON_AddItemToObject(o, rnd(2) ? "sess" : "id", random_tree(1));
		text = rnd(2) ? cJSON_PrintUnformatted(o) : cJSON_Print(o);
		bad += !lazy_same(text, strlen(text), &n);
		raw += n;
		free(text);
		cJSON_Delete(o);
	}
	UNIT_CHECK(bad == 0);
	UNIT_CHECK(raw >= 2000); /* every one has an "id", at least */
}

/* Constant names and borrowed values: printed as cJSON's own, duplicated
 * and deleted without a copy or a free of what was borrowed (ASan in
 * make test), and a constant name moved by jsontext_expand stays one. */
static void test_jsontext_add_constant_names_and_borrowed_values(void)
{
	static const char *const raw[] = { "id", NULL };
	char value[] = "borrowed";
	cJSON *o = cJSON_CreateObject(), *plain = cJSON_CreateObject(), *dup, *lazy;
	char *want, *got;

	UNIT_CHECK(jsontext_add_str(o, "a", "copied") && jsontext_add_ref(o, "b", value) &&
		   jsontext_add_num(o, "n", 42) && jsontext_add_true(o, "t") &&
		   jsontext_add_item(o, "arr", cJSON_CreateArray()));
	cJSON_AddStringToObject(plain, "a", "copied");
	cJSON_AddStringToObject(plain, "b", "borrowed");
	cJSON_AddNumberToObject(plain, "n", 42);
	cJSON_AddTrueToObject(plain, "t");
	cJSON_AddItemToObject(plain, "arr", cJSON_CreateArray());
	want = cJSON_PrintUnformatted(plain);
	got = jsontext_print(o, NULL);
	UNIT_CHECK(want && got && !strcmp(want, got));
	free(got);
	/* A duplicate owns a copy of the borrowed value. */
	dup = cJSON_Duplicate(o, 1);
	cJSON_Delete(o);
	value[0] = 'X';
	got = jsontext_print(dup, NULL);
	UNIT_CHECK(want && got && !strcmp(want, got));
	free(got);
	free(want);
	cJSON_Delete(dup);
	cJSON_Delete(plain);
	/* Borrowed raw text and trees print as cJSON's raw members and
	 * references; deleting the borrower frees neither. */
	{
		cJSON *tree = cJSON_Parse("{\"x\":[1,\"y\"],\"z\":null}");
		cJSON *arr = cJSON_GetObjectItemCaseSensitive(tree, "x");
		cJSON *b = cJSON_CreateObject(), *c = cJSON_CreateObject();

		UNIT_CHECK(jsontext_add_raw_ref(b, "raw", "{\"r\":1}") &&
			   jsontext_add_tree_ref(b, "tree", tree) &&
			   jsontext_add_tree_ref(b, "arr", arr));
		cJSON_AddRawToObject(c, "raw", "{\"r\":1}");
		cJSON_AddItemReferenceToObject(c, "tree", tree);
		cJSON_AddItemReferenceToObject(c, "arr", arr);
		want = cJSON_PrintUnformatted(c);
		got = jsontext_print(b, NULL);
		UNIT_CHECK(want && got && !strcmp(want, got));
		free(want);
		free(got);
		dup = cJSON_Duplicate(b, 1);
		cJSON_Delete(b);
		cJSON_Delete(c);
		cJSON_Delete(tree);
		got = jsontext_print(dup, NULL);
		UNIT_CHECK(got && !strcmp(got, "{\"raw\":{\"r\":1},\"tree\":{\"x\":[1,\"y\"],"
					       "\"z\":null},\"arr\":[1,\"y\"]}"));
		free(got);
		cJSON_Delete(dup);
	}
	/* Nothing added: NULL object, NULL value, NULL item. */
	o = cJSON_CreateObject();
	UNIT_CHECK(!jsontext_add_str(NULL, "a", "x") && !jsontext_add_ref(o, "a", NULL) &&
		   !jsontext_add_str(o, "a", NULL) && !jsontext_add_item(o, "a", NULL) &&
		   !jsontext_add_item(NULL, "a", cJSON_CreateTrue()) &&
		   !jsontext_add_raw_ref(o, "a", NULL) && !jsontext_add_tree_ref(o, "a", NULL) &&
		   !o->child);
	/* A raw member under a constant name, expanded, then deleted. */
	UNIT_CHECK(jsontext_add_item(o, "id", cJSON_CreateRaw("{\"k\":1}")));
	UNIT_CHECK(jsontext_expand(o, "id") == 0);
	UNIT_CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "id")));
	cJSON_Delete(o);
	lazy = jsontext_parse_lazy("{\"id\":{\"k\":1}}", 14, raw);
	UNIT_CHECK(lazy && jsontext_expand(lazy, "id") == 0);
	cJSON_Delete(lazy);
}

/* jsontext_same: the same text, the same answer; members in another
 * order, another type, value, name or length each differ; borrowed values
 * and references are the same as copies. */
static void test_jsontext_same_is_the_same_text(void)
{
	static const char *const texts[] = {
		"{\"a\":1,\"b\":[1,\"x\",null,true,{\"c\":false}]}",
		"{\"b\":[1,\"x\",null,true,{\"c\":false}],\"a\":1}",
		"{\"a\":1,\"b\":[1,\"x\",null,true,{\"c\":true}]}",
		"{\"a\":1,\"b\":[1,\"x\",null,true,{\"d\":false}]}",
		"{\"a\":1,\"b\":[1,\"y\",null,true,{\"c\":false}]}",
		"{\"a\":1,\"b\":[1,\"x\",null,true]}",
		"{\"a\":2,\"b\":[1,\"x\",null,true,{\"c\":false}]}",
		"{\"a\":\"1\",\"b\":[1,\"x\",null,true,{\"c\":false}]}",
		"{\"a\":1}",
		"{\"a\":-0}",
		"{\"a\":0}",
		"[]",
		"{}",
	};
	cJSON *t[ARRAY_SIZE(texts)], *u, *ref;
	size_t i, j;

	for (i = 0; i < ARRAY_SIZE(texts); i++)
		t[i] = cJSON_Parse(texts[i]);
	for (i = 0; i < ARRAY_SIZE(texts); i++) {
		u = cJSON_Parse(texts[i]);
		UNIT_CHECK(jsontext_same(t[i], u));
		cJSON_Delete(u);
		for (j = 0; j < ARRAY_SIZE(texts); j++)
			if (j != i)
				UNIT_CHECK(!jsontext_same(t[i], t[j]));
	}
	UNIT_CHECK(jsontext_same(NULL, NULL));
	UNIT_CHECK(!jsontext_same(t[0], NULL) && !jsontext_same(NULL, t[0]));
	/* Borrowed: a reference to b's array, a value by reference. */
	u = cJSON_CreateObject();
	jsontext_add_ref(u, "a", "1");
	UNIT_CHECK(!jsontext_same(u, t[8]));
	cJSON_Delete(u);
	u = cJSON_CreateObject();
	jsontext_add_num(u, "a", 1);
	ref = jsontext_add_tree_ref(u, "b", cJSON_GetObjectItem(t[0], "b"));
	UNIT_CHECK(ref != NULL);
	UNIT_CHECK(jsontext_same(u, t[0]));
	cJSON_Delete(u);
	for (i = 0; i < ARRAY_SIZE(texts); i++)
		cJSON_Delete(t[i]);
}

UNIT_MAIN(UNIT_TEST(test_jsontext_numbers_as_cjson),
	  UNIT_TEST(test_jsontext_negative_zero_nan_and_infinity),
	  UNIT_TEST(test_jsontext_every_byte_in_strings_and_keys),
	  UNIT_TEST(test_jsontext_nesting_and_literals),
	  UNIT_TEST(test_jsontext_references_print_what_they_point_to),
	  UNIT_TEST(test_jsontext_invalid_items_give_null),
	  UNIT_TEST(test_jsontext_random_trees_as_cjson),
	  UNIT_TEST(test_jsontext_append_to_a_kept_buffer),
	  UNIT_TEST(test_jsontext_lazy_reads_what_cjson_reads),
	  UNIT_TEST(test_jsontext_lazy_raw_value_invalid_fails_its_expand),
	  UNIT_TEST(test_jsontext_lazy_random_objects_as_cjson),
	  UNIT_TEST(test_jsontext_add_constant_names_and_borrowed_values),
	  UNIT_TEST(test_jsontext_same_is_the_same_text))
