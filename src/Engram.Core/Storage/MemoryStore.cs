using System.Globalization;
using System.Text;
using System.Text.Json;
using Engram.Core.Search;
using Microsoft.Data.Sqlite;

namespace Engram.Core.Storage;

/// <summary>
/// The SQLite store: the only source of truth and the only state shared between processes.
/// Every write appends to the <c>changes</c> feed, from which the derived indexes catch up.
/// </summary>
internal sealed class MemoryStore
{
    /// <summary>The schema this code writes; kept in <c>PRAGMA user_version</c>.</summary>
    public const int SchemaVersion = 4;

    private readonly string _connectionString;

    private MemoryStore(string path)
    {
        Path = path;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    public string Path { get; }

    /// <summary>Opens (creating or migrating) the store at <paramref name="path"/>.</summary>
    public static async Task<MemoryStore> OpenAsync(string path, CancellationToken cancellationToken = default)
    {
        var store = new MemoryStore(path);
        await store.InitializeAsync(cancellationToken).ConfigureAwait(false);
        return store;
    }

    public async Task<SqliteConnection> OpenConnectionAsync(CancellationToken cancellationToken = default)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        // Once per native connection (pooled handles keep their settings): wait for other processes' locks, fsync
        // every commit, zero deleted content in place, and enforce foreign keys.
        if (connection.Handle is { } handle && !Configured.TryGetValue(handle, out _))
        {
            await ExecuteAsync(connection, $"PRAGMA busy_timeout={BusyTimeoutMs}; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON; PRAGMA foreign_keys=ON;", cancellationToken).ConfigureAwait(false);
            Configured.AddOrUpdate(handle, Marker);
        }

        return connection;
    }

    /// <summary>How long a connection waits for another process's lock before giving up.</summary>
    private const int BusyTimeoutMs = 30_000;

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<SQLitePCL.sqlite3, object> Configured = [];
    private static readonly object Marker = new();

    private async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var version = Convert.ToInt32(await ScalarAsync(connection, "PRAGMA user_version;", cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
        if (version > SchemaVersion)
        {
            throw new InvalidOperationException(
                $"The store at {Path} was written by a newer Engram (schema {version}; this one knows {SchemaVersion}). Update Engram to open it.");
        }

        await ExecuteAsync(connection, "PRAGMA journal_mode=WAL;", cancellationToken).ConfigureAwait(false);
        if (version == SchemaVersion)
        {
            await EnsureObservedIndexAsync(connection, cancellationToken).ConfigureAwait(false);
            return;
        }

        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        // Another process may have created or migrated the schema while this one waited for the write lock.
        version = Convert.ToInt32(await ScalarAsync(connection, "PRAGMA user_version;", cancellationToken, tx).ConfigureAwait(false), CultureInfo.InvariantCulture);
        if (version < 1)
        {
            await ExecuteAsync(connection, SchemaV1, cancellationToken, tx).ConfigureAwait(false);
        }

        if (version < 2)
        {
            await MigrateToV2Async(connection, tx, cancellationToken).ConfigureAwait(false);
        }

        if (version < 3)
        {
            // Schema 3: memories of a scope in insertion order, for the neighbours the lexical index adds as context.
            await ExecuteAsync(connection, "CREATE INDEX ix_memories_scope ON memories(scope);", cancellationToken, tx).ConfigureAwait(false);
        }

        if (version < 4)
        {
            await MigrateToV4Async(connection, tx, cancellationToken).ConfigureAwait(false);
        }

        await ExecuteAsync(connection, $"PRAGMA user_version={SchemaVersion};", cancellationToken, tx).ConfigureAwait(false);
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        await EnsureObservedIndexAsync(connection, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Memories of a scope by observedAt, for the dates a query names. An index an older Engram ignores and keeps up
    /// (SQLite maintains every index), so it needs no new schema version: a store stays readable by the release before.
    /// </summary>
    private static async Task EnsureObservedIndexAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        const string Name = "ix_memories_scope_observed";
        if (await ScalarAsync(connection, $"SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = '{Name}';", cancellationToken).ConfigureAwait(false) is not null)
        {
            return;
        }

        // Building it needs the write lock. A store another process is writing to, or one opened read-only, opens
        // without it: the index only speeds up dated queries, and a later open builds it.
        try
        {
            await WithBusyTimeoutAsync(connection, 1000, async () =>
            {
                await using var command = connection.CreateCommand();
                command.CommandText = $"CREATE INDEX IF NOT EXISTS {Name} ON memories(scope, observed_at);";
                command.CommandTimeout = 1; // Microsoft.Data.Sqlite retries a busy statement until the command's time-out.
                return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException e) when (e.SqliteErrorCode is 5 or 6 or 8)
        {
            // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY.
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> with a shorter busy timeout on <paramref name="connection"/>, then gives the pooled
    /// connection back with the store's own (a pooled connection keeps its settings).
    /// </summary>
    private static async Task<T> WithBusyTimeoutAsync<T>(SqliteConnection connection, int milliseconds, Func<Task<T>> work, CancellationToken cancellationToken)
    {
        await ExecuteAsync(connection, $"PRAGMA busy_timeout={milliseconds};", cancellationToken).ConfigureAwait(false);
        try
        {
            return await work().ConfigureAwait(false);
        }
        finally
        {
            await ExecuteAsync(connection, $"PRAGMA busy_timeout={BusyTimeoutMs};", CancellationToken.None).ConfigureAwait(false);
        }
    }

    private const string SchemaV1 = """
        CREATE TABLE memories(
            id TEXT NOT NULL PRIMARY KEY,
            scope TEXT NOT NULL,
            content TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            observed_at INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            superseded_by TEXT NULL,
            superseded_at INTEGER NULL);
        CREATE UNIQUE INDEX ux_memories_scope_hash ON memories(scope, content_hash);
        CREATE INDEX ix_memories_superseded_by ON memories(superseded_by);
        CREATE TABLE memory_tags(
            memory_id TEXT NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            PRIMARY KEY(memory_id, tag)) WITHOUT ROWID;
        CREATE INDEX ix_memory_tags_tag ON memory_tags(tag);
        CREATE TABLE embeddings(
            memory_id TEXT NOT NULL PRIMARY KEY REFERENCES memories(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            vector BLOB NOT NULL);
        CREATE TABLE changes(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            memory_id TEXT NOT NULL,
            scope TEXT NOT NULL,
            deleted INTEGER NOT NULL,
            at INTEGER NOT NULL);
        CREATE TABLE retrievals(
            id TEXT NOT NULL PRIMARY KEY,
            at INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            request TEXT NOT NULL);
        CREATE TABLE retrieval_hits(
            retrieval_id TEXT NOT NULL REFERENCES retrievals(id) ON DELETE CASCADE,
            rank INTEGER NOT NULL,
            memory_id TEXT NOT NULL,
            PRIMARY KEY(retrieval_id, rank)) WITHOUT ROWID;
        CREATE INDEX ix_retrieval_hits_memory ON retrieval_hits(memory_id);
        """;

    /// <summary>
    /// Schema 4: a memory may hold vectors of several models (a re-embedding fills the new model's beside the old), and
    /// each scope records, per model, its dimension and whether its vectors are ready (complete once, then kept up).
    /// A scope whose memories all had a model's vectors is ready for that model.
    /// </summary>
    private static async Task MigrateToV4Async(SqliteConnection connection, SqliteTransaction tx, CancellationToken cancellationToken)
    {
        await ExecuteAsync(connection, """
            CREATE TABLE embeddings_v4(
                memory_id TEXT NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
                model TEXT NOT NULL,
                vector BLOB NOT NULL,
                PRIMARY KEY(memory_id, model)) WITHOUT ROWID;
            INSERT INTO embeddings_v4(memory_id, model, vector) SELECT memory_id, model, vector FROM embeddings;
            DROP TABLE embeddings;
            ALTER TABLE embeddings_v4 RENAME TO embeddings;
            CREATE INDEX ix_embeddings_model ON embeddings(model);
            CREATE TABLE scope_embeddings(
                scope TEXT NOT NULL,
                model TEXT NOT NULL,
                dimensions INTEGER NOT NULL,
                ready_at INTEGER NULL,
                PRIMARY KEY(scope, model)) WITHOUT ROWID;
            INSERT INTO scope_embeddings(scope, model, dimensions, ready_at)
                SELECT m.scope, e.model, MAX(length(e.vector)) / 4, CAST(strftime('%s', 'now') AS INTEGER) * 1000
                FROM memories m JOIN embeddings e ON e.memory_id = m.id
                GROUP BY m.scope, e.model
                HAVING COUNT(*) = (SELECT COUNT(*) FROM memories x WHERE x.scope = m.scope);
            """, cancellationToken, tx).ConfigureAwait(false);
    }

    /// <summary>Schema 2: entity links (backfilled from existing memories) and the append-only forget audit.</summary>
    private static async Task MigrateToV2Async(SqliteConnection connection, SqliteTransaction tx, CancellationToken cancellationToken)
    {
        await ExecuteAsync(connection, """
            CREATE TABLE memory_entities(
                scope TEXT NOT NULL,
                entity TEXT NOT NULL,
                memory_id TEXT NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
                PRIMARY KEY(scope, entity, memory_id)) WITHOUT ROWID;
            CREATE INDEX ix_memory_entities_memory ON memory_entities(memory_id);
            CREATE TABLE forget_audit(
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                at INTEGER NOT NULL,
                selector TEXT NOT NULL,
                scopes TEXT NOT NULL,
                ids TEXT NOT NULL,
                count INTEGER NOT NULL,
                dry_run INTEGER NOT NULL);
            CREATE TRIGGER forget_audit_append_only_update BEFORE UPDATE ON forget_audit
                BEGIN SELECT RAISE(ABORT, 'forget_audit is append-only'); END;
            CREATE TRIGGER forget_audit_append_only_delete BEFORE DELETE ON forget_audit
                BEGIN SELECT RAISE(ABORT, 'forget_audit is append-only'); END;
            """, cancellationToken, tx).ConfigureAwait(false);

        var rows = new List<(string Id, string Scope, string Content)>();
        await using (var select = Command(connection, tx, "SELECT id, scope, content FROM memories ORDER BY rowid;"))
        await using (var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                rows.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2)));
            }
        }

        await using var insert = Command(connection, tx, "INSERT OR IGNORE INTO memory_entities(scope, entity, memory_id) VALUES($scope, $entity, $id);", "$scope", "$entity", "$id");
        foreach (var (id, scope, content) in rows)
        {
            foreach (var entity in Curation.EntityExtractor.Extract(content))
            {
                await ExecuteAsync(insert, cancellationToken, scope, entity, id).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The newest change sequence number (0 for an empty store).</summary>
    public async Task<long> MaxSeqAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await MaxSeqAsync(connection, null, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<long> MaxSeqAsync(SqliteConnection connection, SqliteTransaction? tx, CancellationToken cancellationToken) =>
        Convert.ToInt64(await ScalarAsync(connection, "SELECT COALESCE(MAX(seq), 0) FROM changes;", cancellationToken, tx).ConfigureAwait(false), CultureInfo.InvariantCulture);

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
    public async Task<IReadOnlyList<(bool Created, string Id)>> InsertAsync(IReadOnlyList<PendingMemory> batch, EmbeddingModel? model, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);

        // Prepared once, bound per row: a bulk import is dominated by statement preparation otherwise.
        await using var findDuplicate = Command(connection, tx, "SELECT id FROM memories WHERE scope=$scope AND content_hash=$hash;", "$scope", "$hash");
        await using var findScope = Command(connection, tx, "SELECT scope FROM memories WHERE id=$id;", "$id");
        await using var insertMemory = Command(connection, tx, """
            INSERT INTO memories(id, scope, content, content_hash, observed_at, created_at) VALUES($id, $scope, $content, $hash, $observed, $created);
            """, "$id", "$scope", "$content", "$hash", "$observed", "$created");
        await using var insertVector = Command(connection, tx, "INSERT INTO embeddings(memory_id, model, vector) VALUES($id, $model, $vector);", "$id", "$model", "$vector");
        await using var insertChange = Command(connection, tx, "INSERT INTO changes(memory_id, scope, deleted, at) VALUES($id, $scope, 0, $at);", "$id", "$scope", "$at");
        await using var insertTag = Command(connection, tx, "INSERT OR IGNORE INTO memory_tags(memory_id, tag) VALUES($id, $tag);", "$id", "$tag");
        await using var insertEntity = Command(connection, tx, "INSERT OR IGNORE INTO memory_entities(scope, entity, memory_id) VALUES($scope, $entity, $id);", "$scope", "$entity", "$id");
        await using var supersede = Command(connection, tx, "UPDATE memories SET superseded_by=$new, superseded_at=$at WHERE id=$old;", "$new", "$at", "$old");

        await using var findSuperseder = Command(connection, tx, $"SELECT EXISTS ({ReplacedChain});", "$new", "$old");
        // A new memory becomes session context of the memories stored just before it: their index entries change too.
        await using var touchLatest = Command(connection, tx, $"""
            INSERT INTO changes(memory_id, scope, deleted, at)
                SELECT id, scope, 0, $at FROM (SELECT id, scope FROM memories WHERE scope=$scope ORDER BY rowid DESC LIMIT {SessionContext.Radius});
            """, "$at", "$scope");
        await using var readyIfNew = Command(connection, tx, """
            INSERT OR IGNORE INTO scope_embeddings(scope, model, dimensions, ready_at)
                SELECT $scope, $model, $dimensions, $at WHERE NOT EXISTS (SELECT 1 FROM memories WHERE scope=$scope);
            """, "$scope", "$model", "$dimensions", "$at");
        var touched = new HashSet<string>(StringComparer.Ordinal);
        var results = new List<(bool, string)>(batch.Count);
        foreach (var (memory, contentHash, vector, supersedes, entities) in batch)
        {
            var existingId = await ScalarAsync(findDuplicate, cancellationToken, memory.Scope, contentHash).ConfigureAwait(false) as string;
            var id = existingId ?? memory.Id;
            foreach (var old in supersedes)
            {
                if (await ScalarAsync(findScope, cancellationToken, old).ConfigureAwait(false) as string != memory.Scope)
                {
                    throw new EngramArgumentException(
                        $"supersedes names '{old}', which is not a memory of scope '{memory.Scope}'. Send ids returned by recall or remember (in 'similar') for the same scope.");
                }

                if (old == id || (existingId is not null && Convert.ToInt64(await ScalarAsync(findSuperseder, cancellationToken, existingId, old).ConfigureAwait(false), CultureInfo.InvariantCulture) == 1))
                {
                    throw new EngramArgumentException(
                        $"supersedes names '{old}', which this fact {(old == id ? "already is" : "was itself replaced by")}: a memory cannot replace itself or the memory that replaced it. Send the ids of older statements only.");
                }
            }

            if (existingId is not null)
            {
                // The same fact again: nothing new is stored, but a supersession the caller asks for still takes effect.
                foreach (var old in supersedes)
                {
                    await ExecuteAsync(supersede, cancellationToken, existingId, memory.CreatedAt, old).ConfigureAwait(false);
                    await ExecuteAsync(insertChange, cancellationToken, old, memory.Scope, memory.CreatedAt).ConfigureAwait(false);
                }

                results.Add((false, existingId));
                continue;
            }

            if (touched.Add(memory.Scope))
            {
                await ExecuteAsync(touchLatest, cancellationToken, memory.CreatedAt, memory.Scope).ConfigureAwait(false);
                if (model is not null)
                {
                    await ExecuteAsync(readyIfNew, cancellationToken, memory.Scope, model.Id, model.Dimensions, memory.CreatedAt).ConfigureAwait(false);
                }
            }

            await ExecuteAsync(insertMemory, cancellationToken, memory.Id, memory.Scope, memory.Content, contentHash, memory.ObservedAt, memory.CreatedAt).ConfigureAwait(false);
            if (vector is not null && model is not null)
            {
                await ExecuteAsync(insertVector, cancellationToken, memory.Id, model.Id, VectorCodec.Encode(vector)).ConfigureAwait(false);
            }

            await ExecuteAsync(insertChange, cancellationToken, memory.Id, memory.Scope, memory.CreatedAt).ConfigureAwait(false);
            foreach (var tag in memory.Tags)
            {
                await ExecuteAsync(insertTag, cancellationToken, memory.Id, tag).ConfigureAwait(false);
            }

            foreach (var entity in entities)
            {
                await ExecuteAsync(insertEntity, cancellationToken, memory.Scope, entity, memory.Id).ConfigureAwait(false);
            }

            foreach (var old in supersedes)
            {
                await ExecuteAsync(supersede, cancellationToken, memory.Id, memory.CreatedAt, old).ConfigureAwait(false);
                await ExecuteAsync(insertChange, cancellationToken, old, memory.Scope, memory.CreatedAt).ConfigureAwait(false);
            }

            results.Add((true, memory.Id));
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return results;
    }

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? tx, string sql, params string[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        foreach (var name in parameters)
        {
            command.Parameters.Add(new SqliteParameter { ParameterName = name });
        }

        return command;
    }

    private static void Bind(SqliteCommand command, object[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters[i].Value = values[i];
        }
    }

    private static Task<int> ExecuteAsync(SqliteCommand command, CancellationToken cancellationToken, params object[] values)
    {
        Bind(command, values);
        return command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static Task<object?> ScalarAsync(SqliteCommand command, CancellationToken cancellationToken, params object[] values)
    {
        Bind(command, values);
        return command.ExecuteScalarAsync(cancellationToken);
    }

    /// <summary>Loads memories by id; unknown ids are absent from the result.</summary>
    public async Task<Dictionary<string, StoredMemory>> GetAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await GetAsync(connection, null, ids, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<Dictionary<string, StoredMemory>> GetAsync(SqliteConnection connection, SqliteTransaction? tx, IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        var result = new Dictionary<string, StoredMemory>(ids.Count, StringComparer.Ordinal);
        foreach (var chunk in ids.Distinct(StringComparer.Ordinal).Chunk(500))
        {
            await using var command = connection.CreateCommand();
            command.Transaction = tx;
            var names = AddList(command, "$i", chunk);
            command.CommandText = $"""
                SELECT {MemoryColumns}
                FROM memories m WHERE m.id IN ({names});
                """;
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var memory = ReadMemory(reader);
                result[memory.Id] = memory;
            }
        }

        return result;
    }

    /// <summary>A memory row's columns, in the order <see cref="ReadMemory"/> reads them (<c>m</c> is the memories table).</summary>
    private const string MemoryColumns = """
        m.id, m.scope, m.content, m.observed_at, m.created_at, m.superseded_by, m.superseded_at,
        (SELECT group_concat(tag, char(31)) FROM memory_tags t WHERE t.memory_id = m.id)
        """;

    private static StoredMemory ReadMemory(SqliteDataReader reader)
    {
        var tags = reader.IsDBNull(7) ? [] : reader.GetString(7).Split('\u001f').Order(StringComparer.Ordinal).ToArray();
        return new StoredMemory(
            reader.GetString(0), reader.GetString(1), reader.GetString(2), tags,
            reader.GetInt64(3), reader.GetInt64(4),
            reader.IsDBNull(5) ? null : reader.GetString(5),
            reader.IsDBNull(6) ? null : reader.GetInt64(6));
    }

    /// <summary>
    /// Reads, in one snapshot, the change feed after <paramref name="afterSeq"/> and the current state of each
    /// memory it names (absent when deleted). With <paramref name="afterSeq"/> 0 every memory is returned.
    /// </summary>
    public async Task<(long Seq, IReadOnlyList<(StoredMemory Memory, SessionContext Context)> Upserts, IReadOnlyList<string> Deletes)> ReadChangesAsync(long afterSeq, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = connection.BeginTransaction(deferred: true);
        var seq = await MaxSeqAsync(connection, tx, cancellationToken).ConfigureAwait(false);
        if (afterSeq == 0)
        {
            await using var command = connection.CreateCommand();
            command.Transaction = tx;
            command.CommandText = $"""
                SELECT {MemoryColumns}
                FROM memories m ORDER BY m.scope, m.rowid;
                """;
            var all = new List<StoredMemory>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                all.Add(ReadMemory(reader));
            }

            // Each scope's memories are consecutive and in insertion order: the neighbours are at hand.
            var upserts = new List<(StoredMemory, SessionContext)>(all.Count);
            for (var i = 0; i < all.Count; i++)
            {
                var memory = all[i];
                var before = Enumerable.Range(1, SessionContext.Radius).Select(d => i - d).TakeWhile(j => j >= 0 && all[j].Scope == memory.Scope).Select(j => all[j]);
                var after = Enumerable.Range(1, SessionContext.Radius).Select(d => i + d).TakeWhile(j => j < all.Count && all[j].Scope == memory.Scope).Select(j => all[j]);
                upserts.Add((memory, SessionContext.Of(memory, before.Select(m => (m.Content, m.ObservedAt)), after.Select(m => (m.Content, m.ObservedAt)))));
            }

            return (seq, upserts, []);
        }

        var changed = await ChangedIdsAsync(connection, tx, afterSeq, cancellationToken).ConfigureAwait(false);
        var current = await GetAsync(connection, tx, changed, cancellationToken).ConfigureAwait(false);
        var deletes = changed.Where(id => !current.ContainsKey(id)).ToList();
        await using var previous = Command(connection, tx, $"""
            SELECT content, observed_at FROM memories
            WHERE scope=$scope AND rowid < (SELECT rowid FROM memories WHERE id=$id) ORDER BY rowid DESC LIMIT {SessionContext.Radius};
            """, "$scope", "$id");
        await using var next = Command(connection, tx, $"""
            SELECT content, observed_at FROM memories
            WHERE scope=$scope AND rowid > (SELECT rowid FROM memories WHERE id=$id) ORDER BY rowid LIMIT {SessionContext.Radius};
            """, "$scope", "$id");
        var changedUpserts = new List<(StoredMemory, SessionContext)>();
        foreach (var memory in changed.Where(current.ContainsKey).Select(id => current[id]))
        {
            var before = await NeighboursAsync(previous, memory, cancellationToken).ConfigureAwait(false);
            var after = await NeighboursAsync(next, memory, cancellationToken).ConfigureAwait(false);
            changedUpserts.Add((memory, SessionContext.Of(memory, before, after)));
        }

        return (seq, changedUpserts, deletes);
    }

    private static async Task<List<(string Content, long ObservedAt)>> NeighboursAsync(SqliteCommand command, StoredMemory memory, CancellationToken cancellationToken)
    {
        Bind(command, [memory.Scope, memory.Id]);
        var rows = new List<(string, long)>(SessionContext.Radius);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add((reader.GetString(0), reader.GetInt64(1)));
        }

        return rows;
    }

    private static async Task<List<string>> ChangedIdsAsync(SqliteConnection connection, SqliteTransaction tx, long afterSeq, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        // In the order of each memory's latest change, so every process applies the feed in the same order.
        command.CommandText = "SELECT memory_id FROM changes WHERE seq > $after GROUP BY memory_id ORDER BY MAX(seq);";
        command.Parameters.AddWithValue("$after", afterSeq);
        var ids = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    /// <summary>
    /// Per scope (those given, else every scope holding memories), whether its vectors of <paramref name="modelId"/> are
    /// ready and how many of its memories have one.
    /// </summary>
    public async Task<List<ScopeVectors>> ScopeVectorsAsync(IReadOnlyList<string>? scopes, string modelId, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.Parameters.AddWithValue("$model", modelId);
        var filter = scopes is null ? "" : $"WHERE m.scope IN ({AddList(command, "$s", scopes)})";
        command.CommandText = $"""
            SELECT m.scope,
                   (SELECT ready_at IS NOT NULL FROM scope_embeddings s WHERE s.scope = m.scope AND s.model = $model),
                   COUNT(*),
                   SUM(EXISTS (SELECT 1 FROM embeddings e WHERE e.memory_id = m.id AND e.model = $model AND length(e.vector) > 0))
            FROM memories m {filter} GROUP BY m.scope ORDER BY m.scope;
            """;
        var result = new List<ScopeVectors>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            result.Add(new ScopeVectors(reader.GetString(0), !reader.IsDBNull(1) && reader.GetInt64(1) == 1, reader.GetInt32(2), reader.GetInt32(3)));
        }

        // A scope without memories is ready for any model once it has a row; with no row it is simply empty.
        if (scopes is not null)
        {
            foreach (var scope in scopes.Where(s => result.All(r => r.Scope != s)))
            {
                result.Add(new ScopeVectors(scope, true, 0, 0));
            }
        }

        return result;
    }

    /// <summary>
    /// For each of <paramref name="scopes"/> whose vectors of <paramref name="modelId"/> are ready, when they became
    /// ready; a scope without memories (and no record) is ready too, with no time. Scopes being embedded are absent.
    /// </summary>
    public async Task<Dictionary<string, long?>> ReadyScopesAsync(IReadOnlyList<string> scopes, string modelId, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.Parameters.AddWithValue("$model", modelId);
        command.Parameters.AddWithValue("$all", System.Text.Json.JsonSerializer.Serialize(scopes));
        command.CommandText = """
            SELECT a.value, s.ready_at FROM json_each($all) a LEFT JOIN scope_embeddings s ON s.scope = a.value AND s.model = $model
            WHERE s.ready_at IS NOT NULL OR (s.scope IS NULL AND NOT EXISTS (SELECT 1 FROM memories WHERE scope = a.value));
            """;
        var ready = new Dictionary<string, long?>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            ready[reader.GetString(0)] = reader.IsDBNull(1) ? null : reader.GetInt64(1);
        }

        return ready;
    }

    /// <summary>Memories without a vector of <paramref name="modelId"/>, scope by scope in insertion order.</summary>
    public async Task<List<UnembeddedMemory>> UnembeddedAsync(string modelId, int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT m.id, m.scope, m.content, m.content_hash FROM memories m
            WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.memory_id = m.id AND e.model = $model)
            ORDER BY m.scope, m.rowid LIMIT $limit;
            """;
        command.Parameters.AddWithValue("$model", modelId);
        command.Parameters.AddWithValue("$limit", limit);
        var result = new List<UnembeddedMemory>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            result.Add(new UnembeddedMemory(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3)));
        }

        return result;
    }

    /// <summary>
    /// Stores vectors of <paramref name="model"/> filled in after the fact (memories forgotten meanwhile are skipped).
    /// Unless the scope is being re-embedded for the model, each one is announced on the change feed, so every
    /// process's vector index takes it (one that loaded the scope while it was empty included); in a scope being
    /// re-embedded they wait, and the scope is marked ready, all at once, when its last
    /// memory has one. Then every scope whose memories all have a vector of the model is marked ready. Returns the
    /// scopes that became ready.
    /// </summary>
    public async Task<List<string>> SaveVectorsAsync(EmbeddingModel model, IReadOnlyList<(UnembeddedMemory Memory, float[] Vector)> vectors, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        if (vectors.Count == 0)
        {
            // Most idle checks find every scope ready: answer them without a write transaction.
            await using var check = connection.CreateCommand();
            check.CommandText = """
                SELECT EXISTS (SELECT 1 FROM (SELECT DISTINCT scope FROM memories) m
                    WHERE NOT EXISTS (SELECT 1 FROM scope_embeddings s WHERE s.scope = m.scope AND s.model = $model AND s.ready_at IS NOT NULL));
                """;
            check.Parameters.AddWithValue("$model", model.Id);
            if (Convert.ToInt64(await check.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture) == 0)
            {
                return [];
            }
        }

        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await using var save = Command(connection, tx, """
            INSERT OR REPLACE INTO embeddings(memory_id, model, vector) SELECT $id, $model, $vector WHERE EXISTS (SELECT 1 FROM memories WHERE id = $id);
            INSERT INTO changes(memory_id, scope, deleted, at)
                SELECT id, scope, 0, $at FROM memories WHERE id = $id
                AND NOT EXISTS (SELECT 1 FROM scope_embeddings s WHERE s.scope = memories.scope AND s.model = $model AND s.ready_at IS NULL);
            """, "$id", "$model", "$vector", "$at");
        foreach (var (memory, vector) in vectors)
        {
            await ExecuteAsync(save, cancellationToken, memory.Id, model.Id, VectorCodec.Encode(vector), now).ConfigureAwait(false);
        }

        await using var mark = Command(connection, tx, """
            INSERT OR IGNORE INTO scope_embeddings(scope, model, dimensions, ready_at) SELECT DISTINCT scope, $model, $dimensions, NULL FROM memories;
            UPDATE scope_embeddings SET ready_at = $at
            WHERE model = $model AND ready_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM memories m WHERE m.scope = scope_embeddings.scope
                              AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.memory_id = m.id AND e.model = $model))
            RETURNING scope;
            """, "$model", "$dimensions", "$at");
        Bind(mark, [model.Id, model.Dimensions, now]);
        var ready = new List<string>();
        await using (var reader = await mark.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                ready.Add(reader.GetString(0));
            }
        }

        // A swap moves the change feed on, so every process catches up and (re)loads the scope's new vectors.
        await using var announce = Command(connection, tx, """
            INSERT INTO changes(memory_id, scope, deleted, at) SELECT id, scope, 0, $at FROM memories WHERE scope = $scope ORDER BY rowid DESC LIMIT 1;
            """, "$at", "$scope");
        foreach (var scope in ready)
        {
            await ExecuteAsync(announce, cancellationToken, now, scope).ConfigureAwait(false);
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return ready;
    }

    /// <summary>
    /// Reads, in one snapshot, vectors of <paramref name="model"/>: with <paramref name="scope"/> all of that scope,
    /// otherwise those of memories changed after <paramref name="afterSeq"/> (ids changed but without a vector are
    /// returned as removals).
    /// </summary>
    public async Task<(long Seq, IReadOnlyList<StoredVector> Vectors, IReadOnlyList<string> Removed)> ReadVectorsAsync(
        string model, string? scope, long afterSeq, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = connection.BeginTransaction(deferred: true);
        var seq = await MaxSeqAsync(connection, tx, cancellationToken).ConfigureAwait(false);
        var vectors = new List<StoredVector>();
        var removed = new List<string>();
        if (scope is not null)
        {
            await using var command = connection.CreateCommand();
            command.Transaction = tx;
            command.CommandText = "SELECT e.memory_id, m.scope, e.vector FROM embeddings e JOIN memories m ON m.id = e.memory_id WHERE m.scope=$scope AND e.model=$model ORDER BY m.rowid;";
            command.Parameters.AddWithValue("$scope", scope);
            command.Parameters.AddWithValue("$model", model);
            await ReadVectorsAsync(command, vectors, cancellationToken).ConfigureAwait(false);
            return (seq, vectors, removed);
        }

        var changed = await ChangedIdsAsync(connection, tx, afterSeq, cancellationToken).ConfigureAwait(false);
        foreach (var chunk in changed.Chunk(500))
        {
            await using var command = connection.CreateCommand();
            command.Transaction = tx;
            var names = AddList(command, "$i", chunk);
            command.CommandText = $"SELECT e.memory_id, m.scope, e.vector FROM embeddings e JOIN memories m ON m.id = e.memory_id WHERE e.memory_id IN ({names}) AND e.model=$model;";
            command.Parameters.AddWithValue("$model", model);
            await ReadVectorsAsync(command, vectors, cancellationToken).ConfigureAwait(false);
        }

        var byId = vectors.ToDictionary(v => v.MemoryId, StringComparer.Ordinal);
        removed.AddRange(changed.Where(id => !byId.ContainsKey(id)));
        return (seq, changed.Where(byId.ContainsKey).Select(id => byId[id]).ToList(), removed);
    }

    private static async Task ReadVectorsAsync(SqliteCommand command, List<StoredVector> into, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            into.Add(new StoredVector(reader.GetString(0), reader.GetString(1), VectorCodec.Decode((byte[])reader.GetValue(2))));
        }
    }

    /// <summary>Ids of memories in <paramref name="scopes"/> that carry any of <paramref name="tags"/>.</summary>
    public async Task<HashSet<string>> IdsWithAnyTagAsync(IReadOnlyList<string> scopes, IReadOnlyList<string> tags, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        var scopeNames = AddList(command, "$s", scopes);
        var tagNames = AddList(command, "$t", tags);
        command.CommandText = $"SELECT DISTINCT t.memory_id FROM memory_tags t JOIN memories m ON m.id = t.memory_id WHERE m.scope IN ({scopeNames}) AND t.tag IN ({tagNames});";
        return await ReadIdsAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Memories of <paramref name="scopes"/> observed within <paramref name="windows"/>, window by window, newest first
    /// within each, at most <paramref name="k"/> in all, with when each was observed. One index range read per window,
    /// so the cost follows k and the number of windows, not how many memories a month holds.
    /// </summary>
    internal async Task<List<(string Id, long ObservedAt)>> ObservedWithinAsync(IReadOnlyList<string> scopes, IReadOnlyList<TimeWindow> windows, int k, CancellationToken cancellationToken = default)
    {
        var found = new List<(string Id, long ObservedAt)>();
        if (windows.Count == 0 || k <= 0)
        {
            return found;
        }

        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        var scopeNames = AddList(command, "$s", scopes);
        var from = command.Parameters.Add("$from", SqliteType.Integer);
        var to = command.Parameters.Add("$to", SqliteType.Integer);
        var limit = command.Parameters.Add("$k", SqliteType.Integer);
        command.CommandText = $"SELECT id, observed_at FROM memories WHERE scope IN ({scopeNames}) AND observed_at >= $from AND observed_at < $to ORDER BY observed_at DESC, rowid DESC LIMIT $k;";
        foreach (var window in windows)
        {
            (from.Value, to.Value, limit.Value) = (window.From, window.To, k - found.Count);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                found.Add((reader.GetString(0), reader.GetInt64(1)));
            }

            if (found.Count >= k)
            {
                break;
            }
        }

        return found;
    }

    /// <summary>Ids of every memory in <paramref name="scopes"/>.</summary>
    public async Task<HashSet<string>> IdsInScopesAsync(IReadOnlyList<string> scopes, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        var scopeNames = AddList(command, "$s", scopes);
        command.CommandText = $"SELECT id FROM memories WHERE scope IN ({scopeNames});";
        return await ReadIdsAsync(command, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<HashSet<string>> ReadIdsAsync(SqliteCommand command, CancellationToken cancellationToken)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    /// <summary>
    /// Deletes memories with their tags, entity links, vectors and every recall log that returned them, makes the
    /// memories they superseded current again, appends deletions to the change feed, and records the operation in the
    /// append-only forget audit (ids and counts, never content), in one transaction. Returns the ids that existed.
    /// </summary>
    public async Task<IReadOnlyList<string>> DeleteAsync(IReadOnlyCollection<string> ids, string selector, IReadOnlyList<string> scopes, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var existing = await GetAsync(connection, tx, ids, cancellationToken).ConfigureAwait(false);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        // The memories around a forgotten one carried its text as session context: they are re-indexed without it.
        await using var delete = Command(connection, tx, $"""
            INSERT INTO changes(memory_id, scope, deleted, at)
                SELECT id, scope, 0, $now FROM (SELECT id, scope FROM memories
                    WHERE scope=$scope AND rowid < (SELECT rowid FROM memories WHERE id=$id) ORDER BY rowid DESC LIMIT {SessionContext.Radius});
            INSERT INTO changes(memory_id, scope, deleted, at)
                SELECT id, scope, 0, $now FROM (SELECT id, scope FROM memories
                    WHERE scope=$scope AND rowid > (SELECT rowid FROM memories WHERE id=$id) ORDER BY rowid LIMIT {SessionContext.Radius});
            INSERT INTO changes(memory_id, scope, deleted, at)
                SELECT id, scope, 0, $now FROM memories WHERE superseded_by=$id;
            UPDATE memories SET superseded_by=NULL, superseded_at=NULL WHERE superseded_by=$id;
            DELETE FROM retrievals WHERE id IN (SELECT retrieval_id FROM retrieval_hits WHERE memory_id=$id);
            DELETE FROM retrieval_hits WHERE memory_id=$id;
            DELETE FROM memories WHERE id=$id;
            INSERT INTO changes(memory_id, scope, deleted, at) VALUES($id, $scope, 1, $now);
            """, "$id", "$scope", "$now");
        foreach (var memory in existing.Values)
        {
            await ExecuteAsync(delete, cancellationToken, memory.Id, memory.Scope, now).ConfigureAwait(false);
        }

        var deleted = ids.Where(existing.ContainsKey).ToList();
        await using var audit = Command(connection, tx, """
            INSERT INTO forget_audit(at, selector, scopes, ids, count, dry_run) VALUES($at, $selector, $scopes, $ids, $count, 0);
            """, "$at", "$selector", "$scopes", "$ids", "$count");
        await ExecuteAsync(audit, cancellationToken, now, selector,
            System.Text.Json.JsonSerializer.Serialize(scopes), System.Text.Json.JsonSerializer.Serialize(deleted), deleted.Count).ConfigureAwait(false);
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return deleted;
    }

    /// <summary>Memories newest first (by time stored), in <paramref name="scopes"/> when given.</summary>
    public async Task<List<StoredMemory>> ListAsync(IReadOnlyList<string>? scopes, int limit, int offset, bool includeSuperseded, bool oldestFirst, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        var where = new List<string>();
        if (scopes is not null)
        {
            where.Add($"m.scope IN ({AddList(command, "$s", scopes)})");
        }

        if (!includeSuperseded)
        {
            where.Add("m.superseded_by IS NULL");
        }

        command.CommandText = $"""
            SELECT {MemoryColumns}
            FROM memories m {(where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where))}
            ORDER BY m.rowid {(oldestFirst ? "ASC" : "DESC")} LIMIT $limit OFFSET $offset;
            """;
        command.Parameters.AddWithValue("$limit", limit);
        command.Parameters.AddWithValue("$offset", offset);
        var rows = new List<StoredMemory>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(ReadMemory(reader));
        }

        return rows;
    }

    /// <summary>
    /// Whether <c>$old</c> is <c>$new</c> or one of the memories that replaced it, directly or in a chain: a link
    /// making <c>$old</c> superseded by <c>$new</c> would then close a cycle (and hide every memory on it).
    /// </summary>
    private const string ReplacedChain = """
        WITH RECURSIVE chain(id) AS (
            SELECT $new
            UNION SELECT m.superseded_by FROM memories m JOIN chain c ON m.id = c.id WHERE m.superseded_by IS NOT NULL)
        SELECT 1 FROM chain WHERE id = $old
        """;

    /// <summary>
    /// Applies supersession links given by id (an import's): each old memory is marked replaced by the new one when both
    /// exist in the same scope and the link would not make a cycle. Returns how many were applied.
    /// </summary>
    public async Task<int> LinkAsync(IReadOnlyList<(string Old, string New, long At)> links, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var link = Command(connection, tx, $"""
            UPDATE memories SET superseded_by = $new, superseded_at = $at
            WHERE id = $old AND $old <> $new
              AND scope = (SELECT scope FROM memories WHERE id = $new)
              AND NOT EXISTS ({ReplacedChain});
            """, "$old", "$new", "$at");
        await using var change = Command(connection, tx, "INSERT INTO changes(memory_id, scope, deleted, at) SELECT id, scope, 0, $at FROM memories WHERE id = $old;", "$old", "$at");
        var applied = 0;
        foreach (var (old, @new, at) in links)
        {
            if (await ExecuteAsync(link, cancellationToken, old, @new, at).ConfigureAwait(false) > 0)
            {
                applied++;
                await ExecuteAsync(change, cancellationToken, old, at).ConfigureAwait(false);
            }
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return applied;
    }

    /// <summary>Per scope: memories, superseded ones and the newest time stored; vectors per model; forgets recorded.</summary>
    public async Task<(List<(string Scope, int Memories, int Superseded, long Newest)> Scopes, Dictionary<string, int> Vectors, int Forgets)> StatsAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var scopes = new List<(string, int, int, long)>();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT scope, COUNT(*), SUM(superseded_by IS NOT NULL), MAX(created_at) FROM memories GROUP BY scope ORDER BY scope;";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                scopes.Add((reader.GetString(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt64(3)));
            }
        }

        var vectors = new Dictionary<string, int>(StringComparer.Ordinal);
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT model, COUNT(*) FROM embeddings GROUP BY model ORDER BY model;";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                vectors[reader.GetString(0)] = reader.GetInt32(1);
            }
        }

        var forgets = Convert.ToInt32(await ScalarAsync(connection, "SELECT COUNT(*) FROM forget_audit;", cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
        return (scopes, vectors, forgets);
    }

    /// <summary>SQLite's own checks: <c>PRAGMA integrity_check</c> and <c>foreign_key_check</c>; "ok" when clean.</summary>
    public async Task<string> IntegrityAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var integrity = Convert.ToString(await ScalarAsync(connection, "PRAGMA integrity_check;", cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
        var foreignKeys = await ScalarAsync(connection, "PRAGMA foreign_key_check;", cancellationToken).ConfigureAwait(false);
        return integrity != "ok" ? $"integrity_check: {integrity}" : foreignKeys is not null ? "foreign_key_check found dangling references" : "ok";
    }

    /// <summary>How many memories the store holds.</summary>
    public async Task<int> CountAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return Convert.ToInt32(await ScalarAsync(connection, "SELECT COUNT(*) FROM memories;", cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    /// <summary>The forget audit, oldest first: time, selector kind, scopes, ids and count of every real forget.</summary>
    public async Task<IReadOnlyList<(DateTimeOffset At, string Selector, string Scopes, string Ids, int Count)>> ReadForgetAuditAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT at, selector, scopes, ids, count FROM forget_audit ORDER BY seq;";
        var rows = new List<(DateTimeOffset, string, string, string, int)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add((DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(0)), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt32(4)));
        }

        return rows;
    }

    /// <summary>
    /// Candidates' rows with their ranking metadata (insertion order and the superseding memory's observedAt), and the
    /// change feed's position in the same snapshot.
    /// </summary>
    public async Task<(long Seq, Dictionary<string, CandidateMeta> Rows)> CandidatesAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = connection.BeginTransaction(deferred: true);
        var seq = await MaxSeqAsync(connection, tx, cancellationToken).ConfigureAwait(false);
        var result = new Dictionary<string, CandidateMeta>(ids.Count, StringComparer.Ordinal);
        await using var command = Command(connection, tx, $"""
            SELECT {MemoryColumns},
                   m.rowid, s.observed_at
            FROM memories m LEFT JOIN memories s ON s.id = m.superseded_by
            WHERE m.id IN (SELECT value FROM json_each($ids));
            """, "$ids");
        Bind(command, [JsonSerializer.Serialize(ids)]);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var memory = ReadMemory(reader);
            result[memory.Id] = new CandidateMeta(memory, reader.GetInt64(8), reader.IsDBNull(9) ? null : reader.GetInt64(9));
        }

        return (seq, result);
    }

    /// <summary>The memories the change feed names after <paramref name="afterSeq"/> up to <paramref name="toSeq"/>, at most <paramref name="limit"/>.</summary>
    public async Task<List<string>> ChangedIdsAsync(long afterSeq, long toSeq, int limit, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, "SELECT DISTINCT memory_id FROM changes WHERE seq > $after AND seq <= $to LIMIT $limit;", "$after", "$to", "$limit");
        Bind(command, [afterSeq, toSeq, limit]);
        var ids = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    /// <summary>
    /// The memories of <paramref name="scopes"/> sharing entities with a query, scored by the sum over shared entities
    /// of 1 / (1 + ln df), where df is how many memories of those scopes carry the entity; best first, ties in insertion
    /// order. Entities with df above <paramref name="maxFrequency"/> are ignored.
    /// </summary>
    public async Task<List<(string Id, float Score)>> SearchEntitiesAsync(IReadOnlyList<string> scopes, IReadOnlyList<string> entities, int k, int maxFrequency, CancellationToken cancellationToken = default)
    {
        if (entities.Count == 0 || k <= 0)
        {
            return [];
        }

        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var weights = new Dictionary<string, float>(StringComparer.Ordinal);
        await using (var command = connection.CreateCommand())
        {
            var scopeNames = AddList(command, "$s", scopes);
            var entityNames = AddList(command, "$e", entities);
            command.CommandText = $"SELECT entity, COUNT(*) FROM memory_entities WHERE scope IN ({scopeNames}) AND entity IN ({entityNames}) GROUP BY entity;";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var df = reader.GetInt64(1);
                if (df <= maxFrequency)
                {
                    weights[reader.GetString(0)] = 1f / (1f + MathF.Log(df));
                }
            }
        }

        if (weights.Count == 0)
        {
            return [];
        }

        var scores = new Dictionary<string, (float Score, long Order)>(StringComparer.Ordinal);
        await using (var command = connection.CreateCommand())
        {
            var scopeNames = AddList(command, "$s", scopes);
            var entityNames = AddList(command, "$e", weights.Keys);
            command.CommandText = $"""
                SELECT e.memory_id, e.entity, m.rowid FROM memory_entities e JOIN memories m ON m.id = e.memory_id
                WHERE e.scope IN ({scopeNames}) AND e.entity IN ({entityNames});
                """;
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var id = reader.GetString(0);
                var (score, _) = scores.GetValueOrDefault(id);
                scores[id] = (score + weights[reader.GetString(1)], reader.GetInt64(2));
            }
        }

        var top = new Search.TopK<string>(k);
        foreach (var (id, (score, _)) in scores.OrderBy(x => x.Value.Order))
        {
            top.Add(id, score);
        }

        return top.ToList();
    }

    /// <summary>Moves the WAL's content into the database file and truncates the WAL, so no deleted bytes linger there.</summary>
    /// <returns>Whether the WAL was emptied; false when other connections' readers kept it busy through every try.</returns>
    public async Task<bool> CheckpointAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        // A truncating checkpoint waits, through the busy handler, for every reader to leave the WAL. With the store's
        // 30 s busy timeout, readers that keep coming (another process recalling nonstop) held a forget for minutes;
        // here each attempt waits a quarter of a second, about six seconds in all, then the WAL is left for later.
        return await WithBusyTimeoutAsync(connection, 250, async () =>
        {
            for (var attempt = 0; attempt < 20; attempt++)
            {
                await using var command = connection.CreateCommand();
                command.CommandText = "PRAGMA wal_checkpoint(TRUNCATE);";
                await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                // The row is (busy, frames in the WAL, frames checkpointed): busy = 0 means the WAL was reset.
                if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false) && reader.GetInt32(0) == 0)
                {
                    return true;
                }

                // Another process is mid-read; its snapshot usually ends within milliseconds.
                await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            }

            return false;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Counts what SQLite still holds of <paramref name="ids"/>: memory rows, tag rows, vector rows, recall-log references.</summary>
    public async Task<(int Memories, int Tags, int Entities, int Vectors, int RetrievalLogs)> CountResidueAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        int memories = 0, tags = 0, entities = 0, vectors = 0, logs = 0;
        foreach (var chunk in ids.Chunk(500))
        {
            await using var command = connection.CreateCommand();
            var names = AddList(command, "$i", chunk);
            command.CommandText = $"""
                SELECT (SELECT COUNT(*) FROM memories WHERE id IN ({names})),
                       (SELECT COUNT(*) FROM memory_tags WHERE memory_id IN ({names})),
                       (SELECT COUNT(*) FROM memory_entities WHERE memory_id IN ({names})),
                       (SELECT COUNT(*) FROM embeddings WHERE memory_id IN ({names})),
                       (SELECT COUNT(*) FROM retrieval_hits WHERE memory_id IN ({names}));
                """;
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            memories += reader.GetInt32(0);
            tags += reader.GetInt32(1);
            entities += reader.GetInt32(2);
            vectors += reader.GetInt32(3);
            logs += reader.GetInt32(4);
        }

        return (memories, tags, entities, vectors, logs);
    }

    /// <summary>
    /// Logs recalls in one transaction: each request (JSON), the store's change sequence then, and the result ids in
    /// rank order. A recall whose results include a memory that no longer exists is left out whole.
    /// </summary>
    public async Task LogRetrievalsAsync(IReadOnlyList<RetrievalEntry> entries, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        // A recall log is a convenience, not an acknowledged write: in WAL mode NORMAL skips the fsync at commit
        // (the log survives a process crash, and may lose its last entries to a power cut). The pooled handle goes
        // back to FULL before anyone else gets it.
        await ExecuteAsync(connection, "PRAGMA synchronous=NORMAL;", cancellationToken).ConfigureAwait(false);
        try
        {
            await WriteRetrievalsAsync(connection, entries, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await ExecuteAsync(connection, "PRAGMA synchronous=FULL;", CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task WriteRetrievalsAsync(SqliteConnection connection, IReadOnlyList<RetrievalEntry> entries, CancellationToken cancellationToken)
    {
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var insertRetrieval = Command(connection, tx, "INSERT OR IGNORE INTO retrievals(id, at, seq, request) VALUES($id, $at, $seq, $request);", "$id", "$at", "$seq", "$request");
        await using var insertHit = Command(connection, tx, "INSERT OR IGNORE INTO retrieval_hits(retrieval_id, rank, memory_id) VALUES($id, $rank, $memory);", "$id", "$rank", "$memory");
        foreach (var entry in entries)
        {
            // A recall that returned a memory forgotten since (in any process) is not logged at all: its query may quote it.
            var distinct = entry.ResultIds.Distinct(StringComparer.Ordinal).ToList();
            if (distinct.Count > 0)
            {
                await using var exists = connection.CreateCommand();
                exists.Transaction = tx;
                exists.CommandText = $"SELECT COUNT(*) FROM memories WHERE id IN ({AddList(exists, "$m", distinct)});";
                if (Convert.ToInt32(await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture) != distinct.Count)
                {
                    continue;
                }
            }

            await ExecuteAsync(insertRetrieval, cancellationToken, entry.Id, entry.At, entry.Seq, entry.RequestJson).ConfigureAwait(false);
            for (var i = 0; i < entry.ResultIds.Count; i++)
            {
                await ExecuteAsync(insertHit, cancellationToken, entry.Id, i + 1, entry.ResultIds[i]).ConfigureAwait(false);
            }
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A logged recall (when it ran, the change sequence then, its request), or <see langword="null"/> when the id is unknown.</summary>
    public async Task<(long At, long Seq, string RequestJson)?> GetRetrievalAsync(string id, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT at, seq, request FROM retrievals WHERE id=$id;";
        command.Parameters.AddWithValue("$id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
            ? (reader.GetInt64(0), reader.GetInt64(1), reader.GetString(2))
            : null;
    }

    private static string AddList(SqliteCommand command, string prefix, IEnumerable<string> values)
    {
        var names = new StringBuilder();
        var i = 0;
        foreach (var value in values)
        {
            var name = prefix + i.ToString(CultureInfo.InvariantCulture);
            if (i++ > 0) names.Append(',');
            names.Append(name);
            command.Parameters.AddWithValue(name, value);
        }

        return i == 0 ? "NULL" : names.ToString();
    }

    private static async Task ExecuteAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken, SqliteTransaction? tx = null, params (string Name, object Value)[] parameters)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<object?> ScalarAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken, SqliteTransaction? tx = null, params (string Name, object Value)[] parameters)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }
}
