namespace Engram.Core.Storage;

/// <summary>Figures and checks over the whole store, and the housekeeping a forget needs.</summary>
internal interface IStoreMaintenance
{
    /// <summary>What and where the store is, for banners and doctor (never a password): "SQLite /home/a/.engram/engram.db".</summary>
    string Description { get; }

    /// <summary>How many bytes the store takes where it lives (the SQLite files, or the PostgreSQL database).</summary>
    Task<long> SizeAsync(CancellationToken cancellationToken = default);

    /// <summary>How many memories the store holds.</summary>
    Task<int> CountAsync(CancellationToken cancellationToken = default);

    /// <summary>Per scope: memories, superseded ones and the newest time stored; vectors per model; forgets recorded.</summary>
    Task<StoreCounts> StatsAsync(CancellationToken cancellationToken = default);

    /// <summary>The store's own consistency checks; "ok" when clean, else what they found.</summary>
    Task<string> IntegrityAsync(CancellationToken cancellationToken = default);

    /// <summary>Counts what the store still holds of <paramref name="ids"/>: memory rows, tag rows, entity links, vector rows, recall-log references, saved checks naming them.</summary>
    Task<ResidueCounts> CountResidueAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken = default);

    /// <summary>Moves whatever the store keeps beside its main file (SQLite's WAL) into it, so no deleted bytes linger there.</summary>
    /// <returns>Whether that was done; false when other readers kept it busy.</returns>
    Task<bool> CheckpointAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Rewrites the store's files so they hold live rows only: no deleted bytes are left in free pages (SQLite's
    /// <c>VACUUM</c>, PostgreSQL's <c>VACUUM FULL</c>). Other processes wait while it runs.
    /// </summary>
    /// <returns>Whether every deleted row is gone from the files; false when a transaction older than the rewrite (one
    /// that could still see them) stayed open through it: run it again.</returns>
    Task<bool> CompactAsync(CancellationToken cancellationToken = default);
}

/// <summary>The store's figures: per scope, vectors per model (by model id), and how many forgets are recorded.</summary>
internal sealed record StoreCounts(List<ScopeCounts> Scopes, Dictionary<string, int> Vectors, int Forgets);

/// <summary>A scope's memories, how many are superseded, and when the newest was stored (Unix milliseconds).</summary>
internal readonly record struct ScopeCounts(string Scope, int Memories, int Superseded, long Newest);

/// <summary>What the store still holds of a set of memory ids.</summary>
internal readonly record struct ResidueCounts(int Memories, int Tags, int Entities, int Vectors, int RetrievalLogs, int Checks);
