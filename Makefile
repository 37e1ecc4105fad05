# SPDX-License-Identifier: Apache-2.0
# shellaudit: one Makefile, no recursive make. `make V=1` shows the commands.
#
#   make            the binaries, the kubectl plugin and the BPF object (build/)
#   make install    them into $(DESTDIR)$(bindir) [$(prefix)/bin, prefix /usr/local]
#   make test       install what is missing, build, run every test
#   make run        local single-node cluster with shellaudit deployed on it
#   make down       stop it, leaving nothing behind
#   make images     the local node's container images (build/images/*.tar)
#   make bench      timings (never part of make test)
#   make mutants    deliberate breakages the tests must catch (tests/mutants.list;
#                   never part of make test)
#   make fuzz       the libFuzzer targets, FUZZ_SECONDS (60) each (built by
#                   make test, run only here)
#   make lint       clang-tidy (.clang-tidy), cppcheck, shellcheck, line length, SPDX
#                   lines, check-fmt: all of them, failing on any finding (hack/lint.sh)
#   make check-fmt  clang-format on the lines changed since FMT_BASE [merge-base with main]
#   make clean
#
# Two variants of every C object: build/ (what ships) and build/asan/
# (AddressSanitizer + UndefinedBehaviorSanitizer), which the unit and
# integration tests run.

V ?= 0
Q := $(if $(filter 1,$(V)),,@)
msg = $(if $(filter 1,$(V)),,@printf '  %-8s %s\n' '$(1)' '$(2)';)

CC ?= gcc
CLANG ?= clang
LLVM_STRIP ?= llvm-strip
BPFTOOL ?= bpftool
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

B := build
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

PKGS := libbpf libcurl libwebsockets libcjson yaml-0.1 openssl
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(filter-out libcurl,$(PKGS)) 2>/dev/null) -lelf -lz -lssl \
	-lcrypto -lm
# libcurl: a static one with HTTP and HTTPS only, built from Debian's source
# (hack/libcurl.sh says why), or -lcurl where that cannot be built. Read when
# a program is linked, after $(B)/curl.libs is made.
CURL_LIBS = $(shell cat $(B)/curl.libs 2>/dev/null)
# A program's prerequisites, as the linker takes them (curl.libs is read
# through LDLIBS).
LINK_IN = $(filter-out %/curl.libs,$^)

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wno-format-nonliteral
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) -D_GNU_SOURCE -DSHELLAUDIT_VERSION='"$(VERSION)"' \
	-Ilib -I$(B)/bpf $(PKG_CFLAGS) -MMD -MP
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDLIBS = $(CURL_LIBS) $(PKG_LIBS) -lpthread -latomic

LIB_SRC := $(wildcard lib/*.c)
CTRL_SRC := $(filter-out controller/main.c,$(wildcard controller/*.c))
AGENT_SRC := $(filter-out node-agent/main.c,$(wildcard node-agent/*.c))
# kubectl-shellaudit; it links verify.c (and what it needs) from libagent.a.
PLUGIN_SRC := $(filter-out kubectl-plugin/main.c,$(wildcard kubectl-plugin/*.c))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
# C programs that integration test scripts run against the real API server.
INTEG_SRC := $(wildcard tests/integration/*.c)
# Helper programs of the BPF and integration tests (pty drivers and such).
TOOL_SRC := $(wildcard tests/tools/*.c)

BPF_SRC := $(wildcard bpf/*.bpf.c)
BPF_OBJ := $(patsubst bpf/%.bpf.c,$(B)/bpf/%.bpf.o,$(BPF_SRC))
BPF_SKEL := $(patsubst bpf/%.bpf.c,$(B)/bpf/%.skel.h,$(BPF_SRC))
VMLINUX := $(B)/bpf/vmlinux.h
# Only the sources that include a skeleton wait for it (capture.c today).
SKEL_USERS := $(shell grep -l '\.skel\.h"' $(AGENT_SRC) $(wildcard tests/*/*.c) 2>/dev/null)

# $(call variant,DIR,EXTRA_CFLAGS): objects, archives and programs of one variant.
define variant
$(1)/%.o: %.c
	$$(call msg,CC,$$@)
	$$(Q)mkdir -p $$(@D)
	$$(Q)$$(CC) $$(ALL_CFLAGS) $$(TEST_INC) $(2) -c $$< -o $$@

$(SKEL_USERS:%.c=$(1)/%.o): $(BPF_SKEL)

# Tests include the headers of the programs they test by name; the plugin
# those of the agent's verify module.
$(1)/tests/%.o: TEST_INC := -Icontroller -Inode-agent -Ikubectl-plugin
$(1)/kubectl-plugin/%.o: TEST_INC := -Inode-agent

$(1)/libshellaudit.a: $(LIB_SRC:%.c=$(1)/%.o)
	$$(call msg,AR,$$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^

$(1)/libcontroller.a: $(CTRL_SRC:%.c=$(1)/%.o)
	$$(call msg,AR,$$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^

$(1)/libplugin.a: $(PLUGIN_SRC:%.c=$(1)/%.o)
	$$(call msg,AR,$$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^

$(1)/libagent.a: $(AGENT_SRC:%.c=$(1)/%.o)
	$$(call msg,AR,$$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^

$(1)/shellaudit-controller: $(1)/controller/main.o $(1)/libcontroller.a $(1)/libshellaudit.a \
		$(B)/curl.libs
	$$(call msg,LD,$$@)
	$$(Q)$$(CC) $(2) $$(LINK_IN) $$(LDLIBS) -o $$@

$(1)/shellaudit-agent: $(1)/node-agent/main.o $(1)/libagent.a $(1)/libshellaudit.a \
		$(B)/curl.libs
	$$(call msg,LD,$$@)
	$$(Q)$$(CC) $(2) $$(LINK_IN) $$(LDLIBS) -o $$@

# --as-needed: the plugin loads none of libbpf's or libwebsockets' code it
# does not call.
$(1)/kubectl-shellaudit: $(1)/kubectl-plugin/main.o $(1)/libplugin.a $(1)/libagent.a \
		$(1)/libshellaudit.a $(B)/curl.libs
	$$(call msg,LD,$$@)
	$$(Q)$$(CC) $(2) -Wl,--as-needed $$(LINK_IN) $$(LDLIBS) -o $$@

$(1)/tests/unit/%: $(1)/tests/unit/%.o $(1)/libplugin.a $(1)/libagent.a $(1)/libcontroller.a \
		$(1)/libshellaudit.a $(B)/curl.libs
	$$(call msg,LD,$$@)
	$$(Q)$$(CC) $(2) $$(LINK_IN) $$(LDLIBS) -o $$@

$(1)/tests/integration/%: $(1)/tests/integration/%.o $(1)/libagent.a $(1)/libcontroller.a \
		$(1)/libshellaudit.a $(B)/curl.libs
	$$(call msg,LD,$$@)
	$$(Q)$$(CC) $(2) $$(LINK_IN) $$(LDLIBS) -o $$@

$(1)/tests/tools/%: $(1)/tests/tools/%.o $(1)/libagent.a $(1)/libshellaudit.a $(B)/curl.libs
	$$(call msg,LD,$$@)
	$$(Q)$$(CC) $(2) $$(LINK_IN) $$(LDLIBS) -o $$@

endef

$(eval $(call variant,$(B),))
$(eval $(call variant,$(B)/asan,$(SAN_FLAGS)))

# The objects that embed the version are made again when it changes (a
# commit, an edit that makes the tree dirty): one binary, one version.
VERSION_SRC := $(shell grep -l SHELLAUDIT_VERSION controller/*.c node-agent/*.c kubectl-plugin/*.c lib/*.c 2>/dev/null)
$(B)/curl.libs: FORCE
	$(Q)mkdir -p $(@D) && hack/libcurl.sh >$@.tmp && \
		{ cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@; }
$(B)/version: FORCE
	$(Q)mkdir -p $(@D) && echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' >$@
$(VERSION_SRC:%.c=$(B)/%.o) $(VERSION_SRC:%.c=$(B)/asan/%.o): $(B)/version
.PHONY: FORCE

BINS := $(B)/shellaudit-controller $(B)/shellaudit-agent $(B)/kubectl-shellaudit
ASAN_BINS := $(B)/asan/shellaudit-controller $(B)/asan/shellaudit-agent $(B)/asan/kubectl-shellaudit
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/asan/tests/unit/%,$(UNIT_SRC))
INTEG_BINS := $(patsubst tests/integration/%.c,$(B)/asan/tests/integration/%,$(INTEG_SRC))
TOOL_BINS := $(patsubst tests/tools/%.c,$(B)/tests/tools/%,$(TOOL_SRC)) $(B)/tests/tools/rlmini-pad

# libFuzzer targets (clang): each links the modules that read the hostile
# input it is about, built with the fuzzer's instrumentation.
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))
FUZZ_MODULES := lib/re.c lib/escape.c node-agent/redact.c node-agent/elfsym.c \
	node-agent/realfile.c node-agent/rootfs.c lib/digest.c lib/clock.c lib/jsontext.c \
	controller/admission.c controller/auditlog.c lib/timefmt.c
FUZZ_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
FUZZ_SECONDS ?= 60

$(B)/fuzz/%.o: %.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(ALL_CFLAGS) -Inode-agent -Icontroller $(FUZZ_FLAGS) -c $< -o $@

$(B)/fuzz/fuzz_%: $(B)/fuzz/tests/fuzz/fuzz_%.o $(FUZZ_MODULES:%.c=$(B)/fuzz/%.o)
	$(call msg,LD,$@)
	$(Q)$(CLANG) -fsanitize=fuzzer,address,undefined $^ -lcjson -lcrypto -o $@

.PHONY: all deps kube bash-readline test test-unit test-bpf test-integration test-e2e run down \
	images bench fuzz mutants clean fmt lint check-fmt install
.DEFAULT_GOAL := all
.SECONDARY:
# A recipe that fails leaves no half-written target behind.
.DELETE_ON_ERROR:

prefix ?= /usr/local
bindir ?= $(prefix)/bin

all: $(BINS) $(TOOL_BINS)

# Static, with no library: the BPF tests and the bench copy them into a
# container's root.
$(B)/tests/tools/read32 $(B)/tests/tools/sysloop $(B)/tests/tools/splicein $(B)/tests/tools/rlmini \
		$(B)/tests/tools/ttyswap $(B)/tests/tools/uringread $(B)/tests/tools/uringloop \
		$(B)/tests/tools/aioread $(B)/tests/tools/ptyflood: $(B)/tests/tools/%: tests/tools/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -std=gnu11 $(WARN) -O2 -static $< -o $@
$(B)/tests/tools/uringread $(B)/tests/tools/uringloop: tests/tools/uring.h

# A 32-bit program (see cat32.c): no C library, so none for i386 is needed.
ifeq ($(ARCH),x86)
CAT32_FLAGS := -m32 -nostdlib -ffreestanding -fno-pie -no-pie -fno-stack-protector \
	-fcf-protection=none
endif
$(B)/tests/tools/cat32: tests/tools/cat32.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -std=gnu11 $(WARN) -O2 -static $(CAT32_FLAGS) $< -o $@

# rlmini with its readline elsewhere in the file (see rlmini.c).
$(B)/tests/tools/rlmini-pad: tests/tools/rlmini.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -std=gnu11 $(WARN) -O2 -static -DRLMINI_PAD $< -o $@

$(VMLINUX):
	$(call msg,BTF,$@)
	$(Q)mkdir -p $(B)/bpf
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(B)/bpf/%.bpf.o: bpf/%.bpf.c $(VMLINUX) $(wildcard bpf/*.h)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
		-I$(B)/bpf -Ibpf $(PKG_CFLAGS) -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@ # DWARF out, BTF (which CO-RE needs) kept

# sa-ns runs inside the BPF tests' container roots, which hold no library
# it could link: static, and alone.
$(B)/tests/tools/sa-ns: tests/tools/sa-ns.c
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -std=gnu11 $(WARN) $(CFLAGS) -D_GNU_SOURCE -static $< -o $@

$(B)/bpf/%.skel.h: $(B)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q){ echo '// NOLINTBEGIN(clang-analyzer-unix.Malloc): bpftool'"'"'s code, whose error' \
		'path frees with libbpf, which the analyzer does not see' && \
		$(BPFTOOL) gen skeleton $< && echo '// NOLINTEND(clang-analyzer-unix.Malloc)'; } > $@.tmp
	$(Q)mv $@.tmp $@

deps:
	$(Q)hack/install-deps.sh

kube: deps
	$(Q)hack/kube-build.sh --node >/dev/null

# A bash linking libreadline.so.8, which the BPF tests put in a container.
bash-readline: deps
	$(Q)hack/bash-readline.sh >/dev/null

# Prerequisites are made left to right: deps first, so that pkg-config and
# the compilers exist before anything is compiled.
test: deps kube bash-readline all $(ASAN_BINS) $(UNIT_BINS) $(INTEG_BINS) $(FUZZ_BINS)
	$(Q)tests/run.sh

test-unit: $(UNIT_BINS)
	$(Q)tests/run.sh unit

test-bpf: bash-readline all
	$(Q)tests/run.sh bpf

test-integration: all $(ASAN_BINS) $(INTEG_BINS)
	$(Q)tests/run.sh integration

test-e2e: all
	$(Q)tests/run.sh e2e

run: deps kube all
	$(Q)hack/run.sh

down:
	$(Q)hack/run.sh down

images: all
	$(Q)hack/images.sh build

fuzz: all $(FUZZ_BINS)
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh

bench: all kube
	$(Q)tests/bench/run.sh
	$(Q)tests/bench/publish.sh
	$(Q)tests/bench/elf.sh
	$(Q)tests/bench/attribution.sh
	$(Q)tests/bench/controller.sh
	$(Q)tests/bench/budget.sh
	$(Q)tests/bench/verifier.sh

# Runs in a scratch copy of the tree, which it builds itself.
mutants: deps kube bash-readline
	$(Q)tests/mutants.sh

# The daemons and the kubectl plugin (kubectl finds kubectl-shellaudit on PATH).
install: $(BINS)
	$(call msg,INSTALL,$(DESTDIR)$(bindir))
	$(Q)install -d $(DESTDIR)$(bindir)
	$(Q)install -m 0755 $(BINS) $(DESTDIR)$(bindir)/

C_FILES = $(LIB_SRC) $(wildcard lib/*.h controller/*.[ch] node-agent/*.[ch] kubectl-plugin/*.[ch] \
	bpf/*.[ch] tests/*/*.[ch])
fmt:
	$(Q)clang-format -i $(C_FILES)

# What make lint checks; narrow them to check part of the tree, e.g.
# make lint LINT_C='$$(wildcard kubectl-plugin/*.c)' LINT_SH=
# The test programs too (tests/.clang-tidy says what differs for them).
LINT_C ?= $(LIB_SRC) $(CTRL_SRC) controller/main.c $(AGENT_SRC) node-agent/main.c $(PLUGIN_SRC) \
	kubectl-plugin/main.c $(UNIT_SRC) $(INTEG_SRC) $(TOOL_SRC) $(FUZZ_SRC) tests/bench/elfbench.c \
	tests/bench/bpfload.c
LINT_SH ?= $(wildcard hack/*.sh tests/*.sh tests/*/*.sh) .ci/run
# (hack/lint.sh adds -DSHELLAUDIT_VERSION, whose quotes would not survive the trip.)
LINT_CFLAGS = -std=gnu11 -D_GNU_SOURCE -Ilib -Icontroller \
	-Inode-agent -Ikubectl-plugin -I$(B)/bpf $(PKG_CFLAGS)
# (A variable: the commas would split the $(if) below.)
CPPCHECK_FLAGS = --quiet --error-exitcode=1 --inline-suppr --std=c11 \
	--enable=warning,portability,performance --suppress=missingIncludeSystem \
	--include=/usr/include/bpf/libbpf_common.h -D_GNU_SOURCE -Ilib -Icontroller -Inode-agent \
	-Ikubectl-plugin
lint: $(BPF_SKEL)
	$(Q)LINT_C='$(strip $(LINT_C))' LINT_SH='$(strip $(LINT_SH))' LINT_CFLAGS='$(LINT_CFLAGS)' \
		CPPCHECK_FLAGS='$(CPPCHECK_FLAGS)' FMT_BASE='$(FMT_BASE)' hack/lint.sh

# clang-format on changed lines only (git clang-format): the existing code
# is not reformatted wholesale, new and changed lines are held to it.
FMT_BASE ?= $(shell git merge-base HEAD main 2>/dev/null || echo HEAD)
check-fmt:
	$(call msg,FMT,changes since $(FMT_BASE))
	$(Q)hack/check-fmt.sh $(FMT_BASE)

clean:
	$(Q)rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
