using System.Globalization;
using System.Text.Json;
using Engram.Eval;
using Microsoft.Data.Sqlite;

// Engram's evaluation runner.
//   locomo --data <dir> [--mode library|mcp|http|both|all] [--embeddings <minilm|builtin|ollama:m|openai:m|onnx:dir>] [--json <file>] [--results <file.jsonl>]
//   projects --data <dir> [--mode library|mcp|http|both|all] [--embeddings <...>] [--json <file>] [--results <file.jsonl>]
//            (the coding-assistant set: recall@1/3/10 per kind, stale rate, negatives, similar offers)
//   signals --set projects|locomo --data <dir> --out <file.jsonl> [--embeddings <...>]   (each candidate's signals, for tests/fusion/fit.py)
//   calibrate --texts <file.md>[,<file.md>…] --out <ranges.txt> [--assembly <model package .dll>]   (activation ranges for the build's quantizer)
//   peer [--sizes 100,1000,5000] [--queries 200] [--peer-version <npm version>] [--embeddings <...>] [--json <file>] [--plot <png>]
// Without --embeddings, Engram runs with its default embedder (the shipped model), in the library and in the server alike.
var verb = args.FirstOrDefault();
var options = ParseOptions(args.Skip(1).ToArray());
var work = Path.Combine(Path.GetTempPath(), "engram-eval-" + Guid.NewGuid().ToString("N"));
Directory.CreateDirectory(work);
try
{
    switch (verb)
    {
        case "locomo":
            return await LocomoAsync(options, work);
        case "peer":
            return await PeerAsync(options, work);
        case "projects":
            return await ProjectsAsync(options, work);
        case "signals" when options.GetValueOrDefault("set") is "projects" or "locomo" && options.ContainsKey("data") && options.ContainsKey("out"):
            return await Signals.RunAsync(options["set"], options["data"], options["out"], options.GetValueOrDefault("embeddings"), work);
        case "calibrate" when options.ContainsKey("texts") && options.ContainsKey("out"):
            return Calibrate.Run(options.GetValueOrDefault("assembly") ?? Engram.Testing.ModelPackage.DefaultAssembly(), options["texts"].Split(','), options["out"]);
        default:
            Console.Error.WriteLine("usage: Engram.Eval locomo --data <dir> [--mode library|mcp|http|both|all] [--embeddings <spec>] [--json <file>] [--results <file.jsonl>]");
            Console.Error.WriteLine("       Engram.Eval projects --data <dir> [--mode library|mcp|http|both|all] [--embeddings <spec>] [--json <file>] [--results <file.jsonl>]");
            Console.Error.WriteLine("       Engram.Eval signals --set projects|locomo --data <dir> --out <file.jsonl> [--embeddings <spec>]   (each candidate's signals, for tests/fusion/fit.py)");
            Console.Error.WriteLine("       Engram.Eval calibrate --texts <file.md>[,<file.md>…] --out <ranges.txt> [--assembly <model package .dll>]   (activation ranges for the build's quantizer)");
            Console.Error.WriteLine("       Engram.Eval peer [--sizes 100,1000,5000] [--queries 200] [--peer-version <v>] [--embeddings <spec>] [--json <file>] [--plot <png>]");
            Console.Error.WriteLine("--mode defaults to both (library and MCP over stdio); --embeddings to Engram's default model.");
            return 2;
    }
}
finally
{
    SqliteConnection.ClearAllPools();
    Directory.Delete(work, recursive: true);
}

static async Task<int> LocomoAsync(Dictionary<string, string> options, string work)
{
    if (!options.TryGetValue("data", out var data) || !File.Exists(Path.Combine(data, "locomo-dev.json")))
    {
        Console.Error.WriteLine("locomo needs --data <dir> holding locomo-dev.json and locomo-dev-qrels.jsonl.");
        return 2;
    }

    if (WaysIn.For(options.GetValueOrDefault("mode", "both")) is not { } ways)
    {
        Console.Error.WriteLine("--mode takes library, mcp, http, both or all.");
        return 2;
    }

    var (conversations, questions) = Locomo.Load(data);
    var counts = questions.GroupBy(q => q.Category).ToDictionary(g => g.Key, g => g.Count());
    var summaries = new List<Locomo.Summary>();
    var rankings = new List<List<Locomo.QuestionResult>>();
    foreach (var way in ways)
    {
        await using var target = await WaysIn.StartAsync(way, work, options.GetValueOrDefault("embeddings"));
        var (summary, results) = await Locomo.RunAsync(target, conversations, questions);
        Locomo.Print(summary, counts);
        summaries.Add(summary);
        rankings.Add(results);
    }

    var exit = 0;
    for (var i = 1; i < rankings.Count; i++)
    {
        var same = rankings[0].Zip(rankings[i]).Count(p => p.First.RankedDiaIds.SequenceEqual(p.Second.RankedDiaIds));
        Console.WriteLine($"{summaries[0].Target} and {summaries[i].Target} agree: {same}/{rankings[0].Count} rankings identical.");
        if (same != rankings[0].Count)
        {
            exit = 1;
        }
    }

    Console.WriteLine(FormattableString.Invariant($"LoCoMo recall@10: {summaries[0].Overall["recall@10"]:F3}"));
    if (options.TryGetValue("json", out var json))
    {
        await File.WriteAllTextAsync(json, JsonSerializer.Serialize(summaries, new JsonSerializerOptions { WriteIndented = true }));
    }

    if (options.TryGetValue("results", out var perQuestion))
    {
        // One line per question: its evidence and the ranking, for looking at what was missed.
        var evidence = questions.ToDictionary(q => q.Qid);
        await File.WriteAllLinesAsync(perQuestion, rankings[0].Select(r => JsonSerializer.Serialize(new
        {
            r.Qid, r.Category, evidence[r.Qid].Text, evidence[r.Qid].Evidence, Recall10 = r.Recall[1], Ranked = r.RankedDiaIds,
        })));
    }

    return exit;
}

static async Task<int> ProjectsAsync(Dictionary<string, string> options, string work)
{
    if (!options.TryGetValue("data", out var data) || !File.Exists(Path.Combine(data, "dev.json")))
    {
        Console.Error.WriteLine("projects needs --data <dir> holding dev.json (../shared/bench/projects).");
        return 2;
    }

    if (WaysIn.For(options.GetValueOrDefault("mode", "both")) is not { } ways)
    {
        Console.Error.WriteLine("--mode takes library, mcp, http, both or all.");
        return 2;
    }

    var set = Projects.Load(data);
    var summaries = new List<Projects.Summary>();
    var outcomes = new List<Projects.Outcomes>();
    foreach (var way in ways)
    {
        await using var target = await WaysIn.StartAsync(way, work, options.GetValueOrDefault("embeddings"));
        var (summary, outcome) = await Projects.RunAsync(target, set);
        Projects.Print(summary);
        summaries.Add(summary);
        outcomes.Add(outcome);
    }

    var exit = 0;
    for (var i = 1; i < outcomes.Count; i++)
    {
        var (rankings, pairs) = Projects.Agreement(outcomes[0], outcomes[i]);
        Console.WriteLine($"{summaries[0].Target} and {summaries[i].Target} agree: {rankings}/{set.Queries.Count} rankings and {pairs}/{set.Pairs.Count} pair outcomes identical.");
        if (rankings != set.Queries.Count || pairs != set.Pairs.Count)
        {
            exit = 1;
        }
    }

    if (options.TryGetValue("json", out var json))
    {
        await File.WriteAllTextAsync(json, JsonSerializer.Serialize(summaries, new JsonSerializerOptions { WriteIndented = true }));
    }

    if (options.TryGetValue("results", out var perQuery))
    {
        // One line per query: what it asks, what answers it and the keys returned, for looking at what was missed.
        await File.WriteAllLinesAsync(perQuery, set.Queries.Zip(outcomes[0].Rankings).Select(p => JsonSerializer.Serialize(new
        {
            p.First.Id, p.First.Kind, p.First.Text, p.First.Relevant, p.First.MustNotAppear, Ranked = p.Second,
        })));
    }

    return exit;
}

static async Task<int> PeerAsync(Dictionary<string, string> options, string work)
{
    var sizes = options.GetValueOrDefault("sizes", "100,1000,5000").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList();
    var queries = int.Parse(options.GetValueOrDefault("queries", "200"), CultureInfo.InvariantCulture);
    var version = options.GetValueOrDefault("peer-version", "2026.8.31");
    var results = await Peer.RunAsync(sizes, queries, version, options.GetValueOrDefault("embeddings"), work);
    Peer.Print(results, PeerTarget.InstalledVersion ?? version);
    if (options.TryGetValue("json", out var json))
    {
        await File.WriteAllTextAsync(json, JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }));
    }

    if (options.TryGetValue("plot", out var plot))
    {
        Peer.Plot(results, plot);
        Console.WriteLine($"plot written to {plot}");
    }

    return 0;
}

static Dictionary<string, string> ParseOptions(string[] args)
{
    var options = new Dictionary<string, string>();
    for (var i = 0; i + 1 < args.Length; i += 2)
    {
        options[args[i].TrimStart('-')] = args[i + 1];
    }

    return options;
}
