# swinetd: build, run and test from a fresh Debian machine with the Swift
# toolchain. `make run` and `make test` first install what is missing.

SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FUZZ_SECONDS ?= 600

.PHONY: deps build run test test-sanitize test-thread-sanitize fuzz release bench clean

# libyaml (through pkg-config) for the build, nc for trying the services;
# for the tests: util-linux (prlimit, setpriv, unshare, nsenter), procps
# (sysctl) and iproute2 (ip) for a network namespace without IPv6; curl and
# Python's prometheus_client to scrape and parse /metrics as Prometheus would;
# netbase's /etc/services, which swinetd import looks service names up in.
deps:
	@missing=""; \
	pkg-config --exists yaml-0.1 2>/dev/null || missing="$$missing libyaml-dev pkg-config"; \
	command -v nc >/dev/null 2>&1 || missing="$$missing netcat-openbsd"; \
	command -v prlimit >/dev/null 2>&1 && command -v unshare >/dev/null 2>&1 || missing="$$missing util-linux"; \
	[ -x /usr/sbin/sysctl ] || [ -x /sbin/sysctl ] || missing="$$missing procps"; \
	[ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || [ -x /usr/bin/ip ] || missing="$$missing iproute2"; \
	command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	[ -f /etc/services ] || missing="$$missing netbase"; \
	/usr/bin/python3 -c 'import prometheus_client' >/dev/null 2>&1 || missing="$$missing python3-prometheus-client"; \
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

# The whole suite, swinetd included, under AddressSanitizer or
# ThreadSanitizer, each in a build folder of its own.
test-sanitize: deps
	$(SWIFT) test --sanitize=address --scratch-path .build-asan

test-thread-sanitize: deps
	$(SWIFT) test --sanitize=thread --scratch-path .build-tsan

# libFuzzer on the table loader for FUZZ_SECONDS, seeded with the example
# and the test tables; each input gets at most 10 s and 2 GiB.
fuzz: deps
	$(SWIFT) build --scratch-path .build-fuzz --product TableFuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
	mkdir -p .build-fuzz/corpus .build-fuzz/artifacts
	cp services.yaml Tests/SwinetdCoreTests/Fixtures/*.yaml Tests/IntegrationTests/Fixtures/import/*.conf .build-fuzz/corpus/
	.build-fuzz/debug/TableFuzzer -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 -artifact_prefix=.build-fuzz/artifacts/ .build-fuzz/corpus

# The Swift runtime linked in statically: a smaller idle master (RSS).
release: deps
	$(SWIFT) build -c release --static-swift-stdlib

bench: deps
	bench/run

clean:
	rm -rf .build .build-asan .build-tsan .build-fuzz
