"""The measurements. Each returns plain values (dicts, lists); the report
turns them into RESULTS.md and RESULTS.json."""
import os, re, signal, socket, statistics, subprocess, threading, time

from . import peers
from .measure import Server, cpu_seconds, free_ports, loadgen, log, memory_kb, rss_kb, udpgen, wait_listening, zombies


def run_servers(bench, results, handler_name, servers, concs, send=None):
    """Every server of one handler, started together and measured in turns:
    each repetition loads each server once, in an order that rotates, so a
    burst of noise from the shared machine falls on all of them alike
    instead of on whichever ran at that moment. Only the server being loaded
    does anything; the others wait idle. Fills results[(handler_name, server)]."""
    running = []
    sends = {}
    for name, flags, starter, *own_send in servers:
        # A server may bring what the client sends it (a PROXY header), else `send`.
        sends[name] = own_send[0] if own_send else send
        port = free_ports(1)[0]
        logfile = os.path.join(bench.work, f"log-{port}.txt") if "file" in name else None
        argv, pidfile = starter(port), None
        if isinstance(argv, tuple):
            argv, pidfile = argv
        srv = Server(name, argv, port, stderr=logfile, flags=flags, pidfile=pidfile)
        if not srv.ok:
            bench.notes.append(f"{name}: did not listen; skipped")
            srv.stop()
            continue
        running.append((srv, {"flags": flags, "rss_idle": rss_kb(srv.pid), "mem_idle": memory_kb(srv.pid), "conc": {}, "_cpu": 0.0, "_conns": 0}))
    for c in concs:
        reps = {srv.name: [] for srv, _ in running}
        cpu = {srv.name: 0.0 for srv, _ in running}
        cpu_reps = {srv.name: [] for srv, _ in running}
        for rep in range(bench.reps):
            turn = running[rep % len(running):] + running[:rep % len(running)]
            for srv, r in turn:
                before = cpu_seconds(srv.pid)
                g = loadgen(bench, srv.port, c, bench.n[c], sends[srv.name])
                time.sleep(0.05)   # its last handlers are reaped
                spent = cpu_seconds(srv.pid) - before
                cpu[srv.name] += spent
                cpu_reps[srv.name].append(spent / max(int(g["connections"]), 1) * 1e6)
                reps[srv.name].append(g)
        for srv, r in running:
            gs = reps[srv.name]
            conns = sum(int(g["connections"]) for g in gs)
            rates = [g["connections"] / g["elapsed"] for g in gs]
            r["_cpu"] += cpu[srv.name]
            r["_conns"] += conns
            r["conc"][c] = {
                "cpu_us": statistics.median(cpu_reps[srv.name]), "cpu_min": min(cpu_reps[srv.name]), "cpu_max": max(cpu_reps[srv.name]),
                "cpu_reps": cpu_reps[srv.name], "rates": rates,
                "cps": statistics.median(rates), "min": min(rates), "max": max(rates),
                "p50": statistics.median(g["p50_ms"] for g in gs),
                "p99": statistics.median(g["p99_ms"] for g in gs),
                "failed": int(sum(g["failed"] for g in gs)),
            }
    time.sleep(0.5)
    for srv, r in running:
        r["cpu_us"] = r.pop("_cpu") / r.pop("_conns") * 1e6
        r["rss_after"] = rss_kb(srv.pid)
        r["mem_after"] = memory_kb(srv.pid)
        r["zombies"] = zombies(srv.pid)
        srv.stop()
        results[(handler_name, srv.name)] = r
        c8 = r["conc"].get(8) or next(iter(r["conc"].values()))
        log(f"   {srv.name:28s} {c8['cps']:8.0f} conn/s  cpu {r['cpu_us']:6.1f} us/conn  failed {sum(v['failed'] for v in r['conc'].values())}")


def run_sandbox(bench):
    """hello plain and sandboxed, at c=1 (a connection's whole latency,
    the master's wait in the spawn included) and c=8, in turns. Needs root
    (the mount and network namespaces): otherwise skipped, with a note."""
    results = {}
    if os.geteuid() != 0:
        bench.notes.append("the isolation keys: not measured (they need root)")
        return results
    run_servers(bench, results, "hello", peers.sandbox_servers(bench, bench.hello, []), (1, 8))
    return results


def run_admission(bench):
    """hello plain, behind a PROXY header (sent by the load generator, the
    service reading it), and with 100 env_by_source rules none of which
    matches (every rule looked at), at c=8 and c=64, in turns."""
    results = {}
    run_servers(bench, results, "hello", peers.admission_servers(bench, bench.hello, []), (8, 64))
    return results


def spawn_limit(bench):
    """posix_spawn + waitpid of the hello handler in a loop: on one core,
    and two loops on both."""
    seconds = 1.5 if bench.quick else 3
    spawnloop = os.path.join(bench.bin, "spawnloop")
    one = subprocess.run([spawnloop, str(seconds), bench.hello], capture_output=True, text=True).stdout.split()
    procs = [subprocess.Popen([spawnloop, str(seconds), bench.hello], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    both = [pr.communicate()[0].split() for pr in procs]
    return int(one[1]) / float(one[3]), sum(int(b[1]) / float(b[3]) for b in both)


def scaling(bench):
    """swinetd's master CPU and RSS with 1, 100 and 1000 services, load on one."""
    out = {}
    for n in (1, 100, 1000):
        ports = free_ports(n)
        table = peers.swinetd_table([(f"s{i}", ports[i], bench.hello, []) for i in range(n)], os.path.join(bench.work, f"scale-{n}.yaml"))
        srv = Server(f"swinetd x{n}", peers.swinetd_argv(bench.swinetd, table), ports[n // 2])
        idle = rss_kb(srv.pid)
        per_rep = []
        for _ in range(bench.reps):
            cpu0 = cpu_seconds(srv.pid)
            g = loadgen(bench, ports[n // 2], 8, bench.n[8])
            time.sleep(0.05)
            per_rep.append((cpu_seconds(srv.pid) - cpu0) / max(int(g["connections"]), 1) * 1e6)
        time.sleep(0.3)
        out[n] = {"cpu_us": statistics.median(per_rep), "cpu_min": min(per_rep), "cpu_max": max(per_rep),
                  "rss_idle": idle, "rss_after": rss_kb(srv.pid)}
        srv.stop()
        log(f"   {n:5d} services: cpu {out[n]['cpu_us']:.1f} us/conn, rss {idle} kB")
    return out


def startup_and_reload(bench):
    """Start to 1000 ports listening; SIGHUP reload of 1000 services under load."""
    n = 1000
    ports = free_ports(n)
    table = os.path.join(bench.work, "reload-1000.yaml")
    argv = peers.swinetd_argv(bench.swinetd, table)
    starts = []
    for _ in range(max(bench.reps, 3)):
        peers.swinetd_table([(f"s{i}", ports[i], bench.hello, []) for i in range(n)], table)
        logpath = os.path.join(bench.work, "startup.log")
        open(logpath, "w").close()
        t0 = time.monotonic()
        pr = subprocess.Popen(argv, stderr=open(logpath, "a"), stdout=subprocess.DEVNULL)
        while "swinetd: started" not in open(logpath).read():
            time.sleep(0.0005)
        starts.append((time.monotonic() - t0) * 1e3)
        assert wait_listening(ports[-1])
        pr.terminate(); pr.wait()
    logpath = os.path.join(bench.work, "reload.log")
    open(logpath, "w").close()
    pr = subprocess.Popen(argv, stderr=open(logpath, "a"), stdout=subprocess.DEVNULL)
    while "swinetd: started" not in open(logpath).read():
        time.sleep(0.01)
    # A client load on a kept service while the table is reloaded 10 times,
    # each time with one service changed.
    load = subprocess.Popen([bench.loadgen, "127.0.0.1", str(ports[0]), "4", str(int(3000 * bench.scale))], stdout=subprocess.PIPE, text=True)
    for i in range(10):
        peers.swinetd_table([(f"s{j}", ports[j], bench.hello, ["x"] if j == 1 and i % 2 == 0 else []) for j in range(n)], table)
        pr.send_signal(signal.SIGHUP)
        time.sleep(0.15)
    g = dict(l.split() for l in load.communicate()[0].strip().splitlines())
    time.sleep(0.2)
    text = open(logpath).read()
    pr.terminate(); pr.wait()
    durations = [float(m) for m in re.findall(r"reload: applied .* duration=([\d.]+)ms", text)]
    # longest=: the part of a reload the event loop spent (reading and
    # validating happen in a child process since the table loader moved out).
    blocked = [float(m) for m in re.findall(r"reload: applied .* longest=([\d.]+)ms", text)]
    return {"starts": starts, "reloads": durations, "reloads_blocked": blocked, "reload_failed": int(float(g["failed"])),
            "reload_conns": int(float(g["connections"])), "table": table, "ports": ports}


def floors(bench, table, ports):
    """What start-up and reading the table cost at the least, measured in
    this run: a C program that binds the same 1000 ports, and one that
    parses the same 1000-service table with libyaml."""
    bind, parse = [], []
    for _ in range(max(bench.reps, 3)):
        out = subprocess.run([os.path.join(bench.bin, "bindfloor"), str(ports[0]), str(len(ports))], capture_output=True, text=True).stdout
        bind.append(float(out.split()[1]) * 1e3)
        out = subprocess.run([os.path.join(bench.bin, "parsefloor"), table], capture_output=True, text=True).stdout
        parse.append(float(out.split()[1]) * 1e3)
    return bind, parse


def swift_floor(bench):
    """The Swift floor's memory, idle: what any static Swift program costs."""
    pr = subprocess.Popen([bench.swiftfloor], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    m = memory_kb(pr.pid)
    pr.kill(); pr.wait()
    return m


def flood_defaults(bench):
    """What each server does with its default limits to a flood at concurrency 64."""
    out = []
    total = int(3000 * bench.scale)
    for name, what, starter in peers.flood_servers(bench):
        port = free_ports(1)[0]
        logfile = os.path.join(bench.work, f"flood-{port}.log")
        srv = Server(name, starter(port), port, stderr=logfile)
        g = loadgen(bench, port, 64, total)
        still = wait_listening(port, timeout=1)
        srv.stop()
        out.append((name, what, int(g["connections"]), int(g["failed"]), g["connections"] / g["elapsed"], g["p99_ms"], still))
        log(f"   {name:16s} failed {int(g['failed'])}/{int(g['connections'])}, still serving after: {still}")
    return out


def run_udp(bench):
    """Each UDP server measured in turns, as run_servers does for TCP."""
    running = []
    for name, flags, starter in peers.udp_servers(bench):
        port = free_ports(1)[0]
        srv = Server(name, starter(port), port, flags=flags, udp=True)
        if not srv.ok:
            bench.notes.append(f"{name} (udp): did not answer; skipped")
            srv.stop()
            continue
        running.append(srv)
    rows = {}
    total = int(2000 * bench.scale)
    for c in (1, 8):
        rates = {s.name: [] for s in running}
        cpu = {s.name: [0.0, 0] for s in running}
        lat = {s.name: [] for s in running}
        fails = {s.name: 0 for s in running}
        for rep in range(bench.reps):
            for s in running[rep % len(running):] + running[:rep % len(running)]:
                before = cpu_seconds(s.pid)
                g = udpgen(bench, s.port, c, total)
                time.sleep(0.05)
                cpu[s.name][0] += cpu_seconds(s.pid) - before
                cpu[s.name][1] += int(g["connections"])
                rates[s.name].append(g["connections"] / g["elapsed"])
                lat[s.name].append(g["p99_ms"])
                fails[s.name] += int(g["failed"])
        for s in running:
            rows.setdefault(s.name, {"flags": s.flags})[c] = {
                "rps": statistics.median(rates[s.name]), "min": min(rates[s.name]), "max": max(rates[s.name]),
                "cpu_us": cpu[s.name][0] / max(cpu[s.name][1], 1) * 1e6, "p99": statistics.median(lat[s.name]),
                "failed": fails[s.name]}
    for s in running:
        s.stop()
    for name, r in rows.items():
        log(f"   {name:16s} c=8 {r[8]['rps']:.0f} req/s, master cpu {r[8]['cpu_us']:.1f} us/req, failed {r[1]['failed'] + r[8]['failed']}")
    return rows


def control_request(path, request):
    """One request on swinetd's control socket, as a monitoring agent sends it."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(path)
        s.sendall((request + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data
    finally:
        s.close()


def scrape(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
    finally:
        s.close()


def observed(bench):
    """The c=64 load on one swinetd, in alternating turns with and without
    a `status` request every 100 ms and a /metrics scrape every second
    (sent from this process over the sockets, as an agent would)."""
    port, mport = free_ports(2)
    ctl = os.path.join(bench.work, "observed.control")
    table = peers.swinetd_table([("bench", port, bench.hello, [])], os.path.join(bench.work, "observed.yaml"), head=f"metrics: 127.0.0.1:{mport}\n")
    srv = Server("swinetd observed", peers.swinetd_argv(bench.swinetd, table, control=ctl), port)
    plain, watched, polls, scrapes, failures = [], [], [0], [0], [0]
    cpu = {False: [0.0, 0], True: [0.0, 0]}
    try:
        # Many short turns, alternating, and medians: a 2% effect needs more
        # samples than the noise of a shared machine gives in three.
        turns = 2 * max(bench.reps, 6)
        for rep in range(turns):
            stop = threading.Event()
            def watch():
                i = 0
                while not stop.is_set():
                    try:
                        if b'"exit":0' not in control_request(ctl, '{"command":"status","format":"json"}'):
                            failures[0] += 1
                        polls[0] += 1
                        if i % 10 == 0:
                            if not scrape(mport).startswith(b"HTTP/1.1 200"):
                                failures[0] += 1
                            scrapes[0] += 1
                    except OSError:
                        failures[0] += 1
                    i += 1
                    stop.wait(0.1)
            # ABBA order (plain, watched, watched, plain, ...): a drift of
            # the machine over the run falls on both alike.
            t = threading.Thread(target=watch) if rep % 4 in (1, 2) else None
            if t:
                t.start()
            before = cpu_seconds(srv.pid)
            g = loadgen(bench, port, 64, 2 * bench.n[64])
            cpu[t is not None][0] += cpu_seconds(srv.pid) - before
            cpu[t is not None][1] += int(g["connections"])
            if t:
                stop.set()
                t.join()
            (watched if t else plain).append(g["connections"] / g["elapsed"])
        # What one request costs the master, measured alone.
        before = cpu_seconds(srv.pid)
        for _ in range(500):
            control_request(ctl, '{"command":"status","format":"json"}')
        per_status = (cpu_seconds(srv.pid) - before) / 500
        # Scrapes more than a second apart: each builds the text anew (one
        # within a second of the last is served its copy, and at most 20 a
        # second are taken), as a scrape every second does.
        before = cpu_seconds(srv.pid)
        for _ in range(8):
            time.sleep(1.1)
            scrape(mport)
        per_scrape = (cpu_seconds(srv.pid) - before) / 8
    finally:
        srv.stop()
    out = {"plain": statistics.median(plain), "watched": statistics.median(watched), "polls": polls[0], "scrapes": scrapes[0],
           "failures": failures[0], "cpu_plain": cpu[False][0] / cpu[False][1] * 1e6, "cpu_watched": cpu[True][0] / cpu[True][1] * 1e6,
           "per_status": per_status * 1e6, "per_scrape": per_scrape * 1e6}
    log(f"   {out['plain']:.0f} vs {out['watched']:.0f} conn/s ({out['polls']} polls, {out['scrapes']} scrapes, {out['failures']} failed)")
    return out


SCRAPERS = 16

def under_scrapes(bench, binary, name):
    """Serving under scrapes: one service's conn/s (hello, c=8, for a few
    seconds a turn) in a 1000-service table with `metrics:`, in alternating
    turns without and with 16 threads that scrape /metrics in a loop, each
    scrape as soon as the last one ends (a 1000-service text is ~1.5 MB)."""
    n = 1000
    ports = free_ports(n + 1)
    mport, port = ports[-1], ports[n // 2]
    table = peers.swinetd_table([(f"s{i}", ports[i], bench.hello, []) for i in range(n)], os.path.join(bench.work, "scrapes.yaml"),
                                head=f"metrics: 127.0.0.1:{mport}\n")
    srv = Server(name, peers.swinetd_argv(binary, table), port)
    plain, scraped, lat_plain, lat_scraped = [], [], [], []
    counts = {"scrapes": 0, "failed": 0}
    seconds = 1.5 if bench.quick else 3
    try:
        size = len(scrape(mport))
        # ABBA order (plain, scraped, scraped, plain, ...), medians.
        turns = 2 * max(bench.reps, 4)
        for rep in range(turns):
            on = rep % 4 in (1, 2)
            stop = threading.Event()
            def scraper():
                while not stop.is_set():
                    try:
                        ok = scrape(mport).startswith(b"HTTP/1.1 200")
                    except OSError:
                        ok = False
                    if not stop.is_set():
                        counts["scrapes" if ok else "failed"] += 1
            threads = [threading.Thread(target=scraper, daemon=True) for _ in range(SCRAPERS)] if on else []
            for t in threads:
                t.start()
            if on:
                time.sleep(0.5)   # the scrapers at full speed before the load starts
            g = loadgen(bench, port, 8, f"{seconds}s")
            stop.set()
            for t in threads:
                t.join(timeout=15)
            (scraped if on else plain).append(g["connections"] / g["elapsed"])
            (lat_scraped if on else lat_plain).append(g["p99_ms"])
    finally:
        srv.stop()
    return {"plain": statistics.median(plain), "scraped": statistics.median(scraped), "plain_range": (min(plain), max(plain)),
            "scraped_range": (min(scraped), max(scraped)), "p99_plain": statistics.median(lat_plain), "p99_scraped": statistics.median(lat_scraped),
            "size": size, "scrapes": counts["scrapes"], "failed": counts["failed"], "seconds": seconds * len(scraped)}


def run_under_scrapes(bench):
    rows = [("swinetd", under_scrapes(bench, bench.swinetd, "swinetd"))]
    if bench.baseline:
        name = f"swinetd @{bench.baseline_name}"
        rows.append((name, under_scrapes(bench, bench.baseline, name)))
    for name, r in rows:
        log(f"   {name:28s} {r['plain']:.0f} -> {r['scraped']:.0f} conn/s ({r['scraped'] / r['plain']:.2f}x), {r['scrapes']} scrapes, {r['failed']} failed")
    return rows
