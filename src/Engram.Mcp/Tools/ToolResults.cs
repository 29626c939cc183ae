using Engram.Core.Model;

namespace Engram.Mcp.Tools;

// Core's wire enums (RememberStatus, FilterReason) are plain strings here: an enum-typed property would add an "enum"
// list to the tool's output schema, and tools/list is pinned. The values are the same strings (WireName.Of).

/// <summary>The structured result of <c>remember</c>.</summary>
public sealed record RememberToolResult(
    string Id, string Scope, string Status, string? DuplicateOf, IReadOnlyList<string> Supersedes, IReadOnlyList<SimilarMemory> Similar, string Summary);

/// <summary>The structured result of <c>recall</c>.</summary>
public sealed record RecallToolResult(string RetrievalId, IReadOnlyList<string> Scopes, IReadOnlyList<RecalledMemory> Memories, string Summary);

/// <summary>The structured result of <c>forget</c>.</summary>
public sealed record ForgetToolResult(bool DryRun, int Count, IReadOnlyList<string> Forgotten, bool Truncated, ForgetResidue Residue, string Summary)
{
    /// <summary>Saved recall checks removed with the memories (or that would be): those that expected one of them.</summary>
    public int Checks { get; init; }
}

/// <summary>The structured result of <c>explain</c>.</summary>
public sealed record ExplainToolResult(
    string RetrievalId,
    string Query,
    IReadOnlyList<string> Scopes,
    string ScopeResolution,
    DateTimeOffset RanAt,
    bool StoreChangedSince,
    IReadOnlyList<ExplainHit> Hits,
    IReadOnlyList<FilteredCandidate> FilteredOut,
    MemoryAccount? Memory,
    string Vectors,
    string Summary)
{
    /// <inheritdoc cref="ExplainResult.MeanCosine"/>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public double? MeanCosine { get; init; }
}

/// <summary>A candidate <c>explain</c> reports as filtered out (<see cref="FilteredMemory"/>, its reason as a string).</summary>
public sealed record FilteredCandidate(string Id, string Reason);
