// SPDX-License-Identifier: Apache-2.0
/* mkelf KIND N FILE: writes a crafted (hostile) ELF file for the BPF tests,
 * the bench and the fuzz seeds (see hostile-elf.h). KIND: many-symtabs,
 * overlap, big-strtab, many-sections, over-budget, sized. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostile-elf.h"

int main(int argc, char **argv)
{
	static const char *const kinds[] = { "many-symtabs",  "overlap",     "big-strtab",
					     "many-sections", "over-budget", "sized" };
	unsigned int k;
	int fd, err;

	if (argc != 4) {
		fprintf(stderr, "usage: mkelf KIND N FILE\n");
		return 2;
	}
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]) && strcmp(kinds[k], argv[1]); k++)
		;
	if (k == sizeof(kinds) / sizeof(kinds[0])) {
		fprintf(stderr, "mkelf: unknown kind '%s'\n", argv[1]);
		return 2;
	}
	fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (fd < 0) {
		perror(argv[3]);
		return 1;
	}
	err = hostile_elf_write(fd, (enum hostile_elf)k, (unsigned int)strtoul(argv[2], NULL, 10));
	if (close(fd) || err) {
		fprintf(stderr, "mkelf: %s: %s\n", argv[3], strerror(err ? -err : errno));
		return 1;
	}
	return 0;
}
