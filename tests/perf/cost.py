#!/usr/bin/env python3
"""What Engram costs through MCP on this machine: start-up, remember and recall latency, memory.

Starts the built server over stdio with a bare JSON-RPC client (no SDK in between), times the first tools/list from
process start, stores N memories one `remember` call at a time (LoCoMo's turns, read from ../shared at run time),
asks questions with recall's default limit, then as many other questions again (the first set runs right after the
burst of writes, while the recall path's code is still being optimised and its caches fill; the second shows the server
warm), and reads the server's resident memory from /proc.

    python3 tests/perf/cost.py [--memories 2000] [--questions 300] [--embeddings builtin]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.normpath(os.path.join(here, '..', '..'))
parser = argparse.ArgumentParser()
parser.add_argument('--server', default=os.path.join(root, 'src', 'Engram.Mcp', 'bin', 'Release', 'net10.0', 'engram.dll'))
parser.add_argument('--data', default=os.path.join(root, '..', 'shared', 'bench', 'locomo'))
parser.add_argument('--memories', type=int, default=2000)
parser.add_argument('--questions', type=int, default=300)
parser.add_argument('--embeddings', default=None, help='ENGRAM_EMBEDDINGS for the server (default: unset, the shipped model)')
parser.add_argument('--launches', type=int, default=7, help='launches for the median time to the first tools/list')
args = parser.parse_args()

conversations = json.load(open(os.path.join(args.data, 'locomo-dev.json')))
turns, questions = [], []
for sample in conversations:
    conv = sample['conversation']
    n = 1
    while f'session_{n}' in conv:
        turns += [f"{t['speaker']}: {t['text']}" for t in conv[f'session_{n}']]
        n += 1
for line in open(os.path.join(args.data, 'locomo-dev-qrels.jsonl')):
    questions.append(json.loads(line)['question'])
turns, questions, later = turns[:args.memories], questions[:args.questions], questions[args.questions:2 * args.questions]

home = tempfile.mkdtemp(prefix='engram-cost-')
env = dict(os.environ, ENGRAM_HOME=home, ENGRAM_SCOPE='user', ENGRAM_LOG_LEVEL='Warning')
env.pop('ENGRAM_EMBEDDINGS', None)
if args.embeddings:
    env['ENGRAM_EMBEDDINGS'] = args.embeddings
server, next_id = None, 0

def call(method, params=None):
    global next_id
    next_id += 1
    server.stdin.write((json.dumps({'jsonrpc': '2.0', 'id': next_id, 'method': method, 'params': params or {}}) + '\n').encode())
    server.stdin.flush()
    while True:
        message = json.loads(server.stdout.readline())
        if message.get('id') == next_id:
            if 'error' in message or message.get('result', {}).get('isError'):
                raise SystemExit(f'{method} failed: {message}')
            return message['result']

def launch():
    """Starts the server and shakes hands; returns the time from process start to the first tools/list answer."""
    global server
    start = time.perf_counter()
    server = subprocess.Popen(['dotnet', args.server], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sys.stderr, env=env)
    call('initialize', {'protocolVersion': '2025-06-18', 'capabilities': {}, 'clientInfo': {'name': 'cost', 'version': '1'}})
    server.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    call('tools/list')
    return time.perf_counter() - start

lists = []
for _ in range(max(0, args.launches - 1)):
    lists.append(launch())
    server.kill()
    server.wait()
lists.append(launch())
first_list = statistics.median(lists)

def timed(name, arguments):
    t = time.perf_counter()
    call('tools/call', {'name': name, 'arguments': arguments})
    return (time.perf_counter() - t) * 1000

first_remember = timed('remember', {'content': turns[0]})
remember = [timed('remember', {'content': text}) for text in turns[1:]]
first_recall = timed('recall', {'query': questions[0]})
recall = [timed('recall', {'query': q}) for q in questions[1:]]
warm = [timed('recall', {'query': q}) for q in later]
rss = next(int(l.split()[1]) for l in open(f'/proc/{server.pid}/status') if l.startswith('VmRSS')) / 1024
server.kill()

def p(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]

print(f"embeddings: {args.embeddings or 'default (shipped model)'}; {len(turns)} memories, {len(questions)} recalls (limit 10)")
print(f"first tools/list {first_list * 1000:.0f} ms from process start (median of {len(lists)} launches); first remember {first_remember:.0f} ms; first recall {first_recall:.0f} ms")
print(f"remember p50 {statistics.median(remember):.2f} ms, p95 {p(remember, 0.95):.2f} ms")
print(f"recall p50 {statistics.median(recall):.2f} ms, p95 {p(recall, 0.95):.2f} ms (the {len(recall)} right after the writes)")
if warm:
    print(f"recall p50 {statistics.median(warm):.2f} ms, p95 {p(warm, 0.95):.2f} ms (the {len(warm)} other questions after them)")
print(f"server RSS after {len(turns)} memories and {len(questions) + len(warm)} recalls: {rss:.0f} MB")
