using System.Text.Json;
using Engram.Core;
using Engram.Core.Model;
using Microsoft.Extensions.AI;

namespace Engram.Eval;

/// <summary>
/// Every candidate of every dev question with each signal's view of it (explain at limit 100: BM25 score and rank,
/// cosine and rank, entities, time) and whether it is relevant, one JSON line per question: what
/// <c>tests/fusion/fit.py</c> fits the fusion's weights on. Through the library, all memories stored first.
/// </summary>
internal static class Signals
{
    public static async Task<int> RunAsync(string set, string data, string output, string? embeddings, string work, string? second = null)
    {
        var texts = new Dictionary<string, (string Scope, string Text)>(StringComparer.Ordinal);
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
                texts[m.Key] = (m.Scope, m.Content);
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
                    texts.TryAdd($"{c.SampleId}:{c.Turns[i].DiaId}", (scope, c.Turns[i].Content));
                }
            }

            questions.AddRange(locomo.Select(q => (q.Qid, $"c{q.Category}", "project:locomo/" + q.SampleId, q.Text, (DateTimeOffset?)null, (IReadOnlyList<string>)q.Evidence.Select(e => $"{q.SampleId}:{e}").ToList())));
        }

        var dense = second is null ? null : await Dense.CreateAsync(embeddings, second, texts);
        await using var file = new StreamWriter(output);
        foreach (var q in questions)
        {
            var explained = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest(q.Text, q.Scope, EngramOptions.MaxRecallLimit, AsOf: q.AsOf)));
            var hits = explained.Hits.Select(h => new Hit(keys.GetValueOrDefault(h.Id, h.Id), h.Rank, h.Lexical?.Score, h.Lexical?.Rank, h.Vector?.Score, h.Vector?.Rank, h.Entities?.Score, h.Time?.Score)).ToList();
            if (dense is not null)
            {
                hits = await dense.AddAsync(q.Scope, q.Text, hits);
            }

            await file.WriteLineAsync(JsonSerializer.Serialize(new { qid = q.Id, kind = q.Kind, relevant = q.Relevant, hits }));
        }

        Console.WriteLine($"{questions.Count} questions written to {output}");
        return 0;
    }

    internal sealed record Hit(string key, int rank, double? lex, int? lexRank, double? vec, int? vecRank, double? ent, double? time)
    {
        public double? cos1 { get; init; }
        public int? rank1 { get; init; }
        public double? cos2 { get; init; }
        public int? rank2 { get; init; }
        public double? cos3 { get; init; }
        public int? rank3 { get; init; }
    }

    /// <summary>Experiment: each candidate's cosine under two models computed over the whole scope, plus each model's top 50.</summary>
    private sealed class Dense(IEmbeddingGenerator<string, Embedding<float>> first, IEmbeddingGenerator<string, Embedding<float>> second, Dictionary<string, (string Scope, string Text)> texts, Dictionary<string, (float[] A, float[] B)> vectors)
    {
        private static readonly EmbeddingGenerationOptions AsQuery = new() { AdditionalProperties = new() { [Engram.Core.Embeddings.EmbeddingInput.OptionKey] = Engram.Core.Embeddings.EmbeddingInput.Query } };

        public static async Task<Dense> CreateAsync(string? firstSpec, string secondSpec, Dictionary<string, (string Scope, string Text)> texts)
        {
            var first = Engram.Embeddings.EmbeddingProvider.Create(firstSpec, null, null)!;
            var second = Engram.Embeddings.EmbeddingProvider.Create(secondSpec, null, null)!;
            var vectors = new Dictionary<string, (float[], float[])>(StringComparer.Ordinal);
            var all = texts.ToList();
            for (var i = 0; i < all.Count; i += 32)
            {
                var batch = all.Skip(i).Take(32).ToList();
                var a = await first.GenerateAsync(batch.Select(b => b.Value.Text));
                var b2 = await second.GenerateAsync(batch.Select(b => b.Value.Text));
                for (var j = 0; j < batch.Count; j++)
                {
                    vectors[batch[j].Key] = (Unit(a[j].Vector.ToArray()), Unit(b2[j].Vector.ToArray()));
                }
            }

            Console.WriteLine($"{vectors.Count} memories embedded by both models");
            return new Dense(first, second, texts, vectors);
        }

        public async Task<List<Hit>> AddAsync(string scope, string query, List<Hit> hits)
        {
            var qa = Unit((await first.GenerateAsync([query], AsQuery))[0].Vector.ToArray());
            var qb = Unit((await second.GenerateAsync([query], AsQuery))[0].Vector.ToArray());
            var inScope = texts.Where(t => t.Value.Scope == scope || t.Value.Scope == "user").Select(t => t.Key).ToList();
            var ca = inScope.ToDictionary(k => k, k => (double)System.Numerics.Tensors.TensorPrimitives.Dot(qa, vectors[k].A));
            var cb = inScope.ToDictionary(k => k, k => (double)System.Numerics.Tensors.TensorPrimitives.Dot(qb, vectors[k].B));
            var ra = inScope.OrderByDescending(k => ca[k]).Select((k, i) => (k, i + 1)).ToDictionary(p => p.k, p => p.Item2);
            var rb = inScope.OrderByDescending(k => cb[k]).Select((k, i) => (k, i + 1)).ToDictionary(p => p.k, p => p.Item2);
            var feedback = (float[])qa.Clone();
            foreach (var top in hits.Where(h => vectors.ContainsKey(h.key)).Take(3))
            {
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(vectors[top.key].A, 1f / 3, feedback, feedback);
            }

            Unit(feedback);
            var cc = inScope.ToDictionary(k => k, k => (double)System.Numerics.Tensors.TensorPrimitives.Dot(feedback, vectors[k].A));
            var rc = inScope.OrderByDescending(k => cc[k]).Select((k, i) => (k, i + 1)).ToDictionary(p => p.k, p => p.Item2);
            var result = hits.Select(h => h with { cos1 = ca.GetValueOrDefault(h.key), rank1 = ra.GetValueOrDefault(h.key), cos2 = cb.GetValueOrDefault(h.key), rank2 = rb.GetValueOrDefault(h.key), cos3 = cc.GetValueOrDefault(h.key), rank3 = rc.GetValueOrDefault(h.key) }).ToList();
            var seen = hits.Select(h => h.key).ToHashSet();
            foreach (var k in inScope.Where(k => (ra[k] <= 50 || rb[k] <= 50 || rc[k] <= 50) && !seen.Contains(k)))
            {
                result.Add(new Hit(k, 0, null, null, null, null, null, null) { cos1 = ca[k], rank1 = ra[k], cos2 = cb[k], rank2 = rb[k], cos3 = cc[k], rank3 = rc[k] });
            }

            return result;
        }

        private static float[] Unit(float[] v)
        {
            var n = System.Numerics.Tensors.TensorPrimitives.Norm(v);
            System.Numerics.Tensors.TensorPrimitives.Divide(v, n, v);
            return v;
        }
    }
}
