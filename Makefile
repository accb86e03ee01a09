# dais: the two commands a newcomer needs are `make run` and `make test`.
# Every target installs what it needs first (scripts/install-deps.sh does
# nothing when everything is present).

CARGO        ?= cargo
PROFILE_FILE ?= hardware/virtual.toml
DATA_DIR     ?= var/run
HTTP_LISTEN  ?= 127.0.0.1:8080
HTTPS_LISTEN ?= 127.0.0.1:8443
CONTROL_LISTEN ?= 127.0.0.1:4710
CONTROL_PIN  ?= 2468

.PHONY: all deps build run test lint bench fuzz clean image-deps image image-test

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(CARGO) build --locked

## Start the appliance on the virtual hardware profile, state under var/.
run: build
	@mkdir -p $(DATA_DIR)
	./target/debug/dais run --profile $(PROFILE_FILE) --data-dir $(DATA_DIR) \
		--http-listen $(HTTP_LISTEN) --https-listen $(HTTPS_LISTEN) --control-listen $(CONTROL_LISTEN) --control-pin $(CONTROL_PIN)

## The whole suite: unit, property and integration tests, then the
## appliance image booted under qemu with the binary just built, driving
## virtual devices (images/README.md).
test: deps
	@scripts/install-schemathesis.sh
	$(CARGO) test --locked --workspace --all-targets
	$(CARGO) test --locked --workspace --doc
	$(MAKE) image-test DAIS_BIN=$(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/debug/dais

## Formatting and clippy with warnings as errors.
lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

## Benchmarks, optimised build; prints the figures.
bench: deps
	$(CARGO) bench --locked

## Fuzz the parsers for FUZZ_SECONDS (default 60) each.
fuzz: deps
	scripts/fuzz.sh

## The appliance image (images/README.md): Debian 12, the kernel, the
## GStreamer runtime, the dais binary built here (DAIS_BIN, default
## target/release/dais, else target/debug/dais), cached under var/image/.
## Needs root (debootstrap, chroot). Build dais first; this does not.
image-deps:
	@scripts/install-image-deps.sh

image: image-deps
	images/build.sh

## Boots the image under qemu (TCG) with virtual devices and checks dais on
## them; PASS/FAIL per check, fails on any FAIL or timeout (TIMEOUT=600 s).
image-test: image
	images/image-test.sh

clean:
	$(CARGO) clean
	rm -rf var
