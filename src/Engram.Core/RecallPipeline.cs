using System.Text.Json;
using Engram.Core.Model;
using Engram.Core.Search;
using Engram.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Engram.Core;

/// <summary>
/// One recall, top to bottom: catch the derived indexes up, let each signal rank its candidates, fuse them, filter
/// (supersession, <c>asOf</c>), apply the recency tie-break, cut at the limit, and log it.
/// </summary>
/// <param name="engine">The store and its derived indexes.</param>
/// <param name="signals">The signals, in the order of their rankings (one waiting for the query's embedding lets those after it run first).</param>
/// <param name="semantic">Whether the vectors carry meaning (a model's): they are then fused by score (<see cref="EvidenceFusion"/>).</param>
/// <param name="logger">Logging.</param>
/// <param name="anchors">The project's work tree, to mark hits whose files changed since they were stored.</param>
/// <param name="sameFact">The cosine from which two memories say the same thing (<c>similar</c>'s threshold): with a model,
/// the recency tie-break only moves a newer statement past an older one of the same fact.</param>
internal sealed partial class RecallPipeline(MemoryEngine engine, IReadOnlyList<IRecallSignal> signals, bool semantic, double sameFact, CodeAnchors anchors, ILogger logger)
{
    /// <summary>
    /// How many candidates each signal contributes before fusion: four times the largest limit, so that
    /// every limit ranks the same candidates the same way (the first 10 of 50 are the 10 of 10), and each candidate
    /// brings the same evidence whatever the limit.
    /// </summary>
    private const int CandidateDepth = 4 * EngramOptions.MaxRecallLimit;

    /// <summary>How many replacements a superseded candidate's place is passed along at most (a chain loops nowhere, but a bound costs nothing).</summary>
    private const int MaxSuccession = 16;

    internal static readonly JsonSerializerOptions LogJson = new(JsonSerializerDefaults.Web);

    /// <summary>Runs a recall.</summary>
    /// <param name="query">The validated recall.</param>
    /// <param name="log">Whether to log it (for a later explain).</param>
    /// <param name="cancellationToken">Cancellation.</param>
    /// <param name="retrievalId">The id to give it (a replay's), else a new one.</param>
    /// <param name="ranAt">When it runs (a replay's original time), else now.</param>
    /// <param name="explainAll">Account for every candidate in <see cref="RecallTrace.FilteredOut"/>, not only those examined.</param>
    public async Task<RecallTrace> RunAsync(RecallQuery query, bool log, CancellationToken cancellationToken, string? retrievalId = null, DateTimeOffset? ranAt = null, bool explainAll = false)
    {
        // The query's embedding is the slowest part with a model: it starts first and computes while the rest runs. A model
        // computes on the thread pool by itself (an HTTP embedder waits on I/O; hashing takes microseconds), so the call
        // returns at once: a second hop here would make the model's run wait for a free pool thread on two cores.
        var queryVector = engine.Embedder.TryEmbedQueryAsync(query.Query, cancellationToken);
        var seq = await engine.CatchUpAsync(query.Scopes, cancellationToken).ConfigureAwait(false);
        var allowed = query.Tags.Count > 0 ? await engine.Store.IdsWithAnyTagAsync(query.Scopes, query.Tags, cancellationToken).ConfigureAwait(false) : null;
        var at = ranAt ?? DateTimeOffset.UtcNow;
        var context = await RankAsync(signals, new RecallContext(query, at, CandidateDepth, allowed, queryVector) { Seq = seq }, cancellationToken).ConfigureAwait(false);
        var fusion = EvidenceFusion.Fuse(context.Rankings, semantic);
        var fused = fusion.Fused;

        // Filter and apply the recency tie-break over a prefix of the fused list long enough to fill the limit with
        // room for near-ties; the rows read for it are the hits' rows too.
        var filtered = new List<FilteredMemory>();
        var passing = new List<RecencyTieBreak.Candidate>();
        // A memory superseded by one that may be returned yields its place to it when the query matched its words: the
        // question is asked in the older fact's terms, and the newer statement answers it, though it may share none of
        // them ("MWAA is retired. Orchestration now runs on Dagster+" for "what schedules our batch jobs?", which the
        // Airflow memory it replaced matches). A resemblance by meaning alone is too loose to pass on.
        var placed = new HashSet<string>(StringComparer.Ordinal);
        var inPlaceOf = new Dictionary<string, (string Id, double Relevance)>(StringComparer.Ordinal);
        HashSet<string>? queryTerms = null;
        var examined = 0;
        var window = query.Limit + RecencyTieBreak.Margin;
        while (examined < fused.Count && passing.Count < window)
        {
            var end = Math.Min(fused.Count, examined + window);
            var slice = new List<string>(end - examined);
            for (var i = examined; i < end; i++)
            {
                slice.Add(fused[i].Id);
            }

            var rows = await engine.Rows.GetAsync(slice, cancellationToken).ConfigureAwait(false);
            for (; examined < end; examined++)
            {
                var (id, score) = fused[examined];
                if (!rows.TryGetValue(id, out var row) || !query.Scopes.Contains(row.Scope))
                {
                    continue;
                }

                if (CandidateFilter.Reason(query, row) is { } reason)
                {
                    filtered.Add(new FilteredMemory(id, reason));
                    if (reason is FilterReason.Superseded or FilterReason.SupersededAsOf
                        && engine.Lexical.Terms(row.Memory.Content).Overlaps(queryTerms ??= engine.Lexical.QueryTerms(query.Query))
                        && await SuccessorAsync(query, allowed, row, cancellationToken).ConfigureAwait(false) is { } successor
                        && placed.Add(successor.Memory.Id))
                    {
                        // Its own score is lower, or it would have been placed before: it takes the older one's.
                        passing.Add(new RecencyTieBreak.Candidate(successor, score));
                        inPlaceOf[successor.Memory.Id] = (id, fusion.Relevance(id));
                    }
                }
                else if (placed.Add(id))
                {
                    passing.Add(new RecencyTieBreak.Candidate(row, score));
                }
            }
        }

        var ranked = RecencyTieBreak.Apply(passing, context.Rankings, fusion.ByEvidence,
            fusion.ByEvidence ? (a, b) => engine.Vectors.Likeness(a, b) >= sameFact : null);
        filtered.AddRange(ranked.Order.Skip(query.Limit).Select(x => new FilteredMemory(x.Meta.Id, FilterReason.BelowCutOff)));
        if (explainAll)
        {
            filtered.AddRange(await UnexaminedAsync(query, fused.Skip(examined).Select(f => f.Id).Where(id => !placed.Contains(id)).ToList(), cancellationToken).ConfigureAwait(false));
            if (allowed is not null)
            {
                filtered.AddRange(await TagFilteredAsync(context, cancellationToken).ConfigureAwait(false));
            }
        }

        // A memory in its predecessor's place is as relevant as the predecessor was, or as itself if more.
        double Relevance(string id) => Math.Max(fusion.Relevance(id), inPlaceOf.TryGetValue(id, out var older) ? older.Relevance : 0);
        var hits = ranked.Order.Take(query.Limit).Select((x, i) => new RecallTrace.Hit(i + 1, ToRecalled(x.Meta.Memory, x.Fused, Relevance(x.Meta.Id)))).ToList();
        if (anchors.Enabled && hits.Count > 0)
        {
            hits = await MarkStaleAsync(hits, cancellationToken).ConfigureAwait(false);
        }

        var id2 = retrievalId ?? Ids.New("rt_");
        if (log)
        {
            engine.Log.Enqueue(new RetrievalEntry(id2, at.ToUnixTimeMilliseconds(), seq, JsonSerializer.Serialize(query, LogJson), hits.Select(h => h.Memory.Id).ToList()));
        }

        LogRecalled(logger, id2, query.Scopes, hits.Count);
        return new RecallTrace(id2, query, at, seq, CandidateDepth, context.Rankings, fused, ranked.Recency, hits, filtered)
        {
            ByEvidence = fusion.ByEvidence,
            InPlaceOf = inPlaceOf.ToDictionary(x => x.Key, x => x.Value.Id, StringComparer.Ordinal),
            QueryVector = context.QueryVector.IsCompletedSuccessfully ? context.QueryVector.Result : null,
        };
    }

    /// <summary>
    /// The memory that replaced <paramref name="superseded"/> and that this recall may return (following a chain of
    /// replacements to the one current now, or as of <c>asOf</c>; within the scopes asked for, and carrying one of the
    /// tags asked for), or null.
    /// </summary>
    private async Task<CandidateMeta?> SuccessorAsync(RecallQuery query, HashSet<string>? allowed, CandidateMeta superseded, CancellationToken cancellationToken)
    {
        var current = superseded;
        for (var hop = 0; hop < MaxSuccession && current.SupersededBy is { } next; hop++)
        {
            var rows = await engine.Rows.GetAsync([next], cancellationToken).ConfigureAwait(false);
            if (!rows.TryGetValue(next, out current) || !query.Scopes.Contains(current.Scope))
            {
                return null;
            }

            switch (CandidateFilter.Reason(query, current))
            {
                case null:
                    // Only what is returned must carry a tag asked for; a memory replaced on the way need not.
                    return allowed is null || allowed.Contains(next) ? current : null;
                case FilterReason.Superseded or FilterReason.SupersededAsOf:
                    continue;
                default:
                    return null;
            }
        }

        return null;
    }

    /// <summary>Marks the hits whose anchored files changed or vanished since they were stored (blob hashes, cached by mtime).</summary>
    private async Task<List<RecallTrace.Hit>> MarkStaleAsync(List<RecallTrace.Hit> hits, CancellationToken cancellationToken)
    {
        var anchored = await engine.Store.AnchorsAsync(hits.Select(h => h.Memory.Id).ToList(), cancellationToken).ConfigureAwait(false);
        return hits.Select(h => anchored.TryGetValue(h.Memory.Id, out var files) && files.Select(anchors.Check).OfType<StaleAnchor>().ToList() is { Count: > 0 } stale
            ? h with { Memory = h.Memory with { Stale = stale } }
            : h).ToList();
    }

    /// <summary>
    /// Lets each signal rank, in order; one that waits for the query's embedding while it computes ranks after the others,
    /// and its ranking takes its place among theirs.
    /// </summary>
    internal static async Task<RecallContext> RankAsync(IReadOnlyList<IRecallSignal> signals, RecallContext context, CancellationToken cancellationToken)
    {
        List<int>? deferred = null;
        for (var i = 0; i < signals.Count; i++)
        {
            if (signals[i].WaitsForQueryVector && !context.QueryVector.IsCompleted)
            {
                (deferred ??= []).Add(i);
                continue;
            }

            context.Add(await signals[i].RankAsync(context, cancellationToken).ConfigureAwait(false));
        }

        // Each signal makes one ranking: a deferred one goes back to its place, so rankings keep the signals' order.
        foreach (var i in deferred ?? [])
        {
            context.Insert(i, await signals[i].RankAsync(context, cancellationToken).ConfigureAwait(false));
        }

        return context;
    }

    /// <summary>An explanation accounts for every candidate: what was not examined is below the cut-off, unless a filter applies.</summary>
    private async Task<IEnumerable<FilteredMemory>> UnexaminedAsync(RecallQuery query, List<string> rest, CancellationToken cancellationToken)
    {
        if (rest.Count == 0)
        {
            return [];
        }

        var rows = await engine.Rows.GetAsync(rest, cancellationToken).ConfigureAwait(false);
        return rest.Where(rows.ContainsKey).Where(id => query.Scopes.Contains(rows[id].Scope))
            .Select(id => new FilteredMemory(id, CandidateFilter.Reason(query, rows[id]) ?? FilterReason.BelowCutOff));
    }

    /// <summary>What the tag filter kept out: the candidates the signals find without it that carry none of the tags.</summary>
    private async Task<IEnumerable<FilteredMemory>> TagFilteredAsync(RecallContext filteredContext, CancellationToken cancellationToken)
    {
        var unfiltered = await RankAsync(signals, new RecallContext(filteredContext.Query, filteredContext.RanAt, filteredContext.Depth, null, filteredContext.QueryVector) { Seq = filteredContext.Seq }, cancellationToken).ConfigureAwait(false);
        return unfiltered.Rankings.SelectMany(r => r.Hits).Select(h => h.Id)
            .Distinct(StringComparer.Ordinal)
            .Where(id => !filteredContext.Allowed!.Contains(id))
            .Select(id => new FilteredMemory(id, FilterReason.TagFilter));
    }

    private static RecalledMemory ToRecalled(StoredMemory m, double score, double relevance) => new(
        m.Id, m.Content, m.Scope, [.. m.Tags],
        DateTimeOffset.FromUnixTimeMilliseconds(m.ObservedAt), DateTimeOffset.FromUnixTimeMilliseconds(m.CreatedAt),
        Math.Round(score, 6), Math.Round(relevance, 3), m.SupersededBy);

    [LoggerMessage(Level = LogLevel.Debug, Message = "recall {RetrievalId} over {Scopes}: {Count} hits.")]
    private static partial void LogRecalled(ILogger logger, string retrievalId, IReadOnlyList<string> scopes, int count);
}
