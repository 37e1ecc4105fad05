/* SPDX-License-Identifier: Apache-2.0 */
/* Crafted ELF files that cost a naive parser much work for little disk:
 * written sparse, so that a few KiB on disk read as many MiB of zeros.
 * Shared by the unit tests, the mkelf tool (BPF tests, bench, fuzz seeds). */
#ifndef SHELLAUDIT_HOSTILE_ELF_H
#define SHELLAUDIT_HOSTILE_ELF_H

#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum hostile_elf {
	/* n SHT_SYMTAB sections over one 64 MiB sparse region, linking one
	 * 64 MiB sparse string table: the file of the security review (H1). */
	HOSTILE_MANY_SYMTABS,
	/* One .symtab and its string table overlapping each other. */
	HOSTILE_OVERLAP,
	/* A string table larger than the file. */
	HOSTILE_BIG_STRTAB,
	/* n section headers (thousands), all in the file. */
	HOSTILE_MANY_SECTIONS,
	/* One sound .symtab of 48 MiB: past the bytes bound. */
	HOSTILE_OVER_BUDGET,
	/* One sound .symtab and string table of n MiB together: within the
	 * bounds when n is, the most a file can cost. */
	HOSTILE_SIZED,
};

#define HOSTILE_MIB (1ull << 20)

/* Writes the file into fd (empty, regular). 0 or a negative errno. */
static inline int hostile_elf_write(int fd, enum hostile_elf kind, unsigned int n)
{
	static const char strs[] = "\0readline\0";
	uint64_t shoff = 0x1000, data = HOSTILE_MIB, symsz = 64 * HOSTILE_MIB,
		 strsz = 64 * HOSTILE_MIB, size;
	unsigned int nsec, i;
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	Elf64_Shdr *sh;
	int err = 0;

	switch (kind) {
	case HOSTILE_MANY_SYMTABS: nsec = n + 2; break;
	case HOSTILE_MANY_SECTIONS: nsec = n; break;
	default: nsec = 3; break;
	}
	if (nsec < 2 || nsec > 65000)
		return -EINVAL;
	if (kind == HOSTILE_OVER_BUDGET) {
		symsz = 48 * HOSTILE_MIB;
		strsz = HOSTILE_MIB;
	} else if (kind == HOSTILE_SIZED) {
		if (n < 2)
			return -EINVAL;
		strsz = HOSTILE_MIB;
		symsz = (uint64_t)(n - 1) * HOSTILE_MIB / sizeof(Elf64_Sym) * sizeof(Elf64_Sym);
	}
	sh = calloc(nsec, sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	memset(&eh, 0, sizeof(eh));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_DYN;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 1;
	eh.e_shoff = shoff;
	eh.e_shentsize = sizeof(Elf64_Shdr);
	eh.e_shnum = (uint16_t)nsec;
	memset(&ph, 0, sizeof(ph));
	ph.p_type = PT_LOAD;
	ph.p_flags = PF_R | PF_X;
	ph.p_filesz = ph.p_memsz = 0x1000;
	if (kind == HOSTILE_MANY_SECTIONS) {
		for (i = 1; i < nsec; i++) {
			sh[i].sh_type = SHT_PROGBITS;
			sh[i].sh_offset = shoff + (uint64_t)nsec * sizeof(*sh) + i;
			sh[i].sh_size = 1;
		}
		size = shoff + (uint64_t)nsec * sizeof(*sh) + nsec;
		goto write;
	}
	/* Section 1: the string table; then the symbol table(s). */
	sh[1].sh_type = SHT_STRTAB;
	sh[1].sh_offset = data + symsz;
	sh[1].sh_size = strsz;
	for (i = 2; i < nsec; i++) {
		sh[i].sh_type = SHT_SYMTAB;
		sh[i].sh_offset = data;
		sh[i].sh_size = symsz;
		sh[i].sh_entsize = sizeof(Elf64_Sym);
		sh[i].sh_link = 1;
	}
	size = data + symsz + strsz;
	if (kind == HOSTILE_OVERLAP)
		sh[1].sh_offset = data + symsz / 2;
	if (kind == HOSTILE_BIG_STRTAB) {
		sh[1].sh_size = 4 * size;
		size = data + symsz + HOSTILE_MIB;
	}
write:
	if (ftruncate(fd, (off_t)size) || pwrite(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    pwrite(fd, &ph, sizeof(ph), sizeof(eh)) != (ssize_t)sizeof(ph) ||
	    pwrite(fd, sh, nsec * sizeof(*sh), (off_t)shoff) != (ssize_t)(nsec * sizeof(*sh)) ||
	    (kind != HOSTILE_MANY_SECTIONS &&
	     pwrite(fd, strs, sizeof(strs), (off_t)sh[1].sh_offset) != (ssize_t)sizeof(strs)))
		err = errno ? -errno : -EIO;
	free(sh);
	return err;
}

#endif
