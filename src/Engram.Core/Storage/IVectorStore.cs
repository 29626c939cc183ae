namespace Engram.Core.Storage;

/// <summary>Memories' vectors per embedding model, and per scope whether a model's vectors are ready.</summary>
internal interface IVectorStore
{
    /// <summary>
    /// Per scope (those given, else every scope holding memories), whether its vectors of <paramref name="modelId"/> are
    /// ready and how many of its memories have one.
    /// </summary>
    Task<List<ScopeVectors>> ScopeVectorsAsync(IReadOnlyList<string>? scopes, string modelId, CancellationToken cancellationToken = default);

    /// <summary>
    /// For each of <paramref name="scopes"/> whose vectors of <paramref name="modelId"/> are ready, when they became
    /// ready; a scope without memories (and no record) is ready too, with no time. Scopes being embedded are absent.
    /// </summary>
    Task<Dictionary<string, long?>> ReadyScopesAsync(IReadOnlyList<string> scopes, string modelId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Memories without a vector of <paramref name="modelId"/>, scope by scope in insertion order, each with the memory
    /// stored before it in its scope and that one's vector of the model.
    /// </summary>
    Task<List<UnembeddedMemory>> UnembeddedAsync(string modelId, int limit, CancellationToken cancellationToken = default);

    /// <summary>The last memory stored in each of <paramref name="scopes"/> that has one, with its vector of <paramref name="modelId"/>.</summary>
    Task<Dictionary<string, PrecedingMemory>> LastMemoriesAsync(IReadOnlyList<string> scopes, string modelId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stores vectors of <paramref name="model"/> filled in after the fact (memories forgotten meanwhile are skipped).
    /// Unless the scope is being re-embedded for the model, each one is announced on the change feed, so every
    /// process's vector index takes it (one that loaded the scope while it was empty included); in a scope being
    /// re-embedded they wait, and the scope is marked ready, all at once, when its last
    /// memory has one. Then every scope whose memories all have a vector of the model is marked ready. Returns the
    /// scopes that became ready.
    /// </summary>
    Task<List<string>> SaveVectorsAsync(EmbeddingModel model, IReadOnlyList<(UnembeddedMemory Memory, float[] Vector)> vectors, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads, in one snapshot, vectors of <paramref name="model"/>: with <paramref name="scope"/> all of that scope,
    /// otherwise those of memories changed after <paramref name="afterSeq"/> (ids changed but without a vector are
    /// returned as removals).
    /// </summary>
    Task<VectorBatch> ReadVectorsAsync(string model, string? scope, long afterSeq, CancellationToken cancellationToken = default);
}

/// <summary>Vectors read up to change <paramref name="Seq"/>, and the ids whose vector is gone.</summary>
internal sealed record VectorBatch(long Seq, IReadOnlyList<StoredVector> Vectors, IReadOnlyList<string> Removed);
