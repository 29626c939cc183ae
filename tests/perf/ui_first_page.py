#!/usr/bin/env python3
"""The inspector on a large store: how long `engram ui` takes to show its first page, and its first searches.

usage: python3 tests/perf/ui_first_page.py [--memories 100000] [--scopes 5]
Builds the solution's engram (Release) first. Imports N synthetic memories into a fresh SQLite store (builtin
embeddings), starts `engram ui`, opens its one-time link like a browser, and times what the first page asks for (the
page, its script, /api/overview, the current scope's first 50 memories), then the first search once the indexes
have been brought up to date at start, and a later one. Prints one line per figure."""
import argparse, http.cookiejar, json, os, random, re, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DLL = os.path.join(ROOT, "src/Engram.Mcp/bin/Release/net10.0/engram.dll")
WORDS = "build deploy cache queue schema index token backup nightly cluster staging review release test flaky agent parser billing invoice retry".split()

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--memories", type=int, default=100000)
    ap.add_argument("--scopes", type=int, default=5)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="engram-ui-perf-")
    env = dict(os.environ, ENGRAM_HOME=os.path.join(work, "home"), ENGRAM_EMBEDDINGS="builtin", ENGRAM_LOG_LEVEL="Warning")
    rnd = random.Random(3)
    path = os.path.join(work, "m.jsonl")
    with open(path, "w") as f:
        for i in range(a.memories):
            f.write(json.dumps({"id": f"mem_ui{i:08d}", "scope": f"project:github.com/acme/repo{i % a.scopes}",
                                "content": f"Note {i}: the {' '.join(rnd.choice(WORDS) for _ in range(8))} step uses host h{rnd.randrange(10**6)}.",
                                "tags": [f"t{i % 7}"], "observedAt": "2026-01-01T00:00:00+00:00", "createdAt": "2026-01-01T00:00:00+00:00",
                                "supersededBy": None, "supersededAt": None}) + "\n")
    r = subprocess.run(["dotnet", DLL, "import", path], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("import failed: " + r.stderr[-2000:])
    scope = "project:github.com/acme/repo1"
    started = time.perf_counter()
    ui = subprocess.Popen(["dotnet", DLL, "ui", "--scope", scope], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://\S+token=\S+", ui.stderr.readline()).group(0)
        print(f"engram ui listening after {time.perf_counter() - started:.2f} s ({a.memories} memories in {a.scopes} scopes)")
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        base = url.split("/?")[0]
        def get(p):
            with opener.open(base + p if p.startswith("/") else p, timeout=120) as resp:
                return resp.read().decode()
        t = time.perf_counter()
        parts = []
        for name, p in [("page", url), ("script", "/app.js"), ("styles", "/app.css"), ("overview", "/api/overview"),
                        ("first 50 memories", f"/api/memories?scope={urllib.parse.quote(scope)}&offset=0&limit=50&superseded=1")]:
            t0 = time.perf_counter()
            body = get(p)
            parts.append(f"{name} {(time.perf_counter() - t0) * 1000:.0f}")
            if name == "page":
                page = body
        print(f"first page: {(time.perf_counter() - t) * 1000:.0f} ms ({', '.join(parts)} ms)")
        csrf = re.search(r'name="engram-csrf" content="([^"]+)"', page).group(1)
        def search(q):
            req = urllib.request.Request(base + "/api/search", json.dumps({"query": q, "scope": scope}).encode(),
                                         {"Content-Type": "application/json", "X-Engram-Csrf": csrf})
            t0 = time.perf_counter()
            with opener.open(req, timeout=120) as resp:
                resp.read()
            return (time.perf_counter() - t0) * 1000
        t = time.perf_counter()
        get(f"/api/memories?scope={urllib.parse.quote(scope)}&offset={a.memories // a.scopes - 50}&limit=50&superseded=1")
        print(f"last page of the scope (offset {a.memories // a.scopes - 50}): {(time.perf_counter() - t) * 1000:.0f} ms")
        time.sleep(15)
        print(f"first search, 15 s after start: {search('nightly backup cluster'):.0f} ms; a later one: {search('flaky parser retry'):.0f} ms")
    finally:
        ui.terminate()
        ui.wait()

if __name__ == "__main__":
    import urllib.parse
    main()
