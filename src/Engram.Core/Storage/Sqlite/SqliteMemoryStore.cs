using Engram.Core.Model;

namespace Engram.Core.Storage.Sqlite;

/// <summary>
/// The store in one SQLite file, shared by every process that opens it. Each family of tables is its own type owning
/// its SQL; this one opens the file (creating or migrating the schema) and answers for all of them.
/// </summary>
internal sealed class SqliteMemoryStore : IMemoryStore
{
    /// <summary>The schema this code writes; kept in <c>PRAGMA user_version</c>.</summary>
    public const int SchemaVersion = SqliteMigrations.SchemaVersion;

    /// <summary>The database file and the two SQLite keeps beside it in WAL mode.</summary>
    private static readonly string[] DatabaseFiles = ["", "-wal", "-shm"];

    private readonly SqliteDatabase _database;
    private readonly SqliteMemories _memories;
    private readonly SqliteMemoryQueries _queries;
    private readonly SqliteAnchors _anchors;
    private readonly SqliteChecks _checks;
    private readonly SqliteChangeFeed _changes;
    private readonly SqliteVectors _vectors;
    private readonly SqliteEntities _entities;
    private readonly SqliteRecallLog _recallLog;
    private readonly SqliteForgetAudit _forgetAudit;
    private readonly SqliteMaintenance _maintenance;
    private readonly SqliteTokens _tokens;

    private SqliteMemoryStore(SqliteDatabase database)
    {
        _database = database;
        _memories = new SqliteMemories(database);
        _queries = new SqliteMemoryQueries(database);
        _anchors = new SqliteAnchors(database);
        _checks = new SqliteChecks(database);
        _changes = new SqliteChangeFeed(database);
        _vectors = new SqliteVectors(database);
        _entities = new SqliteEntities(database);
        _recallLog = new SqliteRecallLog(database);
        _forgetAudit = new SqliteForgetAudit(database);
        _maintenance = new SqliteMaintenance(database);
        _tokens = new SqliteTokens(database);
    }

    /// <summary>Opens (creating or migrating) the store at <paramref name="path"/>.</summary>
    public static async Task<SqliteMemoryStore> OpenAsync(string path, CancellationToken cancellationToken = default)
    {
        var database = new SqliteDatabase(path);
        await SqliteMigrations.ApplyAsync(database, cancellationToken).ConfigureAwait(false);
        return new SqliteMemoryStore(database);
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
        _forgetAudit.ReadForgetAuditAsync(cancellationToken);

    public string Description => $"SQLite {_database.Path} (schema {SchemaVersion})";

    public Task<long> SizeAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult(DatabaseFiles.Select(suffix => new FileInfo(_database.Path + suffix)).Where(f => f.Exists).Sum(f => f.Length));

    public Task<int> CountAsync(CancellationToken cancellationToken = default) =>
        _maintenance.CountAsync(cancellationToken);

    public Task<StoreCounts> StatsAsync(CancellationToken cancellationToken = default) =>
        _maintenance.StatsAsync(cancellationToken);

    public Task<string> IntegrityAsync(CancellationToken cancellationToken = default) =>
        _maintenance.IntegrityAsync(cancellationToken);

    public Task<ResidueCounts> CountResidueAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken = default) =>
        _maintenance.CountResidueAsync(ids, cancellationToken);

    public Task<bool> CheckpointAsync(CancellationToken cancellationToken = default) =>
        _database.CheckpointAsync(cancellationToken);

    /// <summary>SQLite's <c>VACUUM</c> takes the write lock, so no older reader's snapshot can keep a deleted row; the WAL is emptied after it.</summary>
    public async Task<bool> CompactAsync(CancellationToken cancellationToken = default)
    {
        await _maintenance.CompactAsync(cancellationToken).ConfigureAwait(false);
        return await _database.CheckpointAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task AddTokenAsync(StoredToken token, CancellationToken cancellationToken = default) =>
        _tokens.AddTokenAsync(token, cancellationToken);

    public Task<IReadOnlyList<StoredToken>> ListTokensAsync(CancellationToken cancellationToken = default) =>
        _tokens.ListTokensAsync(cancellationToken);

    public Task<int> RevokeTokensAsync(string idOrPrincipal, long at, CancellationToken cancellationToken = default) =>
        _tokens.RevokeTokensAsync(idOrPrincipal, at, cancellationToken);

    public Task<StoredToken?> FindTokenAsync(string hash, CancellationToken cancellationToken = default) =>
        _tokens.FindTokenAsync(hash, cancellationToken);
}
