/* SPDX-License-Identifier: Apache-2.0 */
/* Finding a function in an untrusted ELF file: every size and offset is
 * checked against the file and against fixed bounds, and the file is read
 * with pread (never mmap, which a file truncated under us turns into
 * SIGBUS). */
#ifndef SHELLAUDIT_ELFSYM_H
#define SHELLAUDIT_ELFSYM_H

#include <stddef.h>
#include <stdint.h>

#define ELFSYM_MAX_SECTIONS 4096
#define ELFSYM_MAX_SEGMENTS 256
#define ELFSYM_MAX_TABLE (64u << 20) /* bytes of one symbol or string table */
#define ELFSYM_MAX_NEEDED 32
#define ELFSYM_NAME_MAX 256

struct elfsym {
	uint64_t vaddr; /* st_value */
	uint64_t offset; /* file offset of the function: what a uprobe takes */
	uint64_t size; /* st_size */
};

/*
 * Looks up the defined function `name` in the dynamic symbol table of the
 * ELF file open at fd, then in .symtab. Returns 0 and fills *out, or:
 *   -ENOENT  the symbol tables do not have it
 *   -ENXIO   it is there but undefined: imported from a shared library
 *   -ENODATA no symbol table at all (a stripped static executable)
 *   -ENOEXEC not a 64-bit little-endian ELF, or malformed
 *   -EFBIG   a count or size beyond the bounds above
 *   -EIO     a read failed or came back short (the file changed)
 * *why (may be NULL) gets a static English reason for the log.
 */
int elfsym_find(int fd, const char *name, struct elfsym *out, const char **why);

/* The same for a defined data object (STT_OBJECT): fills vaddr and size
 * only (offset is 0). */
int elfsym_find_object(int fd, const char *name, struct elfsym *out, const char **why);

/*
 * Copies the DT_NEEDED names of the ELF file at fd (the shared libraries it
 * links) into names, at most ELFSYM_MAX_NEEDED, each NUL-terminated and at
 * most ELFSYM_NAME_MAX - 1 bytes (longer names are skipped). Returns the
 * count (0 for a static file) or the negative errors of elfsym_find().
 */
int elfsym_needed(int fd, char names[][ELFSYM_NAME_MAX], size_t max, const char **why);

#endif
