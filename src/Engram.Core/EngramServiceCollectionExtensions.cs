using Engram.Core;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Engram's <see cref="MemoryService"/>.</summary>
public static class EngramServiceCollectionExtensions
{
    /// <summary>
    /// Adds a singleton <see cref="MemoryService"/> configured by <paramref name="configure"/>. An
    /// <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> registered in the container is used; otherwise the
    /// built-in offline embedder.
    /// </summary>
    public static IServiceCollection AddEngram(this IServiceCollection services, Action<EngramOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = new EngramOptions();
        configure?.Invoke(options);
        services.AddSingleton(options);
        services.AddSingleton(sp => new MemoryService(
            sp.GetRequiredService<EngramOptions>(),
            sp.GetService<IEmbeddingGenerator<string, Embedding<float>>>(),
            sp.GetService<ILoggerFactory>()));
        return services;
    }
}
