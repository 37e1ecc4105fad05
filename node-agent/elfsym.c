// SPDX-License-Identifier: Apache-2.0
/* Defensive ELF symbol lookup with bounded work per file (see elfsym.h). */
#include "elfsym.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "digest.h"

#define ELFSYM_SYMS_PER_READ 4096 /* 96 KiB of symbols a read */

const struct elfsym_limits elfsym_limits_default = {
	.max_read = ELFSYM_MAX_READ,
	.max_symbols = ELFSYM_MAX_SYMBOLS,
	.max_sections = ELFSYM_MAX_SECTIONS,
	.max_ns = ELFSYM_MAX_MS * 1000000ull,
};

#define ELFSYM_FAIL(f, err, reason) ((f)->why ? (*(f)->why = (reason)) : NULL, (err))

/* A refusal decided from the headers: remembered in f, so that a second
 * call says the same. */
static int elfsym_refuse(struct elfsym_file *f, int err, const char *reason)
{
	f->refused = true;
	f->checked = err;
	f->check_why = reason;
	return ELFSYM_FAIL(f, err, reason);
}

/* Reads exactly n bytes at off, which the caller checked lie in the file,
 * in reads of at most ELFSYM_READ_CHUNK. `timed`: each read first checks
 * the wall-time bound (the headers are read untimed: they are needed for
 * the file's id). */
static int elfsym_read(struct elfsym_file *f, void *buf, size_t n, uint64_t off, bool timed)
{
	size_t done = 0, want;
	uint64_t now;
	ssize_t r;

	if (f->work.bytes + n > f->lim.max_read)
		return ELFSYM_FAIL(f, -EFBIG, "ELF file needs more reading than the bound");
	while (done < n) {
		now = clock_now_ns();
		f->work.ns = now - f->t0;
		if (timed && f->work.ns > f->lim.max_ns)
			return ELFSYM_FAIL(f, -ETIMEDOUT,
					   "reading the file took longer than the bound");
		want = n - done < ELFSYM_READ_CHUNK ? n - done : ELFSYM_READ_CHUNK;
		r = pread(f->fd, (char *)buf + done, want, (off_t)(off + done));
		f->work.reads++;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return ELFSYM_FAIL(f, -EIO,
					   "read failed or file shorter than its headers say");
		done += (size_t)r;
		f->work.bytes += (uint64_t)r;
	}
	f->work.ns = clock_now_ns() - f->t0;
	return 0;
}

/* True when [off, off + len) lies inside the file, without overflow. */
static bool elfsym_in_file(const struct elfsym_file *f, uint64_t off, uint64_t len)
{
	return off <= f->size && len <= f->size - off;
}

/* id: the size, then SHA-256 over the ELF header and the n header bytes
 * read after it (buf holds the ELF header first). */
static void elfsym_set_id(struct elfsym_file *f, const unsigned char *buf, size_t n)
{
	char d[DIGEST_STR_LEN];

	digest_bytes(buf, n, d);
	snprintf(f->id, sizeof(f->id), "%llu-%s", (unsigned long long)f->size, d + 7);
}

int elfsym_open(struct elfsym_file *f, int fd, const struct elfsym_limits *lim, const char **why)
{
	size_t phbytes, shbytes;
	struct stat st;
	int err;

	memset(f, 0, sizeof(*f));
	f->fd = fd;
	f->why = why;
	f->lim = lim ? *lim : elfsym_limits_default;
	f->t0 = clock_now_ns();
	if (fstat(fd, &st))
		return ELFSYM_FAIL(f, -errno, "cannot stat the file");
	if (!S_ISREG(st.st_mode))
		return ELFSYM_FAIL(f, -ENOEXEC, "not a regular file");
	f->size = (uint64_t)st.st_size;
	if (f->size < sizeof(f->eh))
		return ELFSYM_FAIL(f, -ENOEXEC, "too short to be an ELF file");
	err = elfsym_read(f, &f->eh, sizeof(f->eh), 0, false);
	if (err)
		return err;
	if (memcmp(f->eh.e_ident, ELFMAG, SELFMAG) != 0)
		return ELFSYM_FAIL(f, -ENOEXEC, "not an ELF file");
	if (f->eh.e_ident[EI_CLASS] != ELFCLASS64 || f->eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return ELFSYM_FAIL(f, -ENOEXEC, "not a 64-bit little-endian ELF file");
	if (f->eh.e_type != ET_EXEC && f->eh.e_type != ET_DYN)
		return ELFSYM_FAIL(f, -ENOEXEC, "ELF file is neither an executable nor a library");
	if (f->eh.e_shnum == 0 || f->eh.e_shoff == 0)
		return ELFSYM_FAIL(f, -ENODATA, "ELF file has no section headers");

	/* From here on a refusal depends on the size and the headers only,
	 * which the id covers. Before the headers are read it covers the
	 * ELF header alone: the refusal depends on nothing else. */
	elfsym_set_id(f, (const unsigned char *)&f->eh, sizeof(f->eh));
	if (f->eh.e_shentsize != sizeof(Elf64_Shdr))
		return elfsym_refuse(f, -ENOEXEC, "ELF section header size is wrong");
	if (f->eh.e_shnum > f->lim.max_sections || f->eh.e_shnum > ELFSYM_MAX_SECTIONS)
		return elfsym_refuse(f, -EFBIG, "ELF file has too many sections");
	if (f->eh.e_phnum > ELFSYM_MAX_SEGMENTS)
		return elfsym_refuse(f, -EFBIG, "ELF file has too many program headers");
	if (f->eh.e_phnum && f->eh.e_phentsize != sizeof(Elf64_Phdr))
		return elfsym_refuse(f, -ENOEXEC, "ELF program header size is wrong");
	phbytes = (size_t)f->eh.e_phnum * sizeof(Elf64_Phdr);
	shbytes = (size_t)f->eh.e_shnum * sizeof(Elf64_Shdr);
	if (phbytes && !elfsym_in_file(f, f->eh.e_phoff, phbytes))
		return elfsym_refuse(f, -ENOEXEC, "ELF program headers lie outside the file");
	if (!elfsym_in_file(f, f->eh.e_shoff, shbytes))
		return elfsym_refuse(f, -ENOEXEC, "ELF section headers lie outside the file");
	f->hdrs = malloc(sizeof(f->eh) + phbytes + shbytes);
	if (!f->hdrs)
		return ELFSYM_FAIL(f, -ENOMEM, "out of memory");
	memcpy(f->hdrs, &f->eh, sizeof(f->eh));
	f->ph = (const Elf64_Phdr *)(f->hdrs + sizeof(f->eh));
	f->sh = (const Elf64_Shdr *)(f->hdrs + sizeof(f->eh) + phbytes);
	if (phbytes &&
	    (err = elfsym_read(f, f->hdrs + sizeof(f->eh), phbytes, f->eh.e_phoff, false)))
		goto fail;
	err = elfsym_read(f, f->hdrs + sizeof(f->eh) + phbytes, shbytes, f->eh.e_shoff, false);
	if (err)
		goto fail;
	elfsym_set_id(f, f->hdrs, sizeof(f->eh) + phbytes + shbytes);
	return 0;
fail:
	f->id[0] = '\0'; /* what was read is not the whole of what decides */
	return err;
}

struct elfsym_span {
	uint64_t off, end;
};

static int elfsym_span_cmp(const void *a, const void *b)
{
	const struct elfsym_span *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* Section idx must be a string table: the link of a table in scope. */
static int elfsym_check_link(struct elfsym_file *f, uint32_t link)
{
	if (link == 0 || link >= f->eh.e_shnum)
		return elfsym_refuse(f, -ENOEXEC, "ELF section link out of range");
	if (f->sh[link].sh_type != SHT_STRTAB)
		return elfsym_refuse(f, -ENOEXEC, "ELF section link points at the wrong type");
	return 0;
}

/* The bytes the tables in scope make a reader read, each section once. */
static uint64_t elfsym_scope_bytes(const struct elfsym_file *f)
{
	uint32_t idx[6] = { f->dynsym, f->symtab, f->dynamic, 0, 0, 0 };
	uint64_t bytes = sizeof(f->eh) + (uint64_t)f->eh.e_phnum * sizeof(Elf64_Phdr) +
			 (uint64_t)f->eh.e_shnum * sizeof(Elf64_Shdr);
	size_t i, j;

	for (i = 0; i < 3; i++)
		idx[3 + i] = idx[i] ? f->sh[idx[i]].sh_link : 0;
	for (i = 0; i < 6; i++) {
		if (!idx[i])
			continue;
		for (j = 0; j < i && idx[j] != idx[i]; j++)
			;
		if (j == i)
			bytes += f->sh[idx[i]].sh_size; /* each below the file size: no overflow */
	}
	return bytes;
}

int elfsym_check(struct elfsym_file *f, const char **why)
{
	struct elfsym_span *sp;
	uint64_t nsyms = 0;
	size_t n = 0, i;
	uint32_t *slot;
	int err = 0;

	f->why = why;
	if (f->checked == 1)
		return 0;
	if (f->checked < 0)
		return ELFSYM_FAIL(f, f->checked, f->check_why);
	if (!f->sh)
		return ELFSYM_FAIL(f, -EINVAL, "ELF file not open");
	sp = malloc(f->eh.e_shnum * sizeof(*sp));
	if (!sp)
		return ELFSYM_FAIL(f, -ENOMEM, "out of memory");
	f->work.sections = f->eh.e_shnum;
	for (i = 1; i < f->eh.e_shnum; i++) {
		const Elf64_Shdr *s = &f->sh[i];

		switch (s->sh_type) {
		case SHT_DYNSYM: slot = &f->dynsym; break;
		case SHT_SYMTAB: slot = &f->symtab; break;
		case SHT_DYNAMIC: slot = &f->dynamic; break;
		default: slot = NULL; break;
		}
		if (slot && *slot) {
			err = elfsym_refuse(
			    f, -EFBIG, "ELF file has more than one .dynsym, .symtab or .dynamic");
			goto out;
		}
		if (slot)
			*slot = (uint32_t)i;
		if (s->sh_type == SHT_NULL || s->sh_type == SHT_NOBITS || s->sh_size == 0)
			continue;
		if (!elfsym_in_file(f, s->sh_offset, s->sh_size)) {
			err = elfsym_refuse(f, -ENOEXEC, "ELF section lies outside the file");
			goto out;
		}
		sp[n].off = s->sh_offset;
		sp[n++].end = s->sh_offset + s->sh_size;
	}
	qsort(sp, n, sizeof(*sp), elfsym_span_cmp);
	for (i = 1; i < n; i++) {
		if (sp[i].off < sp[i - 1].end) {
			err = elfsym_refuse(f, -ENOEXEC, "ELF sections overlap");
			goto out;
		}
	}
	if ((f->dynsym && f->sh[f->dynsym].sh_entsize != sizeof(Elf64_Sym)) ||
	    (f->symtab && f->sh[f->symtab].sh_entsize != sizeof(Elf64_Sym)))
		err = elfsym_refuse(f, -ENOEXEC, "ELF symbol entry size is wrong");
	else if (f->dynamic && f->sh[f->dynamic].sh_entsize != sizeof(Elf64_Dyn))
		err = elfsym_refuse(f, -ENOEXEC, "ELF dynamic section is malformed");
	if (err)
		goto out;
	if ((f->dynsym && (err = elfsym_check_link(f, f->sh[f->dynsym].sh_link))) ||
	    (f->symtab && (err = elfsym_check_link(f, f->sh[f->symtab].sh_link))) ||
	    (f->dynamic && (err = elfsym_check_link(f, f->sh[f->dynamic].sh_link))))
		goto out;
	if (f->dynsym)
		nsyms += f->sh[f->dynsym].sh_size / sizeof(Elf64_Sym);
	if (f->symtab)
		nsyms += f->sh[f->symtab].sh_size / sizeof(Elf64_Sym);
	if (elfsym_scope_bytes(f) > f->lim.max_read)
		err = elfsym_refuse(f, -EFBIG, "ELF symbol tables larger than the bound");
	else if (nsyms > f->lim.max_symbols)
		err =
		    elfsym_refuse(f, -EFBIG, "ELF symbol tables hold more symbols than the bound");
	else
		f->checked = 1;
out:
	free(sp);
	return err;
}

/* The string table of section idx (checked: a string table in the file),
 * read once per file and NUL-terminated. */
static int elfsym_strtab(struct elfsym_file *f, uint32_t idx, const char **out, uint64_t *size)
{
	const Elf64_Shdr *s = &f->sh[idx];
	size_t i, slot = 3;
	char *buf;
	int err;

	for (i = 0; i < 3; i++) {
		if (f->str[i].buf && f->str[i].idx == idx) {
			*out = f->str[i].buf;
			*size = s->sh_size;
			return 0;
		}
		if (!f->str[i].buf && slot == 3)
			slot = i;
	}
	if (slot == 3) /* three tables link at most three string tables */
		return ELFSYM_FAIL(f, -EINVAL, "too many string tables");
	buf = malloc(s->sh_size + 1);
	if (!buf)
		return ELFSYM_FAIL(f, -ENOMEM, "out of memory");
	err = elfsym_read(f, buf, s->sh_size, s->sh_offset, true);
	if (err) {
		free(buf);
		return err;
	}
	buf[s->sh_size] = '\0';
	f->str[slot].idx = idx;
	f->str[slot].buf = buf;
	*out = buf;
	*size = s->sh_size;
	return 0;
}

/* Maps a virtual address to its file offset through the PT_LOAD segments. */
static int elfsym_vaddr_to_offset(const struct elfsym_file *f, uint64_t vaddr, uint64_t *off,
				  const char **why)
{
	int i;

	*why = NULL;
	if (f->eh.e_phnum == 0) {
		*why = "ELF file has no usable program headers";
		return -ENOEXEC;
	}
	for (i = 0; i < f->eh.e_phnum; i++) {
		const Elf64_Phdr *ph = &f->ph[i];

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		if (vaddr >= ph->p_vaddr && vaddr - ph->p_vaddr < ph->p_filesz) {
			if (!elfsym_in_file(f, ph->p_offset, ph->p_filesz)) {
				*why = "ELF segment lies outside the file";
				return -ENOEXEC;
			}
			*off = vaddr - ph->p_vaddr + ph->p_offset;
			return 0;
		}
	}
	*why = "symbol address is in no executable segment";
	return -ENOEXEC;
}

#define ELFSYM_PENDING 1 /* a query's err while not found yet */
#define ELFSYM_UNDEF 2	 /* ... and seen undefined */

/* Searches one symbol table for the pending queries; *left counts them. */
static int elfsym_search(struct elfsym_file *f, uint32_t idx, struct elfsym_query *q, size_t n,
			 size_t *left)
{
	const Elf64_Shdr *s = &f->sh[idx];
	uint64_t nsyms = s->sh_size / sizeof(Elf64_Sym), i, k, j, strsize;
	const char *strtab;
	size_t qi;
	int err;

	err = elfsym_strtab(f, s->sh_link, &strtab, &strsize);
	if (err)
		return err;
	if (!f->symbuf && !(f->symbuf = malloc(ELFSYM_SYMS_PER_READ * sizeof(Elf64_Sym))))
		return ELFSYM_FAIL(f, -ENOMEM, "out of memory");
	for (i = 0; i < nsyms && *left; i += k) {
		k = nsyms - i < ELFSYM_SYMS_PER_READ ? nsyms - i : ELFSYM_SYMS_PER_READ;
		err = elfsym_read(f, f->symbuf, k * sizeof(Elf64_Sym),
				  s->sh_offset + i * sizeof(Elf64_Sym), true);
		if (err)
			return err;
		f->work.symbols += k;
		for (j = 0; j < k; j++) {
			const Elf64_Sym *sym = &f->symbuf[j];
			const char *name;

			if (sym->st_name >= strsize)
				continue;
			name = strtab + sym->st_name;
			for (qi = 0; qi < n; qi++) {
				if (q[qi].err <= 0 || ELF64_ST_TYPE(sym->st_info) != q[qi].type ||
				    strcmp(name, q[qi].name) != 0 ||
				    strsize - sym->st_name <= strlen(q[qi].name))
					continue;
				if (sym->st_shndx == SHN_UNDEF || sym->st_value == 0) {
					q[qi].err = ELFSYM_UNDEF;
					continue;
				}
				q[qi].err = 0;
				q[qi].sym.vaddr = sym->st_value;
				q[qi].sym.size = sym->st_size;
				q[qi].sym.offset = 0;
				(*left)--;
			}
		}
	}
	return 0;
}

int elfsym_lookup(struct elfsym_file *f, struct elfsym_query *q, size_t n, const char **why)
{
	size_t i, left = n;
	int err;

	for (i = 0; i < n; i++) {
		q[i].err = ELFSYM_PENDING;
		q[i].why = NULL;
		memset(&q[i].sym, 0, sizeof(q[i].sym));
	}
	err = elfsym_check(f, why);
	if (!err && !f->dynsym && !f->symtab)
		err = ELFSYM_FAIL(f, -ENODATA, "no symbol table (stripped static executable?)");
	if (!err && f->dynsym)
		err = elfsym_search(f, f->dynsym, q, n, &left);
	if (!err && f->symtab && left)
		err = elfsym_search(f, f->symtab, q, n, &left);
	for (i = 0; i < n; i++) {
		if (err) {
			q[i].err = err;
			q[i].why = why ? *why : NULL;
		} else if (q[i].err == ELFSYM_UNDEF) {
			q[i].err = -ENXIO;
			q[i].why = "function is imported from a shared library";
		} else if (q[i].err == ELFSYM_PENDING) {
			q[i].err = -ENOENT;
			q[i].why = "function not in the symbol tables";
		} else if (q[i].type == STT_FUNC) {
			q[i].err =
			    elfsym_vaddr_to_offset(f, q[i].sym.vaddr, &q[i].sym.offset, &q[i].why);
		}
	}
	return err;
}

int elfsym_needed_of(struct elfsym_file *f, char names[][ELFSYM_NAME_MAX], size_t max,
		     const char **why)
{
	Elf64_Dyn dyn[128];
	const Elf64_Shdr *d;
	const char *strtab;
	uint64_t strsize, n, i, k = 0;
	size_t count = 0, len;
	int err;

	err = elfsym_check(f, why);
	if (err)
		return err;
	if (!f->dynamic)
		return 0;
	d = &f->sh[f->dynamic];
	err = elfsym_strtab(f, d->sh_link, &strtab, &strsize);
	if (err)
		return err;
	n = d->sh_size / sizeof(Elf64_Dyn);
	for (i = 0; i < n && count < max; i++) {
		const Elf64_Dyn *e = &dyn[i % 128];

		if (i % 128 == 0) {
			k = n - i < 128 ? n - i : 128;
			err = elfsym_read(f, dyn, k * sizeof(Elf64_Dyn),
					  d->sh_offset + i * sizeof(Elf64_Dyn), true);
			if (err)
				return err;
		}
		/* Read at the chunk's first entry: elfsym_read() fills dyn or fails. */
		// NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult)
		if (e->d_tag == DT_NULL)
			break;
		if (e->d_tag != DT_NEEDED || e->d_un.d_val >= strsize)
			continue;
		len = strnlen(strtab + e->d_un.d_val, strsize - e->d_un.d_val);
		if (len == 0 || len >= ELFSYM_NAME_MAX)
			continue;
		memcpy(names[count], strtab + e->d_un.d_val, len);
		names[count][len] = '\0';
		count++;
	}
	return (int)count;
}

void elfsym_close(struct elfsym_file *f)
{
	size_t i;

	for (i = 0; i < 3; i++) {
		free(f->str[i].buf);
		f->str[i].buf = NULL;
	}
	free(f->symbuf);
	free(f->hdrs);
	f->symbuf = NULL;
	f->hdrs = NULL;
	f->ph = NULL;
	f->sh = NULL;
}

static int elfsym_find_one(int fd, const char *name, unsigned int type, struct elfsym *out,
			   const char **why)
{
	struct elfsym_query q = { .name = name, .type = type };
	struct elfsym_file f;
	int err;

	err = elfsym_open(&f, fd, NULL, why);
	if (!err)
		err = elfsym_lookup(&f, &q, 1, why);
	if (!err) {
		err = q.err;
		if (err && why)
			*why = q.why;
		else if (!err)
			*out = q.sym;
	}
	elfsym_close(&f);
	return err;
}

int elfsym_find(int fd, const char *name, struct elfsym *out, const char **why)
{
	return elfsym_find_one(fd, name, STT_FUNC, out, why);
}

int elfsym_find_object(int fd, const char *name, struct elfsym *out, const char **why)
{
	return elfsym_find_one(fd, name, STT_OBJECT, out, why);
}

int elfsym_needed(int fd, char names[][ELFSYM_NAME_MAX], size_t max, const char **why)
{
	struct elfsym_file f;
	int err;

	err = elfsym_open(&f, fd, NULL, why);
	if (!err)
		err = elfsym_needed_of(&f, names, max, why);
	elfsym_close(&f);
	return err == -ENODATA ? 0 : err;
}
