"""Experiment (reverted in the next commit): refits the fusion with a second model's cosines (arctic-embed-xs), vector feedback
(the query plus the fused top 3 memories' vectors) or cosine alone, on dumps made by `signals --second onnx:<arctic folder>`.
    python3 tests/fusion/fit_second.py p.jsonl l.jsonl base both arctic prf prfonly cos
    python3 tests/fusion/listwise.py p.jsonl l.jsonl base prf      # the same features, a listwise (softmax per question) fit
"""
import sys, json, math
sys.path.insert(0, __import__('os').path.dirname(__file__))
import numpy as np
import fit as F

MODE = 'base'
def load(paths, kind):
    qs = F.load(paths, kind)
    for q in qs:
        q['best_cos'] = max([h.get('cos1') or 0 for h in q['hits']] + [0])
        q['best_cos2'] = max([h.get('cos2') or 0 for h in q['hits']] + [0])
    return qs

def features(q, h, words_only):
    lex = (h['lex'] or 0) / q['best_lex']
    lex_rank = 1 / math.log2(1 + h['lexRank']) if h['lexRank'] else 0
    time, entities = h['time'] or 0, 1.0 if h['ent'] else 0.0
    cos, best = h.get('cos1') or 0.0, q['best_cos']
    vec_rank = 1 / math.log2(1 + h['rank1']) if h.get('rank1') else 0
    match = 1.0 if h['lex'] else 0.0
    f = [cos, cos - best, vec_rank, lex, lex_rank, time, entities, best, match, lex * best, (cos - best) * match]
    if MODE == 'cos':
        return [cos]
    if MODE.startswith('lq'):
        L = math.log(1 + q['best_lex'])
        f += [cos * L, lex * L, vec_rank * L, (cos - best) * L]
        if MODE == 'lq2':
            f += [lex_rank * L, match * L]
    if MODE.startswith('prf'):
        c3 = h.get('cos3') or 0.0
        r3 = 1 / math.log2(1 + h['rank3']) if h.get('rank3') else 0
        f += [c3, r3, c3 * match]
    if MODE == 'prfonly':
        return [h.get('cos3') or 0.0]
    if MODE in ('both', 'arctic'):
        c2, b2 = h.get('cos2') or 0.0, q['best_cos2']
        r2 = 1 / math.log2(1 + h['rank2']) if h.get('rank2') else 0
        g = [c2, c2 - b2, r2, b2, (c2 - b2) * match, lex * b2]
        if MODE == 'arctic':
            f = [g[0], g[1], g[2], lex, lex_rank, time, entities, g[3], match, g[5], g[4]]
        else:
            f += g
    return f
F.features = features

def recall(questions, model, ks):
    raw, bias = model
    out = {}
    for q in questions:
        ranked = sorted(q['hits'], key=lambda h: -(np.dot(raw, features(q, h, False)) + bias))
        keys = [h['key'] for h in ranked]
        for group in ('all', q['kind']):
            out.setdefault((q['set'], group), []).append([len(set(q['relevant']) & set(keys[:k])) / len(q['relevant']) for k in ks])
    return {k: [round(float(np.mean([r[i] for r in v])), 3) for i in range(len(ks))] for k, v in out.items()}

def report(tag, qs, model):
    p = recall([q for q in qs if q['set'] == 'projects'], model, (1, 3, 10))
    l = recall([q for q in qs if q['set'] == 'locomo'], model, (10, 50))
    print(f"{tag}: projects {p.get(('projects','all'))} para {p.get(('projects','paraphrase'))}; LoCoMo {l.get(('locomo','all'))} mh {l.get(('locomo','c1'))}")

qs = load([sys.argv[1]], 'projects') + load([sys.argv[2]], 'locomo')
for MODE in sys.argv[3:]:
    m = F.fit(qs, False)
    print(MODE, ' '.join(f'{v:.2f}' for v in m[0]))
    report('  full', qs, m)
    even, odd = qs[0::2], qs[1::2]
    report('  even->odd', odd, F.fit(even, False))
    report('  odd->even', even, F.fit(odd, False))
