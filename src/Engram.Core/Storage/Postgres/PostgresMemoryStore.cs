using Engram.Core.Model;

namespace Engram.Core.Storage.Postgres;

/// <summary>
/// The store in a PostgreSQL database, shared by every server that opens it: the same tables, feed and outcomes as
/// <see cref="Sqlite.SqliteMemoryStore"/>, so every derived index and every test works on either. Each family of tables
/// is its own type owning its SQL; this one opens the database (creating or migrating the schema) and answers for all.
/// </summary>
internal sealed class PostgresMemoryStore : IMemoryStore, ITextSearch, IAsyncDisposable
{
    /// <summary>The schema this code writes; kept in the <c>engram_schema</c> table.</summary>
    public const int SchemaVersion = PostgresMigrations.SchemaVersion;

    private readonly PostgresDatabase _database;
    private readonly PostgresMemories _memories;
    private readonly PostgresMemoryQueries _queries;
    private readonly PostgresAnchors _anchors;
    private readonly PostgresChecks _checks;
    private readonly PostgresChangeFeed _changes;
    private readonly PostgresVectors _vectors;
    private readonly PostgresEntities _entities;
    private readonly PostgresRecallLog _recallLog;
    private readonly PostgresAdministration _admin;

    private PostgresMemoryStore(PostgresDatabase database, string storeId)
    {
        _database = database;
        StoreId = storeId;
        _memories = new PostgresMemories(database);
        _queries = new PostgresMemoryQueries(database);
        _anchors = new PostgresAnchors(database);
        _checks = new PostgresChecks(database);
        _changes = new PostgresChangeFeed(database);
        _vectors = new PostgresVectors(database);
        _entities = new PostgresEntities(database);
        _recallLog = new PostgresRecallLog(database);
        _admin = new PostgresAdministration(database);
    }

    /// <summary>The database's own id (see <see cref="PostgresMigrations"/>): servers name their cache folder by it.</summary>
    public string StoreId { get; }

    /// <summary>Where the database is, without any secret.</summary>
    public PostgresLocation Location => _database.Location;

    /// <summary>Opens (creating or migrating) the store at <paramref name="location"/>.</summary>
    public static async Task<PostgresMemoryStore> OpenAsync(PostgresLocation location, CancellationToken cancellationToken = default)
    {
        var database = new PostgresDatabase(location);
        try
        {
            var storeId = await PostgresMigrations.ApplyAsync(database, cancellationToken).ConfigureAwait(false);
            return new PostgresMemoryStore(database, storeId);
        }
        catch
        {
            await database.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public Task<IReadOnlyList<InsertOutcome>> InsertAsync(IReadOnlyList<PendingMemory> batch, EmbeddingModel? model, CancellationToken cancellationToken = default) =>
        _memories.InsertAsync(batch, model, cancellationToken);

    public Task<int> LinkAsync(IReadOnlyList<(string Old, string New, long At)> links, CancellationToken cancellationToken = default) =>
        _memories.LinkAsync(links, cancellationToken);

    public Task<Deletion> DeleteAsync(IReadOnlyCollection<string> ids, ForgetSelector selector, IReadOnlyList<string> scopes, string? principal, CancellationToken cancellationToken = default) =>
        _memories.DeleteAsync(ids, selector, scopes, principal, cancellationToken);

    public Task<Dictionary<string, StoredMemory>> GetAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken = default) =>
        _queries.GetAsync(ids, cancellationToken);

    public Task<bool> SetTagsAsync(string id, IReadOnlyList<string> tags, long at, CancellationToken cancellationToken = default) =>
        _memories.SetTagsAsync(id, tags, at, cancellationToken);

    public Task SetAnchorsAsync(IReadOnlyList<(string MemoryId, IReadOnlyList<CodeAnchor> Anchors)> anchored, CancellationToken cancellationToken = default) =>
        _anchors.SetAnchorsAsync(anchored, cancellationToken);

    public Task<Dictionary<string, List<CodeAnchor>>> AnchorsAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken = default) =>
        _anchors.AnchorsAsync(ids, cancellationToken);

    public Task<Dictionary<string, List<CodeAnchor>>> AnchorsInScopesAsync(IReadOnlyList<string> scopes, CancellationToken cancellationToken = default) =>
        _anchors.AnchorsInScopesAsync(scopes, cancellationToken);

    public Task<bool> AddCheckAsync(StoredCheck check, CancellationToken cancellationToken = default) =>
        _checks.AddCheckAsync(check, cancellationToken);

    public Task<List<StoredCheck>> ChecksAsync(IReadOnlyList<string>? scopes, CancellationToken cancellationToken = default) =>
        _checks.ChecksAsync(scopes, cancellationToken);

    public Task<bool> RemoveCheckAsync(string id, CancellationToken cancellationToken = default) =>
        _checks.RemoveCheckAsync(id, cancellationToken);

    public Task<int> CountChecksAsync(IReadOnlyCollection<string> memoryIds, IReadOnlyList<string> homeScopes, CancellationToken cancellationToken = default) =>
        _checks.CountChecksAsync(memoryIds, homeScopes, cancellationToken);

    public Task<List<StoredMemory>> SupersededByAsync(string id, CancellationToken cancellationToken = default) =>
        _queries.SupersededByAsync(id, cancellationToken);

    public Task<List<StoredMemory>> ListAsync(IReadOnlyList<string>? scopes, int limit, int offset, bool includeSuperseded, bool oldestFirst, TimeRange? observed, CancellationToken cancellationToken = default) =>
        _queries.ListAsync(scopes, limit, offset, includeSuperseded, oldestFirst, observed, cancellationToken);

    /// <inheritdoc />
    public Task<List<(StoredMemory Memory, long Order)>> ListAfterAsync(IReadOnlyList<string>? scopes, long after, int limit, CancellationToken cancellationToken = default) =>
        _queries.ListAfterAsync(scopes, after, limit, cancellationToken);

    public Task<HashSet<string>> IdsInScopesAsync(IReadOnlyList<string> scopes, CancellationToken cancellationToken = default) =>
        _queries.IdsInScopesAsync(scopes, cancellationToken);

    public Task<HashSet<string>> IdsWithAnyTagAsync(IReadOnlyList<string> scopes, IReadOnlyList<string> tags, CancellationToken cancellationToken = default) =>
        _queries.IdsWithAnyTagAsync(scopes, tags, cancellationToken);

    public Task<List<ObservedMemory>> ObservedWithinAsync(IReadOnlyList<string> scopes, IReadOnlyList<TimeRange> ranges, int k, CancellationToken cancellationToken = default) =>
        _queries.ObservedWithinAsync(scopes, ranges, k, cancellationToken);

    /// <inheritdoc />
    public Task<List<(string Id, float Score)>> SearchTextAsync(string query, IReadOnlyList<string> scopes, IReadOnlySet<string>? allowed, int k, CancellationToken cancellationToken = default) =>
        _queries.SearchTextAsync(query, scopes, allowed, k, cancellationToken);

    public Task<long> MaxSeqAsync(CancellationToken cancellationToken = default) =>
        _changes.MaxSeqAsync(cancellationToken);

    public Task<ChangeBatch> ReadChangesAsync(long afterSeq, CancellationToken cancellationToken = default) =>
        _changes.ReadChangesAsync(afterSeq, cancellationToken);

    public Task<List<string>> ChangedIdsAsync(long afterSeq, long toSeq, int limit, CancellationToken cancellationToken = default) =>
        _changes.ChangedIdsAsync(afterSeq, toSeq, limit, cancellationToken);

    public Task<CandidateBatch> CandidatesAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken = default) =>
        _changes.CandidatesAsync(ids, cancellationToken);

    public Task<List<ScopeVectors>> ScopeVectorsAsync(IReadOnlyList<string>? scopes, string modelId, CancellationToken cancellationToken = default) =>
        _vectors.ScopeVectorsAsync(scopes, modelId, cancellationToken);

    public Task<Dictionary<string, long?>> ReadyScopesAsync(IReadOnlyList<string> scopes, string modelId, CancellationToken cancellationToken = default) =>
        _vectors.ReadyScopesAsync(scopes, modelId, cancellationToken);

    public Task<List<UnembeddedMemory>> UnembeddedAsync(string modelId, int limit, CancellationToken cancellationToken = default) =>
        _vectors.UnembeddedAsync(modelId, limit, cancellationToken);

    public Task<Dictionary<string, PrecedingMemory>> LastMemoriesAsync(IReadOnlyList<string> scopes, string modelId, CancellationToken cancellationToken = default) =>
        _vectors.LastMemoriesAsync(scopes, modelId, cancellationToken);

    public Task<List<string>> SaveVectorsAsync(EmbeddingModel model, IReadOnlyList<(UnembeddedMemory Memory, float[] Vector)> vectors, CancellationToken cancellationToken = default) =>
        _vectors.SaveVectorsAsync(model, vectors, cancellationToken);

    public Task<VectorBatch> ReadVectorsAsync(string model, string? scope, long afterSeq, CancellationToken cancellationToken = default) =>
        _vectors.ReadVectorsAsync(model, scope, afterSeq, cancellationToken);

    public Task<List<EntityFrequency>> EntityFrequenciesAsync(IReadOnlyList<string> scopes, IReadOnlyCollection<string> entities, CancellationToken cancellationToken = default) =>
        _entities.EntityFrequenciesAsync(scopes, entities, cancellationToken);

    public Task<List<EntityLink>> EntityLinksAsync(IReadOnlyList<string> scopes, IReadOnlyCollection<string> entities, CancellationToken cancellationToken = default) =>
        _entities.EntityLinksAsync(scopes, entities, cancellationToken);

    public Task LogRetrievalsAsync(IReadOnlyList<RetrievalEntry> entries, CancellationToken cancellationToken = default) =>
        _recallLog.LogRetrievalsAsync(entries, cancellationToken);

    public Task<LoggedRetrieval?> GetRetrievalAsync(string id, CancellationToken cancellationToken = default) =>
        _recallLog.GetRetrievalAsync(id, cancellationToken);

    public Task<IReadOnlyList<LoggedRecall>> ListRetrievalsAsync(string? memoryId, int limit, CancellationToken cancellationToken = default) =>
        _recallLog.ListRetrievalsAsync(memoryId, limit, cancellationToken);

    public Task<IReadOnlyList<ForgetAuditRow>> ReadForgetAuditAsync(CancellationToken cancellationToken = default) =>
        _admin.ReadForgetAuditAsync(cancellationToken);

    public string Description => $"PostgreSQL {Location.Display} (schema {SchemaVersion})";

    public Task<long> SizeAsync(CancellationToken cancellationToken = default) =>
        _admin.SizeAsync(cancellationToken);

    public Task<int> CountAsync(CancellationToken cancellationToken = default) =>
        _admin.CountAsync(cancellationToken);

    public Task<StoreCounts> StatsAsync(CancellationToken cancellationToken = default) =>
        _admin.StatsAsync(cancellationToken);

    public Task<string> IntegrityAsync(CancellationToken cancellationToken = default) =>
        _admin.IntegrityAsync(cancellationToken);

    public Task<ResidueCounts> CountResidueAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken = default) =>
        _admin.CountResidueAsync(ids, cancellationToken);

    /// <summary>PostgreSQL has no WAL of the store's own to empty: its write-ahead log is recycled by the server (see <see cref="CompactAsync(CancellationToken)"/>).</summary>
    public Task<bool> CheckpointAsync(CancellationToken cancellationToken = default) => Task.FromResult(true);

    /// <summary>How long a compaction waits for transactions older than it to end (see <see cref="PostgresAdministration.CompactAsync"/>).</summary>
    public static readonly TimeSpan CompactPatience = TimeSpan.FromSeconds(30);

    public Task<bool> CompactAsync(CancellationToken cancellationToken = default) =>
        _admin.CompactAsync(CompactPatience, cancellationToken);

    /// <summary>A compaction that waits <paramref name="patience"/> for older transactions (a test's short wait).</summary>
    public Task<bool> CompactAsync(TimeSpan patience, CancellationToken cancellationToken = default) =>
        _admin.CompactAsync(patience, cancellationToken);

    public Task AddTokenAsync(StoredToken token, CancellationToken cancellationToken = default) =>
        _admin.AddTokenAsync(token, cancellationToken);

    public Task<IReadOnlyList<StoredToken>> ListTokensAsync(CancellationToken cancellationToken = default) =>
        _admin.ListTokensAsync(cancellationToken);

    public Task<int> RevokeTokensAsync(string idOrPrincipal, long at, CancellationToken cancellationToken = default) =>
        _admin.RevokeTokensAsync(idOrPrincipal, at, cancellationToken);

    public Task<StoredToken?> FindTokenAsync(string hash, CancellationToken cancellationToken = default) =>
        _admin.FindTokenAsync(hash, cancellationToken);

    public ValueTask DisposeAsync() => _database.DisposeAsync();
}
