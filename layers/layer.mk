# Included by every layer's Makefile (BuildMethod: makefile; `sam build` runs build-<LogicalId>
# with ARTIFACTS_DIR set): installs pinned wheels for the Lambda runtime - CPython 3.13 on
# Amazon Linux 2023 (glibc 2.34), manylinux_2_28 or older - of the architecture LAMBDA_ARCH
# (x86_64 or arm64; `make build ARCH=arm64` sets it), whatever interpreter runs the build,
# then drops what never runs in a function (test suites, sources, stubs, caches, sample data).
LAMBDA_ARCH ?= x86_64
LAMBDA_PYTHON := 3.13
MACHINE_x86_64 := x86_64
MACHINE_arm64 := aarch64
MACHINE := $(or $(MACHINE_$(LAMBDA_ARCH)),$(error LAMBDA_ARCH must be x86_64 or arm64, not $(LAMBDA_ARCH)))
TARGET = $(ARTIFACTS_DIR)/python

# $(1): requirements file; $(2): extra pip options (--no-deps where the file lists the whole layer)
define pip_layer
	python3 -m pip install --only-binary=:all: --implementation cp --python-version $(LAMBDA_PYTHON) \
		--platform manylinux_2_28_$(MACHINE) --platform manylinux2014_$(MACHINE) \
		--quiet --disable-pip-version-check --target "$(TARGET)" $(2) -r "$(1)"
	# numpy.testing imports numpy/_core/tests/_natype.py: that one test folder stays
	find "$(TARGET)" -type d \( -name tests -o -name __pycache__ -o -name sample_data \) \
		-not -path '*/numpy/_core/tests' -prune -exec rm -rf {} +
	find "$(TARGET)" -type f \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pyi' -o -name '*.c' -o -name '*.cpp' \
		-o -name '*.h' -o -name '*.hpp' \) -delete
	rm -rf "$(TARGET)/bin"
endef
