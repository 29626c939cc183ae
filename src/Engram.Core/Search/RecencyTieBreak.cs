using Engram.Core.Model;
using Engram.Core.Storage;

namespace Engram.Core.Search;

/// <summary>
/// The recency tie-break. Candidates stay in fused (reciprocal rank) order, except that a candidate observed later
/// moves up past each candidate directly above it that was observed earlier and is near-equal in relevance
/// (<see cref="Tolerance"/>), at most <see cref="Margin"/> places. Relevance is read from the signals' raw scores, not
/// from fused ranks, so a weakly related new memory never passes a strongly relevant old one however close their ranks
/// are. Pure: no I/O.
/// </summary>
internal static class RecencyTieBreak
{
    /// <summary>
    /// How far a candidate may move up, and so how many candidates beyond the limit the tie-break must see: the first k
    /// hits are then the same whatever the limit (asking for 50 gives the 10 that asking for 10 gives, then 40 more).
    /// </summary>
    public const int Margin = 20;

    /// <summary>
    /// Two candidates are near-equal in relevance when their relevance estimates differ by at most this much. The
    /// estimate is each signal's raw score divided by that signal's best score, averaged over the signals that found
    /// anything (weighted, see <see cref="RelevanceWeight"/>): hashed vectors of two statements differing in one word
    /// scatter by several hundredths, BM25 scores of such statements hardly at all.
    /// </summary>
    public const double Tolerance = 0.07;

    /// <summary>How much each signal counts in the relevance estimate: BM25 twice; the time signal says when, not how relevant.</summary>
    public static double RelevanceWeight(SignalKind kind) => kind switch
    {
        SignalKind.Lexical => 2,
        SignalKind.Vector or SignalKind.Entities => 1,
        _ => 0,
    };

    /// <summary>A candidate that passed the filters, with its fused score.</summary>
    public readonly record struct Candidate(CandidateMeta Meta, double Fused);

    /// <summary>The order after the tie-break, and per candidate its recency signal: rank by observedAt among the candidates (1 = newest) and places moved up.</summary>
    public sealed record Result(IReadOnlyList<Candidate> Order, IReadOnlyDictionary<string, SignalScore> Recency);

    /// <summary>
    /// With a fusion by evidence, two candidates are near-equal when each signal scores them alike: their raw scores, over
    /// the signal's best, differ by at most this much in every signal. (Averaged over the signals, as with ranks fused, a
    /// word match alike would hide a difference in meaning; and the fused relevance weighs ranks, which part two statements
    /// of one fact that score alike.) 0.08, not 0.05: two statements a day apart ("leaves on Tuesdays" / "on Wednesdays")
    /// shared 0.97 and 0.95 of the best cosine with the shipped model's two builds; every dev figure is the same at 0.05,
    /// 0.06 and 0.08 (docs/benchmarks.md).
    /// </summary>
    public const double SignalTolerance = 0.08;

    /// <summary>
    /// Applies the tie-break to <paramref name="passing"/> (fused order) with relevance read from <paramref name="signals"/>;
    /// <paramref name="byEvidence"/> when they were fused by evidence (<see cref="SignalTolerance"/>), and then only between
    /// two statements of one fact (<paramref name="sameFact"/>, when given).
    /// </summary>
    public static Result Apply(IReadOnlyList<Candidate> passing, IReadOnlyList<SignalRanking> signals, bool byEvidence = false, Func<string, string, bool>? sameFact = null)
    {
        // Each relevant signal's best score and its scores of the passing candidates (not of all it found: a recall
        // examines a few dozen of hundreds).
        var ids = new HashSet<string>(passing.Count, StringComparer.Ordinal);
        foreach (var p in passing)
        {
            ids.Add(p.Meta.Id);
        }

        var relevant = signals
            .Where(s => RelevanceWeight(s.Kind) > 0 && s.Hits.Count > 0)
            .Select(s => (Weight: RelevanceWeight(s.Kind), Max: s.Hits.Max(x => x.Score), Scores: ScoresOf(s.Hits, ids)))
            .ToList();
        var totalWeight = relevant.Sum(s => s.Weight);

        // Each candidate's score in every signal, over that signal's best (0 where it found nothing), read once; the
        // relevance estimate (fusion by rank) is their weighted mean.
        double[] Shares(string id) => relevant.Select(s => s.Max > 0 && s.Scores.TryGetValue(id, out var v) ? (double)(v / s.Max) : 0).ToArray();
        double Relevance(string id) => relevant.Count == 0 ? 0
            : relevant.Sum(s => s.Max > 0 && s.Scores.TryGetValue(id, out var v) ? s.Weight * v / s.Max : 0) / totalWeight;
        var order = passing.Select(p => (p.Meta, p.Fused, Relevance: byEvidence ? 0 : Relevance(p.Meta.Id), Shares: byEvidence ? Shares(p.Meta.Id) : [])).ToList();
        bool NearEqual(int a, int b) => !byEvidence
            ? Math.Abs(order[a].Relevance - order[b].Relevance) <= Tolerance
            : order[a].Shares.Zip(order[b].Shares).All(x => Math.Abs(x.First - x.Second) <= SignalTolerance)
                && (sameFact is null || sameFact(order[a].Meta.Id, order[b].Meta.Id));
        var moved = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 1; i < order.Count; i++)
        {
            for (var j = i; j > 0 && i - j < Margin && order[j].Meta.ObservedAt > order[j - 1].Meta.ObservedAt && NearEqual(j, j - 1); j--)
            {
                (order[j], order[j - 1]) = (order[j - 1], order[j]);
                moved[order[j - 1].Meta.Id] = moved.GetValueOrDefault(order[j - 1].Meta.Id) + 1;
            }
        }

        var byTime = order.OrderByDescending(p => p.Meta.ObservedAt).ThenBy(p => p.Meta.Order).Select((p, i) => (p.Meta.Id, Rank: i + 1)).ToDictionary(x => x.Id, x => x.Rank);
        var recency = order.ToDictionary(p => p.Meta.Id, p => new SignalScore(byTime[p.Meta.Id], moved.GetValueOrDefault(p.Meta.Id)));
        return new Result(order.Select(p => new Candidate(p.Meta, p.Fused)).ToList(), recency);
    }

    /// <summary>The scores of <paramref name="ids"/> among <paramref name="hits"/> (the first, should one appear twice).</summary>
    private static Dictionary<string, float> ScoresOf(IReadOnlyList<Scored> hits, HashSet<string> ids)
    {
        var scores = new Dictionary<string, float>(ids.Count, StringComparer.Ordinal);
        foreach (var (id, score) in hits)
        {
            if (ids.Contains(id))
            {
                scores.TryAdd(id, score);
            }
        }

        return scores;
    }
}
