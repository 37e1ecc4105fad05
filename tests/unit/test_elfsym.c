// SPDX-License-Identifier: Apache-2.0
/* elfsym: finding a function in ELF files, refusing broken ones, and
 * bounding the work on hostile ones (the review's sparse file with many
 * symbol tables, overlapping sections, a string table larger than the
 * file, thousands of sections, tables over the bytes and symbol bounds,
 * the time bound): each is refused with its reason after reading no more
 * than its headers. Also the file identity refusals are remembered by. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "unit.h"
#include "../../node-agent/elfsym.h"
#include "../tools/hostile-elf.h"

#define FIX_SIZE 0x800
#define FIX_DYNSTR 0x100
#define FIX_DYNSYM 0x200
#define FIX_DYNAMIC 0x300
#define FIX_SHDR 0x400

/* A small shared object: one PT_LOAD segment (vaddr 0x1000 at offset 0),
 * .dynsym with readline (defined at 0x1234), other (undefined) and the
 * variable rl_line_buffer (0x5000),
 * .dynstr, and .dynamic with DT_NEEDED libreadline.so.8. */
static void fixture(unsigned char *f)
{
	static const char strs[] = "\0readline\0other\0libreadline.so.8\0rl_line_buffer\0";
	Elf64_Ehdr *eh = (Elf64_Ehdr *)f;
	Elf64_Phdr *ph = (Elf64_Phdr *)(f + sizeof(*eh));
	Elf64_Sym *sym = (Elf64_Sym *)(f + FIX_DYNSYM);
	Elf64_Dyn *dyn = (Elf64_Dyn *)(f + FIX_DYNAMIC);
	Elf64_Shdr *sh = (Elf64_Shdr *)(f + FIX_SHDR);

	memset(f, 0, FIX_SIZE);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_DYN;
	eh->e_machine = EM_X86_64;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 1;
	eh->e_shoff = FIX_SHDR;
	eh->e_shentsize = sizeof(*sh);
	eh->e_shnum = 4;
	ph->p_type = PT_LOAD;
	ph->p_flags = PF_R | PF_X;
	ph->p_vaddr = 0x1000;
	ph->p_offset = 0;
	ph->p_filesz = FIX_SIZE;
	ph->p_memsz = FIX_SIZE;
	memcpy(f + FIX_DYNSTR, strs, sizeof(strs));
	sym[1].st_name = 1;
	sym[1].st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC);
	sym[1].st_shndx = 5;
	sym[1].st_value = 0x1234;
	sym[1].st_size = 10;
	sym[2].st_name = 10;
	sym[2].st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC);
	sym[2].st_shndx = SHN_UNDEF;
	dyn[0].d_tag = DT_NEEDED;
	dyn[0].d_un.d_val = 16;
	dyn[1].d_tag = DT_NULL;
	sh[1].sh_type = SHT_DYNSYM;
	sh[1].sh_offset = FIX_DYNSYM;
	sym[3].st_name = 33;
	sym[3].st_info = ELF64_ST_INFO(STB_GLOBAL, STT_OBJECT);
	sym[3].st_shndx = 6;
	sym[3].st_value = 0x5000;
	sym[3].st_size = 8;
	sh[1].sh_size = 4 * sizeof(Elf64_Sym);
	sh[1].sh_entsize = sizeof(Elf64_Sym);
	sh[1].sh_link = 2;
	sh[2].sh_type = SHT_STRTAB;
	sh[2].sh_offset = FIX_DYNSTR;
	sh[2].sh_size = sizeof(strs);
	sh[3].sh_type = SHT_DYNAMIC;
	sh[3].sh_offset = FIX_DYNAMIC;
	sh[3].sh_size = 2 * sizeof(Elf64_Dyn);
	sh[3].sh_entsize = sizeof(Elf64_Dyn);
	sh[3].sh_link = 2;
}

/* An anonymous file holding n bytes of buf. */
static int memfile(const void *buf, size_t n)
{
	int fd = memfd_create("elf", MFD_CLOEXEC);

	if (fd >= 0 && n && write(fd, buf, n) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	return fd;
}

static Elf64_Ehdr *ehdr(unsigned char *f)
{
	return (Elf64_Ehdr *)f;
}

static Elf64_Shdr *shdr(unsigned char *f, int i)
{
	return (Elf64_Shdr *)(f + FIX_SHDR) + i;
}

static int find_in(const unsigned char *f, size_t n, const char *name, struct elfsym *s,
		   const char **why)
{
	int fd = memfile(f, n), err;

	if (fd < 0)
		return -999;
	err = elfsym_find(fd, name, s, why);
	close(fd);
	return err;
}

static void test_elfsym_finds_defined_function_and_file_offset(void)
{
	unsigned char f[FIX_SIZE];
	struct elfsym s = { 0 };

	fixture(f);
	UNIT_CHECK(find_in(f, sizeof(f), "readline", &s, NULL) == 0);
	UNIT_CHECK(s.vaddr == 0x1234);
	UNIT_CHECK(s.offset == 0x234);
	UNIT_CHECK(s.size == 10);
}

static void test_elfsym_finds_data_object_apart_from_functions(void)
{
	unsigned char f[FIX_SIZE];
	struct elfsym s = { 0 };

	fixture(f);
	UNIT_CHECK(find_in(f, sizeof(f), "rl_line_buffer", &s, NULL) == -ENOENT);
	{
		int fd = memfile(f, sizeof(f));

		UNIT_CHECK(elfsym_find_object(fd, "rl_line_buffer", &s, NULL) == 0);
		UNIT_CHECK(s.vaddr == 0x5000 && s.size == 8);
		UNIT_CHECK(elfsym_find_object(fd, "readline", &s, NULL) == -ENOENT);
		close(fd);
	}
}

static void test_elfsym_undefined_symbol_is_enxio(void)
{
	unsigned char f[FIX_SIZE];
	struct elfsym s;
	const char *why = NULL;

	fixture(f);
	UNIT_CHECK(find_in(f, sizeof(f), "other", &s, &why) == -ENXIO);
	UNIT_CHECK(why != NULL);
}

static void test_elfsym_absent_symbol_is_enoent(void)
{
	unsigned char f[FIX_SIZE];
	struct elfsym s;

	fixture(f);
	UNIT_CHECK(find_in(f, sizeof(f), "readlin", &s, NULL) == -ENOENT);
	UNIT_CHECK(find_in(f, sizeof(f), "readlinex", &s, NULL) == -ENOENT);
}

static void test_elfsym_no_symbol_table_is_enodata(void)
{
	unsigned char f[FIX_SIZE];
	struct elfsym s;

	fixture(f);
	shdr(f, 1)->sh_type = SHT_PROGBITS;
	UNIT_CHECK(find_in(f, sizeof(f), "readline", &s, NULL) == -ENODATA);
	fixture(f);
	ehdr(f)->e_shnum = 0;
	UNIT_CHECK(find_in(f, sizeof(f), "readline", &s, NULL) == -ENODATA);
}

static void test_elfsym_not_elf_is_enoexec(void)
{
	unsigned char f[FIX_SIZE];
	struct elfsym s;
	const char *why = NULL;

	memset(f, 'A', sizeof(f));
	UNIT_CHECK(find_in(f, sizeof(f), "readline", &s, &why) == -ENOEXEC);
	UNIT_CHECK_STR(why, "not an ELF file");
	UNIT_CHECK(find_in(f, 0, "readline", &s, NULL) == -ENOEXEC);
	fixture(f);
	f[EI_CLASS] = ELFCLASS32;
	UNIT_CHECK(find_in(f, sizeof(f), "readline", &s, NULL) == -ENOEXEC);
}

static void test_elfsym_truncated_file_is_refused(void)
{
	unsigned char f[FIX_SIZE];
	struct elfsym s;
	size_t cut;

	fixture(f);
	/* Every cut gives an error, never a crash or a bogus offset. */
	for (cut = 0; cut < FIX_SHDR + 4 * sizeof(Elf64_Shdr); cut += 8)
		UNIT_CHECK(find_in(f, cut, "readline", &s, NULL) < 0);
}

static void test_elfsym_absurd_sizes_are_refused(void)
{
	unsigned char f[FIX_SIZE];
	struct elfsym s;
	const char *why = NULL;

	fixture(f);
	ehdr(f)->e_shnum = 65535;
	UNIT_CHECK(find_in(f, sizeof(f), "readline", &s, &why) == -EFBIG);
	fixture(f);
	shdr(f, 1)->sh_size = 1ull << 40;
	UNIT_CHECK(find_in(f, sizeof(f), "readline", &s, &why) == -ENOEXEC);
	UNIT_CHECK_STR(why, "ELF section lies outside the file");
	fixture(f);
	shdr(f, 2)->sh_size = ~0ull;
	UNIT_CHECK(find_in(f, sizeof(f), "readline", &s, NULL) == -ENOEXEC);
	fixture(f);
	shdr(f, 1)->sh_offset = ~0ull - 8; /* offset + size overflows */
	UNIT_CHECK(find_in(f, sizeof(f), "readline", &s, NULL) == -ENOEXEC);
	fixture(f);
	ehdr(f)->e_shoff = 0x7fffffffffffffffull;
	UNIT_CHECK(find_in(f, sizeof(f), "readline", &s, NULL) == -ENOEXEC);
	fixture(f);
	ehdr(f)->e_phnum = 60000;
	UNIT_CHECK(find_in(f, sizeof(f), "readline", &s, NULL) == -EFBIG);
}

static void test_elfsym_bad_links_and_names_are_refused(void)
{
	unsigned char f[FIX_SIZE];
	struct elfsym s;

	fixture(f);
	shdr(f, 1)->sh_link = 9;
	UNIT_CHECK(find_in(f, sizeof(f), "readline", &s, NULL) == -ENOEXEC);
	fixture(f);
	shdr(f, 1)->sh_link = 1; /* to itself, not a string table */
	UNIT_CHECK(find_in(f, sizeof(f), "readline", &s, NULL) == -ENOEXEC);
	fixture(f);
	shdr(f, 1)->sh_entsize = 7;
	UNIT_CHECK(find_in(f, sizeof(f), "readline", &s, NULL) == -ENOEXEC);
	fixture(f);
	((Elf64_Sym *)(f + FIX_DYNSYM))[1].st_name = 0xffffff; /* past the strings */
	UNIT_CHECK(find_in(f, sizeof(f), "readline", &s, NULL) == -ENXIO ||
		   find_in(f, sizeof(f), "readline", &s, NULL) == -ENOENT);
}

static void test_elfsym_address_outside_segments_is_refused(void)
{
	unsigned char f[FIX_SIZE];
	struct elfsym s;

	fixture(f);
	((Elf64_Sym *)(f + FIX_DYNSYM))[1].st_value = 0x900000;
	UNIT_CHECK(find_in(f, sizeof(f), "readline", &s, NULL) == -ENOEXEC);
	fixture(f);
	((Elf64_Phdr *)(f + sizeof(Elf64_Ehdr)))->p_flags = PF_R; /* not executable */
	UNIT_CHECK(find_in(f, sizeof(f), "readline", &s, NULL) == -ENOEXEC);
	fixture(f);
	((Elf64_Phdr *)(f + sizeof(Elf64_Ehdr)))->p_filesz = 1ull << 50;
	UNIT_CHECK(find_in(f, sizeof(f), "readline", &s, NULL) == -ENOEXEC);
}

/* Bytes this process has read with read(2)/pread(2) so far. */
static long long bytes_read(void)
{
	char buf[512];
	long long n = -1;
	FILE *f = fopen("/proc/self/io", "r");

	while (f && fgets(buf, sizeof(buf), f))
		if (!strncmp(buf, "rchar: ", 7)) {
			char *end;

			n = strtoll(buf + 7, &end, 10);
			if (end == buf + 7)
				n = -1;
			break;
		}
	if (f)
		fclose(f);
	return n;
}

/* Cheap, whatever the size: a few bytes read, not the 10 GB (a bound on
 * work, not on time, so that a slow machine cannot fail it). */
static void test_elfsym_sparse_10gb_file_is_quick_enoexec(void)
{
	int fd = memfd_create("sparse", MFD_CLOEXEC);
	struct elfsym s;
	long long before, after;

	UNIT_CHECK(fd >= 0);
	UNIT_CHECK(ftruncate(fd, 10ll << 30) == 0);
	before = bytes_read();
	UNIT_CHECK(elfsym_find(fd, "readline", &s, NULL) == -ENOEXEC);
	after = bytes_read();
	UNIT_CHECK(before >= 0 && after >= before);
	if (after - before >= 1 << 20) {
		fprintf(stderr, "    read %lld bytes of a 10 GB file of zeros\n", after - before);
		UNIT_CHECK(0);
	}
	close(fd);
}

static void test_elfsym_sparse_file_with_elf_header_is_refused(void)
{
	unsigned char f[FIX_SIZE];
	struct elfsym s;
	int fd;

	/* A valid header whose section headers lie in 10 GB of holes: they
	 * read as zeros, so there is no symbol table. */
	fixture(f);
	ehdr(f)->e_shoff = (10ull << 30) - 4096;
	fd = memfile(f, sizeof(f));
	UNIT_CHECK(fd >= 0);
	UNIT_CHECK(ftruncate(fd, 10ll << 30) == 0);
	UNIT_CHECK(elfsym_find(fd, "readline", &s, NULL) == -ENODATA);
	close(fd);
}

static void test_elfsym_not_a_regular_file(void)
{
	int p[2];
	struct elfsym s;

	UNIT_CHECK(pipe(p) == 0);
	UNIT_CHECK(elfsym_find(p[0], "readline", &s, NULL) == -ENOEXEC);
	close(p[0]);
	close(p[1]);
}

static void test_elfsym_needed_lists_libraries(void)
{
	char names[ELFSYM_MAX_NEEDED][ELFSYM_NAME_MAX];
	unsigned char f[FIX_SIZE];
	int fd, n;

	fixture(f);
	fd = memfile(f, sizeof(f));
	n = elfsym_needed(fd, names, ELFSYM_MAX_NEEDED, NULL);
	UNIT_CHECK(n == 1);
	if (n == 1)
		UNIT_CHECK_STR(names[0], "libreadline.so.8");
	close(fd);
	fixture(f);
	((Elf64_Dyn *)(f + FIX_DYNAMIC))->d_un.d_val = 0xfffffff; /* name out of range */
	fd = memfile(f, sizeof(f));
	UNIT_CHECK(elfsym_needed(fd, names, ELFSYM_MAX_NEEDED, NULL) == 0);
	close(fd);
}

/* Everything a refusal needs: the file, opened and looked up once. */
struct probe_run {
	struct elfsym_file f;
	int open_err, err;
	const char *why;
};

/* Opens fd with lim (NULL: defaults) and looks up readline and three
 * more names, as the agent's probe does in one pass. */
static void run_lookup(int fd, const struct elfsym_limits *lim, struct probe_run *r)
{
	struct elfsym_query q[4] = {
		{ .name = "readline", .type = STT_FUNC },
		{ .name = "rl_deprep_terminal", .type = STT_FUNC },
		{ .name = "rl_prep_terminal", .type = STT_FUNC },
		{ .name = "rl_line_buffer", .type = STT_OBJECT },
	};

	r->why = NULL;
	r->open_err = elfsym_open(&r->f, fd, lim, &r->why);
	r->err = r->open_err ? r->open_err : elfsym_lookup(&r->f, q, 4, &r->why);
}

static int hostile_fd(enum hostile_elf kind, unsigned int n)
{
	int fd = memfd_create("hostile", MFD_CLOEXEC);

	if (fd >= 0 && hostile_elf_write(fd, kind, n)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The bytes of the headers: what a refusal may read, and no more. */
static uint64_t header_bytes(unsigned int nsec)
{
	return sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + (uint64_t)nsec * sizeof(Elf64_Shdr);
}

static void test_elfsym_sparse_file_with_many_symbol_tables_is_refused_from_its_headers(void)
{
	struct probe_run r;
	int fd = hostile_fd(HOSTILE_MANY_SYMTABS, 128);

	/* 68 MB apparent, 12 KiB on disk: 128 tables over one 64 MiB hole
	 * made the old parser read 16 GiB. */
	UNIT_CHECK(fd >= 0);
	run_lookup(fd, NULL, &r);
	UNIT_CHECK(r.err == -EFBIG);
	UNIT_CHECK_STR(r.why, "ELF file has more than one .dynsym, .symtab or .dynamic");
	UNIT_CHECK(r.f.refused);
	UNIT_CHECK(r.f.id[0] != '\0');
	UNIT_CHECK(r.f.work.bytes == header_bytes(130));
	UNIT_CHECK(r.f.work.symbols == 0);
	/* A second question gets the same answer, and reads nothing more. */
	UNIT_CHECK(elfsym_check(&r.f, &r.why) == -EFBIG);
	UNIT_CHECK(r.f.work.bytes == header_bytes(130));
	elfsym_close(&r.f);
	close(fd);
}

static void test_elfsym_overlapping_sections_are_refused(void)
{
	struct probe_run r;
	int fd = hostile_fd(HOSTILE_OVERLAP, 0);

	UNIT_CHECK(fd >= 0);
	run_lookup(fd, NULL, &r);
	UNIT_CHECK(r.err == -ENOEXEC);
	UNIT_CHECK_STR(r.why, "ELF sections overlap");
	UNIT_CHECK(r.f.refused);
	UNIT_CHECK(r.f.work.bytes == header_bytes(3));
	elfsym_close(&r.f);
	close(fd);
}

static void test_elfsym_overlap_with_any_section_is_refused(void)
{
	unsigned char f[FIX_SIZE];
	struct probe_run r;
	int fd;

	/* .dynsym overlapping .dynstr, the fixture's tables otherwise sound. */
	fixture(f);
	shdr(f, 1)->sh_offset = FIX_DYNSTR + 8;
	fd = memfile(f, sizeof(f));
	run_lookup(fd, NULL, &r);
	UNIT_CHECK(r.err == -ENOEXEC);
	UNIT_CHECK_STR(r.why, "ELF sections overlap");
	elfsym_close(&r.f);
	close(fd);
}

static void test_elfsym_string_table_larger_than_the_file_is_refused(void)
{
	struct probe_run r;
	int fd = hostile_fd(HOSTILE_BIG_STRTAB, 0);

	UNIT_CHECK(fd >= 0);
	run_lookup(fd, NULL, &r);
	UNIT_CHECK(r.err == -ENOEXEC);
	UNIT_CHECK_STR(r.why, "ELF section lies outside the file");
	UNIT_CHECK(r.f.refused);
	UNIT_CHECK(r.f.work.bytes == header_bytes(3));
	elfsym_close(&r.f);
	close(fd);
}

static void test_elfsym_thousands_of_sections_are_refused_from_the_elf_header(void)
{
	struct probe_run r;
	int fd = hostile_fd(HOSTILE_MANY_SECTIONS, 3000);

	UNIT_CHECK(fd >= 0);
	run_lookup(fd, NULL, &r);
	UNIT_CHECK(r.err == -EFBIG);
	UNIT_CHECK_STR(r.why, "ELF file has too many sections");
	UNIT_CHECK(r.f.refused);
	UNIT_CHECK(r.f.work.bytes == sizeof(Elf64_Ehdr)); /* not even the section headers */
	UNIT_CHECK(r.f.id[0] != '\0');
	elfsym_close(&r.f);
	close(fd);
	/* At the bound they are read, and the file is sound. */
	fd = hostile_fd(HOSTILE_MANY_SECTIONS, ELFSYM_MAX_SECTIONS);
	run_lookup(fd, NULL, &r);
	UNIT_CHECK(r.err == -ENODATA);
	UNIT_CHECK(!r.f.refused);
	UNIT_CHECK(r.f.work.sections == ELFSYM_MAX_SECTIONS);
	elfsym_close(&r.f);
	close(fd);
}

static void test_elfsym_tables_over_the_bytes_bound_are_refused_before_reading(void)
{
	struct probe_run r;
	int fd = hostile_fd(HOSTILE_OVER_BUDGET, 0);

	UNIT_CHECK(fd >= 0);
	run_lookup(fd, NULL, &r);
	UNIT_CHECK(r.err == -EFBIG);
	UNIT_CHECK_STR(r.why, "ELF symbol tables larger than the bound");
	UNIT_CHECK(r.f.refused);
	UNIT_CHECK(r.f.work.bytes == header_bytes(3));
	elfsym_close(&r.f);
	close(fd);
}

static void test_elfsym_tables_within_the_bounds_are_read_once_for_every_name(void)
{
	struct probe_run r;
	int fd = hostile_fd(HOSTILE_SIZED, 8);
	uint64_t symsz = 7 * HOSTILE_MIB / sizeof(Elf64_Sym) * sizeof(Elf64_Sym);

	/* 7 MiB of symbols, 1 MiB of strings: four names, one pass. */
	UNIT_CHECK(fd >= 0);
	run_lookup(fd, NULL, &r);
	UNIT_CHECK(r.err == 0);
	UNIT_CHECK(!r.f.refused);
	UNIT_CHECK(r.f.work.bytes == header_bytes(3) + symsz + HOSTILE_MIB);
	UNIT_CHECK(r.f.work.symbols == symsz / sizeof(Elf64_Sym));
	UNIT_CHECK(r.f.work.bytes <= ELFSYM_MAX_READ);
	elfsym_close(&r.f);
	close(fd);
}

static void test_elfsym_symbols_over_the_bound_are_refused(void)
{
	struct elfsym_limits lim = elfsym_limits_default;
	struct probe_run r;
	int fd = hostile_fd(HOSTILE_SIZED, 8);

	lim.max_symbols = 1000;
	run_lookup(fd, &lim, &r);
	UNIT_CHECK(r.err == -EFBIG);
	UNIT_CHECK_STR(r.why, "ELF symbol tables hold more symbols than the bound");
	UNIT_CHECK(r.f.work.symbols == 0);
	elfsym_close(&r.f);
	close(fd);
}

static void test_elfsym_time_bound_stops_the_reading_without_refusing_the_headers(void)
{
	struct elfsym_limits lim = elfsym_limits_default;
	struct probe_run r;
	int fd = hostile_fd(HOSTILE_SIZED, 8);

	lim.max_ns = 1; /* over before the first table is read */
	run_lookup(fd, &lim, &r);
	UNIT_CHECK(r.open_err == 0);
	UNIT_CHECK(r.err == -ETIMEDOUT);
	UNIT_CHECK_STR(r.why, "reading the file took longer than the bound");
	UNIT_CHECK(!r.f.refused); /* the moment's, not the file's */
	UNIT_CHECK(r.f.work.bytes == header_bytes(3));
	UNIT_CHECK(r.f.work.symbols == 0);
	elfsym_close(&r.f);
	close(fd);
}

static void test_elfsym_more_than_one_dynsym_is_refused(void)
{
	unsigned char f[FIX_SIZE];
	struct probe_run r;
	int fd;

	/* A second .dynsym (the fixture's .dynamic retyped) */
	fixture(f);
	shdr(f, 3)->sh_type = SHT_DYNSYM;
	shdr(f, 3)->sh_entsize = sizeof(Elf64_Sym);
	fd = memfile(f, sizeof(f));
	run_lookup(fd, NULL, &r);
	UNIT_CHECK(r.err == -EFBIG);
	UNIT_CHECK(r.f.refused);
	elfsym_close(&r.f);
	close(fd);
}

static void test_elfsym_id_follows_the_headers_not_the_rest(void)
{
	unsigned char f[FIX_SIZE];
	struct elfsym_file a, b;
	char id[ELFSYM_ID_LEN];
	int fd;

	fixture(f);
	fd = memfile(f, sizeof(f));
	UNIT_CHECK(elfsym_open(&a, fd, NULL, NULL) == 0);
	snprintf(id, sizeof(id), "%s", a.id);
	elfsym_close(&a);
	close(fd);
	UNIT_CHECK(strlen(id) == strlen("2048-") + 64);
	UNIT_CHECK(strncmp(id, "2048-", 5) == 0);
	/* Another byte outside the headers: the same id (a copy, a touch). */
	f[FIX_SIZE - 1] ^= 0xff;
	fd = memfile(f, sizeof(f));
	UNIT_CHECK(elfsym_open(&b, fd, NULL, NULL) == 0);
	UNIT_CHECK_STR(b.id, id);
	elfsym_close(&b);
	close(fd);
	/* A section header changed: another id. */
	shdr(f, 2)->sh_size--;
	fd = memfile(f, sizeof(f));
	UNIT_CHECK(elfsym_open(&b, fd, NULL, NULL) == 0);
	UNIT_CHECK(strcmp(b.id, id) != 0);
	elfsym_close(&b);
	close(fd);
}

static void test_elfsym_real_executable_is_read_within_the_bounds(void)
{
	struct elfsym_query q = { .name = "main", .type = STT_FUNC };
	struct elfsym_file f;
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

	/* This test program: a real linker's output, with a .symtab. */
	UNIT_CHECK(fd >= 0);
	UNIT_CHECK(elfsym_open(&f, fd, NULL, NULL) == 0);
	UNIT_CHECK(elfsym_lookup(&f, &q, 1, NULL) == 0);
	UNIT_CHECK(q.err == 0 && q.sym.offset != 0);
	UNIT_CHECK(!f.refused);
	UNIT_CHECK(f.work.bytes > 0 && f.work.bytes <= ELFSYM_MAX_READ);
	elfsym_close(&f);
	close(fd);
}

UNIT_MAIN(UNIT_TEST(test_elfsym_finds_defined_function_and_file_offset),
	  UNIT_TEST(test_elfsym_finds_data_object_apart_from_functions),
	  UNIT_TEST(test_elfsym_undefined_symbol_is_enxio),
	  UNIT_TEST(test_elfsym_absent_symbol_is_enoent),
	  UNIT_TEST(test_elfsym_no_symbol_table_is_enodata),
	  UNIT_TEST(test_elfsym_not_elf_is_enoexec),
	  UNIT_TEST(test_elfsym_truncated_file_is_refused),
	  UNIT_TEST(test_elfsym_absurd_sizes_are_refused),
	  UNIT_TEST(test_elfsym_bad_links_and_names_are_refused),
	  UNIT_TEST(test_elfsym_address_outside_segments_is_refused),
	  UNIT_TEST(test_elfsym_sparse_10gb_file_is_quick_enoexec),
	  UNIT_TEST(test_elfsym_sparse_file_with_elf_header_is_refused),
	  UNIT_TEST(test_elfsym_not_a_regular_file), UNIT_TEST(test_elfsym_needed_lists_libraries),
	  UNIT_TEST(test_elfsym_sparse_file_with_many_symbol_tables_is_refused_from_its_headers),
	  UNIT_TEST(test_elfsym_overlapping_sections_are_refused),
	  UNIT_TEST(test_elfsym_overlap_with_any_section_is_refused),
	  UNIT_TEST(test_elfsym_string_table_larger_than_the_file_is_refused),
	  UNIT_TEST(test_elfsym_thousands_of_sections_are_refused_from_the_elf_header),
	  UNIT_TEST(test_elfsym_tables_over_the_bytes_bound_are_refused_before_reading),
	  UNIT_TEST(test_elfsym_tables_within_the_bounds_are_read_once_for_every_name),
	  UNIT_TEST(test_elfsym_symbols_over_the_bound_are_refused),
	  UNIT_TEST(test_elfsym_time_bound_stops_the_reading_without_refusing_the_headers),
	  UNIT_TEST(test_elfsym_more_than_one_dynsym_is_refused),
	  UNIT_TEST(test_elfsym_id_follows_the_headers_not_the_rest),
	  UNIT_TEST(test_elfsym_real_executable_is_read_within_the_bounds))
