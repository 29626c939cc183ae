namespace Engram.Eval;

internal static class Stats
{
    /// <summary>The nearest-rank percentile (p in 0..100) of a sample.</summary>
    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(p / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    /// <summary>The share of <paramref name="relevant"/> found in the first <paramref name="k"/> of <paramref name="ranked"/>.</summary>
    public static double RecallAt(IReadOnlyList<string> ranked, IReadOnlySet<string> relevant, int k) =>
        relevant.Count == 0 ? 0 : (double)ranked.Take(k).Distinct().Count(relevant.Contains) / relevant.Count;

    /// <summary>nDCG@k with binary relevance.</summary>
    public static double NdcgAt(IReadOnlyList<string> ranked, IReadOnlySet<string> relevant, int k)
    {
        double dcg = 0, ideal = 0;
        var seen = new HashSet<string>();
        for (var i = 0; i < Math.Min(k, ranked.Count); i++)
        {
            if (relevant.Contains(ranked[i]) && seen.Add(ranked[i]))
            {
                dcg += 1 / Math.Log2(i + 2);
            }
        }

        for (var i = 0; i < Math.Min(k, relevant.Count); i++)
        {
            ideal += 1 / Math.Log2(i + 2);
        }

        return ideal == 0 ? 0 : dcg / ideal;
    }
}
