using Engram.Core.Storage;

namespace Engram.Core.Search;

/// <summary>
/// For a query that names dates ("on 3 March 2025", "in July 2024", "yesterday", in the configured time zone): the
/// memories observed then, each scored by how well its time fits (<see cref="TimeRange.Fit"/>). What the lexical
/// signal also found comes first, in its order, then the rest, newest first within each day or month named. A query
/// without a date has no time signal. A date says when, not what: it lifts what was said then among what matches, and
/// brings in the rest of that day below the query's own matches.
/// </summary>
internal sealed class TimeSignal(IMemoryRecords store, RowCache rows, TimeZoneInfo zone, double weight) : IRecallSignal
{
    public async Task<SignalRanking> RankAsync(RecallContext context, CancellationToken cancellationToken)
    {
        var query = context.Query;
        var windows = TimeExpressions.Find(query.Query, context.RanAt, zone);
        if (windows.Count == 0)
        {
            return new SignalRanking(SignalKind.Time, [], weight);
        }

        // Lexical matches observed then, in their order (their rows tell when), then the rest of the windows in the
        // store's order (newest first), which the store read with their times.
        var lexical = context.Find(SignalKind.Lexical)?.Hits ?? [];
        var found = await rows.GetAsync(lexical.Select(x => x.Id).ToList(), cancellationToken).ConfigureAwait(false);
        var observed = await store.ObservedWithinAsync(query.Scopes, windows, context.Depth, cancellationToken).ConfigureAwait(false);
        var hits = lexical.Where(x => found.ContainsKey(x.Id)).Select(x => (x.Id, found[x.Id].ObservedAt))
            .Where(x => windows.Any(w => w.Contains(x.ObservedAt)))
            .Concat(observed.Select(x => (x.Id, x.ObservedAt)))
            .DistinctBy(x => x.Id, StringComparer.Ordinal)
            .Where(x => context.Allowed is null || context.Allowed.Contains(x.Id))
            .Select(x => new Scored(x.Id, Closeness(windows, x.ObservedAt)))
            .Take(context.Depth)
            .ToList();
        return new SignalRanking(SignalKind.Time, hits, weight);
    }

    /// <summary>
    /// How well the time fits the best window holding it: 1 anywhere in a day or month named (being then is the
    /// evidence, not being near its middle), less outside the part of a month the query points at ("early March").
    /// </summary>
    private static float Closeness(IReadOnlyList<TimeRange> windows, long at) =>
        (float)windows.Where(w => w.Contains(at)).Select(w => w.Fit(at)).DefaultIfEmpty(0).Max();
}
