# SPDX-License-Identifier: Apache-2.0
# shellaudit: one Makefile, no recursive make. `make V=1` shows the commands.
#
#   make            both binaries and the BPF object (build/)
#   make test       install what is missing, build, run every test
#   make run        local single-node cluster with shellaudit deployed on it
#   make down       stop it, leaving nothing behind
#   make images     the local node's container images (build/images/*.tar)
#   make bench      timings (never part of make test)
#   make mutants    deliberate breakages the tests must catch (tests/mutants.list;
#                   never part of make test)
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
BPFTOOL ?= bpftool
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

B := build
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

PKGS := libbpf libcurl libwebsockets libcjson yaml-0.1
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lelf -lz -lcrypto -lpcre2-8 -lm

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wno-format-nonliteral
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) -D_GNU_SOURCE -DSHELLAUDIT_VERSION='"$(VERSION)"' \
	-Ilib -I$(B)/bpf $(PKG_CFLAGS) -MMD -MP
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDLIBS = $(PKG_LIBS) -lpthread

LIB_SRC := $(wildcard lib/*.c)
CTRL_SRC := $(filter-out controller/main.c,$(wildcard controller/*.c))
AGENT_SRC := $(filter-out node-agent/main.c,$(wildcard node-agent/*.c))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
# C programs that integration test scripts run against the real API server.
INTEG_SRC := $(wildcard tests/integration/*.c)
# Helper programs of the BPF and integration tests (pty drivers and such).
TOOL_SRC := $(wildcard tests/tools/*.c)

BPF_SRC := $(wildcard bpf/*.bpf.c)
BPF_OBJ := $(patsubst bpf/%.bpf.c,$(B)/bpf/%.bpf.o,$(BPF_SRC))
BPF_SKEL := $(patsubst bpf/%.bpf.c,$(B)/bpf/%.skel.h,$(BPF_SRC))
VMLINUX := $(B)/bpf/vmlinux.h

# $(call variant,DIR,EXTRA_CFLAGS): objects, archives and programs of one variant.
define variant
$(1)/%.o: %.c $(BPF_SKEL)
	$$(call msg,CC,$$@)
	$$(Q)mkdir -p $$(@D)
	$$(Q)$$(CC) $$(ALL_CFLAGS) $$(TEST_INC) $(2) -c $$< -o $$@

# Tests include the headers of the programs they test by name.
$(1)/tests/%.o: TEST_INC := -Icontroller -Inode-agent

$(1)/libshellaudit.a: $(LIB_SRC:%.c=$(1)/%.o)
	$$(call msg,AR,$$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^

$(1)/libcontroller.a: $(CTRL_SRC:%.c=$(1)/%.o)
	$$(call msg,AR,$$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^

$(1)/libagent.a: $(AGENT_SRC:%.c=$(1)/%.o)
	$$(call msg,AR,$$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^

$(1)/shellaudit-controller: $(1)/controller/main.o $(1)/libcontroller.a $(1)/libshellaudit.a
	$$(call msg,LD,$$@)
	$$(Q)$$(CC) $(2) $$^ $$(LDLIBS) -o $$@

$(1)/shellaudit-agent: $(1)/node-agent/main.o $(1)/libagent.a $(1)/libshellaudit.a
	$$(call msg,LD,$$@)
	$$(Q)$$(CC) $(2) $$^ $$(LDLIBS) -o $$@

$(1)/tests/unit/%: $(1)/tests/unit/%.o $(1)/libagent.a $(1)/libcontroller.a $(1)/libshellaudit.a
	$$(call msg,LD,$$@)
	$$(Q)$$(CC) $(2) $$^ $$(LDLIBS) -o $$@

$(1)/tests/integration/%: $(1)/tests/integration/%.o $(1)/libagent.a $(1)/libcontroller.a $(1)/libshellaudit.a
	$$(call msg,LD,$$@)
	$$(Q)$$(CC) $(2) $$^ $$(LDLIBS) -o $$@

$(1)/tests/tools/%: $(1)/tests/tools/%.o $(1)/libshellaudit.a
	$$(call msg,LD,$$@)
	$$(Q)$$(CC) $(2) $$^ $$(LDLIBS) -o $$@

endef

$(eval $(call variant,$(B),))
$(eval $(call variant,$(B)/asan,$(SAN_FLAGS)))

# The objects that embed the version are made again when it changes (a
# commit, an edit that makes the tree dirty): one binary, one version.
VERSION_SRC := $(shell grep -l SHELLAUDIT_VERSION controller/*.c node-agent/*.c lib/*.c 2>/dev/null)
$(B)/version: FORCE
	$(Q)mkdir -p $(@D) && echo '$(VERSION)' | cmp -s - $@ || echo '$(VERSION)' >$@
$(VERSION_SRC:%.c=$(B)/%.o) $(VERSION_SRC:%.c=$(B)/asan/%.o): $(B)/version
.PHONY: FORCE

BINS := $(B)/shellaudit-controller $(B)/shellaudit-agent
ASAN_BINS := $(B)/asan/shellaudit-controller $(B)/asan/shellaudit-agent
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/asan/tests/unit/%,$(UNIT_SRC))
INTEG_BINS := $(patsubst tests/integration/%.c,$(B)/asan/tests/integration/%,$(INTEG_SRC))
TOOL_BINS := $(patsubst tests/tools/%.c,$(B)/tests/tools/%,$(TOOL_SRC))

.PHONY: all deps kube bash-readline test test-unit test-bpf test-integration test-e2e run down \
	images bench mutants clean fmt lint
.DEFAULT_GOAL := all
.SECONDARY:

all: $(BINS) $(TOOL_BINS)

$(VMLINUX):
	$(call msg,BTF,$@)
	$(Q)mkdir -p $(B)/bpf
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(B)/bpf/%.bpf.o: bpf/%.bpf.c $(VMLINUX) $(wildcard bpf/*.h)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
		-I$(B)/bpf -Ibpf $(PKG_CFLAGS) -c $< -o $@

$(B)/bpf/%.skel.h: $(B)/bpf/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

deps:
	$(Q)hack/install-deps.sh

kube: deps
	$(Q)hack/kube-build.sh --node >/dev/null

# A bash linking libreadline.so.8, which the BPF tests put in a container.
bash-readline: deps
	$(Q)hack/bash-readline.sh >/dev/null

# Prerequisites are made left to right: deps first, so that pkg-config and
# the compilers exist before anything is compiled.
test: deps kube bash-readline all $(ASAN_BINS) $(UNIT_BINS) $(INTEG_BINS)
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

bench: all kube
	$(Q)tests/bench/run.sh
	$(Q)tests/bench/publish.sh

# Runs in a scratch copy of the tree, which it builds itself.
mutants: deps kube bash-readline
	$(Q)tests/mutants.sh

fmt:
	$(Q)clang-format -i $(LIB_SRC) $(wildcard lib/*.h controller/*.[ch] node-agent/*.[ch] bpf/*.[ch] tests/*/*.[ch])

lint:
	$(Q)clang-tidy $(LIB_SRC) $(CTRL_SRC) $(AGENT_SRC) -- $(ALL_CFLAGS)
	$(Q)cppcheck --quiet --error-exitcode=1 -Ilib lib controller node-agent

clean:
	$(Q)rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
