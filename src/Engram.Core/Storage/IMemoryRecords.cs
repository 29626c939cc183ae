using Engram.Core.Model;

namespace Engram.Core.Storage;

/// <summary>Memories with their tags, entity links and supersession: written once, replaced by newer ones, forgotten.</summary>
internal interface IMemoryRecords
{
    /// <summary>
    /// Inserts memories with their tags and vectors, marks what each supersedes as replaced, and appends to the
    /// change feed, all in one transaction. A memory whose scope already holds the same normalised text (stored
    /// before, or earlier in this batch) is not written; its result names the existing id.
    /// </summary>
    /// <exception cref="EngramArgumentException">A superseded id is not a memory of the same scope; nothing is written.</exception>
    /// <remarks>
    /// A memory without a vector (the embedder was unreachable) is stored all the same; the background embedder fills it
    /// in later. A scope that receives its first memory under <paramref name="model"/> is ready for that model at once.
    /// </remarks>
    Task<IReadOnlyList<InsertOutcome>> InsertAsync(IReadOnlyList<PendingMemory> batch, EmbeddingModel? model, CancellationToken cancellationToken = default);

    /// <summary>
    /// Applies supersession links given by id (an import's): each old memory is marked replaced by the new one when both
    /// exist in the same scope and the link would not make a cycle. Returns how many were applied.
    /// </summary>
    Task<int> LinkAsync(IReadOnlyList<(string Old, string New, long At)> links, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes memories with their tags, entity links, vectors and every recall log that returned them, makes the
    /// memories they superseded current again, removes the saved checks that name them (and, when
    /// <paramref name="selector"/> is <see cref="Model.ForgetSelector.All"/>, those living in <paramref name="scopes"/>),
    /// appends deletions to the change feed, and records the operation in the append-only forget audit (ids and counts,
    /// never content), in one transaction. Returns the ids that existed and how many checks went.
    /// </summary>
    Task<Deletion> DeleteAsync(IReadOnlyCollection<string> ids, ForgetSelector selector, IReadOnlyList<string> scopes, string? principal, CancellationToken cancellationToken = default);

    /// <summary>Loads memories by id; unknown ids are absent from the result.</summary>
    Task<Dictionary<string, StoredMemory>> GetAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken = default);

    /// <summary>Replaces a memory's tags (a change of the feed, so every index sees it); false when there is no such memory.</summary>
    Task<bool> SetTagsAsync(string id, IReadOnlyList<string> tags, long at, CancellationToken cancellationToken = default);

    /// <summary>The memories <paramref name="id"/> superseded (whose <c>superseded_by</c> is it), oldest first.</summary>
    Task<List<StoredMemory>> SupersededByAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>Memories newest first (by time stored), in <paramref name="scopes"/> when given.</summary>
    Task<List<StoredMemory>> ListAsync(IReadOnlyList<string>? scopes, int limit, int offset, bool includeSuperseded, bool oldestFirst, TimeRange? observed, CancellationToken cancellationToken = default);

    /// <summary>
    /// Up to <paramref name="limit"/> memories stored after the one at <paramref name="after"/> in the order stored (0: from
    /// the first), in <paramref name="scopes"/> when given, superseded ones included, each with its place: an export's
    /// pages, which memories forgotten meanwhile cannot shift.
    /// </summary>
    Task<List<(StoredMemory Memory, long Order)>> ListAfterAsync(IReadOnlyList<string>? scopes, long after, int limit, CancellationToken cancellationToken = default);

    /// <summary>Ids of every memory in <paramref name="scopes"/>.</summary>
    Task<HashSet<string>> IdsInScopesAsync(IReadOnlyList<string> scopes, CancellationToken cancellationToken = default);

    /// <summary>Ids of memories in <paramref name="scopes"/> that carry any of <paramref name="tags"/>.</summary>
    Task<HashSet<string>> IdsWithAnyTagAsync(IReadOnlyList<string> scopes, IReadOnlyList<string> tags, CancellationToken cancellationToken = default);

    /// <summary>
    /// Memories of <paramref name="scopes"/> observed within <paramref name="ranges"/>, range by range, newest first
    /// within each, at most <paramref name="k"/> in all, with when each was observed. One index range read per range,
    /// so the cost follows k and the number of ranges, not how many memories a month holds.
    /// </summary>
    Task<List<ObservedMemory>> ObservedWithinAsync(IReadOnlyList<string> scopes, IReadOnlyList<TimeRange> ranges, int k, CancellationToken cancellationToken = default);
}

/// <summary>
/// What became of one memory of an insert: written, or a duplicate of the memory <paramref name="Id"/> names; and for a
/// written one, whether its vector was stored with it (<paramref name="Embedded"/>: if not, the background embedder makes it).
/// </summary>
internal readonly record struct InsertOutcome(bool Created, string Id, bool Embedded = false);

/// <summary>
/// A span of observation times, in Unix milliseconds: [From, To) (a day or month a query names); and, when the query
/// narrows it ("early March", "the end of July 2024"), the part it points at, [FocusFrom, FocusTo) (both 0 when it
/// does not).
/// </summary>
internal readonly record struct TimeRange(long From, long To, long FocusFrom = 0, long FocusTo = 0)
{
    /// <summary>Whether an observedAt falls in the span.</summary>
    public bool Contains(long at) => at >= From && at < To;

    /// <summary>
    /// How well an observedAt in the span fits what the query named: 1 in the part it points at (the whole span when it
    /// points at none), less the further before or after that part, relative to its length (a half one length away, a
    /// third two lengths away).
    /// </summary>
    public double Fit(long at)
    {
        var (from, to) = FocusTo > FocusFrom ? (FocusFrom, FocusTo) : (From, To);
        var distance = at < from ? from - at : at >= to ? at - to : 0;
        return 1 / (1 + ((double)distance / (to - from)));
    }
}

/// <summary>A memory found by when it was observed (Unix milliseconds).</summary>
internal readonly record struct ObservedMemory(string Id, long ObservedAt);
