#!/usr/bin/env python3
"""End-to-end PostgreSQL benchmark: direct vs pgbouncer vs gatekit, in one run.

Starts a throwaway PostgreSQL 15, a bare tokio relay (`copy_bidirectional`, the
calibration: what any tokio proxy costs here), pgbouncer (session mode, plaintext to
clients, SCRAM to the server) and `gatekit serve` (the example policy, a masking profile on
for the bench user's group, plaintext on loopback via `allow_plaintext_auth`, and TLS for
the TLS runs), then runs `pgbench -S` in extended and simple mode at 1, 8 and 32 clients against each,
alternating targets round by round. For the proxies it also reports their own CPU time
(user + system, from /proc) per transaction: on a machine where the proxy, PostgreSQL and
pgbench share the cores, that number moves far less between runs than TPS does. Afterwards
it measures connection set-up (`pgbench -C`: a new connection per transaction; pgbouncer
reuses its server connections, gatekit logs in upstream for each), then opens idle client
connections through gatekit and through pgbouncer and reports resident memory per
connection.

Ratios to pgbouncer are also given paired by round (each round's gatekit run against the
same round's pgbouncer run): the machine's speed drifts between rounds far more than
within one, so the spread of the paired ratios says how far a result can be trusted.
With `--pin` the proxies share one CPU of their own and PostgreSQL and pgbench get the
others: the comparison then shows the proxies' own cost rather than their competition
with the database for the cores.

Everything listens on 127.0.0.1 only. Every process and the temp dir are removed on exit,
also on Ctrl-C and SIGTERM. Python 3 standard library only; run as root (the servers run as
the `postgres` user) or as a user that may run initdb.

    benches/e2e/pg_bench.py                      # ~8 minutes with the defaults
    benches/e2e/pg_bench.py --rounds 5 --seconds 10 --json /tmp/e2e.json
    benches/e2e/pg_bench.py --pin --clients 1,8   # proxies on a CPU of their own
"""

import argparse
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
USER = "bench"
DB = "bench"
TARGETS = ("direct", "relay", "pgbouncer", "gatekit", "gatekit-tls")


def log(msg):
    print(f"[e2e] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{what} exited early (status {proc.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} is not listening on 127.0.0.1:{port} after {timeout:.0f}s")


def cpu_ticks(pid):
    """User + system CPU of a process so far, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        # Fields after the command name (which may hold spaces) start at its closing paren.
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def pin(pid, cpus):
    """Binds every thread of a process to `cpus`."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except (ProcessLookupError, FileNotFoundError):
            pass  # a thread that ended meanwhile


def children(pid):
    """The pids of a process's children."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields follow the last ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(entry))
    return kids


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


def pg_bindir():
    for name in ("initdb", "pg_ctl"):
        found = shutil.which(name)
        if found:
            return Path(found).resolve().parent
    dirs = sorted(
        (int(p.name), p / "bin")
        for p in Path("/usr/lib/postgresql").glob("*")
        if p.name.isdigit() and (p / "bin" / "initdb").exists()
    )
    if not dirs:
        raise SystemExit("PostgreSQL server binaries not found (Debian: apt-get install postgresql)")
    return dirs[-1][1]


class Harness:
    def __init__(self, args):
        self.args = args
        self.root = os.geteuid() == 0
        self.procs = {}
        self.pg_started = False
        # A directory the `postgres` user can enter and own.
        self.work = Path(tempfile.mkdtemp(prefix="gatekit-e2e-"))
        os.chmod(self.work, 0o755)
        if self.root:
            shutil.chown(self.work, "postgres", "postgres")
        self.bindir = pg_bindir()
        self.pg_port = free_port()
        self.bouncer_port = free_port()
        self.gatekit_port = free_port()
        self.relay_port = free_port()
        self.relay_bin = None
        self.password = secrets.token_hex(16)
        self.dev_secret = secrets.token_hex(32)
        self.token = None
        self.gatekit_bin = None
        # With --pin: the proxies' CPU, and the CPUs PostgreSQL and pgbench run on.
        self.proxy_cpus = self.db_cpus = None
        if args.pin:
            cpus = sorted(os.sched_getaffinity(0))
            if len(cpus) < 2:
                raise SystemExit("--pin needs at least two CPUs")
            self.proxy_cpus, self.db_cpus = {cpus[-1]}, set(cpus[:-1])

    # ---- processes -------------------------------------------------------------------

    def as_postgres(self, argv):
        """A command line that runs as the `postgres` user when we are root (exec, no fork)."""
        if self.root:
            return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] + argv
        return argv

    def run(self, argv, env=None, capture=False):
        r = subprocess.run(
            argv, cwd=self.work, env=env, text=True,
            stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(map(str, argv))} failed ({r.returncode}):\n{r.stderr}")
        return r.stdout

    def spawn(self, name, argv, env=None):
        logf = open(self.work / f"{name}.out", "w")
        p = subprocess.Popen(argv, cwd=self.work, env=env, stdout=logf, stderr=logf,
                             start_new_session=True)
        self.procs[name] = p
        return p

    def stop(self, name):
        p = self.procs.pop(name, None)
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def cleanup(self):
        for name in list(self.procs):
            self.stop(name)
        if self.pg_started:
            subprocess.run(
                self.as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.work / "data"),
                                  "-m", "immediate", "stop"]),
                cwd=self.work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            self.pg_started = False
        if self.args.keep:
            log(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    # ---- setup -----------------------------------------------------------------------

    def build(self):
        if self.args.gatekit:
            self.gatekit_bin = self.args.gatekit.resolve()
        else:
            target_dir = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
            self.gatekit_bin = target_dir / "release" / "gatekit"
        if not self.args.skip_build and not self.args.gatekit:
            log("building gatekit (release)")
            r = subprocess.run(["cargo", "build", "--release", "-q", "-p", "gatekit-bin"], cwd=ROOT)
            if r.returncode != 0:
                raise SystemExit("cargo build --release -p gatekit-bin failed")
        if not self.gatekit_bin.exists():
            raise SystemExit(f"{self.gatekit_bin} is missing (build it, or drop --skip-build)")
        target_dir = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        self.relay_bin = target_dir / "release" / "examples" / "tcp_relay"
        if not self.args.skip_build:
            log("building the calibration relay (release)")
            r = subprocess.run(["cargo", "build", "--release", "-q", "-p", "gatekit-benches",
                                "--example", "tcp_relay"], cwd=ROOT)
            if r.returncode != 0:
                raise SystemExit("cargo build --release --example tcp_relay failed")
        if not self.relay_bin.exists():
            raise SystemExit(f"{self.relay_bin} is missing (build it, or drop --skip-build)")

    def ensure_pgbouncer(self):
        if shutil.which("pgbouncer"):
            return
        log("installing pgbouncer (Debian package)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for argv in (["apt-get", "update", "-qq"],
                     ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "pgbouncer"]):
            if subprocess.run(argv, env=env, stdout=subprocess.DEVNULL).returncode != 0:
                raise SystemExit("cannot install pgbouncer; install it and run again")
        if not shutil.which("pgbouncer"):
            raise SystemExit("pgbouncer is not on PATH after installing it")

    def start_postgres(self):
        data = self.work / "data"
        log(f"initdb + pg_ctl start (PostgreSQL from {self.bindir}, port {self.pg_port})")
        self.run(self.as_postgres([str(self.bindir / "initdb"), "-D", str(data), "-U", "postgres",
                                   "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]))
        conf = (
            f"listen_addresses = '127.0.0.1'\nport = {self.pg_port}\n"
            f"unix_socket_directories = '{self.work}'\n"
            f"max_connections = {self.args.idle + 100}\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            "password_encryption = 'scram-sha-256'\n"
        )
        with open(data / "postgresql.conf", "a") as f:
            f.write(conf)
        (data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "host all postgres 127.0.0.1/32 trust\n"
            f"host all {USER} 127.0.0.1/32 scram-sha-256\n"
        )
        self.run(self.as_postgres([str(self.bindir / "pg_ctl"), "-D", str(data), "-l",
                                   str(self.work / "postgres.log"), "-w", "start"]))
        self.pg_started = True
        if self.db_cpus:
            # Backends are forked from the postmaster and inherit its CPUs.
            postmaster = int((data / "postmaster.pid").read_text().split()[0])
            for pid in [postmaster] + children(postmaster):
                pin(pid, self.db_cpus)
        psql = [str(self.bindir / "psql"), "-h", str(self.work), "-p", str(self.pg_port),
                "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt"]
        self.run(self.as_postgres(psql + ["-d", "postgres", "-c",
                                          f"CREATE ROLE {USER} LOGIN PASSWORD '{self.password}'"]))
        self.run(self.as_postgres(psql + ["-d", "postgres", "-c",
                                          f"CREATE DATABASE {DB} OWNER {USER}"]))
        log(f"pgbench -i -s {self.args.scale}")
        self.run(self.as_postgres([str(self.bindir / "pgbench"), "-h", str(self.work),
                                   "-p", str(self.pg_port), "-U", USER, "-i", "-q",
                                   "-s", str(self.args.scale), DB]))

    def start_pgbouncer(self):
        ini = self.work / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"{DB} = host=127.0.0.1 port={self.pg_port} dbname={DB}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.bouncer_port}\nunix_socket_dir =\n"
            "auth_type = md5\nauth_file = userlist.txt\npool_mode = session\n"
            f"max_client_conn = {self.args.idle + 100}\ndefault_pool_size = {self.args.idle + 50}\n"
            "ignore_startup_parameters = extra_float_digits\n"
            "logfile = pgbouncer.log\nlog_connections = 0\nlog_disconnections = 0\n"
        )
        (self.work / "userlist.txt").write_text(f'"{USER}" "{self.password}"\n')
        for f in (ini, self.work / "userlist.txt"):
            if self.root:
                shutil.chown(f, "postgres", "postgres")
            os.chmod(f, 0o600)
        p = self.spawn("pgbouncer", self.as_postgres(["pgbouncer", str(ini)]))
        wait_port(self.bouncer_port, p, "pgbouncer")
        if self.proxy_cpus:
            pin(p.pid, self.proxy_cpus)

    def start_relay(self):
        p = self.spawn("relay", [str(self.relay_bin), f"127.0.0.1:{self.relay_port}",
                                 f"127.0.0.1:{self.pg_port}"])
        wait_port(self.relay_port, p, "the relay")
        if self.proxy_cpus:
            pin(p.pid, self.proxy_cpus)

    def gatekit_env(self):
        return dict(os.environ, GATEKIT_BENCH_SECRET=self.dev_secret,
                    BENCH_DB_PASSWORD=self.password, GATEKIT_LOG=self.args.gatekit_log)

    def write_gatekit_config(self):
        # The example's SQL rules and its `pii` profile, on for the bench user's group.
        (self.work / "gatekit.toml").write_text(f"""
[identity]
issuer = "https://idp.bench.invalid/"
audience = "gatekit"
hs256_secret_env = "GATEKIT_BENCH_SECRET"

[audit]
dir = "audit"
sync = "interval"

[policy]
default = "allow"
review_timeout = "15m"

[[target]]
name = "bench"
protocol = "postgres"
listen = "127.0.0.1:{self.gatekit_port}"
upstream = "127.0.0.1:{self.pg_port}"
database = "{DB}"
user = "{USER}"
password_env = "BENCH_DB_PASSWORD"
upstream_tls = "disable"
allow_plaintext_auth = true
allow_groups = ["dev", "dba"]

[[rule]]
name = "no-bulk-writes"
groups = ["dev"]
classes = ["bulk-write"]
action = "deny"
reason = "bulk writes are not allowed for developers"

[[rule]]
name = "risky-needs-review"
groups = ["dev"]
classes = ["ddl", "dcl", "admin", "destructive", "procedural", "unparsed"]
action = "review"
approvers = ["dba"]
approval = "once"
min_approvals = 1
reason = "schema, privilege and opaque changes need a DBA"

[[mask]]
name = "pii"
targets = ["bench"]
detectors = ["credit_card", "email", "us_ssn", "iban", "phone"]
columns = ["ssn", "*card*"]
strategy = "redact"
exempt_groups = ["dba"]
""")

    def start_gatekit(self):
        serve = [str(self.gatekit_bin), "--log-format", "json", "serve", "--config", "gatekit.toml"]
        if self.args.gatekit_threads:
            serve += ["--threads", str(self.args.gatekit_threads)]
        p = self.spawn("gatekit", serve, env=self.gatekit_env())
        wait_port(self.gatekit_port, p, "gatekit serve")
        if self.proxy_cpus:
            pin(p.pid, self.proxy_cpus)

    def mint_token(self):
        out = self.run([str(self.gatekit_bin), "token", "--config", "gatekit.toml", "--sub", USER,
                        "--group", "dev", "--ttl", "24h"], env=self.gatekit_env(), capture=True)
        self.token = out.strip()

    # ---- measuring -------------------------------------------------------------------

    def endpoint(self, target):
        """(port, password, sslmode) of a target."""
        return {
            "direct": (self.pg_port, self.password, "disable"),
            "relay": (self.relay_port, self.password, "disable"),
            "pgbouncer": (self.bouncer_port, self.password, "disable"),
            "gatekit": (self.gatekit_port, self.token, "disable"),
            "gatekit-tls": (self.gatekit_port, self.token, "require"),
        }[target]

    def proxy_pid(self, target):
        """The process whose CPU a target's transactions cost beyond PostgreSQL's."""
        name = {"relay": "relay", "pgbouncer": "pgbouncer", "gatekit": "gatekit",
                "gatekit-tls": "gatekit"}.get(target)
        return self.procs[name].pid if name else None

    def pgbench(self, target, mode, clients, seconds, connect=False):
        """(tps, latency in us, proxy CPU in us per transaction or None). With `connect`,
        every transaction opens a connection of its own (`pgbench -C`)."""
        port, password, sslmode = self.endpoint(target)
        pid = self.proxy_pid(target)
        ticks = cpu_ticks(pid) if pid else None
        env = dict(os.environ, PGPASSWORD=password, PGSSLMODE=sslmode)
        argv = [str(self.bindir / "pgbench"), "-n", "-S", "-M", mode, "-c", str(clients),
                "-j", str(min(clients, self.args.threads)), "-T", str(seconds),
                "-h", "127.0.0.1", "-p", str(port), "-U", USER, DB]
        if connect:
            argv.insert(1, "-C")
        cpus = self.db_cpus
        r = subprocess.run(argv, cwd=self.work, env=env, text=True, capture_output=True,
                           preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
        if r.returncode != 0:
            raise SystemExit(f"pgbench against {target} failed:\n{r.stdout}\n{r.stderr}")
        used = cpu_ticks(pid) - ticks if pid else None
        tps = lat = txns = None
        for line in r.stdout.splitlines():
            if line.startswith("tps = "):
                tps = float(line.split()[2])
            elif line.startswith("latency average = "):
                lat = float(line.split()[3])
            elif line.startswith("number of transactions actually processed: "):
                txns = int(line.split(":")[1].split("/")[0])
        if tps is None or lat is None or not txns:
            raise SystemExit(f"cannot read pgbench output:\n{r.stdout}")
        cpu_us = None
        if used is not None:
            cpu_us = used * 1e6 / os.sysconf("SC_CLK_TCK") / txns
        return tps, lat * 1000.0, cpu_us

    def run_matrix(self):
        a = self.args
        runs = []
        total = a.rounds * len(a.modes) * len(a.clients) * len(TARGETS)
        log(f"{total} pgbench runs of {a.seconds}s, targets alternated")
        for rnd in range(1, a.rounds + 1):
            for mode in a.modes:
                for clients in a.clients:
                    for target in TARGETS:
                        tps, lat_us, cpu_us = self.pgbench(target, mode, clients, a.seconds)
                        runs.append({"round": rnd, "mode": mode, "clients": clients,
                                     "target": target, "tps": tps, "latency_us": lat_us,
                                     "proxy_cpu_us_per_txn": cpu_us})
                        cpu = f" {cpu_us:6.1f} us CPU/txn" if cpu_us is not None else ""
                        log(f"round {rnd} {mode:8} c={clients:<3} {target:11} "
                            f"{tps:10.0f} tps {lat_us:8.1f} us{cpu}")
        return runs

    def run_connect(self):
        """Connection set-up: `pgbench -C -S` at 4 clients, one connection per
        transaction, targets alternated round by round."""
        a = self.args
        runs = []
        log(f"{a.rounds * len(TARGETS)} connection runs of {a.connect}s, targets alternated")
        for rnd in range(1, a.rounds + 1):
            for target in TARGETS:
                tps, lat_us, cpu_us = self.pgbench(target, "simple", 4, a.connect, connect=True)
                runs.append({"round": rnd, "target": target, "connections_per_s": tps,
                             "latency_us": lat_us, "proxy_cpu_us_per_connection": cpu_us})
                cpu = f" {cpu_us / 1000:6.2f} ms CPU/conn" if cpu_us is not None else ""
                log(f"round {rnd} connect     c=4   {target:11} {tps:10.0f} conn/s "
                    f"{lat_us / 1000:8.2f} ms{cpu}")
        return runs

    def idle(self, target, pid):
        port, password, _ = self.endpoint(target)
        # One connection first, so per-process start-up costs are not counted.
        warm = pg_login(port, USER, password, DB)
        time.sleep(0.5)
        before = rss_kib(pid)
        conns = []
        try:
            for _ in range(self.args.idle):
                conns.append(pg_login(port, USER, password, DB))
            time.sleep(1.0)
            after = rss_kib(pid)
        finally:
            for c in conns:
                close_quietly(c)
            close_quietly(warm)
        per_conn = (after - before) / max(len(conns), 1)
        log(f"{target}: RSS {before} KiB -> {after} KiB with {len(conns)} idle connections "
            f"({per_conn:.1f} KiB each)")
        return {"target": target, "connections": len(conns), "rss_before_kib": before,
                "rss_after_kib": after, "kib_per_connection": per_conn}

    def run_idle(self):
        # Fresh processes: memory retained from the pgbench runs would hide the cost.
        self.stop("gatekit")
        self.stop("pgbouncer")
        self.start_gatekit()
        results = [self.idle("gatekit", self.procs["gatekit"].pid)]
        self.stop("gatekit")
        self.start_pgbouncer()
        results.append(self.idle("pgbouncer", self.procs["pgbouncer"].pid))
        return results


# ---- a minimal PostgreSQL client: startup, password or MD5 login, then idle ----------------

def pg_login(port, user, password, db):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    body = struct.pack("!I", 196608)
    for k, v in (("user", user), ("database", db)):
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    s.sendall(struct.pack("!I", len(body) + 4) + body)
    while True:
        kind, payload = read_msg(s)
        if kind == b"R":
            code = struct.unpack("!I", payload[:4])[0]
            if code == 3:
                send_password(s, password)
            elif code == 5:
                inner = hashlib.md5((password + user).encode()).hexdigest()
                outer = hashlib.md5(inner.encode() + payload[4:8]).hexdigest()
                send_password(s, "md5" + outer)
            elif code != 0:
                raise SystemExit(f"port {port}: unsupported authentication request {code}")
        elif kind == b"E":
            raise SystemExit(f"port {port}: login failed: {payload!r}")
        elif kind == b"Z":
            return s


def send_password(s, text):
    body = text.encode() + b"\0"
    s.sendall(b"p" + struct.pack("!I", len(body) + 4) + body)


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise SystemExit("server closed the connection during login")
        buf += chunk
    return buf


def read_msg(s):
    head = read_exact(s, 5)
    length = struct.unpack("!I", head[1:])[0]
    if length < 4 or length > 1 << 20:
        raise SystemExit(f"bad message length {length}")
    return head[:1], read_exact(s, length - 4)


def close_quietly(s):
    try:
        s.sendall(b"X\0\0\0\4")
    except OSError:
        pass
    s.close()


# ---- the report --------------------------------------------------------------------------

def spread(values, digits):
    """Median, min and max of paired values, rounded."""
    if not values:
        return None
    return {"median": round(statistics.median(values), digits),
            "min": round(min(values), digits), "max": round(max(values), digits)}


def paired(cells, mode, clients, target):
    """A proxy against pgbouncer, round by round: TPS ratios and latency differences."""
    bouncer = {r["round"]: r for r in cells.get((mode, clients, "pgbouncer"), [])}
    ratios, extra = [], []
    for r in cells.get((mode, clients, target), []):
        b = bouncer.get(r["round"])
        if b:
            ratios.append(r["tps"] / b["tps"])
            extra.append(r["latency_us"] - b["latency_us"])
    return spread(ratios, 3), spread(extra, 1)


def summarize_connect(runs):
    """Medians per target of the connection runs."""
    out = []
    for t in TARGETS:
        rs = [r for r in runs if r["target"] == t]
        if not rs:
            continue
        cpu = [r["proxy_cpu_us_per_connection"] for r in rs
               if r["proxy_cpu_us_per_connection"] is not None]
        out.append({"target": t,
                    "connections_per_s_median": round(statistics.median(
                        r["connections_per_s"] for r in rs), 1),
                    "proxy_cpu_ms_per_connection": round(statistics.median(cpu) / 1000, 3)
                    if cpu else None})
    direct = next((r for r in out if r["target"] == "direct"), None)
    for r in out:
        r["vs_direct"] = round(r["connections_per_s_median"]
                               / direct["connections_per_s_median"], 3) if direct else None
    return out


def summarize(runs, idle, args, connect=()):
    cells = {}
    for r in runs:
        cells.setdefault((r["mode"], r["clients"], r["target"]), []).append(r)
    table = []
    for mode in args.modes:
        for clients in args.clients:
            med = {}
            for t in TARGETS:
                rs = cells.get((mode, clients, t), [])
                cpu = [r["proxy_cpu_us_per_txn"] for r in rs
                       if r.get("proxy_cpu_us_per_txn") is not None]
                med[t] = (statistics.median(r["tps"] for r in rs),
                          statistics.median(r["latency_us"] for r in rs),
                          statistics.median(cpu) if cpu else None)
            for t in TARGETS:
                tps, lat, cpu = med[t]
                ratio, extra = paired(cells, mode, clients, t) \
                    if t not in ("direct", "pgbouncer") else (None, None)
                table.append({
                    "mode": mode, "clients": clients, "target": t,
                    "tps_median": round(tps, 1),
                    "vs_direct": round(tps / med["direct"][0], 3),
                    "vs_pgbouncer": round(tps / med["pgbouncer"][0], 3),
                    "latency_us_median": round(lat, 1),
                    "added_latency_us": round(lat - med["direct"][1], 1),
                    "proxy_cpu_us_per_txn": round(cpu, 1) if cpu is not None else None,
                    "vs_pgbouncer_paired": ratio,
                    "latency_vs_pgbouncer_us_paired": extra,
                })
    return {
        "settings": {"rounds": args.rounds, "seconds": args.seconds, "clients": args.clients,
                     "modes": args.modes, "scale": args.scale, "threads": args.threads,
                     "connect_seconds": args.connect, "idle": args.idle,
                     "gatekit_threads": args.gatekit_threads or "per CPU",
                     "pinned": args.pin,
                     "cpus": os.cpu_count()},
        "table": table,
        "idle": idle,
        "connect": summarize_connect(connect),
        "runs": runs,
        "connect_runs": list(connect),
    }


def fmt_cpu(us):
    """A proxy's CPU per transaction for the report; `-` for direct."""
    return "-" if us is None else f"{us:.1f}"


def print_report(summary):
    print()
    s = summary["settings"]
    pinned = "; proxies pinned to a CPU of their own" if s.get("pinned") else ""
    print(f"pgbench -S, median of {s['rounds']} alternated rounds of {s['seconds']}s "
          f"({s['cpus']} CPUs; gatekit serve threads: {s['gatekit_threads']}{pinned})")
    print(f"{'mode':9} {'clients':>7} {'target':12} {'TPS':>10} {'/direct':>8} {'/bouncer':>9} "
          f"{'lat us':>8} {'+us':>7} {'CPU us/txn':>11}")
    for row in summary["table"]:
        print(f"{row['mode']:9} {row['clients']:>7} {row['target']:12} {row['tps_median']:>10.0f} "
              f"{row['vs_direct']:>8.3f} {row['vs_pgbouncer']:>9.3f} "
              f"{row['latency_us_median']:>8.1f} {row['added_latency_us']:>7.1f} "
              f"{fmt_cpu(row['proxy_cpu_us_per_txn']):>11}")
    print()
    print("paired by round against pgbouncer: TPS ratio, latency difference "
          "(median, min..max over rounds)")
    for row in summary["table"]:
        ratio, extra = row["vs_pgbouncer_paired"], row["latency_vs_pgbouncer_us_paired"]
        if ratio is None:
            continue
        print(f"{row['mode']:9} {row['clients']:>7} {row['target']:12} "
              f"{ratio['median']:6.3f} ({ratio['min']:.3f}..{ratio['max']:.3f})   "
              f"{extra['median']:+7.1f} us ({extra['min']:+.1f}..{extra['max']:+.1f})")
    print()
    by = {(r["mode"], r["clients"], r["target"]): r for r in summary["table"]}
    for mode in summary["settings"]["modes"]:
        if 1 not in summary["settings"]["clients"]:
            break
        g, b = by[(mode, 1, "gatekit")], by[(mode, 1, "pgbouncer")]
        extra = g["latency_vs_pgbouncer_us_paired"]
        print(f"{mode}, 1 client: gatekit adds {g['added_latency_us']:.1f} us, pgbouncer "
              f"{b['added_latency_us']:.1f} us; gatekit - pgbouncer = "
              f"{g['latency_us_median'] - b['latency_us_median']:+.1f} us, paired "
              f"{extra['median']:+.1f} us ({extra['min']:+.1f}..{extra['max']:+.1f}) "
              f"(goal: <= 10 us)")
    for r in summary["connect"]:
        cpu = r["proxy_cpu_ms_per_connection"]
        cpu = f", proxy CPU {cpu:.2f} ms per connection" if cpu is not None else ""
        print(f"connect: {r['target']}: {r['connections_per_s_median']:.0f} connections/s "
              f"({r['vs_direct']:.3f} of direct){cpu}")
    for r in summary["idle"]:
        print(f"idle: {r['target']}: {r['connections']} connections, "
              f"{r['kib_per_connection']:.1f} KiB RSS each "
              f"({r['rss_before_kib']} -> {r['rss_after_kib']} KiB)")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="alternated rounds (default 3)")
    p.add_argument("--seconds", type=int, default=4, help="seconds per pgbench run (default 4)")
    p.add_argument("--clients", default="1,8,32", help="client counts (default 1,8,32)")
    p.add_argument("--modes", default="extended,simple", help="pgbench -M modes")
    p.add_argument("--threads", type=int, default=2, help="pgbench -j at most (default 2)")
    p.add_argument("--scale", type=int, default=1, help="pgbench -i scale (default 1)")
    p.add_argument("--idle", type=int, default=1000, help="idle connections (0: skip)")
    p.add_argument("--connect", type=int, default=4,
                   help="seconds per connection-rate run, pgbench -C (0: skip; default 4)")
    p.add_argument("--json", type=Path, help="also write the results as JSON here")
    p.add_argument("--skip-build", action="store_true", help="use the existing release build")
    p.add_argument("--gatekit", type=Path,
                   help="use this gatekit binary (no gatekit build; the relay is still built "
                        "unless --skip-build)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, audit trail)")
    p.add_argument("--gatekit-log", default="warn", help="GATEKIT_LOG for the gateway")
    p.add_argument("--pin", action="store_true",
                   help="pin the proxies to the last CPU, PostgreSQL and pgbench to the others")
    p.add_argument("--gatekit-threads", type=int, default=0,
                   help="gatekit serve --threads (default: its own, one per CPU)")
    args = p.parse_args()
    args.clients = [int(c) for c in args.clients.split(",")]
    args.modes = args.modes.split(",")

    def on_term(signum, _frame):
        raise SystemExit(128 + signum)

    # Ctrl-C must reach us even when started from a shell that ignores SIGINT for
    # background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    h = Harness(args)
    try:
        h.build()
        h.ensure_pgbouncer()
        h.start_postgres()
        h.write_gatekit_config()
        h.mint_token()
        h.start_relay()
        h.start_pgbouncer()
        h.start_gatekit()
        runs = h.run_matrix()
        connect = h.run_connect() if args.connect > 0 else []
        idle = h.run_idle() if args.idle > 0 else []
        summary = summarize(runs, idle, args, connect)
        print_report(summary)
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2) + "\n")
            log(f"results written to {args.json}")
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        h.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
