using Engram.Core;
using Engram.Embeddings;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Engram.Core.Embeddings;

namespace Engram.Mcp.Hosting;

/// <summary>The one way the host builds <see cref="MemoryService"/>: for the servers and for the command line alike.</summary>
internal static partial class EngramServices
{
    /// <summary>
    /// Registers the configured embedder and <see cref="MemoryService"/>, its options set once from
    /// <paramref name="settings"/> and then <paramref name="configure"/>.
    /// </summary>
    /// <exception cref="EngramArgumentException">A malformed embeddings setting: it fails here, before anything runs.</exception>
    public static IServiceCollection AddEngramStore(this IServiceCollection services, HostSettings settings, Action<EngramOptions>? configure = null)
    {
        string? fallback = null;
        var embedder = EmbeddingProvider.Create(settings.Embeddings, settings.EmbeddingsUrl, settings.EmbeddingsKey, warn: problem => fallback = problem)
            ?? new HashingEmbeddingGenerator();

        // Registered through a factory so the container disposes it (its HTTP client or ONNX session) at shutdown; a
        // fallback to the built-in vectors is said once, when the store is first used.
        services.AddSingleton<IEmbeddingGenerator<string, Embedding<float>>>(sp =>
        {
            if (fallback is not null)
            {
                LogFallback(sp.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(EmbeddingProvider)), fallback);
            }

            return embedder;
        });

        return services.AddEngram(options =>
        {
            settings.Apply(options);
            configure?.Invoke(options);
        });
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Problem}")]
    private static partial void LogFallback(ILogger logger, string problem);
}
