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

/// <summary>
/// A saved recall check: <paramref name="Query"/>, searched over <paramref name="Scopes"/> (resolved when it was saved,
/// as a recall from there would be), must return every one of <paramref name="Expect"/> at rank
/// <paramref name="Within"/> or better. It lives in <paramref name="Scope"/>, and goes when a memory it expects is forgotten.
/// </summary>
public sealed record RecallCheck(string Id, string Scope, string Query, IReadOnlyList<string> Scopes, IReadOnlyList<string> Expect, int Within, DateTimeOffset CreatedAt);

/// <summary>One saved check run: whether every memory it expects came back within its rank.</summary>
public sealed record CheckOutcome(RecallCheck Check, bool Passed, IReadOnlyList<ExpectedOutcome> Expected);

/// <summary>One expected memory in a check run.</summary>
/// <param name="Id">The memory expected.</param>
/// <param name="Passed">Whether it came back at the check's rank or better.</param>
/// <param name="Rank">Its rank among the recall's results; null when it was not returned.</param>
/// <param name="Why">Explain's account of it: the rank and the signals that found it, or why it was not returned.</param>
public sealed record ExpectedOutcome(string Id, bool Passed, int? Rank, string Why);

/// <summary>What importing saved checks did.</summary>
/// <param name="Added">Checks saved.</param>
/// <param name="AlreadyPresent">Checks whose id the store already held.</param>
/// <param name="Skipped">Checks expecting a memory the store does not hold (not imported, or imported as a duplicate under another id).</param>
public sealed record CheckImport(int Added, int AlreadyPresent, int Skipped);

/// <summary>One check of <c>doctor</c>.</summary>
public sealed record DoctorCheck(string Name, bool Ok, string Detail);

/// <summary>A recall from the recall log, as a list shows it (explain replays it by <paramref name="RetrievalId"/>).</summary>
/// <param name="RetrievalId">The recall's id.</param>
/// <param name="At">When it ran.</param>
/// <param name="Query">What was asked.</param>
/// <param name="Scopes">The scopes it searched.</param>
/// <param name="Hits">How many memories it returned.</param>
public sealed record RecallLogEntry(string RetrievalId, DateTimeOffset At, string Query, IReadOnlyList<string> Scopes, int Hits);

/// <summary>One memory as the inspector shows it (<see cref="MemoryService.InspectAsync"/>).</summary>
/// <param name="Memory">The memory.</param>
/// <param name="Replaced">The memories it superseded, directly or through them, oldest first.</param>
/// <param name="ReplacedBy">The memories that superseded it, in order (the last is current).</param>
/// <param name="Entities">The names, identifiers and paths it mentions (what the entity signal matches).</param>
/// <param name="Similar">Its near duplicates in its scope, as <c>remember</c>'s <c>similar</c> finds them.</param>
/// <param name="Recalls">The latest recalls that returned it, newest first.</param>
public sealed record MemoryDetails(
    MemoryRecord Memory,
    IReadOnlyList<MemoryRecord> Replaced,
    IReadOnlyList<MemoryRecord> ReplacedBy,
    IReadOnlyList<string> Entities,
    IReadOnlyList<SimilarMemory> Similar,
    IReadOnlyList<RecallLogEntry> Recalls);

/// <summary>How a process's indexes stand (<see cref="MemoryService.IndexStateAsync"/>).</summary>
/// <param name="FeedAt">The store's change feed position.</param>
/// <param name="LexicalAt">The position this process's lexical index reflects (0 before its first catch-up).</param>
/// <param name="LexicalBuilding">Whether the lexical index is building in the background (recalls then use the store's text search).</param>
/// <param name="Model">The embedder's model, or why it is unavailable.</param>
/// <param name="Scopes">Per scope, the model's vectors.</param>
public sealed record IndexState(long FeedAt, long LexicalAt, bool LexicalBuilding, string Model, IReadOnlyList<ScopeIndexState> Scopes);

/// <summary>A scope's vectors of the embedder's model.</summary>
/// <param name="Scope">The scope.</param>
/// <param name="Memories">How many memories it holds.</param>
/// <param name="Embedded">How many have the model's vector.</param>
/// <param name="Ready">Whether recall uses the scope's vectors (all are there).</param>
public sealed record ScopeIndexState(string Scope, int Memories, int Embedded, bool Ready);

/// <summary>A memory whose anchored files changed or vanished since it was stored (<see cref="MemoryService.StaleAsync"/>).</summary>
/// <param name="Memory">The memory.</param>
/// <param name="Stale">Its files that are no longer as they were.</param>
public sealed record StaleMemory(MemoryRecord Memory, IReadOnlyList<StaleAnchor> Stale);
