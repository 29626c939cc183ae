using System.Text.Json;
using Engram.Core;
using Engram.Core.Model;

namespace Engram.Eval;

/// <summary>
/// Every candidate of every dev question with each signal's view of it (explain at limit 100: BM25 score and rank,
/// cosine and rank, entities, time; the query's mean cosine over the memories searched) and whether it is relevant, one JSON line per question: what
/// <c>tests/fusion/fit.py</c> fits the fusion's weights on. Through the library, all memories stored first.
/// </summary>
internal static class Signals
{
    public static async Task<int> RunAsync(string set, string data, string output, string? embeddings, string work)
    {
        await using var service = new MemoryService(new EngramOptions { HomeDirectory = Path.Combine(work, "signals") }, Engram.Embeddings.EmbeddingProvider.Create(embeddings, null, null));
        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        var questions = new List<(string Id, string Kind, string Scope, string Text, DateTimeOffset? AsOf, IReadOnlyList<string> Relevant)>();
        if (set == "projects")
        {
            var projects = Projects.Load(data);
            var ids = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var m in projects.Memories)
            {
                var result = await service.RememberAsync(new RememberRequest(m.Content, m.Scope, m.Tags, m.ObservedAt, m.Supersedes?.Select(k => ids[k]).ToList()));
                ids[m.Key] = result.Id;
                keys[result.Id] = m.Key;
            }

            questions.AddRange(projects.Queries.Select(q => (q.Id, q.Kind, q.Scope, q.Text, q.AsOf, (IReadOnlyList<string>)q.Relevant)));
        }
        else
        {
            var (conversations, locomo) = Locomo.Load(data);
            foreach (var c in conversations)
            {
                var scope = "project:locomo/" + c.SampleId;
                var results = await service.RememberManyAsync(c.Turns.Select(t => new RememberRequest(t.Content, scope, ObservedAt: t.ObservedAt)).ToList());
                for (var i = 0; i < results.Count; i++)
                {
                    keys.TryAdd(results[i].Id, $"{c.SampleId}:{c.Turns[i].DiaId}");
                }
            }

            questions.AddRange(locomo.Select(q => (q.Qid, $"c{q.Category}", "project:locomo/" + q.SampleId, q.Text, (DateTimeOffset?)null, (IReadOnlyList<string>)q.Evidence.Select(e => $"{q.SampleId}:{e}").ToList())));
        }

        await using var file = new StreamWriter(output);
        foreach (var q in questions)
        {
            var explained = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest(q.Text, q.Scope, EngramOptions.MaxRecallLimit, AsOf: q.AsOf)));
            await file.WriteLineAsync(JsonSerializer.Serialize(new
            {
                qid = q.Id,
                kind = q.Kind,
                scope = q.Scope,
                relevant = q.Relevant,
                mu = explained.MeanCosine,
                hits = explained.Hits.Select(h => new
                {
                    key = keys.GetValueOrDefault(h.Id, h.Id),
                    rank = h.Rank,
                    lex = h.Lexical?.Score,
                    lexRank = h.Lexical?.Rank,
                    vec = h.Vector?.Score,
                    vecRank = h.Vector?.Rank,
                    ent = h.Entities?.Score,
                    time = h.Time?.Score,
                }),
            }));
        }

        Console.WriteLine($"{questions.Count} questions written to {output}");
        return 0;
    }
}
