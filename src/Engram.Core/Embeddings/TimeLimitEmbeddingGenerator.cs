using System.Globalization;
using Microsoft.Extensions.AI;

namespace Engram.Core.Embeddings;

/// <summary>
/// Gives every call at most <paramref name="limit"/>; a call still running then fails with a <see cref="TimeoutException"/>.
/// An embedder that loads first (<see cref="ILoadingEmbeddingGenerator"/>) is waited for before the clock starts.
/// </summary>
internal sealed class TimeLimitEmbeddingGenerator(IEmbeddingGenerator<string, Embedding<float>> inner, TimeSpan limit)
    : DelegatingEmbeddingGenerator<string, Embedding<float>>(inner)
{
    public override async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        if (InnerGenerator.GetService<ILoadingEmbeddingGenerator>() is { } loading)
        {
            await loading.LoadAsync(cancellationToken).ConfigureAwait(false);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(limit);
        try
        {
            return await base.GenerateAsync(values, options, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException(string.Create(CultureInfo.InvariantCulture, $"no answer within {limit.TotalSeconds:0.#} s"));
        }
    }
}
