using System.Collections.Concurrent;
using Microsoft.Extensions.AI;

namespace Engram.Core.Embeddings;

/// <summary>
/// Keeps the vectors of recent texts (a memory written again, a question asked again): only the texts it has not seen
/// reach the embedder, in one call. A query and a memory of the same text are kept apart (a model may embed them
/// differently, see <see cref="EmbeddingInput"/>). A full cache starts over rather than tracking use.
/// </summary>
internal sealed class CachingEmbeddingGenerator(IEmbeddingGenerator<string, Embedding<float>> inner, int capacity)
    : DelegatingEmbeddingGenerator<string, Embedding<float>>(inner)
{
    // A memory's text is its key; a query's is marked with a character no text starts with once trimmed.
    private const string QueryKey = "\u0001";

    private readonly ConcurrentDictionary<string, Embedding<float>> _cache = new(StringComparer.Ordinal);

    // Counted apart: ConcurrentDictionary.Count takes every lock.
    private int _count;

    public override async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var texts = values as IReadOnlyList<string> ?? values.ToList();
        var kind = EmbeddingInput.IsQuery(options) ? QueryKey : "";
        var result = new Embedding<float>[texts.Count];
        var missing = new List<int>();
        for (var i = 0; i < texts.Count; i++)
        {
            if (_cache.TryGetValue(kind + texts[i], out var cached))
            {
                result[i] = cached;
            }
            else
            {
                missing.Add(i);
            }
        }

        if (missing.Count > 0)
        {
            var fresh = await base.GenerateAsync(missing.Select(i => texts[i]).ToList(), options, cancellationToken).ConfigureAwait(false);
            if (fresh.Count != missing.Count)
            {
                // Not ours to judge: hand the answer on as it came, uncached.
                return fresh;
            }

            for (var j = 0; j < missing.Count; j++)
            {
                result[missing[j]] = fresh[j];
                if (_cache.TryAdd(kind + texts[missing[j]], fresh[j]) && Interlocked.Increment(ref _count) > capacity)
                {
                    _cache.Clear();
                    Interlocked.Exchange(ref _count, 0);
                }
            }
        }

        return [.. result];
    }
}
