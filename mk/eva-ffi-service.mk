# Linking an EVA ICS FFI service written in Swift so that it loads on a node.
#
# A node has no Swift toolchain and maybe no libmsgpack, and the launcher
# dlopens the library into its own process. So the library gets:
#   - the Swift runtime linked in statically (-static-stdlib);
#   - libmsgpack linked in statically: pkg-config hands the linker
#     -lmsgpackc, and a folder holding only libmsgpackc.a, searched first,
#     makes that resolve to the archive (GNU ld and lld apply every -L to
#     every -l);
#   - lld, because gold leaves local Swift symbols in .dynsym;
#   - the version script exports.map (beside this file): only the eight ABI
#     functions are exported, so the static runtime cannot clash with the host;
#   - --gc-sections, then strip --strip-unneeded.
# `ldd` on the result shows only libc, libm, libstdc++, libgcc_s.
#
# Use (from any Makefile; SwiftPM product PRODUCT must be a .dynamic library):
#   include path/to/mk/eva-ffi-service.mk
#   $(eval $(call eva_ffi_service,PRODUCT,OUTPUT.so))              # package in the current folder
#   $(eval $(call eva_ffi_service,PRODUCT,OUTPUT.so,PACKAGE_DIR))  # or another one
# then `make OUTPUT.so`. Variables (set before the include to change them):
#   SWIFT (swift), EVA_FFI_STATIC_LIBS (where the libmsgpackc.a link goes),
#   EVA_FFI_EXPORTS_MAP (the version script), EVA_FFI_SWIFT_FLAGS (extra flags).

# Including this file leaves the includer's default goal alone.
EVA_FFI_SAVED_GOAL := $(.DEFAULT_GOAL)
EVA_FFI_MK_DIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
SWIFT ?= swift
EVA_FFI_STATIC_LIBS ?= $(CURDIR)/build/static-libs
EVA_FFI_EXPORTS_MAP ?= $(EVA_FFI_MK_DIR)/exports.map
EVA_FFI_SWIFT_FLAGS ?=

# swift build arguments for PRODUCT, package dir PACKAGE_DIR (may be empty)
eva_ffi_swift_args = $(if $(2),--package-path $(2)) -c release --product $(1) \
	-Xswiftc -static-stdlib -Xswiftc -use-ld=lld \
	-Xlinker -L$(EVA_FFI_STATIC_LIBS) \
	-Xlinker --version-script=$(EVA_FFI_EXPORTS_MAP) \
	-Xlinker --gc-sections $(EVA_FFI_SWIFT_FLAGS)

# $(call eva_ffi_service,PRODUCT,OUTPUT[,PACKAGE_DIR]): a rule for OUTPUT.
# Always rebuilt (SwiftPM decides what is stale).
define eva_ffi_service
$(2): eva-ffi-force | $(EVA_FFI_STATIC_LIBS)/libmsgpackc.a
	$$(SWIFT) build $$(call eva_ffi_swift_args,$(1),$(3))
	@mkdir -p $$(dir $(2))
	strip --strip-unneeded -o $(2) "$$$$($$(SWIFT) build $$(call eva_ffi_swift_args,$(1),$(3)) --show-bin-path)/lib$(1).so"
endef

$(EVA_FFI_STATIC_LIBS)/libmsgpackc.a:
	@mkdir -p $(EVA_FFI_STATIC_LIBS)
	@archive=$$($(CC) -print-file-name=libmsgpackc.a); \
	if [ ! -f "$$archive" ]; then echo "libmsgpackc.a not found (apt-get install libmsgpack-dev)"; exit 1; fi; \
	ln -sf "$$archive" $@

.PHONY: eva-ffi-force
eva-ffi-force:

.DEFAULT_GOAL := $(EVA_FFI_SAVED_GOAL)
