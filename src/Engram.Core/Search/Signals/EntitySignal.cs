using Engram.Core.Curation;
using Engram.Core.Storage;

namespace Engram.Core.Search;

/// <summary>
/// Memories that mention the names, identifiers and paths the query mentions, scored by the sum over shared entities
/// of 1 / (1 + ln df), where df is how many memories of the scopes carry the entity.
/// </summary>
internal sealed class EntitySignal(IEntityLinks store, LexicalIndex lexical, double weight) : IRecallSignal
{
    /// <summary>An entity carried by more than this share of the searched memories is not used.</summary>
    private const double MaxShare = 0.05;

    /// <summary>In small stores, entities shared by up to this many memories are still used.</summary>
    private const int MinimumFrequencyCap = 3;

    public async Task<SignalRanking> RankAsync(RecallContext context, CancellationToken cancellationToken)
    {
        var query = context.Query;
        var entities = EntityExtractor.Extract(query.Query);
        // An entity most memories share (a speaker's name, the project's own name) discriminates nothing.
        var maxFrequency = Math.Max(MinimumFrequencyCap, (int)(MaxShare * lexical.CountIn(query.Scopes)));
        var hits = (await EntityScoring.SearchAsync(store, query.Scopes, entities, context.Depth, maxFrequency, cancellationToken).ConfigureAwait(false))
            .Where(x => context.Allowed is null || context.Allowed.Contains(x.Id))
            .Select(x => new Scored(x.Id, x.Score))
            .ToList();
        return new SignalRanking(SignalKind.Entities, hits, weight);
    }
}
