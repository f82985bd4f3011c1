# swinetd: build, run and test from a fresh Debian machine with the Swift
# toolchain. `make run` and `make test` first install what is missing.

SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FUZZ_SECONDS ?= 600

.PHONY: deps build run test test-sanitize test-thread-sanitize fuzz release bench clean install uninstall deb

# Where `make install` puts things: PREFIX for the program, DESTDIR for a
# staging root (packaging). The table lives in /etc/swinetd whatever the
# PREFIX: it is the path swinetd reads by default. BINARY is what gets
# installed (the stripped release build unless told otherwise).
PREFIX ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc
BINARY ?= .build/release/swinetd
BINDIR = $(PREFIX)/sbin
MANDIR = $(PREFIX)/share/man
UNITDIR = $(PREFIX)/lib/systemd/system
VERSION := $(shell sed -n 's/.*current = "\(.*\)".*/\1/p' Sources/SwinetdCore/Version.swift)
ARCH := $(shell dpkg --print-architecture 2>/dev/null || uname -m)
DEBDIR ?= .build/deb
# ldconfig and dpkg's helpers live in the sbin folders, which a user's PATH may lack.
export PATH := $(PATH):/usr/sbin:/sbin
DEB = $(DEBDIR)/swinetd_$(VERSION)_$(ARCH).deb

# libyaml and libseccomp (through pkg-config) for the build, nc for trying the services;
# for the tests: util-linux (prlimit, setpriv, unshare, nsenter), procps
# (sysctl) and iproute2 (ip) for a network namespace without IPv6; curl and
# Python's prometheus_client to scrape and parse /metrics as Prometheus would;
# netbase's /etc/services, which swinetd import looks service names up in;
# haproxy, a real PROXY protocol sender in front of swinetd.
deps:
	@missing=""; \
	pkg-config --exists yaml-0.1 2>/dev/null || missing="$$missing libyaml-dev pkg-config"; \
	pkg-config --exists libseccomp 2>/dev/null || missing="$$missing libseccomp-dev"; \
	command -v nc >/dev/null 2>&1 || missing="$$missing netcat-openbsd"; \
	command -v prlimit >/dev/null 2>&1 && command -v unshare >/dev/null 2>&1 || missing="$$missing util-linux"; \
	[ -x /usr/sbin/sysctl ] || [ -x /sbin/sysctl ] || missing="$$missing procps"; \
	[ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || [ -x /usr/bin/ip ] || missing="$$missing iproute2"; \
	command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	[ -x /usr/sbin/haproxy ] || missing="$$missing haproxy"; \
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
# ThreadSanitizer, each in a build folder of its own. LeakSanitizer skips
# the test runners' own allocations (Tests/lsan.supp), so a report is
# swinetd's; the swinetd processes the tests start inherit the options.
# Under a sanitizer every swinetd and handler runs several times slower, so
# fewer tests run at once (SANITIZE_WIDTH): with swift-testing's default of
# all of them, the integration tests' time limits ran out on 2 cores.
SANITIZE_WIDTH ?= 4
test-sanitize: deps
	LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan.supp:print_suppressions=0 \
		$(SWIFT) test --sanitize=address --scratch-path .build-asan \
		--experimental-maximum-parallelization-width $(SANITIZE_WIDTH)

test-thread-sanitize: deps
	$(SWIFT) test --sanitize=thread --scratch-path .build-tsan \
		--experimental-maximum-parallelization-width $(SANITIZE_WIDTH)

# libFuzzer on the table loader for FUZZ_SECONDS, seeded with the example
# and the test tables; each input gets at most 10 s and 2 GiB.
fuzz: deps
	$(SWIFT) build --scratch-path .build-fuzz --product TableFuzzer -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
	mkdir -p .build-fuzz/corpus .build-fuzz/artifacts
	cp services.yaml Tests/SwinetdCoreTests/Fixtures/*.yaml Tests/IntegrationTests/Fixtures/import/*.conf Tests/SwinetdCoreTests/Fixtures/proxy/* .build-fuzz/corpus/
	.build-fuzz/debug/TableFuzzer -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 -artifact_prefix=.build-fuzz/artifacts/ .build-fuzz/corpus

# The Swift runtime linked in statically: a smaller idle master (RSS).
release: deps
	$(SWIFT) build -c release --static-swift-stdlib

bench: deps
	bench/run

# The release binary is built when it is what gets installed and is not
# there yet (`make release` builds it anew).
.build/release/swinetd: | deps
	$(SWIFT) build -c release --static-swift-stdlib

# The binary (stripped), both man pages, the systemd units (naming this
# PREFIX's binary), shell completions from swift-argument-parser, and the
# example table only where none exists: an edited table is never replaced.
install: $(BINARY)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d $(DESTDIR)$(SYSCONFDIR)/swinetd/services.d
	install -m 755 -s $(BINARY) $(DESTDIR)$(BINDIR)/swinetd
	install -m 644 man/swinetd.8 $(DESTDIR)$(MANDIR)/man8/swinetd.8
	install -m 644 man/swinetd.yaml.5 $(DESTDIR)$(MANDIR)/man5/swinetd.yaml.5
	for unit in swinetd.service swinetd.socket; do \
		sed 's|/usr/sbin/swinetd|$(BINDIR)/swinetd|g; s|/etc/swinetd/|$(SYSCONFDIR)/swinetd/|g' contrib/$$unit > $(DESTDIR)$(UNITDIR)/$$unit; \
		chmod 644 $(DESTDIR)$(UNITDIR)/$$unit; \
	done
	$(BINARY) --generate-completion-script bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/swinetd
	$(BINARY) --generate-completion-script zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_swinetd
	$(BINARY) --generate-completion-script fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/swinetd.fish
	[ -e $(DESTDIR)$(SYSCONFDIR)/swinetd/services.yaml ] || { \
		sed 's|\./hello\.sock|/run/swinetd/hello.sock|g' services.yaml > $(DESTDIR)$(SYSCONFDIR)/swinetd/services.yaml && \
		chmod 644 $(DESTDIR)$(SYSCONFDIR)/swinetd/services.yaml; }

# Everything install put there but the table (yours to keep or remove).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/swinetd $(DESTDIR)$(MANDIR)/man8/swinetd.8 $(DESTDIR)$(MANDIR)/man5/swinetd.yaml.5 \
		$(DESTDIR)$(UNITDIR)/swinetd.service $(DESTDIR)$(UNITDIR)/swinetd.socket \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/swinetd $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_swinetd \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/swinetd.fish
	-rmdir $(DESTDIR)$(SYSCONFDIR)/swinetd/services.d 2>/dev/null

# A Debian package: /usr/sbin/swinetd, the man pages, the units,
# /etc/swinetd/services.yaml as a conffile, and Depends: from the shared
# libraries the binary needs (dpkg -S of each DT_NEEDED library).
deb: $(BINARY)
	rm -rf $(DEBDIR)/root && mkdir -p $(DEBDIR)/root/DEBIAN
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(DEBDIR))/root PREFIX=/usr SYSCONFDIR=/etc BINARY=$(BINARY)
	@depends=""; unowned=""; \
	for lib in $$(readelf -d $(BINARY) | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do \
		path=$$(ldconfig -p | awk -v l="$$lib" '$$1 == l { print $$NF; exit }'); \
		pkg=""; \
		for p in "$$path" "$$(readlink -f "$$path")"; do \
			[ -n "$$p" ] && [ -z "$$pkg" ] && pkg=$$(dpkg -S "$$p" 2>/dev/null | sed 's/:.*//' | head -1); \
		done; \
		if [ -n "$$pkg" ]; then depends="$$depends $$pkg"; else unowned="$$unowned $$lib"; fi; \
	done; \
	if [ -n "$$unowned" ]; then \
		echo "deb: no Debian package holds:$$unowned (build with --static-swift-stdlib: make release)" >&2; \
		[ "$(ALLOW_UNPACKAGED)" = 1 ] || exit 1; \
	fi; \
	depends=$$(echo $$depends | tr ' ' '\n' | sort -u | paste -sd, - | sed 's/,/, /g'); \
	{ echo "Package: swinetd"; echo "Version: $(VERSION)"; echo "Architecture: $(ARCH)"; \
	  echo "Maintainer: swinetd developers <swinetd@localhost>"; echo "Section: net"; echo "Priority: optional"; \
	  echo "Depends: $$depends"; \
	  echo "Installed-Size: $$(du -sk $(DEBDIR)/root --exclude=DEBIAN | cut -f1)"; \
	  echo "Description: inetd-style super-server"; \
	  echo " One master process reads a YAML service table, listens on every address in"; \
	  echo " it and starts a handler per connection, with per-service limits, reload and"; \
	  echo " upgrade without a dropped connection, and systemd integration."; \
	} > $(DEBDIR)/root/DEBIAN/control
	echo /etc/swinetd/services.yaml > $(DEBDIR)/root/DEBIAN/conffiles
	dpkg-deb --root-owner-group --build $(DEBDIR)/root $(DEB) >/dev/null
	@echo $(DEB)

clean:
	rm -rf .build .build-asan .build-tsan .build-fuzz
