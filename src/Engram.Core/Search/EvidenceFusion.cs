namespace Engram.Core.Search;

/// <summary>
/// Score-aware fusion: each candidate's evidence (its raw score and rank in every signal, and for a model's vectors how
/// far its cosine is from the query's best) is weighed by a logistic model into the probability that it answers the
/// query, its <c>relevance</c>. Unlike reciprocal rank fusion it sees how sure each signal is: a candidate only the
/// model found counts by how close its cosine comes to the query's best; one BM25 found too is held to that less (the
/// words back it), and its BM25 score weighs more when the query's best cosine is high. How alike the query is to the
/// searched memories at large (its mean cosine over them) sets how much a cosine standing out counts against a word
/// match: among a conversation's turns, which all resemble a question a little, the words decide more; among short
/// distinct facts, the meaning does. Pure: no I/O.
/// </summary>
/// <remarks>
/// The weights were fitted (L2-regularised logistic regression, the two sets weighted equally; <c>tests/fusion/fit.py</c>)
/// on the candidates of both development sets in <c>../shared/bench</c>, LoCoMo's conversations and the
/// coding-assistant projects, with all-MiniLM-L6-v2's vectors. Fitted on half of the questions, they rank the other
/// half within about 0.01 of recall@10 of the full fit; fitted on half of the projects and conversations, the other half
/// gains from the mean cosine about as much as the full fit does.
/// <c>docs/benchmarks.md</c> has the figures and the commands.
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
    double CosineGapWithWordMatch = 0,
    double MeanCosine = 0,
    double CosineGapTimesMeanCosine = 0,
    double LexicalRankTimesMeanCosine = 0)
{
    /// <summary>For a recall with a sentence-embedding model's vectors.</summary>
    public static FusionModel Semantic { get; } = new(
        Bias: -2.819, Lexical: 0.892, LexicalRank: 0.083, Time: 1.933, Entities: 0.539,
        Cosine: 2.692, CosineGap: 5.551, VectorRank: 2.708, BestCosine: -3.029, WordMatch: -0.742,
        LexicalTimesBestCosine: 3.221, CosineGapWithWordMatch: -2.051,
        MeanCosine: -8.592, CosineGapTimesMeanCosine: -13.620, LexicalRankTimesMeanCosine: 7.373);

    /// <summary>
    /// The highest mean cosine the weights were fitted on (a conversation's turns reach 0.45; short project facts 0.17):
    /// beyond it the interactions would be extrapolated, so a store more uniform than that counts as this.
    /// </summary>
    public const double MaxMeanCosine = 0.45;

    /// <summary>For a recall without meaning: hashed vectors (ranked by reciprocal rank fusion, this gives relevance), or the embedder down.</summary>
    public static FusionModel Words { get; } = new(Bias: -5.652, Lexical: 3.637, LexicalRank: 1.582, Time: 1.592, Entities: 1.303);

    /// <summary>The log-odds that the candidate answers the query.</summary>
    public double Logit(in Evidence e) =>
        Bias + (Lexical * e.Lexical) + (LexicalRank * e.LexicalRank) + (Time * e.Time) + (Entities * e.Entities)
        + (Cosine * e.Cosine) + (CosineGap * (e.Cosine - e.BestCosine)) + (VectorRank * e.VectorRank) + (BestCosine * e.BestCosine)
        + (WordMatch * e.WordMatch) + (LexicalTimesBestCosine * e.Lexical * e.BestCosine)
        + (CosineGapWithWordMatch * (e.Cosine - e.BestCosine) * e.WordMatch)
        + (MeanCosine * e.MeanCosine) + (CosineGapTimesMeanCosine * (e.Cosine - e.BestCosine) * e.MeanCosine)
        + (LexicalRankTimesMeanCosine * e.LexicalRank * e.MeanCosine);

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
    /// <param name="MeanCosine">The query's mean cosine over every memory searched: high when the query is alike to the memories at
    /// large (a conversation's turns), so that a cosine stands out less; low when it is alike to few (short distinct facts).</param>
    public readonly record struct Evidence(double Lexical, double LexicalRank, double Time, double Entities, double Cosine, double VectorRank, double BestCosine, double WordMatch, double MeanCosine);
}

/// <summary>
/// A recall's candidates fused: in fused order, best first, with their fused score; whether they were fused by evidence
/// (a model's vectors took part), not by rank; and each one's relevance, computed when asked (a recall reads it for its
/// hits only).
/// </summary>
internal sealed class FusedCandidates(
    IReadOnlyList<(string Id, double Score)> fused, bool byEvidence, Dictionary<string, int> index, EvidenceFusion.Found[] found,
    FusionModel model, float lexicalTop, float bestCosine, float meanCosine)
{
    /// <summary>The candidates, best first, with their fused score.</summary>
    public IReadOnlyList<(string Id, double Score)> Fused { get; } = fused;

    /// <summary>Whether they were fused by evidence (a model's vectors that took part), not by rank.</summary>
    public bool ByEvidence { get; } = byEvidence;

    /// <summary>The probability that the candidate answers the query; 0 for an id no signal found.</summary>
    public double Relevance(string id) =>
        index.TryGetValue(id, out var slot) ? model.Relevance(EvidenceFusion.Evidence(found[slot], lexicalTop, bestCosine, meanCosine)) : 0;
}

/// <summary>Fuses the signals' rankings of a recall and gives each candidate its relevance.</summary>
internal static class EvidenceFusion
{
    /// <summary>
    /// Reciprocal rank fusion's constant (each list contributes weight / (K + rank)), the usual one from Cormack et al.
    /// (2009): large enough that the first few ranks of one list do not drown agreement between lists.
    /// </summary>
    public const int RankConstant = 60;

    /// <summary>
    /// Fuses the rankings: by evidence (<see cref="FusionModel.Semantic"/>'s relevance) when a model's vectors took part,
    /// else by weighted reciprocal rank. Exact ties keep the order of first appearance across the rankings.
    /// </summary>
    /// <param name="rankings">The signals' rankings.</param>
    /// <param name="semantic">Whether the vectors carry meaning (a model's, not hashed words).</param>
    public static FusedCandidates Fuse(IReadOnlyList<SignalRanking> rankings, bool semantic)
    {
        SignalRanking? vector = null;
        var capacity = 0;
        var lexicalTop = 0f;
        foreach (var ranking in rankings)
        {
            vector ??= ranking.Kind == SignalKind.Vector ? ranking : null;
            capacity += ranking.Hits.Count;
            lexicalTop = ranking.Kind == SignalKind.Lexical ? Top(ranking.Hits) : lexicalTop;
        }

        var byEvidence = semantic && vector is { Unavailable: null, Hits.Count: > 0 };
        var model = byEvidence ? FusionModel.Semantic : FusionModel.Words;

        // One slot per candidate, in order of first appearance: what the rankings found of it and, fused by rank, its
        // summed reciprocal ranks.
        var index = new Dictionary<string, int>(capacity, StringComparer.Ordinal);
        var ids = new string[capacity];
        var found = new Found[capacity];
        var scores = new double[capacity];
        int Slot(string id)
        {
            if (!index.TryGetValue(id, out var slot))
            {
                slot = index.Count;
                index.Add(id, slot);
                ids[slot] = id;
            }

            return slot;
        }

        foreach (var ranking in rankings)
        {
            if (ranking.Kind == SignalKind.Vector && !byEvidence)
            {
                // Hashed vectors carry the same evidence as the words: the candidates they add are known, with none of it.
                AddReciprocalRanks(ranking, Slot, scores);
                continue;
            }

            for (var i = 0; i < ranking.Hits.Count; i++)
            {
                var (id, score) = (ranking.Hits[i].Id, ranking.Hits[i].Score);
                ref var f = ref found[Slot(id)];
                switch (ranking.Kind)
                {
                    case SignalKind.Lexical:
                        (f.Lexical, f.LexicalRank) = (score, i + 1);
                        break;
                    case SignalKind.Vector:
                        (f.Cosine, f.VectorRank) = (score, i + 1);
                        break;
                    case SignalKind.Entities:
                        f.Entities = true;
                        break;
                    case SignalKind.Time:
                        f.Time = score;
                        break;
                }
            }

            if (!byEvidence)
            {
                AddReciprocalRanks(ranking, Slot, scores);
            }
        }

        var count = index.Count;
        // Beyond the range the weights were fitted on, the mean counts as its end.
        var (bestCosine, meanCosine) = byEvidence ? (Top(vector!.Hits), Math.Clamp(vector.MeanCosine, 0, (float)FusionModel.MaxMeanCosine)) : (0, 0);
        if (byEvidence)
        {
            for (var i = 0; i < count; i++)
            {
                scores[i] = model.Relevance(Evidence(found[i], lexicalTop, bestCosine, meanCosine));
            }
        }

        // Best first; an exact tie keeps the order of first appearance (ascending by negated score, then slot).
        var order = new (double Score, int Slot)[count];
        for (var i = 0; i < count; i++)
        {
            order[i] = (-scores[i], i);
        }

        Array.Sort(order);
        var fused = new (string Id, double Score)[count];
        for (var i = 0; i < count; i++)
        {
            fused[i] = (ids[order[i].Slot], scores[order[i].Slot]);
        }

        return new FusedCandidates(fused, byEvidence, index, found, model, lexicalTop, bestCosine, meanCosine);
    }

    /// <summary>A candidate's evidence from what the rankings found of it, the lexical ranking's best score and the query's best and (clamped) mean cosines.</summary>
    internal static FusionModel.Evidence Evidence(in Found f, float lexicalTop, float bestCosine, float meanCosine) => new(
        Lexical: f.LexicalRank > 0 && lexicalTop > 0 ? f.Lexical / lexicalTop : 0,
        LexicalRank: f.LexicalRank > 0 ? 1 / Math.Log2(f.LexicalRank + 1) : 0,
        Time: f.Time,
        Entities: f.Entities ? 1 : 0,
        Cosine: f.Cosine,
        VectorRank: f.VectorRank > 0 ? 1 / Math.Log2(f.VectorRank + 1) : 0,
        BestCosine: bestCosine,
        WordMatch: f.LexicalRank > 0 ? 1 : 0,
        MeanCosine: meanCosine);

    /// <summary>What the rankings found of one candidate: raw scores, and ranks from 1 (0 where a signal did not find it).</summary>
    internal struct Found
    {
        public float Lexical;
        public int LexicalRank;
        public float Time;
        public bool Entities;
        public float Cosine;
        public int VectorRank;
    }

    /// <summary>Adds the ranking's weight / (K + rank) to each id it fuses (all its hits, or what it adds to the others').</summary>
    private static void AddReciprocalRanks(SignalRanking ranking, Func<string, int> slot, double[] scores)
    {
        if (ranking.Contributed is { } contributed)
        {
            for (var i = 0; i < contributed.Count; i++)
            {
                scores[slot(contributed[i])] += ranking.Weight / (RankConstant + i + 1);
            }

            return;
        }

        for (var i = 0; i < ranking.Hits.Count; i++)
        {
            scores[slot(ranking.Hits[i].Id)] += ranking.Weight / (RankConstant + i + 1);
        }
    }

    /// <summary>The best raw score (a float, as the scores are divided by it as floats), or 0.</summary>
    private static float Top(IReadOnlyList<Scored> hits)
    {
        var top = 0f;
        for (var i = 0; i < hits.Count; i++)
        {
            top = i == 0 ? hits[i].Score : Math.Max(top, hits[i].Score);
        }

        return top;
    }
}
