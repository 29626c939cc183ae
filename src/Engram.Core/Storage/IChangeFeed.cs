namespace Engram.Core.Storage;

/// <summary>
/// The change feed: a sequence every write moves on, naming the memories it touched, read in snapshots by whatever
/// derives from the store and must catch up.
/// </summary>
internal interface IChangeFeed
{
    /// <summary>The newest change sequence number (0 for an empty store).</summary>
    Task<long> MaxSeqAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads, in one snapshot, the change feed after <paramref name="afterSeq"/> and the current state of each
    /// memory it names (absent when deleted) with its neighbours. With <paramref name="afterSeq"/> 0 every memory is
    /// returned.
    /// </summary>
    Task<ChangeBatch> ReadChangesAsync(long afterSeq, CancellationToken cancellationToken = default);

    /// <summary>The memories the change feed names after <paramref name="afterSeq"/> up to <paramref name="toSeq"/>, at most <paramref name="limit"/>.</summary>
    Task<List<string>> ChangedIdsAsync(long afterSeq, long toSeq, int limit, CancellationToken cancellationToken = default);

    /// <summary>
    /// Candidates' rows with their ranking metadata (insertion order and the superseding memory's observedAt), and the
    /// change feed's position in the same snapshot.
    /// </summary>
    Task<CandidateBatch> CandidatesAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken = default);
}

/// <summary>
/// The change feed read up to <paramref name="Seq"/>: memories written or changed since (in the order of each one's
/// latest change, so every process applies the feed in the same order; scope by scope in insertion order for a full
/// read), and those deleted.
/// </summary>
internal sealed record ChangeBatch(long Seq, IReadOnlyList<ChangedMemory> Upserts, IReadOnlyList<string> Deletes);

/// <summary>
/// A memory named by the change feed, with the memories stored just before and after it in its scope, nearest first
/// on each side, at most <see cref="Radius"/> each.
/// </summary>
internal sealed record ChangedMemory(StoredMemory Memory, IReadOnlyList<Neighbour> Before, IReadOnlyList<Neighbour> After)
{
    /// <summary>How many memories on each side are neighbours: a write or forget changes this many on each side too.</summary>
    public const int Radius = 2;

    /// <summary>
    /// Every memory of a full read with its neighbours, from rows ordered by scope and then insertion order (each scope's
    /// memories consecutive, so the neighbours are at hand).
    /// </summary>
    public static List<ChangedMemory> WithNeighbours(List<StoredMemory> all)
    {
        var upserts = new List<ChangedMemory>(all.Count);
        for (var i = 0; i < all.Count; i++)
        {
            var memory = all[i];
            var earlier = Enumerable.Range(1, Radius).Select(d => i - d).TakeWhile(j => j >= 0 && all[j].Scope == memory.Scope);
            var later = Enumerable.Range(1, Radius).Select(d => i + d).TakeWhile(j => j < all.Count && all[j].Scope == memory.Scope);
            upserts.Add(new ChangedMemory(memory, earlier.Select(j => ToNeighbour(all[j])).ToList(), later.Select(j => ToNeighbour(all[j])).ToList()));
        }

        return upserts;
    }

    private static Neighbour ToNeighbour(StoredMemory memory) => new(memory.Content, memory.ObservedAt);
}

/// <summary>A neighbouring memory's text and when it was observed (Unix milliseconds).</summary>
internal readonly record struct Neighbour(string Content, long ObservedAt);

/// <summary>Candidates' rows read in one snapshot, and the change feed's position in it.</summary>
internal sealed record CandidateBatch(long Seq, Dictionary<string, CandidateMeta> Rows);
