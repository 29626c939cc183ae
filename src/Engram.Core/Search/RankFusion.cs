namespace Engram.Core.Search;

/// <summary>Weighted reciprocal rank fusion: each list contributes weight / (K + rank) for every id it ranks.</summary>
internal static class RankFusion
{
    /// <summary>
    /// The usual constant from Cormack et al. (2009): large enough that the first few ranks of one list do not
    /// drown agreement between lists.
    /// </summary>
    public const int K = 60;

    /// <summary>Fuses ranked lists (best first) with equal weights.</summary>
    public static IReadOnlyList<(string Id, double Score)> Fuse(params IReadOnlyList<string>[] rankings) =>
        Fuse(rankings.Select(r => (r, 1.0)).ToArray());

    /// <summary>Fuses ranked lists (best first) into one, best first; ties keep the order of first appearance.</summary>
    public static IReadOnlyList<(string Id, double Score)> Fuse(params (IReadOnlyList<string> Ranking, double Weight)[] rankings)
    {
        var scores = new Dictionary<string, double>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var (ranking, weight) in rankings)
        {
            for (var i = 0; i < ranking.Count; i++)
            {
                var id = ranking[i];
                if (!scores.TryGetValue(id, out var score))
                {
                    order.Add(id);
                }

                scores[id] = score + (weight / (K + i + 1));
            }
        }

        return order
            .Select((id, index) => (id, index))
            .OrderByDescending(x => scores[x.id])
            .ThenBy(x => x.index)
            .Select(x => (x.id, scores[x.id]))
            .ToList();
    }
}
