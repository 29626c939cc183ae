using Engram.Core.Embeddings;
using Microsoft.Extensions.AI;

namespace Engram.Core.Tests;

/// <summary>
/// A sentence-embedding model as far as Engram can tell (its vectors are fused by evidence), whose 3-dimensional vectors
/// the test chooses: every query gets <paramref name="query"/>, each memory what <paramref name="memory"/> maps its text to.
/// With <paramref name="local"/>, it presents itself as a model run in this process (it "loads"), so a memory's
/// sentences are embedded too; otherwise as a provider reached over HTTP would.
/// </summary>
internal sealed class FixedVectorModel(float[] query, Func<string, float[]> memory, bool local = false)
    : DelegatingEmbeddingGenerator<string, Embedding<float>>(new HashingEmbeddingGenerator()), ILoadingEmbeddingGenerator
{
    public override Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var isQuery = EmbeddingInput.IsQuery(options);
        return Task.FromResult(new GeneratedEmbeddings<Embedding<float>>(values.Select(v => new Embedding<float>(isQuery ? query : memory(v)))));
    }

    public Task LoadAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceType == typeof(EmbeddingGeneratorMetadata) ? new EmbeddingGeneratorMetadata("fixed", defaultModelId: "fixed-model", defaultModelDimensions: 3)
        : serviceType == typeof(ILoadingEmbeddingGenerator) ? (local ? this : null)
        : base.GetService(serviceType, serviceKey);
}
