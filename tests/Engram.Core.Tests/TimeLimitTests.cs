using Engram.Core.Embeddings;
using Microsoft.Extensions.AI;

namespace Engram.Core.Tests;

public sealed class TimeLimitTests
{
    [Fact]
    public async Task AnEmbedderThatLoadsFirst_IsWaitedFor_BeforeTheTimeLimitStarts()
    {
        using var loading = new SlowLoadingEmbedder(load: TimeSpan.FromMilliseconds(600));
        using var limited = new TimeLimitEmbeddingGenerator(loading, TimeSpan.FromMilliseconds(300));
        var vectors = await limited.GenerateAsync(["the load took longer than the limit"]);
        Assert.Single(vectors);

        // Loaded: the limit holds for the embedding itself.
        loading.Embedding = TimeSpan.FromSeconds(5);
        await Assert.ThrowsAsync<TimeoutException>(() => limited.GenerateAsync(["slow"]));
    }

    private sealed class SlowLoadingEmbedder(TimeSpan load) : IEmbeddingGenerator<string, Embedding<float>>, ILoadingEmbeddingGenerator
    {
        private readonly Lazy<Task> _load = new(() => Task.Delay(load));

        public TimeSpan Embedding { get; set; } = TimeSpan.Zero;

        public Task LoadAsync(CancellationToken cancellationToken) => _load.Value.WaitAsync(cancellationToken);

        public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
        {
            await Task.Delay(Embedding, cancellationToken);
            return [.. values.Select(_ => new Embedding<float>(new float[] { 1, 0 }))];
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => serviceKey is null && serviceType.IsInstanceOfType(this) ? this : null;

        public void Dispose()
        {
        }
    }
}
