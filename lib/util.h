/* SPDX-License-Identifier: Apache-2.0 */
/* Tiny macros every module may use. Layering: lib/ knows nothing of
 * policies, shells or the agent; controller/ and node-agent/ build on lib/,
 * never the other way round. */
#ifndef SHELLAUDIT_UTIL_H
#define SHELLAUDIT_UTIL_H

/* Elements of an array (not of a pointer: the compiler rejects those). */
#define ARRAY_SIZE(a)                                                                              \
	(sizeof(a) / sizeof((a)[0]) +                                                              \
	 sizeof(struct {                                                                           \
		 int not_an_array                                                                  \
		     : !__builtin_types_compatible_p(__typeof__(a), __typeof__(&(a)[0]));          \
	 }) * 0)

#endif
