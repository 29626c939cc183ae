using System.Globalization;
using System.Text.Json;
using Engram.Core.Model;

namespace Engram.Eval;

/// <summary>
/// The coding-assistant set in <c>../shared/bench/projects</c> (format and scoring in its README), through one way in:
/// recall@1/3/10 per query kind, stale memories in the top 10 of "current"/"asof" queries, memories returned for
/// questions with no answer, and how often <c>remember</c> offers the existing memory for a restatement.
/// </summary>
internal static class Projects
{
    private static readonly int[] Ks = [1, 3, 10];

    internal sealed record Memory(string Key, string Scope, string Content, DateTimeOffset ObservedAt, List<string>? Tags, List<string>? Supersedes);

    internal sealed record Query(string Id, string Scope, string Text, string Kind, List<string> Relevant, List<string> MustNotAppear, DateTimeOffset? AsOf);

    internal sealed record Pair(string Scope, string Existing, string Restatement, bool ExpectSimilar);

    internal sealed record DataSet(List<Memory> Memories, List<Query> Queries, List<Pair> Pairs);

    /// <summary>What a restatement's <c>remember</c> returned, in the set's keys.</summary>
    internal sealed record PairOutcome(RememberStatus Status, string? DuplicateOf, List<string> Similar)
    {
        public bool Offers(string key) => DuplicateOf == key || Similar.Contains(key);

        public bool SameAs(PairOutcome other) => Status == other.Status && DuplicateOf == other.DuplicateOf && Similar.SequenceEqual(other.Similar);
    }

    /// <summary>What one way in returned, in the set's keys: each query's top 10 and each pair's outcome, in file order.</summary>
    internal sealed record Outcomes(List<List<string>> Rankings, List<PairOutcome> Pairs);

    internal sealed record KindRecall(string Kind, int N, double Recall1, double Recall3, double Recall10);

    internal sealed record Summary(
        string Target, int Memories, List<KindRecall> Recall, int Stale, int StaleAsked, double NegativeReturned, int Negatives,
        int SimilarOffered, int SimilarPairs, int DifferentOffered, int DifferentPairs);

    public static DataSet Load(string dataDir)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(dataDir, "dev.json")));
        var root = document.RootElement;
        var memories = root.GetProperty("scopes").EnumerateArray()
            .SelectMany(s => s.GetProperty("memories").EnumerateArray().Select(m => new Memory(
                m.GetProperty("key").GetString()!, s.GetProperty("scope").GetString()!, m.GetProperty("content").GetString()!,
                Time(m, "observedAt")!.Value, Strings(m, "tags"), Strings(m, "supersedes"))))
            .ToList();
        var queries = root.GetProperty("queries").EnumerateArray().Select(q => new Query(
                q.GetProperty("id").GetString()!, q.GetProperty("scope").GetString()!, q.GetProperty("query").GetString()!, q.GetProperty("kind").GetString()!,
                Strings(q, "relevant") ?? [], Strings(q, "mustNotAppear") ?? [], Time(q, "asOf")))
            .ToList();
        var pairs = root.GetProperty("pairs").EnumerateArray().Select(p => new Pair(
                p.GetProperty("scope").GetString()!, p.GetProperty("existing").GetString()!, p.GetProperty("restatement").GetString()!,
                p.GetProperty("expect").GetString() == "similar"))
            .ToList();
        return new DataSet(memories, queries, pairs);
    }

    /// <summary>Runs the README's scoring procedure through <paramref name="target"/>, a fresh store.</summary>
    public static async Task<(Summary Summary, Outcomes Outcomes)> RunAsync(IEngramTarget target, DataSet set)
    {
        var ids = new Dictionary<string, string>(StringComparer.Ordinal);
        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var m in set.Memories)
        {
            var result = await target.RememberAsync(new RememberRequest(m.Content, m.Scope, m.Tags, m.ObservedAt, m.Supersedes?.Select(k => ids[k]).ToList()));
            ids[m.Key] = result.Id;
            keys.TryAdd(result.Id, m.Key);
        }

        List<string> Keys(IEnumerable<string> found) => found.Select(id => keys.GetValueOrDefault(id, id)).ToList();

        var rankings = new List<List<string>>(set.Queries.Count);
        foreach (var q in set.Queries)
        {
            rankings.Add(Keys(await target.RecallAsync(new RecallRequest(q.Text, q.Scope, 10, AsOf: q.AsOf))));
        }

        var pairs = new List<PairOutcome>(set.Pairs.Count);
        foreach (var p in set.Pairs)
        {
            var result = await target.RememberAsync(new RememberRequest(p.Restatement, p.Scope));
            pairs.Add(new PairOutcome(result.Status, result.DuplicateOf is { } d ? keys.GetValueOrDefault(d, d) : null, Keys(result.Similar.Select(s => s.Id))));
            if (result.Status == RememberStatus.Created)
            {
                await target.ForgetAsync(result.Id);
            }
        }

        var outcomes = new Outcomes(rankings, pairs);
        return (Score(target.Name, keys.Count, set, outcomes), outcomes);
    }

    private static Summary Score(string target, int memories, DataSet set, Outcomes outcomes)
    {
        var asked = set.Queries.Zip(outcomes.Rankings, (q, found) => (Query: q, Found: found)).ToList();
        var scored = asked.Where(a => a.Query.Kind != "negative")
            .Select(a => (a.Query.Kind, Recall: Ks.Select(k => Stats.RecallAt(a.Found, a.Query.Relevant.ToHashSet(), k)).ToArray()))
            .ToList();
        var recall = scored.GroupBy(s => s.Kind).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => Row(g.Key, g.Select(s => s.Recall).ToList()))
            .Append(Row("all scored", scored.Select(s => s.Recall).ToList()))
            .ToList();
        var stale = asked.Where(a => a.Query.Kind is "current" or "asof").ToList();
        var negatives = asked.Where(a => a.Query.Kind == "negative").ToList();
        var offered = set.Pairs.Zip(outcomes.Pairs, (p, o) => (p.ExpectSimilar, Offered: o.Offers(p.Existing))).ToList();
        return new Summary(
            target, memories, recall,
            stale.Count(a => a.Query.MustNotAppear.Intersect(a.Found).Any()), stale.Count,
            negatives.Count == 0 ? 0 : negatives.Average(a => a.Found.Count), negatives.Count,
            offered.Count(o => o.ExpectSimilar && o.Offered), offered.Count(o => o.ExpectSimilar),
            offered.Count(o => !o.ExpectSimilar && o.Offered), offered.Count(o => !o.ExpectSimilar));

        static KindRecall Row(string kind, List<double[]> rows) =>
            new(kind, rows.Count, rows.Average(r => r[0]), rows.Average(r => r[1]), rows.Average(r => r[2]));
    }

    /// <summary>How many queries got the same top 10 and how many pairs the same outcome through both ways in.</summary>
    public static (int Rankings, int Pairs) Agreement(Outcomes a, Outcomes b) =>
        (a.Rankings.Zip(b.Rankings).Count(p => p.First.SequenceEqual(p.Second)), a.Pairs.Zip(b.Pairs).Count(p => p.First.SameAs(p.Second)));

    public static void Print(Summary s)
    {
        Console.WriteLine($"## Projects (dev): {s.Target} ({s.Recall[^1].N + s.Negatives} queries, {s.Memories} memories, {s.SimilarPairs + s.DifferentPairs} pairs)");
        Console.WriteLine();
        Console.WriteLine("| kind | n | recall@1 | recall@3 | recall@10 |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var r in s.Recall)
        {
            Console.WriteLine(FormattableString.Invariant($"| {r.Kind} | {r.N} | {r.Recall1:F3} | {r.Recall3:F3} | {r.Recall10:F3} |"));
        }

        Console.WriteLine();
        Console.WriteLine($"stale (a superseded or future memory in the top 10 of current/asof): {s.Stale}/{s.StaleAsked}");
        Console.WriteLine(FormattableString.Invariant($"negative queries: {s.NegativeReturned:F2} memories returned on average ({s.Negatives} queries)"));
        Console.WriteLine(FormattableString.Invariant(
            $"restatements offered: {s.SimilarOffered}/{s.SimilarPairs} ({Share(s.SimilarOffered, s.SimilarPairs):F2}); different facts offered: {s.DifferentOffered}/{s.DifferentPairs} ({Share(s.DifferentOffered, s.DifferentPairs):F2})"));
        Console.WriteLine();

        static double Share(int part, int whole) => whole == 0 ? 0 : (double)part / whole;
    }

    private static List<string>? Strings(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Array ? value.EnumerateArray().Select(v => v.GetString()!).ToList() : null;

    private static DateTimeOffset? Time(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? DateTimeOffset.Parse(value.GetString()!, CultureInfo.InvariantCulture) : null;
}
