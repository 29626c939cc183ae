#!/usr/bin/env python3
"""Fits the weights of Engram's fusion by evidence (src/Engram.Core/Search/EvidenceFusion.cs) on dev data.

Each candidate of each question, with its signals, comes from the eval runner's `signals` verb; several dumps of one
set (say one made before a change of the fusion and one after: each holds that fusion's top 100) are merged by
question, so the fit sees the candidates either fusion puts first. Each question carries its scope and the query's
mean cosine over the memories searched (`mu`), which dumps made before 2026-12-06 lack: remake them. The two sets weigh
the same. Prints the weights in the units EvidenceFusion uses, and recall on the dumps for the full fit, for halves of
the questions fitted on the other half, and for halves of the projects and conversations fitted on the other half.

    dotnet run --project tests/Engram.Eval -c Release -- signals --set projects --data ../shared/bench/projects --out p.jsonl
    dotnet run --project tests/Engram.Eval -c Release -- signals --set locomo --data ../shared/bench/locomo --out l.jsonl
    python3 tests/fusion/fit.py --projects p.jsonl --locomo l.jsonl      # needs numpy (Debian: python3-numpy)
"""
import argparse, json, math
import numpy as np

NAMES = ['Cosine', 'CosineGap', 'VectorRank', 'Lexical', 'LexicalRank', 'Time', 'Entities', 'BestCosine', 'WordMatch',
         'LexicalTimesBestCosine', 'CosineGapWithWordMatch', 'MeanCosine', 'CosineGapTimesMeanCosine', 'LexicalRankTimesMeanCosine']
WORDS = ['Lexical', 'LexicalRank', 'Time', 'Entities']
MAX_MEAN_COSINE = 0.45  # FusionModel.MaxMeanCosine: a higher mean cosine counts as this


def load(paths, kind):
    merged = {}
    for path in paths:
        for line in open(path):
            q = json.loads(line)
            q['set'] = kind
            if 'mu' not in q or 'scope' not in q:
                raise SystemExit(f"{path}: question {q['qid']} has no 'mu' or 'scope': a dump older than the mean cosine; remake it with the signals verb.")
            if q['qid'] not in merged:
                merged[q['qid']] = q
            else:
                seen = {h['key'] for h in merged[q['qid']]['hits']}
                merged[q['qid']]['hits'] += [h for h in q['hits'] if h['key'] not in seen]
    for q in merged.values():
        q['best_cos'] = max([h['vec'] or 0 for h in q['hits']] + [0])
        q['best_lex'] = max([h['lex'] or 0 for h in q['hits']] + [1e-9])
    return [q for q in merged.values() if q['kind'] != 'negative' and q['relevant']]


def features(q, h, words_only):
    lex = (h['lex'] or 0) / q['best_lex']
    lex_rank = 1 / math.log2(1 + h['lexRank']) if h['lexRank'] else 0
    time, entities = h['time'] or 0, 1.0 if h['ent'] else 0.0
    if words_only:
        return [lex, lex_rank, time, entities]
    cos, best = h['vec'] or 0.0, q['best_cos']
    vec_rank = 1 / math.log2(1 + h['vecRank']) if h['vecRank'] else 0
    match = 1.0 if h['lex'] else 0.0
    mean = min(max(q['mu'] or 0.0, 0.0), MAX_MEAN_COSINE)
    return [cos, cos - best, vec_rank, lex, lex_rank, time, entities, best, match, lex * best, (cos - best) * match,
            mean, (cos - best) * mean, lex_rank * mean]


def fit(questions, words_only, l2=1e-3, steps=3000, rate=0.5):
    rows, labels, weights = [], [], []
    counts = {s: sum(1 for q in questions if q['set'] == s) for s in ('projects', 'locomo')}
    for q in questions:
        relevant = set(q['relevant'])
        for h in q['hits']:
            rows.append(features(q, h, words_only))
            labels.append(1.0 if h['key'] in relevant else 0.0)
            weights.append(1.0 / max(1, counts[q['set']]))
    x, y, w = np.array(rows), np.array(labels), np.array(weights)
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    theta, w = np.zeros(z.shape[1]), w / w.sum()
    for _ in range(steps):
        p = 1 / (1 + np.exp(-z @ theta))
        theta -= rate * (z.T @ ((p - y) * w) + l2 * np.r_[theta[:-1], 0])
    raw = theta[:-1] / sd
    return raw, theta[-1] - np.sum(theta[:-1] * mu / sd)


def recall(questions, model, words_only, ks):
    raw, bias = model
    out = {}
    for q in questions:
        ranked = sorted(q['hits'], key=lambda h: -(np.dot(raw, features(q, h, words_only)) + bias))
        keys = [h['key'] for h in ranked]
        for group in ('all', q['kind'] if q['set'] == 'projects' else 'all'):
            out.setdefault((q['set'], group), []).append([len(set(q['relevant']) & set(keys[:k])) / len(q['relevant']) for k in ks])
    return {k: [round(float(np.mean([r[i] for r in v])), 3) for i in range(len(ks))] for k, v in out.items()}


def report(tag, questions, model, words_only):
    p = recall([q for q in questions if q['set'] == 'projects'], model, words_only, (1, 3, 10))
    l = recall([q for q in questions if q['set'] == 'locomo'], model, words_only, (10, 50))
    print(f"{tag}: projects R@1/3/10 {p.get(('projects', 'all'))}, paraphrase {p.get(('projects', 'paraphrase'))}; LoCoMo R@10/50 {l.get(('locomo', 'all'))}")


if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('--projects', nargs='+', required=True)
    parser.add_argument('--locomo', nargs='+', required=True)
    args = parser.parse_args()
    questions = load(args.projects, 'projects') + load(args.locomo, 'locomo')
    for words_only, names in ((False, NAMES), (True, WORDS)):
        model = fit(questions, words_only)
        print(('Words' if words_only else 'Semantic') + ': Bias: %.3f, ' % model[1] + ', '.join(f'{n}: {v:.3f}' for n, v in zip(names, model[0])))
        report('  full fit', questions, model, words_only)
        if not words_only:
            even, odd = questions[0::2], questions[1::2]
            report('  fitted on even questions, scored on odd', odd, fit(even, False), False)
            report('  fitted on odd questions, scored on even', even, fit(odd, False), False)
            # Held out by whole project / conversation: the fit never sees the memories it is scored on.
            groups = sorted({(q['set'], q['scope']) for q in questions})
            for half in (0, 1):
                held = {g for i, g in enumerate(groups) if i % 2 == half}
                report(f'  fitted on half the projects and conversations, scored on the other half ({half + 1})',
                       [q for q in questions if (q['set'], q['scope']) in held],
                       fit([q for q in questions if (q['set'], q['scope']) not in held], False), False)
