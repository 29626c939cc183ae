namespace Engram.Core.Model;

/// <summary>Stores one fact. <see cref="Content"/> is a self-contained statement of a few sentences at most.</summary>
/// <param name="Content">The fact, in words a later question would match.</param>
/// <param name="Scope">The scope to write to; <see langword="null"/> means the service's default write scope.</param>
/// <param name="Tags">Optional labels used to filter recall and forget.</param>
/// <param name="ObservedAt">When the fact was said or became true; <see langword="null"/> means now.</param>
/// <param name="Supersedes">Ids of memories this one replaces.</param>
public sealed record RememberRequest(
    string Content,
    string? Scope = null,
    IReadOnlyList<string>? Tags = null,
    DateTimeOffset? ObservedAt = null,
    IReadOnlyList<string>? Supersedes = null);

/// <summary>Asks for the memories most relevant to <see cref="Query"/>.</summary>
/// <param name="Query">A natural-language question or keywords.</param>
/// <param name="Scope">The scope to search: a project scope is searched with <c>user</c>, as the default is; <c>user</c> alone; <see langword="null"/> means the service's default recall scopes.</param>
/// <param name="Limit">How many memories to return (1 to <see cref="EngramOptions.MaxRecallLimit"/>).</param>
/// <param name="Tags">When given, only memories carrying at least one of these tags.</param>
/// <param name="IncludeSuperseded">Also return memories that a newer one replaced.</param>
/// <param name="AsOf">Answer as of this instant: only memories observed by then and not yet superseded then.</param>
public sealed record RecallRequest(
    string Query,
    string? Scope = null,
    int Limit = 10,
    IReadOnlyList<string>? Tags = null,
    bool IncludeSuperseded = false,
    DateTimeOffset? AsOf = null);

/// <summary>Selects memories to forget. Exactly one selector is used: ids, a tag, a query, or all of one scope.</summary>
/// <param name="Ids">Memory ids to forget.</param>
/// <param name="Tag">Forget every memory carrying this tag (in <see cref="Scope"/> or the default scopes).</param>
/// <param name="Query">Forget the memories a recall for this query would return first (<see cref="Limit"/> of them, default 1).</param>
/// <param name="All">Forget every memory of <see cref="Scope"/>, which must then be given explicitly.</param>
/// <param name="Scope">The scope the tag, query or all selector applies to.</param>
/// <param name="Limit">With <see cref="Query"/>: how many of the top matches to forget.</param>
/// <param name="DryRun">Report what would be forgotten and change nothing.</param>
public sealed record ForgetRequest(
    IReadOnlyList<string>? Ids = null,
    string? Tag = null,
    string? Query = null,
    bool All = false,
    string? Scope = null,
    int? Limit = null,
    bool DryRun = false);

/// <summary>Explains a recall: either replays a logged one (<see cref="RetrievalId"/>) or runs <see cref="Recall"/> afresh.</summary>
/// <param name="RetrievalId">The <c>retrievalId</c> a recall returned.</param>
/// <param name="Recall">A recall to run and explain, when no retrieval id is given.</param>
/// <param name="MemoryId">A memory to account for: why it did or did not surface.</param>
public sealed record ExplainRequest(
    string? RetrievalId = null,
    RecallRequest? Recall = null,
    string? MemoryId = null);
