using Engram.Core.Storage;

namespace Engram.Core.Search;

/// <summary>
/// The entity signal: the memories of the scopes asked about that share entities with a query, scored by the sum over
/// shared entities of 1 / (1 + ln df), where df is how many memories of those scopes carry the entity; best first, ties
/// in insertion order. Entities with df above a cap are ignored.
/// </summary>
internal static class EntityScoring
{
    /// <summary>The best <paramref name="k"/> memories of <paramref name="scopes"/> for <paramref name="entities"/>, ignoring entities more than <paramref name="maxFrequency"/> memories carry.</summary>
    public static async Task<List<(string Id, float Score)>> SearchAsync(
        IEntityLinks store, IReadOnlyList<string> scopes, IReadOnlyList<string> entities, int k, int maxFrequency, CancellationToken cancellationToken = default)
    {
        if (entities.Count == 0 || k <= 0)
        {
            return [];
        }

        var weights = new Dictionary<string, float>(StringComparer.Ordinal);
        foreach (var (entity, df) in await store.EntityFrequenciesAsync(scopes, entities, cancellationToken).ConfigureAwait(false))
        {
            if (df <= maxFrequency)
            {
                weights[entity] = 1f / (1f + MathF.Log(df));
            }
        }

        if (weights.Count == 0)
        {
            return [];
        }

        var links = await store.EntityLinksAsync(scopes, weights.Keys, cancellationToken).ConfigureAwait(false);
        return Rank(weights, links, k);
    }

    /// <summary>Sums each memory's entity weights (in the order the links come) and keeps the best k, ties in insertion order.</summary>
    private static List<(string Id, float Score)> Rank(Dictionary<string, float> weights, IEnumerable<EntityLink> links, int k)
    {
        var scores = new Dictionary<string, (float Score, long Order)>(StringComparer.Ordinal);
        foreach (var (id, entity, order) in links)
        {
            var (score, _) = scores.GetValueOrDefault(id);
            scores[id] = (score + weights[entity], order);
        }

        var top = new TopK<string>(k);
        foreach (var (id, (score, _)) in scores.OrderBy(x => x.Value.Order))
        {
            top.Add(id, score);
        }

        return top.ToList();
    }
}
