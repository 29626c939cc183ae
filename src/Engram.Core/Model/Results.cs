namespace Engram.Core.Model;

/// <summary>What <c>remember</c> did.</summary>
/// <param name="Id">The memory's id (the existing one when <see cref="Status"/> is <see cref="RememberStatus.Duplicate"/>).</param>
/// <param name="Scope">The scope the memory belongs to.</param>
/// <param name="Status">Whether a memory was created or the fact was already stored.</param>
/// <param name="DuplicateOf">The existing memory that already says this, when a duplicate.</param>
/// <param name="Supersedes">The ids this memory replaced.</param>
/// <param name="Similar">Existing memories that may say the same thing or be replaced by this one.</param>
public sealed record RememberResult(
    string Id,
    string Scope,
    RememberStatus Status,
    string? DuplicateOf,
    IReadOnlyList<string> Supersedes,
    IReadOnlyList<SimilarMemory> Similar)
{
    /// <summary>With <c>ENGRAM_SECRETS=redact</c>: the kinds of secret replaced by <c>[REDACTED:kind]</c> in the stored text; absent otherwise.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? Redacted { get; init; }
}

/// <summary>An existing memory close to a new one.</summary>
public sealed record SimilarMemory(string Id, string Content, double Score);

/// <summary>The outcome of a recall.</summary>
/// <param name="RetrievalId">Pass to <c>explain</c> to replay this recall.</param>
/// <param name="Scopes">The scopes searched.</param>
/// <param name="Memories">Best first.</param>
public sealed record RecallResult(string RetrievalId, IReadOnlyList<string> Scopes, IReadOnlyList<RecalledMemory> Memories);

/// <summary>One recalled memory.</summary>
/// <param name="Id">The memory's id.</param>
/// <param name="Content">What it says.</param>
/// <param name="Scope">Its scope.</param>
/// <param name="Tags">Its tags.</param>
/// <param name="ObservedAt">When it was said or became true.</param>
/// <param name="CreatedAt">When it was stored.</param>
/// <param name="Score">The fused score the order follows.</param>
/// <param name="Relevance">How likely it is to answer the query, 0–1: the same number means the same across queries.</param>
/// <param name="SupersededBy">The memory that replaced it, when shown as history.</param>
public sealed record RecalledMemory(
    string Id,
    string Content,
    string Scope,
    IReadOnlyList<string> Tags,
    DateTimeOffset ObservedAt,
    DateTimeOffset CreatedAt,
    double Score,
    double Relevance,
    string? SupersededBy)
{
    /// <summary>
    /// The files it names that changed or vanished since it was stored (when the server runs in the project's work tree);
    /// absent when none did. A stale memory is still returned: the caller decides.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<StaleAnchor>? Stale { get; init; }
}

/// <summary>A file a memory names that is no longer as it was when the memory was stored.</summary>
/// <param name="Path">The file, relative to the project's root.</param>
/// <param name="State">
/// <c>changed</c> (its content differs), <c>renamed</c> (gone from its path, the same content found at <paramref name="To"/>)
/// or <c>deleted</c> (gone).
/// </param>
/// <param name="Since">When a changed file was last written, or a renamed file's folder last changed (about when it moved in).</param>
/// <param name="To">Where a renamed file is now, relative to the project's root.</param>
public sealed record StaleAnchor(
    string Path,
    string State,
    DateTimeOffset? Since,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? To = null);

/// <summary>What <c>forget</c> removed (or, in a dry run, would remove).</summary>
/// <param name="DryRun">Whether nothing was changed.</param>
/// <param name="Count">Exact number of memories selected.</param>
/// <param name="Forgotten">Their ids, capped at <see cref="EngramOptions.MaxForgetIdsListed"/>.</param>
/// <param name="Truncated">Whether <see cref="Forgotten"/> was capped.</param>
/// <param name="Residue">Per derived store, what is left of the selected ids (all zero after a real forget).</param>
/// <param name="Checks">Saved recall checks removed with them (or that would be): those expecting a forgotten memory,
/// and, when a whole scope is forgotten, those living in it.</param>
public sealed record ForgetResult(bool DryRun, int Count, IReadOnlyList<string> Forgotten, bool Truncated, ForgetResidue Residue, int Checks = 0);

/// <summary>What each store still holds of a set of forgotten ids, counted by querying the store.</summary>
/// <param name="Memories">Rows in the SQLite memories table.</param>
/// <param name="Tags">Tag rows in SQLite.</param>
/// <param name="Vectors">Embedding rows in SQLite plus rows in this process's in-memory vector matrices.</param>
/// <param name="LexicalIndex">Documents in the Lucene index.</param>
/// <param name="RetrievalLogs">References in the recall log.</param>
/// <param name="Entities">Entity links in SQLite.</param>
/// <param name="Checks">Saved recall checks still expecting one of them.</param>
public sealed record ForgetResidue(int Memories, int Tags, int Vectors, int LexicalIndex, int RetrievalLogs, int Entities, int Checks = 0)
{
    /// <summary>True when nothing of the ids is left anywhere.</summary>
    public bool IsEmpty => Memories == 0 && Tags == 0 && Vectors == 0 && LexicalIndex == 0 && RetrievalLogs == 0 && Entities == 0 && Checks == 0;
}

/// <summary>Why a recall returned what it did.</summary>
/// <param name="RetrievalId">The replayed retrieval, or the one logged for this explain's fresh recall.</param>
/// <param name="Query">The query explained.</param>
/// <param name="Scopes">The scopes searched.</param>
/// <param name="ScopeResolution">How the scopes were chosen.</param>
/// <param name="RanAt">When the explained recall ran.</param>
/// <param name="StoreChangedSince">For a replay: whether the store changed since the recall ran (the replay then reflects today's store).</param>
/// <param name="Hits">The hits, best first, with each signal.</param>
/// <param name="FilteredOut">Candidates found by a signal but dropped, with the reason.</param>
/// <param name="Memory">When a memory id was asked about: its account.</param>
/// <param name="Vectors">The vector signal's state: "ready (model)", or why it did not take part or only in part
/// (the embedder unreachable; a scope being re-embedded with a new model, with progress; memories waiting for vectors).</param>
public sealed record ExplainResult(
    string RetrievalId,
    string Query,
    IReadOnlyList<string> Scopes,
    string ScopeResolution,
    DateTimeOffset RanAt,
    bool StoreChangedSince,
    IReadOnlyList<ExplainHit> Hits,
    IReadOnlyList<FilteredMemory> FilteredOut,
    MemoryAccount? Memory,
    string Vectors)
{
    /// <summary>The query's mean cosine over every memory the vector signal scanned: how alike the query is to the searched
    /// memories at large. The higher it is, the more the fusion weighs a word match and the less a cosine standing out from
    /// the others (weighed as at most 0.45). Absent when no model's vectors took part (the embedder down, or hashed vectors).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public double? MeanCosine { get; init; }
}

/// <summary>One hit of an explained recall.</summary>
/// <param name="Id">The memory id.</param>
/// <param name="Rank">Final rank, 1-based.</param>
/// <param name="Score">Final fused score.</param>
/// <param name="Lexical">BM25 signal.</param>
/// <param name="Vector">Embedding cosine signal.</param>
/// <param name="Entities">Shared-entity signal (names, identifiers, paths the query and memory both mention).</param>
/// <param name="Recency">Its rank by observedAt among the candidates (1 = newest) as rank, and as score how many places the recency tie-break moved it up.</param>
/// <param name="Supersession">"current", or which memory superseded it and why it is shown anyway.</param>
/// <param name="Time">Time signal, when the query names a date ("on 3 March 2025", "in July 2024", "yesterday") and the
/// memory was observed then; its score is 1 anywhere in the day or month named, and for a part of a month ("early
/// March", "the end of July 2024") 1 in that third, less the further outside it.</param>
public sealed record ExplainHit(string Id, int Rank, double Score, SignalScore? Lexical, SignalScore? Vector, SignalScore? Entities, SignalScore? Recency, string Supersession, SignalScore? Time = null)
{
    /// <summary>The files it names that changed or vanished since it was stored (as in recall); absent when none did.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<StaleAnchor>? Stale { get; init; }
}

/// <summary>One signal's view of a memory: its rank (1-based) in that signal's list and its raw score.</summary>
/// <param name="Rank">The rank in that signal's list, 1-based.</param>
/// <param name="Score">The signal's raw score.</param>
/// <param name="Note">How the signal matched when that is not plain: for the lexical signal, a memory whose own text has
/// none of the query's words but was found through its session context or through pseudo-relevance feedback words; for
/// the vector signal, the sentence of the memory whose vector scored it, when not its whole text's, or
/// <see cref="WithItsQuestion"/> when its row as a reply, with the question before it, did.</param>
public sealed record SignalScore(int Rank, double Score, string? Note = null)
{
    /// <summary>The vector signal's note when a memory's row as a reply, with the question asked just before it, scored it.</summary>
    public const string WithItsQuestion = "closest together with the question asked just before it";
}

/// <summary>A candidate that was dropped.</summary>
/// <param name="Id">The memory id (never content: only memories of the searched scopes are listed).</param>
/// <param name="Reason">Why it was dropped.</param>
public sealed record FilteredMemory(string Id, FilterReason Reason);

/// <summary>The account of one memory asked about in <c>explain</c>.</summary>
/// <param name="Id">The id asked about.</param>
/// <param name="Found">Whether such a memory exists in the searched scopes.</param>
/// <param name="Surfaced">Whether it is among the hits.</param>
/// <param name="Rank">The rank it had or would have had among all candidates (null when no signal found it).</param>
/// <param name="Lexical">Its BM25 signal, if BM25 found it.</param>
/// <param name="Vector">Its vector signal.</param>
/// <param name="Entities">Its shared-entity signal.</param>
/// <param name="Reason">A sentence saying why it did or did not surface.</param>
/// <param name="Time">Its time signal, when the query names a date it was observed on.</param>
public sealed record MemoryAccount(string Id, bool Found, bool Surfaced, int? Rank, SignalScore? Lexical, SignalScore? Vector, SignalScore? Entities, string Reason, SignalScore? Time = null);

/// <summary>One real forget, as the append-only audit records it: never content.</summary>
/// <param name="At">When it happened.</param>
/// <param name="Selector">How the forget selected its memories.</param>
/// <param name="Scopes">The scope named with the selector, if any.</param>
/// <param name="Ids">The ids forgotten.</param>
/// <param name="Count">How many.</param>
/// <param name="Principal">Who forgot: the principal of the token on a shared server; null for the store's own user (stdio, the CLI, an
/// unrestricted token).</param>
public sealed record ForgetAuditEntry(DateTimeOffset At, ForgetSelector Selector, IReadOnlyList<string> Scopes, IReadOnlyList<string> Ids, int Count, string? Principal = null);

/// <summary>An explanation with the words behind its lexical matches (<see cref="MemoryService.ExplainPictureAsync"/>).</summary>
/// <param name="Explain">The explanation, as the explain tool gives it.</param>
/// <param name="QueryTerms">The query's index terms (lower-cased stems; identifiers also split into their parts).</param>
/// <param name="FeedbackTerms">The words pseudo-relevance feedback added to the query.</param>
/// <param name="Words">For each memory named (the hits and the account), its words that match a query term or a feedback term.</param>
/// <param name="Memories">The memories it names (hits, filtered, the account) in the searched scopes, by id.</param>
public sealed record ExplainPicture(ExplainResult Explain, IReadOnlyList<string> QueryTerms, IReadOnlyList<string> FeedbackTerms, IReadOnlyDictionary<string, IReadOnlyList<WordMatch>> Words, IReadOnlyDictionary<string, MemoryRecord> Memories);

/// <summary>A word of a memory's text and the index term it matched.</summary>
/// <param name="Word">The word as written in the memory.</param>
/// <param name="Term">The query's (or feedback's) index term it matches.</param>
/// <param name="Feedback">Whether the term is a feedback word rather than one of the query's own.</param>
public sealed record WordMatch(string Word, string Term, bool Feedback);
