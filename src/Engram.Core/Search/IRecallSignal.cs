namespace Engram.Core.Search;

/// <summary>
/// One signal of a recall: it ranks its own candidates for the query, restricted to the scopes (and tags) asked for,
/// and owns its whole logic (its query, its scoring, its caps). The pipeline fuses what the signals rank.
/// </summary>
internal interface IRecallSignal
{
    /// <summary>Ranks candidates, best first; <paramref name="context"/> holds the rankings made before it (at least those of the signals before it).</summary>
    Task<SignalRanking> RankAsync(RecallContext context, CancellationToken cancellationToken);

    /// <summary>
    /// Whether the signal waits for the query's embedding: while it computes, the signals after this one rank first (none
    /// of them reads this one's ranking), and its ranking takes its place in the order afterwards.
    /// </summary>
    bool WaitsForQueryVector => false;
}

/// <summary>What a signal sees of a recall.</summary>
/// <param name="query">The validated recall.</param>
/// <param name="ranAt">When the recall runs (a replay's original time), for dates relative to now.</param>
/// <param name="depth">How many candidates a signal ranks at most.</param>
/// <param name="allowed">When the query filters by tags: the ids carrying one of them; a signal ranks nothing else.</param>
/// <param name="queryVector">The query's embedding, started before any signal runs (null when the embedder fails).</param>
internal sealed class RecallContext(RecallQuery query, DateTimeOffset ranAt, int depth, IReadOnlySet<string>? allowed, Task<float[]?> queryVector)
{
    private readonly List<SignalRanking> _rankings = [];

    public RecallQuery Query { get; } = query;

    public DateTimeOffset RanAt { get; } = ranAt;

    public int Depth { get; } = depth;

    public IReadOnlySet<string>? Allowed { get; } = allowed;

    /// <summary>The query's embedding: it computes while the store catches up and the other signals rank.</summary>
    public Task<float[]?> QueryVector { get; } = queryVector;

    /// <summary>The change feed's position the derived indexes were brought to for this recall.</summary>
    public long Seq { get; init; }

    /// <summary>The tags to filter by, or null for none.</summary>
    public IReadOnlyList<string>? Tags => Allowed is null ? null : Query.Tags;

    /// <summary>The rankings made so far, in the signals' order.</summary>
    public IReadOnlyList<SignalRanking> Rankings => _rankings;

    /// <summary>
    /// A ranking made earlier in this recall, or null. A signal waiting for the query's embedding may rank after the
    /// signals that follow it: none of them may look for its ranking.
    /// </summary>
    public SignalRanking? Find(SignalKind kind) => _rankings.Find(r => r.Kind == kind);

    internal void Add(SignalRanking ranking) => _rankings.Add(ranking);

    internal void Insert(int index, SignalRanking ranking) => _rankings.Insert(index, ranking);
}

/// <summary>One signal's ranking of a recall's candidates.</summary>
/// <param name="Kind">Which signal.</param>
/// <param name="Hits">Its candidates with its raw scores, best first.</param>
/// <param name="Weight">Its weight in the fusion.</param>
internal sealed record SignalRanking(SignalKind Kind, IReadOnlyList<Scored> Hits, double Weight)
{
    /// <summary>What it adds to the fusion, when not all of <see cref="Hits"/> (a signal that only adds what others missed).</summary>
    public IReadOnlyList<string>? Contributed { get; init; }

    /// <summary>The words pseudo-relevance feedback added to the query (the lexical signal).</summary>
    public IReadOnlyList<string> Feedback { get; init; } = [];

    /// <summary>The vector signal's mean cosine over every memory it scanned (those of the tags asked for, superseded ones
    /// included): how alike the query is to the searched memories at large.</summary>
    public float MeanCosine { get; init; }

    /// <summary>Why the signal could not take part, or null (the vector signal without a query embedding).</summary>
    public string? Unavailable { get; init; }

    /// <summary>How the signal ranked, when not by its usual means (the lexical signal answering from the store while the index builds).</summary>
    public string? Note { get; init; }

    /// <summary>The ids fused, best first.</summary>
    public IReadOnlyList<string> Fused => Contributed ?? Hits.Select(h => h.Id).ToList();

    /// <summary>The hit's rank (1-based) and raw score, or null when this signal did not find <paramref name="id"/>.</summary>
    public Model.SignalScore? Of(string id)
    {
        for (var i = 0; i < Hits.Count; i++)
        {
            if (Hits[i].Id == id)
            {
                return new Model.SignalScore(i + 1, Math.Round(Hits[i].Score, 6));
            }
        }

        return null;
    }
}
