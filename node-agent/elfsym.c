// SPDX-License-Identifier: Apache-2.0
/* Defensive ELF symbol lookup (see elfsym.h). */
#include "elfsym.h"

#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct elfsym_file {
	int fd;
	uint64_t size;
	Elf64_Ehdr eh;
	Elf64_Shdr *sh; /* eh.e_shnum entries, or NULL */
	const char **why;
};

#define ELFSYM_FAIL(f, err, reason) ((f)->why ? (*(f)->why = (reason)) : NULL, (err))

/* Reads exactly n bytes at off, which the caller checked lie in the file. */
static int elfsym_read(struct elfsym_file *f, void *buf, size_t n, uint64_t off)
{
	size_t done = 0;
	ssize_t r;

	while (done < n) {
		r = pread(f->fd, (char *)buf + done, n - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return ELFSYM_FAIL(f, -EIO, "read failed or file shorter than its headers say");
		done += (size_t)r;
	}
	return 0;
}

/* True when [off, off + len) lies inside the file, without overflow. */
static bool elfsym_in_file(const struct elfsym_file *f, uint64_t off, uint64_t len)
{
	return off <= f->size && len <= f->size - off;
}

static int elfsym_open(struct elfsym_file *f)
{
	struct stat st;
	size_t bytes;
	int err;

	if (fstat(f->fd, &st))
		return ELFSYM_FAIL(f, -errno, "cannot stat the file");
	if (!S_ISREG(st.st_mode))
		return ELFSYM_FAIL(f, -ENOEXEC, "not a regular file");
	f->size = (uint64_t)st.st_size;
	if (f->size < sizeof(f->eh))
		return ELFSYM_FAIL(f, -ENOEXEC, "too short to be an ELF file");
	err = elfsym_read(f, &f->eh, sizeof(f->eh), 0);
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
	if (f->eh.e_shentsize != sizeof(Elf64_Shdr))
		return ELFSYM_FAIL(f, -ENOEXEC, "ELF section header size is wrong");
	if (f->eh.e_shnum > ELFSYM_MAX_SECTIONS)
		return ELFSYM_FAIL(f, -EFBIG, "ELF file has too many sections");
	bytes = (size_t)f->eh.e_shnum * sizeof(Elf64_Shdr);
	if (!elfsym_in_file(f, f->eh.e_shoff, bytes))
		return ELFSYM_FAIL(f, -ENOEXEC, "ELF section headers lie outside the file");
	f->sh = malloc(bytes);
	if (!f->sh)
		return ELFSYM_FAIL(f, -ENOMEM, "out of memory");
	return elfsym_read(f, f->sh, bytes, f->eh.e_shoff);
}

/* Reads section idx, which must be of type `type`, into a new buffer. */
static int elfsym_load_section(struct elfsym_file *f, uint32_t idx, uint32_t type, char **out)
{
	const Elf64_Shdr *s;
	char *buf;
	int err;

	if (idx == 0 || idx >= f->eh.e_shnum)
		return ELFSYM_FAIL(f, -ENOEXEC, "ELF section link out of range");
	s = &f->sh[idx];
	if (s->sh_type != type)
		return ELFSYM_FAIL(f, -ENOEXEC, "ELF section link points at the wrong type");
	if (s->sh_size > ELFSYM_MAX_TABLE)
		return ELFSYM_FAIL(f, -EFBIG, "ELF table larger than the bound");
	if (!elfsym_in_file(f, s->sh_offset, s->sh_size))
		return ELFSYM_FAIL(f, -ENOEXEC, "ELF section lies outside the file");
	buf = malloc(s->sh_size + 1);
	if (!buf)
		return ELFSYM_FAIL(f, -ENOMEM, "out of memory");
	err = elfsym_read(f, buf, s->sh_size, s->sh_offset);
	if (err) {
		free(buf);
		return err;
	}
	buf[s->sh_size] = '\0';
	*out = buf;
	return 0;
}

/* Maps a virtual address to its file offset through the PT_LOAD segments. */
static int elfsym_vaddr_to_offset(struct elfsym_file *f, uint64_t vaddr, uint64_t *off)
{
	Elf64_Phdr ph[ELFSYM_MAX_SEGMENTS];
	size_t bytes;
	int err, i;

	if (f->eh.e_phnum == 0 || f->eh.e_phentsize != sizeof(Elf64_Phdr))
		return ELFSYM_FAIL(f, -ENOEXEC, "ELF file has no usable program headers");
	if (f->eh.e_phnum > ELFSYM_MAX_SEGMENTS)
		return ELFSYM_FAIL(f, -EFBIG, "ELF file has too many program headers");
	bytes = (size_t)f->eh.e_phnum * sizeof(Elf64_Phdr);
	if (!elfsym_in_file(f, f->eh.e_phoff, bytes))
		return ELFSYM_FAIL(f, -ENOEXEC, "ELF program headers lie outside the file");
	err = elfsym_read(f, ph, bytes, f->eh.e_phoff);
	if (err)
		return err;
	for (i = 0; i < f->eh.e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X))
			continue;
		if (vaddr >= ph[i].p_vaddr && vaddr - ph[i].p_vaddr < ph[i].p_filesz) {
			if (!elfsym_in_file(f, ph[i].p_offset, ph[i].p_filesz))
				return ELFSYM_FAIL(f, -ENOEXEC,
						   "ELF segment lies outside the file");
			*off = vaddr - ph[i].p_vaddr + ph[i].p_offset;
			return 0;
		}
	}
	return ELFSYM_FAIL(f, -ENOEXEC, "symbol address is in no executable segment");
}

/* Searches one symbol table section; 1 found defined, 0 absent, -ENXIO undefined,
 * or a negative error. */
static int elfsym_search(struct elfsym_file *f, uint32_t idx, const char *name, unsigned int type,
			 Elf64_Sym *found)
{
	const Elf64_Shdr *s = &f->sh[idx];
	Elf64_Sym syms[256];
	char *strtab = NULL;
	uint64_t nsyms, i, strsize;
	size_t namelen = strlen(name);
	bool undefined = false;
	int err;

	if (s->sh_entsize != sizeof(Elf64_Sym))
		return ELFSYM_FAIL(f, -ENOEXEC, "ELF symbol entry size is wrong");
	if (s->sh_size > ELFSYM_MAX_TABLE)
		return ELFSYM_FAIL(f, -EFBIG, "ELF symbol table larger than the bound");
	if (!elfsym_in_file(f, s->sh_offset, s->sh_size))
		return ELFSYM_FAIL(f, -ENOEXEC, "ELF symbol table lies outside the file");
	err = elfsym_load_section(f, s->sh_link, SHT_STRTAB, &strtab);
	if (err)
		return err;
	strsize = f->sh[s->sh_link].sh_size;
	nsyms = s->sh_size / sizeof(Elf64_Sym);
	for (i = 0; i < nsyms; i++) {
		Elf64_Sym *sym = &syms[i % 256];

		if (i % 256 == 0) {
			uint64_t n = nsyms - i < 256 ? nsyms - i : 256;

			err = elfsym_read(f, syms, n * sizeof(Elf64_Sym),
					  s->sh_offset + i * sizeof(Elf64_Sym));
			if (err)
				goto out;
		}
		if (sym->st_name >= strsize || strsize - sym->st_name < namelen + 1 ||
		    memcmp(strtab + sym->st_name, name, namelen + 1) != 0)
			continue;
		if (ELF64_ST_TYPE(sym->st_info) != type)
			continue;
		if (sym->st_shndx == SHN_UNDEF || sym->st_value == 0) {
			undefined = true;
			continue;
		}
		*found = *sym;
		err = 1;
		goto out;
	}
	err = undefined ? -ENXIO : 0;
out:
	free(strtab);
	return err;
}

static int elfsym_lookup(int fd, const char *name, unsigned int type, struct elfsym *out,
			 const char **why)
{
	struct elfsym_file f = { .fd = fd, .why = why };
	static const uint32_t order[] = { SHT_DYNSYM, SHT_SYMTAB };
	bool any_table = false, undefined = false;
	Elf64_Sym sym;
	unsigned int t;
	uint32_t i;
	int err;

	err = elfsym_open(&f);
	if (err)
		goto out;
	for (t = 0; t < 2; t++) {
		for (i = 1; i < f.eh.e_shnum; i++) {
			if (f.sh[i].sh_type != order[t])
				continue;
			any_table = true;
			err = elfsym_search(&f, i, name, type, &sym);
			if (err == -ENXIO) {
				undefined = true;
				continue;
			}
			if (err < 0)
				goto out;
			if (err == 1) {
				out->vaddr = sym.st_value;
				out->size = sym.st_size;
				out->offset = 0;
				err = type == STT_FUNC ? elfsym_vaddr_to_offset(&f, sym.st_value,
										&out->offset)
						       : 0;
				goto out;
			}
		}
	}
	if (undefined)
		err = ELFSYM_FAIL(&f, -ENXIO, "function is imported from a shared library");
	else if (any_table)
		err = ELFSYM_FAIL(&f, -ENOENT, "function not in the symbol tables");
	else
		err = ELFSYM_FAIL(&f, -ENODATA, "no symbol table (stripped static executable?)");
out:
	free(f.sh);
	return err;
}

int elfsym_find(int fd, const char *name, struct elfsym *out, const char **why)
{
	return elfsym_lookup(fd, name, STT_FUNC, out, why);
}

int elfsym_find_object(int fd, const char *name, struct elfsym *out, const char **why)
{
	return elfsym_lookup(fd, name, STT_OBJECT, out, why);
}

int elfsym_needed(int fd, char names[][ELFSYM_NAME_MAX], size_t max, const char **why)
{
	struct elfsym_file f = { .fd = fd, .why = why };
	Elf64_Dyn dyn[128];
	char *strtab = NULL;
	uint64_t strsize, n, i;
	size_t count = 0;
	uint32_t s;
	int err;

	err = elfsym_open(&f);
	if (err == -ENODATA)
		return 0;
	if (err)
		goto out;
	for (s = 1; s < f.eh.e_shnum; s++) {
		const Elf64_Shdr *d = &f.sh[s];

		if (d->sh_type != SHT_DYNAMIC)
			continue;
		if (d->sh_entsize != sizeof(Elf64_Dyn) || d->sh_size > ELFSYM_MAX_TABLE ||
		    !elfsym_in_file(&f, d->sh_offset, d->sh_size)) {
			err = ELFSYM_FAIL(&f, -ENOEXEC, "ELF dynamic section is malformed");
			goto out;
		}
		err = elfsym_load_section(&f, d->sh_link, SHT_STRTAB, &strtab);
		if (err)
			goto out;
		strsize = f.sh[d->sh_link].sh_size;
		n = d->sh_size / sizeof(Elf64_Dyn);
		for (i = 0; i < n && count < max; i++) {
			Elf64_Dyn *e = &dyn[i % 128];
			size_t len;

			if (i % 128 == 0) {
				uint64_t k = n - i < 128 ? n - i : 128;

				err = elfsym_read(&f, dyn, k * sizeof(Elf64_Dyn),
						  d->sh_offset + i * sizeof(Elf64_Dyn));
				if (err)
					goto out;
			}
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
		break;
	}
	err = (int)count;
out:
	free(strtab);
	free(f.sh);
	return err;
}
