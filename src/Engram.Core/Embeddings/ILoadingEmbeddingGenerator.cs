namespace Engram.Core.Embeddings;

/// <summary>
/// An embedder that loads something before its first text (a local model's weights): Engram waits for the load apart
/// from the time limit of a call, which is for the embedding itself. Found through <c>GetService</c>.
/// </summary>
public interface ILoadingEmbeddingGenerator
{
    /// <summary>Completes once the embedder is ready to embed; fails when it cannot load.</summary>
    Task LoadAsync(CancellationToken cancellationToken);
}
