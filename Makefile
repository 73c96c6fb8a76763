# EVA ICS v4 virtual controller as an FFI library, and the ABI harness.
#   make          release build: build/libeva-virtual-controller.so, build/abi-harness,
#                 build/libhello-service.so (the SDK example; `make examples`)
#   make run      build, then a demo on examples/virtual.yml
#   make test     every test; ends with one line "N passed, M failed"
#   make install EVA_DIR=/opt/eva4   installs what `make` built (no rebuild, no
#                 swift needed: `make` as yourself, then `sudo make install`)
#   make clean
# Swift 6 is not a Debian package: the toolchain comes from swift.org (the
# tarball for Debian/Ubuntu) or swiftly; see README.md, "Setup".

BUILD      ?= $(CURDIR)/build
EVA_DIR    ?= /opt/eva4
LIB        := $(BUILD)/libeva-virtual-controller.so
HARNESS    := $(BUILD)/abi-harness
REFERENCE  := $(BUILD)/reference/libeva-reference.so
SWIFT      ?= swift
# Debian packages the build and the tests need.
PACKAGES   := libmsgpack-dev libyaml-dev pkg-config valgrind
# What the tests against the real components (../shared/real) need: their
# run-time libraries, and the Python bus client for the node stand-ins.
TEST_PACKAGES := libmimalloc2.0 libssl3
PY_PACKAGES   := busrt msgpack

# How a Swift FFI service is linked to load on a node (static Swift runtime
# and libmsgpack, ABI-only exports): mk/eva-ffi-service.mk, shared by the
# controller and the example service.
EVA_FFI_STATIC_LIBS := $(BUILD)/static-libs
include mk/eva-ffi-service.mk
HELLO      := $(BUILD)/libhello-service.so

.PHONY: all deps test-deps run test install clean library harness reference examples swift-present FORCE

all: library harness reference examples

# Shell: installs the Debian packages named in $$missing (as root), or says
# what to run and fails; shared by deps and test-deps.
APT_INSTALL_MISSING = \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "missing packages; run: sudo apt-get install -y$$missing"; exit 1; \
		fi; \
	fi

deps:
	@missing=""; for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(APT_INSTALL_MISSING)

# `make test` also needs what the real-node tests use; pip runs only when
# an import fails (python3 may come from pyenv rather than Debian).
test-deps: deps
	@missing=""; for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1 || missing="$$missing python3 python3-pip"; \
	$(APT_INSTALL_MISSING)
	@python3 -c 'import busrt, msgpack' 2>/dev/null || \
		python3 -m pip install -q $(PY_PACKAGES) 2>/dev/null || \
		python3 -m pip install -q --break-system-packages $(PY_PACKAGES) || \
		{ echo "the real-node tests need the Python packages: pip install $(PY_PACKAGES)"; exit 1; }

library: $(LIB)

# Say what is missing before `swift build` fails with "command not found".
swift-present:
	@command -v $(SWIFT) >/dev/null 2>&1 || { \
		echo "error: '$(SWIFT)' is not on the PATH. The library needs the Swift 6 toolchain, which is"; \
		echo "not a Debian package: install it from https://www.swift.org/install/linux/ (the tarball"; \
		echo "for your Debian/Ubuntu release, or swiftly), put its usr/bin on the PATH, or pass SWIFT=/path/to/swift."; \
		exit 1; }

$(eval $(call eva_ffi_service,eva-virtual-controller,$(LIB)))
$(LIB): swift-present

# The example service (examples/hello-service), linked the same way.
examples: $(HELLO)
$(eval $(call eva_ffi_service,hello-service,$(HELLO)))
$(HELLO): swift-present

harness:
	$(MAKE) -C abi-harness BUILD=$(BUILD)

reference:
	$(MAKE) -C abi-harness/reference BUILD=$(BUILD)

run: deps all
	$(HARNESS) run $(LIB) --config examples/virtual.yml --script examples/demo.yml

test: test-deps all
	BUILD=$(BUILD) SWIFT=$(SWIFT) bash tests/run-all.sh

# The benchmark suite against the C reference service: one table (tests/bench-suite.sh);
# then the figures through a real busrtd when ../shared/real is there (tests/bench-bus.sh),
# and the first var.* call after ready under the real launcher (target: 5 ms).
.PHONY: bench
bench: deps all
	BUILD=$(BUILD) bash tests/bench-suite.sh
	BUILD=$(BUILD) bash tests/bench-bus.sh
	BUILD=$(BUILD) RUNS=9 TARGET_MS=5 python3 tests/realnode/test_first_call.py

# Hardening. `make fuzz SECONDS=N`: each libFuzzer target (fuzz/) N seconds,
# two at a time. `make sanitize`: the ASan/UBSan harness, the library under
# ASan and TSan, every Swift test under TSan, valgrind memcheck.
SECONDS ?= 60
.PHONY: fuzz sanitize
fuzz: deps
	BUILD=$(BUILD) SWIFT=$(SWIFT) bash fuzz/run.sh --seconds $(SECONDS)

sanitize: deps all
	BUILD=$(BUILD) SWIFT=$(SWIFT) bash tests/sanitize.sh

# Installs what `make` built, without building: root's PATH often has no swift.
install:
	@[ -f $(LIB) ] || { echo "error: $(LIB) is not built: run make (as yourself) first, then make install"; exit 1; }
	install -d $(EVA_DIR)/svc
	install -m 0644 $(LIB) $(EVA_DIR)/svc/libeva-virtual-controller.so
	sed 's|@LIBRARY@|$(EVA_DIR)/svc/libeva-virtual-controller.so|' examples/service-template.yml \
		> $(EVA_DIR)/svc/eva-virtual-controller.yml
	@echo "installed; create the service with:"
	@echo "  eva svc create eva.controller.vswift $(EVA_DIR)/svc/eva-virtual-controller.yml"

clean:
	rm -rf $(BUILD)
	if command -v $(SWIFT) >/dev/null 2>&1; then $(SWIFT) package clean; fi

FORCE:
