namespace Engram.Core.Search;

/// <summary>A validated recall with its scopes resolved; also the form a recall is logged in (JSON, web defaults).</summary>
internal sealed record RecallQuery(
    string Query,
    IReadOnlyList<string> Scopes,
    string ScopeResolution,
    int Limit,
    IReadOnlyList<string> Tags,
    bool IncludeSuperseded,
    DateTimeOffset? AsOf)
{
    /// <summary>The principal that asked, or <see langword="null"/> for an unrestricted caller: only it may replay the recall.</summary>
    public string? Caller { get; init; }
}

/// <summary>One memory as a signal scored it.</summary>
internal readonly record struct Scored(string Id, float Score);

/// <summary>The signals a recall fuses.</summary>
internal enum SignalKind
{
    /// <summary>BM25 over the memory's words and its session context, with pseudo-relevance feedback.</summary>
    Lexical,

    /// <summary>Cosine of the query's and the memory's embeddings.</summary>
    Vector,

    /// <summary>Names, identifiers and paths the query and the memory share.</summary>
    Entities,

    /// <summary>Memories observed when the query's date says.</summary>
    Time,
}
