using Engram.Core;
using Engram.Embeddings;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;

namespace Engram.Mcp.Hosting;

/// <summary>The one way the host builds <see cref="MemoryService"/>: for the servers and for the command line alike.</summary>
internal static class EngramServices
{
    /// <summary>
    /// Registers the configured embedder and <see cref="MemoryService"/>, its options set once from
    /// <paramref name="settings"/> and then <paramref name="configure"/>.
    /// </summary>
    /// <exception cref="EngramArgumentException">A malformed embeddings setting: it fails here, before anything runs.</exception>
    public static IServiceCollection AddEngramStore(this IServiceCollection services, HostSettings settings, Action<EngramOptions>? configure = null)
    {
        if (EmbeddingProvider.Create(settings.Embeddings, settings.EmbeddingsUrl, settings.EmbeddingsKey) is { } embedder)
        {
            // Registered through a factory so the container disposes it (its HTTP client or ONNX session) at shutdown.
            services.AddSingleton<IEmbeddingGenerator<string, Embedding<float>>>(_ => embedder);
        }

        return services.AddEngram(options =>
        {
            settings.Apply(options);
            configure?.Invoke(options);
        });
    }
}
