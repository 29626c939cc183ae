namespace Engram.Core.Storage;

/// <summary>A memory row as SQLite holds it. Times are Unix milliseconds.</summary>
internal sealed record StoredMemory(
    string Id,
    string Scope,
    string Content,
    IReadOnlyList<string> Tags,
    long ObservedAt,
    long CreatedAt,
    string? SupersededBy,
    long? SupersededAt);

/// <summary>One entry of the change feed: a memory written (or its state changed) or deleted.</summary>
internal readonly record struct Change(long Seq, string MemoryId, string Scope, bool Deleted);

/// <summary>A memory's vector as stored, with the model that made it.</summary>
internal readonly record struct StoredVector(string MemoryId, string Scope, float[] Vector);

/// <summary>A memory ready to insert: its row, the hash of its normalised text, its vector, what it supersedes, its entities.</summary>
internal sealed record PendingMemory(StoredMemory Memory, string ContentHash, float[] Vector, IReadOnlyList<string> Supersedes, IReadOnlyList<string> Entities);

/// <summary>What ranking and filtering need of a candidate: insertion order, time, and supersession (with the superseder's time).</summary>
internal readonly record struct CandidateMeta(string Id, string Scope, long Order, long ObservedAt, string? SupersededBy, long? SupersederObservedAt);
