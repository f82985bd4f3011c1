# swinetd: build, run and test from a fresh Debian machine with the Swift
# toolchain. `make run` and `make test` first install what is missing.

SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps build run test release bench clean

# libyaml (through pkg-config) for the build, nc for trying the services,
# prlimit (util-linux) for one of the tests.
deps:
	@missing=""; \
	pkg-config --exists yaml-0.1 2>/dev/null || missing="$$missing libyaml-dev pkg-config"; \
	command -v nc >/dev/null 2>&1 || missing="$$missing netcat-openbsd"; \
	command -v prlimit >/dev/null 2>&1 || missing="$$missing util-linux"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi

build: deps
	$(SWIFT) build

# Serves the example table in the foreground; try it with `nc 127.0.0.1 7007`.
run: build
	.build/debug/swinetd -f services.yaml

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# The Swift runtime linked in statically: a smaller idle master (RSS).
release: deps
	$(SWIFT) build -c release --static-swift-stdlib

bench: deps
	bench/run

clean:
	rm -rf .build
