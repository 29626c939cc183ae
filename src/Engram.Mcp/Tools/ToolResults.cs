using Engram.Core.Model;

namespace Engram.Mcp.Tools;

/// <summary>The structured result of <c>remember</c>.</summary>
public sealed record RememberToolResult(
    string Id, string Scope, string Status, string? DuplicateOf, IReadOnlyList<string> Supersedes, IReadOnlyList<SimilarMemory> Similar, string Summary);

/// <summary>The structured result of <c>recall</c>.</summary>
public sealed record RecallToolResult(string RetrievalId, IReadOnlyList<string> Scopes, IReadOnlyList<RecalledMemory> Memories, string Summary);

/// <summary>The structured result of <c>forget</c>.</summary>
public sealed record ForgetToolResult(bool DryRun, int Count, IReadOnlyList<string> Forgotten, bool Truncated, ForgetResidue Residue, string Summary);

/// <summary>The structured result of <c>explain</c>.</summary>
public sealed record ExplainToolResult(
    string RetrievalId,
    string Query,
    IReadOnlyList<string> Scopes,
    string ScopeResolution,
    DateTimeOffset RanAt,
    bool StoreChangedSince,
    IReadOnlyList<ExplainHit> Hits,
    IReadOnlyList<FilteredMemory> FilteredOut,
    MemoryAccount? Memory,
    string Vectors,
    string Summary);
