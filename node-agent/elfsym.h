/* SPDX-License-Identifier: Apache-2.0 */
/* Finding functions in an untrusted ELF file with a bounded amount of
 * work. Every size and offset is checked against the file and the file is
 * read with pread (never mmap, which a file truncated under us turns into
 * SIGBUS). Beyond each structure's own bounds, the work on one file is
 * bounded as a whole, and decided from its headers before any table is
 * read:
 *
 * - only the tables a dynamic loader or a debugger uses are read: the one
 *   SHT_DYNSYM, the one SHT_SYMTAB, the one SHT_DYNAMIC and the string
 *   tables they link (the ELF specification allows one of each kind; a
 *   file with more is refused);
 * - every section that takes file space lies inside the file and no two of
 *   them overlap (a sparse file cannot make one region count many times);
 * - at most ELFSYM_MAX_SECTIONS section headers, ELFSYM_MAX_READ bytes read
 *   and ELFSYM_MAX_SYMBOLS symbols examined per file, whatever lookups are
 *   made on it;
 * - at most ELFSYM_MAX_MS of wall time from elfsym_open() to the last read,
 *   checked before each read of at most ELFSYM_READ_CHUNK bytes: a lookup
 *   returns within ELFSYM_MAX_MS plus one such read. (A read the kernel
 *   never completes, a hung FUSE or NFS server, is not bounded here: that
 *   is the caller's thread's to bear.)
 *
 * A file over a bound is refused with a reason and never half-parsed: a
 * refusal decided from the headers is a function of the file's identity
 * (elfsym_file.id), so a caller may remember it by that identity; only the
 * time bound depends on the moment.
 *
 * The largest tables on a Debian 12 system (2616 executables and
 * libraries) are node's, 17 MiB together, with at most 74 sections. */
#ifndef SHELLAUDIT_ELFSYM_H
#define SHELLAUDIT_ELFSYM_H

#include <elf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ELFSYM_MAX_SECTIONS 1024
#define ELFSYM_MAX_SEGMENTS 256
#define ELFSYM_MAX_READ (32ull << 20)	/* bytes read from one file, headers included */
#define ELFSYM_MAX_SYMBOLS (1ull << 20) /* symbol entries examined in one file */
#define ELFSYM_MAX_MS 100		/* wall time per file */
#define ELFSYM_READ_CHUNK (256u << 10)
#define ELFSYM_MAX_NEEDED 32
#define ELFSYM_NAME_MAX 256
#define ELFSYM_ID_LEN 96

/* The bounds of one file; elfsym_limits_default holds the ones above. */
struct elfsym_limits {
	uint64_t max_read;
	uint64_t max_symbols;
	uint32_t max_sections;
	uint64_t max_ns;
};

extern const struct elfsym_limits elfsym_limits_default;

/* The work done on one file so far. */
struct elfsym_work {
	uint64_t bytes;	   /* read from the file */
	uint64_t reads;	   /* pread calls */
	uint32_t sections; /* section headers examined */
	uint64_t symbols;  /* symbol entries examined */
	uint64_t ns;	   /* wall time from open to the last read */
};

struct elfsym {
	uint64_t vaddr;	 /* st_value */
	uint64_t offset; /* file offset of the function: what a uprobe takes */
	uint64_t size;	 /* st_size */
};

/* One ELF file being looked at. The caller owns it (on its stack, say)
 * and reads id, work and refused; the rest is private. */
struct elfsym_file {
	/* "<size>-<sha256 hex>" of the file size and its ELF header, program
	 * headers and section headers as read; "" until they were read. */
	char id[ELFSYM_ID_LEN];
	struct elfsym_work work;
	/* Refused from its headers: every file with this id is refused the
	 * same way (the error and reason of the call that said so). */
	bool refused;

	/* Private. */
	int fd;
	uint64_t size, t0;
	struct elfsym_limits lim;
	Elf64_Ehdr eh;
	unsigned char *hdrs; /* program headers, then section headers */
	const Elf64_Phdr *ph;
	const Elf64_Shdr *sh;
	uint32_t dynsym, symtab, dynamic; /* section indexes; 0: none */
	int checked;			  /* 0 not yet, 1 sound, or the refusal's negative errno */
	const char *check_why;
	struct {
		uint32_t idx;
		char *buf;
	} str[3]; /* string tables read so far */
	Elf64_Sym *symbuf;
	const char **why;
};

/*
 * Reads the headers of the ELF file open at fd (lim: NULL for the
 * defaults) and computes its id. Returns 0, or:
 *   -ENOEXEC not a 64-bit little-endian ELF executable or library
 *   -ENODATA no section headers
 *   -EFBIG / -ENOEXEC with f->refused set: headers over a bound or
 *            malformed (f->id is set)
 *   -EIO     a read failed or came back short (the file changed)
 * *why (may be NULL) gets a static English reason. f must be closed with
 * elfsym_close() whatever this returns.
 */
int elfsym_open(struct elfsym_file *f, int fd, const struct elfsym_limits *lim, const char **why);

/* Checks the section table against the bounds (elfsym_lookup and
 * elfsym_needed_of do it first): 0, or -EFBIG / -ENOEXEC with f->refused. */
int elfsym_check(struct elfsym_file *f, const char **why);

/* One name to look up: a defined function (STT_FUNC) or data object
 * (STT_OBJECT). err and sym are the answer. */
struct elfsym_query {
	const char *name;
	unsigned int type;
	int err;	   /* 0 found, -ENOENT absent, -ENXIO undefined (imported), -ENOEXEC
			      a function outside every executable segment */
	const char *why;   /* for err */
	struct elfsym sym; /* when err is 0; offset only for functions */
};

/*
 * Looks every query up in one pass over .dynsym, then .symtab. Returns 0
 * when the tables were searched (each query's err says what was found),
 * -ENODATA when there is no symbol table (a stripped static executable),
 * the refusals of elfsym_check(), -ETIMEDOUT past the time bound, -EIO or
 * -ENOMEM. On an error no query holds an answer.
 */
int elfsym_lookup(struct elfsym_file *f, struct elfsym_query *q, size_t n, const char **why);

/* Copies the DT_NEEDED names (the shared libraries the file links) into
 * names, at most max, each NUL-terminated and at most ELFSYM_NAME_MAX - 1
 * bytes (longer names are skipped). Returns the count (0 for a static
 * file) or the errors of elfsym_lookup(). */
int elfsym_needed_of(struct elfsym_file *f, char names[][ELFSYM_NAME_MAX], size_t max,
		     const char **why);

/* Frees what f holds (not the fd). Safe on a zeroed or failed f. */
void elfsym_close(struct elfsym_file *f);

/* One-shot forms with the default bounds, for one lookup. elfsym_find:
 * the defined function `name`; 0 and *out, or the errors above (a query's
 * err included). elfsym_find_object: the same for a data object (offset
 * is 0). elfsym_needed: as elfsym_needed_of, 0 for a file without section
 * headers. */
int elfsym_find(int fd, const char *name, struct elfsym *out, const char **why);
int elfsym_find_object(int fd, const char *name, struct elfsym *out, const char **why);
int elfsym_needed(int fd, char names[][ELFSYM_NAME_MAX], size_t max, const char **why);

#endif
