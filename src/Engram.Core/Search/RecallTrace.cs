using Engram.Core.Model;

namespace Engram.Core.Search;

/// <summary>Everything one recall did, for its answer and for explain.</summary>
/// <param name="RetrievalId">The recall's id (a replay keeps the logged one).</param>
/// <param name="Query">The validated recall.</param>
/// <param name="RanAt">When it ran.</param>
/// <param name="Seq">The change feed's position it saw.</param>
/// <param name="Depth">How many candidates each signal ranked at most.</param>
/// <param name="Signals">Each signal's ranking, in the signals' order.</param>
/// <param name="Fused">The fused candidates, best first.</param>
/// <param name="Recency">Per candidate that passed the filters, its recency signal.</param>
/// <param name="Hits">What the recall returns, best first.</param>
/// <param name="FilteredOut">Candidates dropped, with the reason.</param>
internal sealed record RecallTrace(
    string RetrievalId,
    RecallQuery Query,
    DateTimeOffset RanAt,
    long Seq,
    int Depth,
    IReadOnlyList<SignalRanking> Signals,
    IReadOnlyList<(string Id, double Score)> Fused,
    IReadOnlyDictionary<string, SignalScore> Recency,
    IReadOnlyList<RecallTrace.Hit> Hits,
    IReadOnlyList<FilteredMemory> FilteredOut)
{
    /// <summary>The candidates (hits or below the cut-off) that took the place of a memory they superseded, whose words the query matched: its id, by theirs.</summary>
    public IReadOnlyDictionary<string, string> InPlaceOf { get; init; } = new Dictionary<string, string>();

    /// <summary>Whether the candidates were fused by evidence (a model's vectors took part), not by rank.</summary>
    public bool ByEvidence { get; init; }

    /// <summary>The query's embedding, when it was computed in time for the vector signal.</summary>
    public float[]? QueryVector { get; init; }

    /// <summary>A returned memory with its final rank (1-based).</summary>
    public sealed record Hit(int Rank, RecalledMemory Memory);

    /// <summary>One signal's ranking (an empty one when that signal did not run).</summary>
    public SignalRanking Signal(SignalKind kind) => Signals.FirstOrDefault(s => s.Kind == kind) ?? new SignalRanking(kind, [], 0);

    /// <summary>The fused rank (1-based) of <paramref name="id"/>, or null when no signal found it.</summary>
    public int? FusedRank(string id)
    {
        for (var i = 0; i < Fused.Count; i++)
        {
            if (Fused[i].Id == id)
            {
                return i + 1;
            }
        }

        return null;
    }
}
