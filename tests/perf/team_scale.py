#!/usr/bin/env python3
"""Team-store scale figures on PostgreSQL: ingest rate, a new server's first answer and its index build from empty (in
the background), recall p50/p95 over HTTP under concurrent clients on several servers, memory per server, database size.

usage: ENGRAM_TEST_POSTGRES='Host=127.0.0.1;Port=55432;Username=postgres' \
       python3 tests/perf/team_scale.py --memories 20000 --scopes 100 --servers 3 --clients 6 [--embeddings builtin]
Creates (and drops) a database of its own. Prints one line per figure."""
import argparse, json, os, random, statistics, subprocess, sys, tempfile, threading, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DLL = os.path.join(ROOT, "src/Engram.Mcp/bin/Release/net10.0/engram.dll")
WORDS = "build deploy cache queue schema index token backup nightly cluster staging review release test flaky agent".split()

def psql(server, sql):
    kv = dict(p.split("=", 1) for p in server.split(";") if p)
    env = dict(os.environ)
    cmd = ["psql", "-h", kv.get("Host", "127.0.0.1"), "-p", kv.get("Port", "5432"), "-U", kv.get("Username", "postgres"), "-d", "postgres", "-qAt", "-c", sql]
    bindir = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1] if os.path.isdir("/usr/lib/postgresql") else None
    if bindir:
        cmd[0] = f"/usr/lib/postgresql/{bindir}/bin/psql"
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout

def engram(args, env, **kw):
    return subprocess.run(["dotnet", DLL] + args, env=env, capture_output=True, text=True, **kw)

def call(url, token, method, params, rid=1):
    body = json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith("data:"):
            return json.loads(line[5:])
    return json.loads(text)

def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0

def run_clients(a, urls, token, queries):
    """Recalls from a.clients threads spread over the servers, each in a random scope; sorted latencies in ms."""
    latencies, lock = [], threading.Lock()
    def client(c):
        rr = random.Random(c + queries)
        for q in range(queries // a.clients):
            u = urls[(c + q) % len(urls)]
            scope = f"project:github.com/acme/repo{rr.randrange(a.scopes)}"
            t0 = time.perf_counter()
            call(u, token, "tools/call", {"name": "recall", "arguments": {"query": " ".join(rr.choice(WORDS) for _ in range(3)), "scope": scope}}, q + 2)
            with lock:
                latencies.append((time.perf_counter() - t0) * 1000)
    threads = [threading.Thread(target=client, args=(c,)) for c in range(a.clients)]
    [th.start() for th in threads]
    [th.join() for th in threads]
    return sorted(latencies)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--memories", type=int, default=20000)
    ap.add_argument("--scopes", type=int, default=100)
    ap.add_argument("--servers", type=int, default=3)
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--embeddings", default="builtin")
    ap.add_argument("--during-build", action="store_true", help="also measure recalls while the servers build their indexes")
    a = ap.parse_args()
    server = os.environ["ENGRAM_TEST_POSTGRES"]
    db = f"engram_scale_{os.getpid()}"
    psql(server, f"CREATE DATABASE {db}")
    store = f"{server};Database={db}"
    work = tempfile.mkdtemp(prefix="engram-scale-")
    procs = []
    try:
        rnd = random.Random(7)
        path = os.path.join(work, "memories.jsonl")
        with open(path, "w") as f:
            for i in range(a.memories):
                s = i % a.scopes
                words = " ".join(rnd.choice(WORDS) for _ in range(6))
                f.write(json.dumps({"id": f"mem_scale{i:09d}", "scope": f"project:github.com/acme/repo{s}", "content": f"Fact {i} of repo{s}: the {words} step uses host h{rnd.randrange(10**6)}.",
                                    "tags": [], "observedAt": "2026-01-01T00:00:00+00:00", "createdAt": "2026-01-01T00:00:00+00:00", "supersededBy": None, "supersededAt": None}) + "\n")
        base = dict(os.environ, ENGRAM_STORE=store, ENGRAM_EMBEDDINGS=a.embeddings, ENGRAM_LOG_LEVEL="Warning")
        env = dict(base, ENGRAM_HOME=os.path.join(work, "importer"))
        t = time.perf_counter()
        r = engram(["import", path], env)
        took = time.perf_counter() - t
        if r.returncode != 0:
            sys.exit("import failed: " + r.stderr[-2000:])
        print(f"ingest: {a.memories} memories in {a.scopes} scopes in {took:.1f} s = {a.memories / took:.0f} memories/s (engram import, one process, embeddings {a.embeddings})")
        token = engram(["token", "add", "bench", "--scopes", "project:*"], env).stdout.strip().splitlines()[-1]

        size = int(psql(server, "SELECT pg_database_size('%s')" % db).strip())
        print(f"database size: {size / 2**20:.0f} MB")

        # Each server logs (at Information) when its lexical index is built; a reader thread notes the moment.
        urls, built = [], {}
        def watch(n, stream):
            for line in stream:
                if "built in the background" in line and n not in built:
                    built[n] = time.perf_counter()
        for n in range(a.servers):
            port = 18800 + n
            senv = dict(base, ENGRAM_HOME=os.path.join(work, f"server{n}"), ENGRAM_LOG_LEVEL="Information")
            p = subprocess.Popen(["dotnet", DLL, "serve", "--http", "--port", str(port)], env=senv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            procs.append(p)
            while "MCP Streamable HTTP at" not in p.stderr.readline():
                pass
            threading.Thread(target=watch, args=(n, p.stderr), daemon=True).start()
            urls.append(f"http://127.0.0.1:{port}/mcp")
        init = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "scale", "version": "1"}}
        for u in urls:
            call(u, token, "initialize", init)
        # A new server's first recall answers at once (words found by PostgreSQL's full-text search, the scope's
        # vectors read whole) while its lexical index builds from the change feed in the background.
        t = time.perf_counter()
        call(urls[0], token, "tools/call", {"name": "recall", "arguments": {"query": "nightly backup host", "scope": "project:github.com/acme/repo1"}})
        print(f"new server: first recall answered in {(time.perf_counter() - t) * 1000:.0f} ms while its lexical index builds")
        for u in urls[1:]:
            call(u, token, "tools/call", {"name": "recall", "arguments": {"query": "warm", "scope": "project:github.com/acme/repo1"}})
        if a.during_build:
            lat = run_clients(a, urls, token, max(1, a.queries // 3))
            print(f"recall over HTTP while the servers build their indexes: {len(lat)} calls: p50 {lat[len(lat) // 2]:.1f} ms, p95 {lat[int(len(lat) * 0.95)]:.1f} ms")
        while len(built) < a.servers:
            if any(p.poll() is not None for p in procs):
                sys.exit("a server exited")
            time.sleep(0.5)
        print("lexical index built in the background, from the first recall: " + ", ".join(f"{built[n] - t:.0f} s" for n in sorted(built))
              + f" ({a.servers} servers building at once on this machine)")
        print("memory per server after the build (RSS): " + ", ".join(f"{rss_mb(p.pid):.0f} MB" for p in procs))

        t = time.perf_counter()
        latencies = run_clients(a, urls, token, a.queries)
        wall = time.perf_counter() - t
        p50, p95 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.95)]
        print(f"recall over HTTP: {len(latencies)} calls, {a.clients} clients on {a.servers} servers: p50 {p50:.1f} ms, p95 {p95:.1f} ms, {len(latencies) / wall:.0f} calls/s")
        print(f"memory per server after {a.queries} recalls in random scopes (RSS): " + ", ".join(f"{rss_mb(p.pid):.0f} MB" for p in procs))
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        psql(server, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")

if __name__ == "__main__":
    main()
