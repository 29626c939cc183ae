using System.Diagnostics;
using Engram.Testing;
using ScottPlot;

namespace Engram.Eval;

/// <summary>
/// The same synthetic workload through the same MCP client against Engram and the reference memory server:
/// N facts stored one call at a time, then Q queries, at several store sizes; per-call latency for each.
/// </summary>
internal static class Peer
{
    internal sealed record SizeResult(string Target, int Size, double StoreP50Ms, double StoreP95Ms, double RecallP50Ms, double RecallP95Ms, double UniqueFoundRate);

    private static (string Content, DateTimeOffset ObservedAt) Fact(int i, Random random) =>
        (SyntheticFacts.Fact(i, random), new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(i));

    public static async Task<List<SizeResult>> RunAsync(IReadOnlyList<int> sizes, int queries, string peerVersion, string? embeddings, string workRoot)
    {
        var results = new List<SizeResult>();
        foreach (var size in sizes)
        {
            foreach (var targetName in new[] { "engram", "server-memory" })
            {
                var work = Path.Combine(workRoot, $"{targetName}-{size}");
                Directory.CreateDirectory(work);
                IMemoryTarget target = targetName == "engram" ? await McpTarget.StartAsync(work, embeddings) : await PeerTarget.StartAsync(work, peerVersion);
                await using (target)
                {
                    results.Add(await MeasureAsync(target, targetName, size, queries));
                }

                var r = results[^1];
                Console.Error.WriteLine(FormattableString.Invariant($"{r.Target} at {r.Size}: store p50 {r.StoreP50Ms:F2} ms, recall p50 {r.RecallP50Ms:F2} ms"));
            }
        }

        return results;
    }

    private static async Task<SizeResult> MeasureAsync(IMemoryTarget target, string name, int size, int queries)
    {
        const string scope = "project:bench/peer";
        var random = new Random(42);
        var storeLatencies = new List<double>(size);
        for (var i = 0; i < size; i++)
        {
            var clock = Stopwatch.StartNew();
            await target.StoreAsync(scope, [Fact(i, random)]);
            storeLatencies.Add(clock.Elapsed.TotalMilliseconds);
        }

        var recallLatencies = new List<double>(queries);
        var found = 0;
        var uniqueAsked = 0;
        var queryRandom = new Random(7);
        for (var q = 0; q < queries; q++)
        {
            // Half the queries name one fact's unique ticket; half a technology that many facts mention.
            var unique = q % 2 == 0;
            var ticket = queryRandom.Next(size);
            var query = unique ? $"ENG-{ticket}" : SyntheticFacts.Keyword(queryRandom);
            var clock = Stopwatch.StartNew();
            var ids = await target.RecallAsync(scope, query, 10);
            recallLatencies.Add(clock.Elapsed.TotalMilliseconds);
            if (unique)
            {
                uniqueAsked++;
                found += ids.Count > 0 ? 1 : 0;
            }
        }

        return new SizeResult(name, size,
            Stats.Percentile(storeLatencies, 50), Stats.Percentile(storeLatencies, 95),
            Stats.Percentile(recallLatencies, 50), Stats.Percentile(recallLatencies, 95),
            uniqueAsked == 0 ? 0 : (double)found / uniqueAsked);
    }

    public static void Print(List<SizeResult> results, string peerVersion)
    {
        Console.WriteLine($"## Side by side: Engram (MCP over stdio) and {PeerTarget.Package}@{peerVersion}, same C# MCP client");
        Console.WriteLine();
        Console.WriteLine("| size | target | store p50 ms | store p95 ms | recall p50 ms | recall p95 ms | unique-ticket queries answered |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var r in results)
        {
            Console.WriteLine(FormattableString.Invariant($"| {r.Size} | {r.Target} | {r.StoreP50Ms:F2} | {r.StoreP95Ms:F2} | {r.RecallP50Ms:F2} | {r.RecallP95Ms:F2} | {r.UniqueFoundRate:P0} |"));
        }

        Console.WriteLine();
        Console.WriteLine("| size | recall p50 ratio (server-memory / Engram) | store p50 ratio (server-memory / Engram) |");
        Console.WriteLine("|---|---|---|");
        foreach (var group in results.GroupBy(r => r.Size))
        {
            var engram = group.Single(r => r.Target == "engram");
            var peer = group.Single(r => r.Target == "server-memory");
            Console.WriteLine(FormattableString.Invariant($"| {group.Key} | {peer.RecallP50Ms / engram.RecallP50Ms:F2}× | {peer.StoreP50Ms / engram.StoreP50Ms:F2}× |"));
        }

        Console.WriteLine();
    }

    public static void Plot(List<SizeResult> results, string path)
    {
        var plot = new Plot();
        foreach (var group in results.GroupBy(r => r.Target))
        {
            var xs = group.Select(r => Math.Log10(r.Size)).ToArray();
            var ys = group.Select(r => r.RecallP50Ms).ToArray();
            var line = plot.Add.Scatter(xs, ys);
            line.LegendText = group.Key == "engram" ? "Engram (recall)" : "server-memory (search_nodes)";
            line.MarkerSize = 8;
            line.LineWidth = 2;
        }

        var ticks = new ScottPlot.TickGenerators.NumericAutomatic
        {
            LabelFormatter = x => Math.Pow(10, x).ToString("N0", System.Globalization.CultureInfo.InvariantCulture),
            IntegerTicksOnly = true,
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
        };
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.Bottom.Label.Text = "memories in the store (log scale)";
        plot.Axes.Left.Label.Text = "recall latency p50 (ms), through MCP stdio";
        plot.Title("Recall latency against store size");
        plot.ShowLegend(Alignment.UpperLeft);
        plot.Axes.SetLimitsY(0, results.Max(r => r.RecallP50Ms) * 1.1);
        plot.SavePng(path, 900, 540);
    }
}
