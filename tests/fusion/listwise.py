import sys, math

import numpy as np
import importlib.util
spec = importlib.util.spec_from_file_location('f2', __import__('os').path.join(__import__('os').path.dirname(__file__), 'fit_second.py'))
# reuse fit2 functions without running its main: copy relevant parts
src = open(__import__('os').path.join(__import__('os').path.dirname(__file__), 'fit_second.py')).read().split("qs = load(")[0]
g = {}
exec(src, g)
F = g['F']
def build(qs, mode):
    g['MODE'] = mode
    data = []
    for q in qs:
        x = np.array([g['features'](q, h, False) for h in q['hits']])
        rel = set(q['relevant'])
        y = np.array([1.0 if h['key'] in rel else 0.0 for h in q['hits']])
        if y.sum() == 0: continue
        data.append((x, y, q['set']))
    return data
def listfit(data, steps=1500, rate=0.05, l2=1e-3):
    allx = np.vstack([d[0] for d in data]); mu, sd = allx.mean(0), allx.std(0) + 1e-9
    z = np.hstack([(allx - mu) / sd])
    n = {s: sum(1 for d in data if d[2] == s) for s in ('projects','locomo')}
    sizes = [len(d[0]) for d in data]; starts = np.r_[0, np.cumsum(sizes)[:-1]]
    grp = np.repeat(np.arange(len(data)), sizes)
    t = np.concatenate([d[1] / d[1].sum() for d in data])
    wq = np.array([1.0 / n[d[2]] for d in data]) / 2
    th = np.zeros(z.shape[1]); m = np.zeros_like(th); v = np.zeros_like(th)
    for it in range(1, steps + 1):
        sc = z @ th
        mx = np.maximum.reduceat(sc, starts); e = np.exp(sc - mx[grp]); den = np.add.reduceat(e, starts)
        p = e / den[grp]
        grad = z.T @ ((p - t) * wq[grp]) + l2 * th
        m = 0.9 * m + 0.1 * grad; v = 0.999 * v + 0.001 * grad ** 2
        th -= rate * (m / (1 - 0.9 ** it)) / (np.sqrt(v / (1 - 0.999 ** it)) + 1e-8)
    return th / sd, 0.0
def evalr(qs, model, mode):
    g['MODE'] = mode
    g['report']('  ', qs, model)
qs = g['load']([sys.argv[1]], 'projects') + g['load']([sys.argv[2]], 'locomo')
for mode in sys.argv[3:]:
    m = listfit(build(qs, mode)); print(mode, ' '.join(f'{v:.2f}' for v in m[0])); evalr(qs, m, mode)
    even, odd = qs[0::2], qs[1::2]
    evalr(odd, listfit(build(even, mode)), mode); evalr(even, listfit(build(odd, mode)), mode)
