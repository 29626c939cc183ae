using System.Globalization;
using System.Text.Json;
using Engram.Core;
using Engram.Core.Model;

namespace Engram.Eval;

/// <summary>
/// The coding-assistant set in <c>../shared/bench/projects</c> (format and scoring in its README), through the library:
/// recall@1/3/10 per query kind, stale memories in the top 10 of "current"/"asof" queries, memories returned for
/// questions with no answer, and how often <c>remember</c> offers the existing memory for a restatement.
/// </summary>
internal static class Projects
{
    private static readonly int[] Ks = [1, 3, 10];

    public static async Task<int> RunAsync(string data, string work)
    {
        using var document = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(data, "dev.json")));
        var root = document.RootElement;
        var home = Path.Combine(work, "projects");
        var services = new Dictionary<string, MemoryService>(StringComparer.Ordinal);
        // A service per scope over one store: a recall without 'scope' searches that scope plus 'user', as the set asks.
        MemoryService For(string scope) =>
            services.TryGetValue(scope, out var s) ? s : services[scope] = new MemoryService(new EngramOptions { HomeDirectory = home, DefaultScope = scope });
        try
        {
            var ids = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var scope in root.GetProperty("scopes").EnumerateArray())
            {
                var name = scope.GetProperty("scope").GetString()!;
                foreach (var m in scope.GetProperty("memories").EnumerateArray())
                {
                    var result = await For(name).RememberAsync(new RememberRequest(
                        m.GetProperty("content").GetString()!, name, Strings(m, "tags"),
                        DateTimeOffset.Parse(m.GetProperty("observedAt").GetString()!, CultureInfo.InvariantCulture),
                        Strings(m, "supersedes")?.Select(k => ids[k]).ToList()));
                    ids[m.GetProperty("key").GetString()!] = result.Id;
                }
            }

            var keys = ids.ToDictionary(p => p.Value, p => p.Key, StringComparer.Ordinal);
            var recalls = new Dictionary<string, List<double[]>>(StringComparer.Ordinal);
            var negatives = new List<int>();
            int staleAsked = 0, stale = 0;
            foreach (var q in root.GetProperty("queries").EnumerateArray())
            {
                var kind = q.GetProperty("kind").GetString()!;
                var asOf = q.TryGetProperty("asOf", out var a) && a.ValueKind == JsonValueKind.String ? DateTimeOffset.Parse(a.GetString()!, CultureInfo.InvariantCulture) : (DateTimeOffset?)null;
                var found = (await For(q.GetProperty("scope").GetString()!).RecallAsync(new RecallRequest(q.GetProperty("query").GetString()!, Limit: 10, AsOf: asOf)))
                    .Memories.Select(m => keys.GetValueOrDefault(m.Id, m.Id)).ToList();
                var relevant = Strings(q, "relevant") ?? [];
                if (kind == "negative")
                {
                    negatives.Add(found.Count);
                    continue;
                }

                var r = Ks.Select(k => relevant.Count == 0 ? 0 : (double)relevant.Intersect(found.Take(k)).Count() / relevant.Count).ToArray();
                (recalls.TryGetValue(kind, out var list) ? list : recalls[kind] = []).Add(r);
                if (kind is "current" or "asof")
                {
                    staleAsked++;
                    stale += (Strings(q, "mustNotAppear") ?? []).Intersect(found).Any() ? 1 : 0;
                }
            }

            int similarPairs = 0, similarOffered = 0, differentPairs = 0, differentOffered = 0;
            foreach (var p in root.GetProperty("pairs").EnumerateArray())
            {
                var scope = p.GetProperty("scope").GetString()!;
                var existing = ids[p.GetProperty("existing").GetString()!];
                var result = await For(scope).RememberAsync(new RememberRequest(p.GetProperty("restatement").GetString()!, scope));
                var offered = result.DuplicateOf == existing || result.Similar.Any(s => s.Id == existing);
                if (p.GetProperty("expect").GetString() == "similar")
                {
                    similarPairs++;
                    similarOffered += offered ? 1 : 0;
                }
                else
                {
                    differentPairs++;
                    differentOffered += offered ? 1 : 0;
                }

                if (result.Status == RememberStatus.Created)
                {
                    await For(scope).ForgetAsync(new ForgetRequest(Ids: [result.Id]));
                }
            }

            Console.WriteLine("| kind | n | recall@1 | recall@3 | recall@10 |");
            Console.WriteLine("|---|---|---|---|---|");
            foreach (var (kind, list) in recalls.OrderBy(k => k.Key, StringComparer.Ordinal).Append(new("all scored", recalls.Values.SelectMany(v => v).ToList())))
            {
                Console.WriteLine(FormattableString.Invariant($"| {kind} | {list.Count} | {list.Average(x => x[0]):F3} | {list.Average(x => x[1]):F3} | {list.Average(x => x[2]):F3} |"));
            }

            Console.WriteLine(FormattableString.Invariant($"stale (a superseded or future memory in the top 10 of current/asof): {stale}/{staleAsked}"));
            Console.WriteLine(FormattableString.Invariant($"negative queries: {negatives.Average():F2} memories returned on average ({negatives.Count} queries)"));
            Console.WriteLine(FormattableString.Invariant($"restatements offered: {similarOffered}/{similarPairs} ({(double)similarOffered / similarPairs:F2}); different facts offered: {differentOffered}/{differentPairs} ({(double)differentOffered / differentPairs:F2})"));
            return 0;
        }
        finally
        {
            foreach (var service in services.Values)
            {
                await service.DisposeAsync();
            }
        }
    }

    private static List<string>? Strings(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Array ? value.EnumerateArray().Select(v => v.GetString()!).ToList() : null;
}
