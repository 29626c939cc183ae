using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Engram.Eval;

/// <summary>
/// LoCoMo evidence retrieval: every turn is stored as one memory ("Speaker: text", plus the caption of a shared
/// image) in a scope per conversation with observedAt = its session's date; every scored question is asked as a
/// recall, and the evidence turns found in the top k are counted.
/// </summary>
internal static class Locomo
{
    public static readonly int[] Ks = [5, 10, 25, 50];

    public static readonly Dictionary<int, string> Categories = new()
    {
        [1] = "multi-hop", [2] = "temporal", [3] = "open-domain", [4] = "single-hop",
    };

    internal sealed record Turn(string DiaId, string Content, DateTimeOffset ObservedAt);

    internal sealed record Conversation(string SampleId, List<Turn> Turns);

    internal sealed record Question(string Qid, string SampleId, int Category, string Text, List<string> Evidence);

    internal sealed record QuestionResult(string Qid, int Category, double[] Recall, double Ndcg10, double LatencyMs, List<string> RankedDiaIds);

    internal sealed record Summary(string Target, int Questions, Dictionary<string, double> Overall, Dictionary<string, Dictionary<string, double>> PerCategory, double P50Ms, double P95Ms, double StoreSeconds, int Memories);

    public static (List<Conversation>, List<Question>) Load(string dataDir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dataDir, "locomo-dev.json")));
        var conversations = new List<Conversation>();
        foreach (var sample in doc.RootElement.EnumerateArray())
        {
            var conv = sample.GetProperty("conversation");
            var turns = new List<Turn>();
            for (var n = 1; conv.TryGetProperty($"session_{n}", out var session); n++)
            {
                var date = ParseSessionDate(conv.GetProperty($"session_{n}_date_time").GetString()!);
                foreach (var turn in session.EnumerateArray())
                {
                    var content = $"{turn.GetProperty("speaker").GetString()}: {turn.GetProperty("text").GetString()}";
                    if (turn.TryGetProperty("blip_caption", out var caption) && caption.ValueKind == JsonValueKind.String)
                    {
                        content += $" [shared a photo: {caption.GetString()}]";
                    }

                    turns.Add(new Turn(turn.GetProperty("dia_id").GetString()!, content, date));
                }
            }

            conversations.Add(new Conversation(sample.GetProperty("sample_id").GetString()!, turns));
        }

        var questions = new List<Question>();
        foreach (var line in File.ReadLines(Path.Combine(dataDir, "locomo-dev-qrels.jsonl")))
        {
            using var q = JsonDocument.Parse(line);
            var r = q.RootElement;
            if (!r.GetProperty("scored_for_retrieval").GetBoolean())
            {
                continue;
            }

            questions.Add(new Question(
                r.GetProperty("qid").GetString()!, r.GetProperty("sample_id").GetString()!, r.GetProperty("category").GetInt32(),
                r.GetProperty("question").GetString()!, r.GetProperty("evidence").EnumerateArray().Select(e => e.GetString()!).ToList()));
        }

        return (conversations, questions);
    }

    private static DateTimeOffset ParseSessionDate(string text) =>
        DateTimeOffset.ParseExact(text.Trim(), ["h:mm tt 'on' d MMMM, yyyy", "h:mm tt 'on' d MMM, yyyy"], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);

    public static async Task<(Summary Summary, List<QuestionResult> Results)> RunAsync(IMemoryTarget target, List<Conversation> conversations, List<Question> questions)
    {
        var results = new List<QuestionResult>();
        var storeTime = Stopwatch.StartNew();
        var memories = 0;
        var k = Ks.Max();
        double storeSeconds = 0;
        foreach (var conversation in conversations)
        {
            var scope = "project:locomo/" + conversation.SampleId;
            storeTime.Restart();
            var ids = await target.StoreAsync(scope, conversation.Turns.Select(t => (t.Content, t.ObservedAt)).ToList());
            storeSeconds += storeTime.Elapsed.TotalSeconds;
            memories += ids.Distinct().Count();
            var idOf = conversation.Turns.Select((t, i) => (t.DiaId, Id: ids[i])).ToDictionary(x => x.DiaId, x => x.Id);
            var diaOf = idOf.GroupBy(x => x.Value).ToDictionary(g => g.Key, g => g.First().Key);

            foreach (var question in questions.Where(q => q.SampleId == conversation.SampleId))
            {
                var relevant = question.Evidence.Where(idOf.ContainsKey).Select(e => idOf[e]).ToHashSet();
                var clock = Stopwatch.StartNew();
                var ranked = await target.RecallAsync(scope, question.Text, k);
                var latency = clock.Elapsed.TotalMilliseconds;
                results.Add(new QuestionResult(
                    question.Qid, question.Category,
                    Ks.Select(x => Stats.RecallAt(ranked, relevant, x)).ToArray(),
                    Stats.NdcgAt(ranked, relevant, 10), latency,
                    ranked.Select(id => diaOf[id]).ToList()));
            }
        }

        return (Summarize(target.Name, results, storeSeconds, memories), results);
    }

    private static Dictionary<string, double> Metrics(List<QuestionResult> results)
    {
        var metrics = new Dictionary<string, double>();
        for (var i = 0; i < Ks.Length; i++)
        {
            metrics[$"recall@{Ks[i]}"] = results.Count == 0 ? 0 : results.Average(r => r.Recall[i]);
        }

        metrics["ndcg@10"] = results.Count == 0 ? 0 : results.Average(r => r.Ndcg10);
        return metrics;
    }

    private static Summary Summarize(string target, List<QuestionResult> results, double storeSeconds, int memories)
    {
        var latencies = results.Select(r => r.LatencyMs).ToList();
        return new Summary(
            target, results.Count, Metrics(results),
            Categories.ToDictionary(c => c.Value, c => Metrics(results.Where(r => r.Category == c.Key).ToList())),
            Stats.Percentile(latencies, 50), Stats.Percentile(latencies, 95), storeSeconds, memories);
    }

    public static void Print(Summary s, Dictionary<int, int> counts)
    {
        Console.WriteLine($"## LoCoMo evidence retrieval: {s.Target} ({s.Questions} questions, {s.Memories} memories stored in {s.StoreSeconds:F1} s)");
        Console.WriteLine();
        Console.WriteLine("| slice | n | recall@5 | recall@10 | recall@25 | recall@50 | nDCG@10 |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        Row("overall", s.Questions, s.Overall);
        foreach (var (id, name) in Categories)
        {
            Row($"{id} {name}", counts.GetValueOrDefault(id), s.PerCategory[name]);
        }

        Console.WriteLine();
        Console.WriteLine(FormattableString.Invariant($"recall latency: p50 {s.P50Ms:F2} ms, p95 {s.P95Ms:F2} ms"));
        Console.WriteLine();

        static void Row(string name, int n, Dictionary<string, double> m) =>
            Console.WriteLine(FormattableString.Invariant(
                $"| {name} | {n} | {m["recall@5"]:F3} | {m["recall@10"]:F3} | {m["recall@25"]:F3} | {m["recall@50"]:F3} | {m["ndcg@10"]:F3} |"));
    }
}
