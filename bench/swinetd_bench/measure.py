"""What is measured, and how: the master's CPU time and memory from /proc,
free ports, waiting for a server to serve, the load generators, and a
server under test started and stopped by pid."""
import os, random, signal, socket, subprocess, sys, time

TICK = os.sysconf("SC_CLK_TCK")
# Where the master's CPU time comes from; the report says which.
CPU_SOURCE = "schedstat"


def log(*a):
    """Progress, on stderr (the report goes to stdout)."""
    print(*a, file=sys.stderr, flush=True)


def can_bind(port):
    for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_ports(n):
    """n consecutive free ports below the ephemeral range."""
    while True:
        base = random.randrange(20000, 32000 - n)
        if all(can_bind(base + i) for i in range(n)):
            return list(range(base, base + n))


def cpu_seconds(pid):
    """CPU time of the process's main thread: the scheduler's own count in
    nanoseconds (/proc/PID/schedstat, its first field) where the kernel has
    it, else clock ticks (then said in the report). Every server measured
    is single-threaded."""
    global CPU_SOURCE
    try:
        return int(open(f"/proc/{pid}/schedstat").read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        CPU_SOURCE = "clock ticks (no /proc/PID/schedstat)"
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def memory_kb(pid):
    """RSS, PSS and anonymous memory (kB) from /proc/PID/smaps_rollup."""
    out = {"rss": 0, "pss": 0, "anon": 0}
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            k, _, v = line.partition(":")
            if k == "Rss": out["rss"] = int(v.split()[0])
            elif k == "Pss": out["pss"] = int(v.split()[0])
            elif k == "Anonymous": out["anon"] = int(v.split()[0])
    except OSError:
        out["rss"] = rss_kb(pid)
    return out


def zombies(pid):
    n = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                f = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if f[0] == "Z" and int(f[1]) == pid:
                n += 1
    return n


def wait_listening(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        s = socket.socket()
        try:
            s.settimeout(0.2)
            s.connect(("127.0.0.1", port))
            s.close()
            return True
        except OSError:
            time.sleep(0.01)
        finally:
            s.close()
    return False


def wait_answering_udp(port, timeout=10):
    deadline = time.time() + timeout
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.2)
    try:
        while time.time() < deadline:
            s.sendto(b"probe", ("127.0.0.1", port))
            try:
                if s.recv(64) == b"probe":
                    return True
            except OSError:
                pass
        return False
    finally:
        s.close()


def loadgen(bench, port, conc, total, send=None):
    """bench/src/loadgen.c: `conc` clients until `total` connections (or
    "Ns", N seconds) are done; its figures as numbers. `send`: what each
    client sends, then half-closes; or (what, "open"): sends and keeps its
    side open."""
    extra = list(send) if isinstance(send, tuple) else ([send] if send else [])
    cmd = [bench.loadgen, "127.0.0.1", str(port), str(conc), str(total)] + extra
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300).stdout
    r = dict(line.split() for line in out.strip().splitlines())
    return {k: float(v) for k, v in r.items()}


def udpgen(bench, port, conc, total):
    """bench/src/udpgen.c, the same for datagrams."""
    out = subprocess.run([bench.udpgen, "127.0.0.1", str(port), str(conc), str(total)], capture_output=True, text=True, timeout=300).stdout
    return {k: float(v) for k, v in (line.split() for line in out.strip().splitlines())}


class Server:
    """A server under test, started in the foreground (or, with `pidfile`,
    one that detaches and names its pid there), stopped by pid."""
    def __init__(self, name, argv, port, stderr=None, flags="", udp=False, pidfile=None):
        self.name, self.argv, self.port, self.flags = name, argv, port, flags
        self.err = open(stderr or os.devnull, "ab")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.err, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid
        self.detached = None
        if pidfile:
            self.proc.wait(timeout=10)
            end = time.time() + 10
            while time.time() < end and not (os.path.exists(pidfile) and open(pidfile).read().strip()):
                time.sleep(0.01)
            try:
                self.pid = self.detached = int(open(pidfile).read().split()[0])
            except (OSError, ValueError, IndexError):
                self.pid = self.detached = -1
        self.ok = wait_answering_udp(port) if udp else wait_listening(port)
        # Let the process settle before the idle memory reading.
        time.sleep(0.3)

    def stop(self):
        if self.detached:
            try:
                os.kill(self.detached, signal.SIGTERM)
                for _ in range(500):
                    os.kill(self.detached, 0)
                    time.sleep(0.01)
                os.kill(self.detached, signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass
        elif self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()
