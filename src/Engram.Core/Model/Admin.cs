namespace Engram.Core.Model;

/// <summary>
/// A memory with everything the store keeps of it: what <c>list</c>, <c>show</c> and <c>export</c> give and
/// <c>import</c> takes (one JSON object per line of an export).
/// </summary>
/// <param name="Id">The memory id.</param>
/// <param name="Scope">Its scope.</param>
/// <param name="Content">The fact.</param>
/// <param name="Tags">Its tags.</param>
/// <param name="ObservedAt">When it was said or became true.</param>
/// <param name="CreatedAt">When it was stored.</param>
/// <param name="SupersededBy">The memory that replaced it, if any.</param>
/// <param name="SupersededAt">When it was replaced.</param>
public sealed record MemoryRecord(
    string Id,
    string Scope,
    string Content,
    IReadOnlyList<string> Tags,
    DateTimeOffset ObservedAt,
    DateTimeOffset CreatedAt,
    string? SupersededBy = null,
    DateTimeOffset? SupersededAt = null);

/// <summary>What an import did.</summary>
/// <param name="Created">Memories stored.</param>
/// <param name="AlreadyPresent">Records whose id the store already held (an import is safe to repeat).</param>
/// <param name="Duplicates">Records whose text the scope already held under another id.</param>
/// <param name="Superseded">Supersession links applied.</param>
public sealed record ImportResult(int Created, int AlreadyPresent, int Duplicates, int Superseded);

/// <summary>One scope's figures.</summary>
public sealed record ScopeStats(string Scope, int Memories, int Superseded, DateTimeOffset? Newest);

/// <summary>The store's figures: memories per scope, vectors per model, sizes on disk.</summary>
public sealed record StoreStats(
    string Home,
    int Memories,
    IReadOnlyList<ScopeStats> Scopes,
    IReadOnlyDictionary<string, int> VectorsByModel,
    string Embedder,
    long DatabaseBytes,
    long IndexBytes,
    int Forgets);

/// <summary>One check of <c>doctor</c>.</summary>
public sealed record DoctorCheck(string Name, bool Ok, string Detail);
