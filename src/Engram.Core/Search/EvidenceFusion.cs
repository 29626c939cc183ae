namespace Engram.Core.Search;

/// <summary>
/// Score-aware fusion: each candidate's evidence (its raw score and rank in every signal, and for a model's vectors how
/// far its cosine is from the query's best) is weighed by a logistic model into the probability that it answers the
/// query, its <c>relevance</c>. Unlike reciprocal rank fusion it sees how sure each signal is: a candidate only the
/// model found counts by how close its cosine comes to the query's best; one BM25 found too is held to that less (the
/// words back it), and its BM25 score weighs more when the query's best cosine is high. Pure: no I/O.
/// </summary>
/// <remarks>
/// The weights were fitted (L2-regularised logistic regression, the two sets weighted equally; <c>tests/fusion/fit.py</c>)
/// on the candidates of both development sets in <c>../shared/bench</c>, LoCoMo's conversations and the
/// coding-assistant projects, with all-MiniLM-L6-v2's vectors; fitted on half of the questions, they rank the other
/// half within about 0.03 of recall@10 of the full fit. <c>docs/benchmarks.md</c> has the figures and the commands.
/// </remarks>
internal sealed record FusionModel(
    double Bias,
    double Lexical,
    double LexicalRank,
    double Time,
    double Entities,
    double Cosine = 0,
    double CosineGap = 0,
    double VectorRank = 0,
    double BestCosine = 0,
    double WordMatch = 0,
    double LexicalTimesBestCosine = 0,
    double CosineGapWithWordMatch = 0)
{
    /// <summary>For a recall with a sentence-embedding model's vectors.</summary>
    public static FusionModel Semantic { get; } = new(
        Bias: -3.380, Lexical: 0.424, LexicalRank: 1.530, Time: 2.089, Entities: 0.521,
        Cosine: 1.375, CosineGap: 3.570, VectorRank: 2.988, BestCosine: -3.295, WordMatch: -1.423,
        LexicalTimesBestCosine: 4.363, CosineGapWithWordMatch: -2.481);

    /// <summary>For a recall without meaning: hashed vectors (ranked by reciprocal rank fusion, this gives relevance), or the embedder down.</summary>
    public static FusionModel Words { get; } = new(Bias: -5.652, Lexical: 3.637, LexicalRank: 1.582, Time: 1.592, Entities: 1.303);

    /// <summary>The log-odds that the candidate answers the query.</summary>
    public double Logit(in Evidence e) =>
        Bias + (Lexical * e.Lexical) + (LexicalRank * e.LexicalRank) + (Time * e.Time) + (Entities * e.Entities)
        + (Cosine * e.Cosine) + (CosineGap * (e.Cosine - e.BestCosine)) + (VectorRank * e.VectorRank) + (BestCosine * e.BestCosine)
        + (WordMatch * e.WordMatch) + (LexicalTimesBestCosine * e.Lexical * e.BestCosine)
        + (CosineGapWithWordMatch * (e.Cosine - e.BestCosine) * e.WordMatch);

    /// <summary>The probability that the candidate answers the query.</summary>
    public double Relevance(in Evidence e) => 1 / (1 + Math.Exp(-Logit(e)));

    /// <summary>One candidate's evidence, each part 0 when its signal did not find it.</summary>
    /// <param name="Lexical">BM25 score over the query's best BM25 score.</param>
    /// <param name="LexicalRank">1 / log2(1 + rank) in the lexical list.</param>
    /// <param name="Time">The time signal's score.</param>
    /// <param name="Entities">1 when it shares an entity with the query.</param>
    /// <param name="Cosine">Its cosine with the query.</param>
    /// <param name="VectorRank">1 / log2(1 + rank) in the vector list.</param>
    /// <param name="BestCosine">The query's best cosine among the candidates.</param>
    /// <param name="WordMatch">1 when BM25 found it.</param>
    public readonly record struct Evidence(double Lexical, double LexicalRank, double Time, double Entities, double Cosine, double VectorRank, double BestCosine, double WordMatch);
}

/// <summary>Fuses the signals' rankings of a recall and gives each candidate its relevance.</summary>
internal static class EvidenceFusion
{
    /// <summary>
    /// The candidates in fused order, best first, with their fused score; each one's relevance; and whether they were
    /// fused by evidence (a model's vectors that took part), not by rank.
    /// </summary>
    /// <param name="rankings">The signals' rankings.</param>
    /// <param name="semantic">Whether the vectors carry meaning (a model's, not hashed words).</param>
    public static (IReadOnlyList<(string Id, double Score)> Fused, IReadOnlyDictionary<string, double> Relevance, bool ByEvidence) Fuse(IReadOnlyList<SignalRanking> rankings, bool semantic)
    {
        var vector = rankings.FirstOrDefault(r => r.Kind == SignalKind.Vector);
        var byEvidence = semantic && vector is { Unavailable: null, Hits.Count: > 0 };
        var model = byEvidence ? FusionModel.Semantic : FusionModel.Words;
        var evidence = Gather(rankings, byEvidence ? vector : null);
        var relevance = evidence.ToDictionary(e => e.Key, e => model.Relevance(e.Value), StringComparer.Ordinal);
        if (byEvidence)
        {
            // Order of first appearance breaks exact ties, as in reciprocal rank fusion.
            var order = evidence.Keys.ToList();
            var fused = order.Select((id, i) => (Id: id, Index: i, Score: relevance[id]))
                .OrderByDescending(x => x.Score).ThenBy(x => x.Index)
                .Select(x => (x.Id, x.Score)).ToList();
            return (fused, relevance, true);
        }

        return (RankFusion.Fuse(rankings.Select(r => (r.Fused, r.Weight)).ToArray()), relevance, false);
    }

    /// <summary>Each candidate's evidence, keyed in order of first appearance across the rankings.</summary>
    /// <param name="rankings">The signals' rankings.</param>
    /// <param name="vector">The vector ranking when its cosines are evidence (a model's); null when they are not.</param>
    private static Dictionary<string, FusionModel.Evidence> Gather(IReadOnlyList<SignalRanking> rankings, SignalRanking? vector)
    {
        var evidence = new Dictionary<string, FusionModel.Evidence>(StringComparer.Ordinal);
        var best = vector is { Hits.Count: > 0 } ? vector.Hits.Max(h => h.Score) : 0;
        foreach (var ranking in rankings)
        {
            if (ranking.Kind == SignalKind.Vector && vector is null)
            {
                // Hashed vectors carry the same evidence as the words: their candidates are known, with none of it.
                foreach (var id in ranking.Fused)
                {
                    evidence.TryAdd(id, default);
                }

                continue;
            }

            var top = ranking.Hits.Count == 0 ? 0 : ranking.Hits.Max(h => h.Score);
            for (var i = 0; i < ranking.Hits.Count; i++)
            {
                var (id, score) = (ranking.Hits[i].Id, ranking.Hits[i].Score);
                var e = evidence.TryGetValue(id, out var found) ? found : new FusionModel.Evidence { BestCosine = best };
                var rank = 1 / Math.Log2(i + 2);
                evidence[id] = ranking.Kind switch
                {
                    SignalKind.Lexical => e with { Lexical = top > 0 ? score / top : 0, LexicalRank = rank, WordMatch = 1 },
                    SignalKind.Vector => e with { Cosine = score, VectorRank = rank },
                    SignalKind.Entities => e with { Entities = 1 },
                    SignalKind.Time => e with { Time = score },
                    _ => e,
                };
            }
        }

        return evidence;
    }
}
