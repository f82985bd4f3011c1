"""How each server is configured and started, once each: a peer's
configuration is written by one function, whether its limits are lifted
(the side-by-side runs), left at their defaults (the flood) or it serves a
UDP wait service. A server is (name, flags, starter): starter(port) writes
what the server needs and returns its argv, or (argv, pidfile) for one that
detaches."""
import os, subprocess

# A service with every per-connection rule on, none of them refusing the
# benchmark's client: what admission costs when it lets everyone through.
ADMISSION_RULES = (
    "    allow: [" + ", ".join([f"10.{i}.0.0/16" for i in range(99)] + ["127.0.0.0/8"]) + "]\n"
    "    deny: [" + ", ".join(f'"2001:db8:{i:x}::/48"' if i % 2 else f"192.0.{i}.0/24" for i in range(100)) + "]\n"
    "    per_source: 1000\n"
    "    source_prefix: {ipv4: 32, ipv6: 64}\n"
    "    rate: 100000/s\n")


# ---------------------------------------------------------------- swinetd

def swinetd_table(services, path, extra="", head=""):
    """A table of TCP services (name, port, exec, args), each with `extra`
    keys; `head`: top-level keys before `services:`."""
    with open(path, "w") as f:
        f.write(head)
        f.write("services:\n")
        for name, port, exec_, argv in services:
            f.write(f"  {name}:\n    listen: 127.0.0.1:{port}\n    exec: {exec_}\n")
            if argv:
                f.write(f"    args: {argv}\n")
            f.write(extra)
    return path


_knows_control = {}

def swinetd_argv(binary, table, control="none"):
    """swinetd in the foreground on `table`, with no control socket (or
    `control`'s). A build from before the control socket has no such
    option, and none to turn off: it is then left out."""
    if binary not in _knows_control:
        text = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
        _knows_control[binary] = "--control" in text
    return [binary] + (["--control", control] if _knows_control[binary] else []) + ["-f", table]


def swinetd_service(bench, binary, handler, hargs, tag, extra="", head=""):
    """A starter for `binary` serving one TCP service of `handler`."""
    def start(port):
        table = swinetd_table([("bench", port, handler, hargs)], os.path.join(bench.work, f"{tag}-{port}.yaml"), extra, head)
        return swinetd_argv(binary, table)
    return start


def swinetd_udp(bench, port):
    table = os.path.join(bench.work, f"swu-{port}.yaml")
    open(table, "w").write(f"services:\n  bench:\n    listen: 127.0.0.1:{port}\n    protocol: udp\n    wait: true\n    exec: {bench.udpreply}\n")
    return swinetd_argv(bench.swinetd, table)


def swinetd_builtin_echo(bench, port):
    table = os.path.join(bench.work, f"swbi-{port}.yaml")
    open(table, "w").write(f"services:\n  bench:\n    listen: 127.0.0.1:{port}\n    builtin: echo\n")
    return swinetd_argv(bench.swinetd, table)


# ---------------------------------------------------------------- the peers

def xinetd(bench, port, handler, hargs=(), *, lifted=True, udp=False):
    """xinetd in the foreground; `lifted`: no instance, rate or per-source
    limit (per-source for TCP only), else its compiled-in defaults."""
    name = "swbenchudp" if udp else "swbench"
    tag = "xiu" if udp else ("xi" if lifted else "xid")
    conf = os.path.join(bench.work, f"xinetd-{tag}-{port}.conf")
    defaults = ""
    if lifted:
        defaults = "defaults\n{\n    instances = UNLIMITED\n    cps = 1000000 1\n" + ("" if udp else "    per_source = UNLIMITED\n") + "}\n"
    server_args = f"    server_args = {' '.join(hargs)}\n" if hargs else ""
    open(conf, "w").write(f"""{defaults}service {name}
{{
    type = UNLISTED
    id = {name}
    socket_type = {"dgram" if udp else "stream"}
    protocol = {"udp" if udp else "tcp"}
    wait = {"yes" if udp else "no"}
    user = root
    server = {handler}
{server_args}    port = {port}
    bind = 127.0.0.1
    log_type = FILE /dev/null
}}
""")
    return [bench.xinetd, "-dontfork", "-f", conf, "-pidfile", os.path.join(bench.work, f"{tag}-{port}.pid")]


def openbsd_inetd(bench, port, handler, hargs=(), *, lifted=True, udp=False):
    """openbsd-inetd; `lifted`: no rate limit (-R, nowait.N) and a deeper
    listen queue, else its defaults (256 per minute)."""
    kind = "dgram udp wait" if udp else ("stream tcp nowait.100000000" if lifted else "stream tcp nowait")
    conf = os.path.join(bench.work, f"inetd-{'u' if udp else ('l' if lifted else 'd')}-{port}.conf")
    open(conf, "w").write(f"127.0.0.1:{port} {kind} root {handler} {' '.join([os.path.basename(handler)] + list(hargs))}\n")
    if not lifted:
        return [bench.openbsd_inetd, "-i", conf]
    return [bench.openbsd_inetd, "-i"] + ([] if udp else ["-q", "1024"]) + ["-R", "100000000", conf]


def tcpserver(bench, port, handler, hargs=(), *, lifted=True):
    """ucspi-tcp's tcpserver; `lifted`: -c 100000 -b 1024, else -c 40 -b 20."""
    limits = ["-c", "100000", "-b", "1024"] if lifted else []
    return [bench.tcpserver] + limits + ["-H", "-R"] + (["-l", "0"] if lifted else []) + ["127.0.0.1", str(port), handler] + list(hargs)


def busybox_inetd(bench, port, handler, hargs=()):
    conf = os.path.join(bench.work, f"bb-{port}.conf")
    open(conf, "w").write(f"127.0.0.1:{port} stream tcp nowait root {handler} {' '.join([os.path.basename(handler)] + list(hargs))}\n")
    return [bench.busybox, "inetd", "-f", "-R", "0", "-q", "1024", conf]


def inetutils_inetd(bench, port, handler, hargs=()):
    conf = os.path.join(bench.work, f"iu-{port}.conf")
    open(conf, "w").write(f"127.0.0.1:{port} stream tcp nowait.100000000 root {handler} {' '.join([os.path.basename(handler)] + list(hargs))}\n")
    pidfile = os.path.join(bench.work, f"iu-{port}.pid")
    return ([bench.inetutils, "-R", "100000000", f"--pidfile={pidfile}", conf], pidfile)


def textbook(bench, port, handler, hargs=()):
    return [os.path.join(bench.bin, "forkserver"), str(port), handler] + list(hargs)


# ---------------------------------------------------------------- the line-ups

def tcp_servers(bench, handler, hargs):
    """(name, flags, starter) for every server available, for one handler,
    each with its limits lifted so nothing throttles it."""
    out = [("textbook fork server", "accept, fork, dup2, exec; SIGCHLD reaps", lambda port: textbook(bench, port, handler, hargs))]
    if os.path.exists(bench.xinetd):
        out.append(("xinetd", "instances=UNLIMITED cps=1000000 1 per_source=UNLIMITED", lambda port: xinetd(bench, port, handler, hargs)))
    else:
        bench.notes.append("xinetd: not available (run bench/run as root with apt to fetch it); skipped")
    if os.path.exists(bench.openbsd_inetd):
        out.append(("openbsd-inetd", "-R 100000000, nowait.100000000, -q 1024", lambda port: openbsd_inetd(bench, port, handler, hargs)))
    else:
        bench.notes.append("openbsd-inetd: not available; skipped")
    if os.path.exists(bench.tcpserver):
        out.append(("tcpserver", "-c 100000 -b 1024 -H -R -l 0", lambda port: tcpserver(bench, port, handler, hargs)))
    else:
        bench.notes.append("tcpserver (ucspi-tcp): not available; skipped")
    if os.path.exists(bench.busybox):
        out.append(("busybox inetd", "-R 0 (no rate limit), -q 1024; built from Debian's source with the inetd applet", lambda port: busybox_inetd(bench, port, handler, hargs)))
    else:
        bench.notes.append("busybox inetd: not built (bench/run builds it from Debian's source package as root with apt); skipped")
    if os.path.exists(bench.inetutils):
        out.append(("inetutils-inetd", "-R 100000000, nowait.100000000; detaches (its only foreground mode, -d, logs every connection)", lambda port: inetutils_inetd(bench, port, handler, hargs)))
    else:
        bench.notes.append("inetutils-inetd: not available; skipped")
    sw = swinetd_service(bench, bench.swinetd, handler, hargs, "sw")
    out.append(("swinetd", "defaults (stderr: log, max_connections 64); log to /dev/null", sw))
    if bench.baseline:
        out.append((f"swinetd @{bench.baseline_name}", "the same, built from that revision", swinetd_service(bench, bench.baseline, handler, hargs, "swb")))
    out.append(("swinetd with admission rules", "allow and deny of 100 prefixes each (the client matches the last allow), per_source 1000, source_prefix, rate 100000/s",
                swinetd_service(bench, bench.swinetd, handler, hargs, "swr", ADMISSION_RULES)))
    out.append(("swinetd, logging to a file", "defaults; the log appended to a file, as users run it", sw))
    out.append(("swinetd, stderr: socket", "stderr: socket (the connection as descriptor 2, as the inetds do): no stderr pipe per connection",
                swinetd_service(bench, bench.swinetd, handler, hargs, "sws", "    stderr: socket\n")))
    if handler == "/bin/cat":
        out.append(("swinetd, builtin: echo", "builtin: echo (swinetd's own binary as the handler)", lambda port: swinetd_builtin_echo(bench, port)))
    return out


def hotpath_servers(bench, handler, hargs):
    """swinetd and the baseline only, each with `stderr: null` and with its
    default `stderr: log`: the master's own cost per connection."""
    out = []
    for binary, name in ((bench.swinetd, "swinetd"), (bench.baseline, f"swinetd @{bench.baseline_name}")):
        if binary:
            out.append((f"{name}, stderr: null", "stderr: null; log to /dev/null", swinetd_service(bench, binary, handler, hargs, f"hp{len(out)}", "    stderr: null\n")))
            out.append((f"{name}, stderr: log", "defaults (stderr: log); log to /dev/null", swinetd_service(bench, binary, handler, hargs, f"hp{len(out)}")))
    return out


SANDBOX_KEYS = [
    ("sandbox: strict", "    sandbox: strict\n"),
    ("private_tmp", "    private_tmp: true\n"),
    ("protect_system: strict", "    protect_system: strict\n"),
    ("private_network", "    private_network: true\n"),
    ("system_calls", "    system_calls: {allow: [\"@system-service\"], deny: [\"@privileged\", \"@resources\"]}\n"),
    ("address_families", "    address_families: [unix, inet, inet6]\n"),
    ("capabilities: []", "    capabilities: []\n"),
]


def sandbox_servers(bench, handler, hargs):
    """swinetd plain, under `sandbox: strict`, and under each costly
    isolation key alone (stderr: null, so only the sandbox differs)."""
    out = [("swinetd, plain", "stderr: null", swinetd_service(bench, bench.swinetd, handler, hargs, "sbp", "    stderr: null\n"))]
    for i, (name, keys) in enumerate(SANDBOX_KEYS):
        out.append((f"swinetd, {name}", "stderr: null; " + keys.strip(), swinetd_service(bench, bench.swinetd, handler, hargs, f"sb{i}", "    stderr: null\n" + keys)))
    return out


# Sent as a balancer does: the header, then the client's side stays open
# (a half-close would move the connection's teardown into the master).
PROXY_HEADER = ("PROXY TCP4 192.0.2.10 198.51.100.1 40000 7000\r\n", "open")
ENV_RULES = "    env_by_source:\n" + "".join(
    f"      - {{from: [10.{i}.0.0/16], env: {{RULE: r{i}, RELAYCLIENT: \"\"}}}}\n" for i in range(100))


def admission_servers(bench, handler, hargs):
    """swinetd plain, with proxy_protocol (its clients send a v1 header
    first), and with 100 env_by_source rules (stderr: null throughout)."""
    plain = "    stderr: null\n"
    return [
        ("swinetd, plain", "stderr: null", swinetd_service(bench, bench.swinetd, handler, hargs, "adp", plain)),
        ("swinetd, proxy_protocol", "stderr: null; proxy_protocol: {from: [127.0.0.1]}; a v1 header per connection",
         swinetd_service(bench, bench.swinetd, handler, hargs, "adx", plain + "    proxy_protocol: {from: [127.0.0.1]}\n"), PROXY_HEADER),
        ("swinetd, env_by_source x100", "stderr: null; 100 rules, none matching",
         swinetd_service(bench, bench.swinetd, handler, hargs, "ade", plain + ENV_RULES)),
    ]


def flood_servers(bench):
    """Each server with its default limits, for the flood."""
    out = []
    if os.path.exists(bench.xinetd):
        out.append(("xinetd", "compiled-in defaults (cps 50 10)", lambda port: xinetd(bench, port, bench.hello, lifted=False)))
    if os.path.exists(bench.openbsd_inetd):
        out.append(("openbsd-inetd", "defaults (256 per minute)", lambda port: openbsd_inetd(bench, port, bench.hello, lifted=False)))
    if os.path.exists(bench.tcpserver):
        out.append(("tcpserver", "defaults (-c 40, -b 20)", lambda port: tcpserver(bench, port, bench.hello, lifted=False)))
    out.append(("swinetd", "defaults (max_connections 64, backlog 128)", swinetd_service(bench, bench.swinetd, bench.hello, [], "flood")))
    return out


def udp_servers(bench):
    """A UDP `dgram wait` service whose handler answers one datagram and
    exits, under each server that has one: every request is a spawn."""
    out = []
    if os.path.exists(bench.xinetd):
        out.append(("xinetd", "dgram udp wait=yes, instances=UNLIMITED cps=1000000 1", lambda port: xinetd(bench, port, bench.udpreply, udp=True)))
    if os.path.exists(bench.openbsd_inetd):
        out.append(("openbsd-inetd", "dgram udp wait, -R 100000000", lambda port: openbsd_inetd(bench, port, bench.udpreply, udp=True)))
    out.append(("swinetd", "protocol: udp, wait: true", lambda port: swinetd_udp(bench, port)))
    return out
