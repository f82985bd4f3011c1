"""swinetd's benchmark: every server side by side in one run, on loopback.

Only ratios within one run mean anything on a shared, noisy machine. The
master's CPU per connection comes from the scheduler's count of its time on
a CPU (/proc/PID/schedstat, nanoseconds), which is steadier than wall time;
memory from /proc/PID/smaps_rollup (RSS, PSS, anonymous); every server of a
handler is measured in turns within each repetition, and each repetition's
figures are kept (medians and min-max in the report). Nothing is pinned to
a CPU. See bench/run for how it is started.

peers: how each server is configured and started; runs: the measurements;
report: RESULTS.md and RESULTS.json; measure: /proc readings, ports, load.
"""
import argparse, os, shutil, statistics, sys, tempfile, time

from . import peers, report, runs
from .measure import log

SCENARIOS = {
    "scrapes": "serving under scrapes: a 1000-service table, one service at c=8 with and without 16 scrapers of /metrics",
    "sandbox": "the isolation keys' cost: hello at c=1 and c=8 plain, under sandbox: strict and under each costly key alone",
    "admission": "proxy_protocol and 100 env_by_source rules against plain: hello at c=8 and c=64",
    "hotpath": "the master's CPU per connection, swinetd against --baseline only: hello and echo at c=8 and c=64, each with stderr: null and stderr: log",
}


class Bench:
    """Where everything is, and how much to run: what every run needs."""
    def __init__(self, args):
        self.top, self.out = args.top, args.out
        self.bin = os.path.join(self.out, "bin")
        self.hello = os.path.join(self.bin, "hello")
        self.loadgen = os.path.join(self.bin, "loadgen")
        self.udpreply = os.path.join(self.bin, "udpreply")
        self.udpgen = os.path.join(self.bin, "udpgen")
        self.swiftfloor = os.path.join(self.bin, "swiftfloor")
        self.swinetd = os.path.join(self.top, ".build", "release", "swinetd")
        root = os.path.join(self.out, "peers", "root")
        self.xinetd = os.path.join(root, "usr/sbin/xinetd")
        self.openbsd_inetd = os.path.join(root, "usr/sbin/inetd")
        self.tcpserver = os.path.join(root, "usr/bin/tcpserver")
        self.inetutils = os.path.join(root, "usr/sbin/inetutils-inetd")
        self.busybox = os.path.join(self.out, "peers", "busybox-inetd")
        self.baseline, self.baseline_name = args.baseline_binary, args.baseline_name
        self.quick = args.quick
        self.reps = min(args.reps, 2) if args.quick else args.reps
        self.scale = 0.1 if args.quick else 1.0
        self.n = {1: int(1000 * self.scale), 8: int(4000 * self.scale), 64: int(4000 * self.scale)}
        self.notes = []
        self.work = tempfile.mkdtemp(prefix="swinetd-bench-")


def parse(argv):
    p = argparse.ArgumentParser(prog="bench/run", description="swinetd's benchmark (bench/run builds what it needs and calls this).",
                                epilog="bench/run also takes --baseline REF: swinetd built at that git revision, run side by side as 'swinetd @REF'.")
    p.add_argument("--top", required=True, help="the checkout whose release build is measured (bench/run gives it)")
    p.add_argument("--out", required=True, help="where the built references and peers are (bench/run gives it)")
    p.add_argument("--reps", type=int, default=3, help="repetitions of each load (default 3)")
    p.add_argument("--quick", action="store_true", help="fewer connections (a smoke run)")
    p.add_argument("--baseline-binary", help="another swinetd to run side by side (bench/run --baseline REF builds it)")
    p.add_argument("--baseline-name", default="baseline")
    p.add_argument("--only", choices=sorted(SCENARIOS), help="run only this scenario and print its section; RESULTS.md is left alone. "
                   + "; ".join(f"{k}: {v}" for k, v in sorted(SCENARIOS.items())))
    return p.parse_args(argv)


def only_scrapes(bench):
    log("== serving under scrapes (only this scenario)")
    return report.under_scrapes_lines(runs.run_under_scrapes(bench))


def only_hotpath(bench):
    if not bench.baseline:
        sys.exit("--only hotpath compares with a baseline: give --baseline REF (or --baseline-binary PATH)")
    started = time.time()
    results = {}
    for name, handler, send in ((report.HELLO_NAME, bench.hello, None), (report.ECHO_NAME, "/bin/cat", "ping\n")):
        log(f"== {name}: swinetd and swinetd @{bench.baseline_name}")
        runs.run_servers(bench, results, name, peers.hotpath_servers(bench, handler, []), (8, 64), send)
    b = f"swinetd @{bench.baseline_name}"
    lines = report.against_baseline_lines(bench, results, (report.HELLO_NAME, report.ECHO_NAME),
                                          [(f"swinetd, stderr: {m}", f"{b}, stderr: {m}") for m in ("null", "log")])
    lines.append(f"{bench.reps} repetitions of {bench.n[8]} connections at each concurrency, servers in turns; took {time.time() - started:.0f} s.")
    return lines


def only_admission(bench):
    log("== admission, round two (only this scenario)")
    return report.admission_lines(bench, runs.run_admission(bench))


def only_sandbox(bench):
    log("== the isolation keys (only this scenario)")
    return report.sandbox_lines(bench, runs.run_sandbox(bench))


def full(bench):
    """Every scenario; returns what the report needs."""
    results = {}
    d = {"results": results, "flood": [], "udp": {}, "observed": None, "scraped_rows": []}
    started = time.time()
    d["load_at_start"] = os.getloadavg()
    log("== the limit: spawn + wait of the handler, no network")
    d["one_core"], d["both_cores"] = runs.spawn_limit(bench)
    log(f"   one core {d['one_core']:.0f}/s, both cores {d['both_cores']:.0f}/s")
    log("== the Swift floor")
    d["floor_mem"] = runs.swift_floor(bench)
    log(f"   rss {d['floor_mem']['rss']} kB, pss {d['floor_mem']['pss']} kB, anon {d['floor_mem']['anon']} kB")
    handlers = [(report.HELLO_NAME, bench.hello, (8,) if bench.quick else (1, 8, 64), None)]
    if not bench.quick:
        handlers.append((report.ECHO_NAME, "/bin/cat", (8, 64), "ping\n"))
    for handler_name, handler, concs, send in handlers:
        log(f"== {handler_name}")
        runs.run_servers(bench, results, handler_name, peers.tcp_servers(bench, handler, []), concs, send)
    log("== the isolation keys: plain, sandbox: strict, each costly key alone")
    d["sandbox"] = runs.run_sandbox(bench)
    log("== admission, round two: plain, a PROXY header, 100 env_by_source rules")
    d["admission"] = runs.run_admission(bench)
    log("== swinetd with 1, 100, 1000 services")
    d["scale"] = runs.scaling(bench)
    log("== start-up and reload with 1000 services, and their floors")
    d["startup"] = s = runs.startup_and_reload(bench)
    d["bind_floor"], d["parse_floor"] = runs.floors(bench, s["table"], s["ports"])
    log(f"   start {statistics.median(s['starts']):.1f} ms (floors: bind {statistics.median(d['bind_floor']):.1f} ms, "
        f"parse {statistics.median(d['parse_floor']):.1f} ms), reloads {s['reloads']}, failed {s['reload_failed']}")
    if not bench.quick:
        log("== a flood at concurrency 64 with default limits")
        d["flood"] = runs.flood_defaults(bench)
        log("== a UDP wait service through a handler")
        d["udp"] = runs.run_udp(bench)
        log("== c=64 with and without a status poll every 100 ms and a scrape every second")
        d["observed"] = runs.observed(bench)
        log("== serving under scrapes: 16 scrapers looping on /metrics, 1000 services")
        d["scraped_rows"] = runs.run_under_scrapes(bench)
    d["elapsed"] = time.time() - started
    return d


def main(argv=None):
    args = parse(argv)
    bench = Bench(args)
    try:
        if not os.path.exists(bench.swinetd):
            sys.exit(f"{bench.swinetd} missing: run bench/run, which builds it")
        if args.only:
            print("\n".join({"scrapes": only_scrapes, "hotpath": only_hotpath, "sandbox": only_sandbox, "admission": only_admission}[args.only](bench)))
            return 0
        d = full(bench)
        lines = report.results_md(bench, d)
        print("\n".join(lines))
        if not bench.quick:
            report.write(bench, d, lines)
        return 0
    finally:
        shutil.rmtree(bench.work, ignore_errors=True)
