using Microsoft.Data.Sqlite;
using static Engram.Core.Storage.Sqlite.SqliteDatabase;

namespace Engram.Core.Storage.Sqlite;

/// <summary>Creates the schema, or brings an older one to <see cref="SchemaVersion"/> (kept in <c>PRAGMA user_version</c>).</summary>
internal static class SqliteMigrations
{
    /// <summary>The schema this code writes.</summary>
    public const int SchemaVersion = 8;

    /// <summary>Opens (creating or migrating) the schema of <paramref name="database"/>.</summary>
    public static async Task ApplyAsync(SqliteDatabase database, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var version = ToInt32(await ScalarAsync(connection, "PRAGMA user_version;", cancellationToken).ConfigureAwait(false));
        if (version > SchemaVersion)
        {
            throw new InvalidOperationException(
                $"The store at {database.Path} was written by a newer Engram (schema {version}; this one knows {SchemaVersion}). Update Engram to open it.");
        }

        await ExecuteAsync(connection, "PRAGMA journal_mode=WAL;", cancellationToken).ConfigureAwait(false);
        if (version == SchemaVersion)
        {
            await EnsureObservedIndexAsync(connection, cancellationToken).ConfigureAwait(false);
            return;
        }

        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        // Another process may have created or migrated the schema while this one waited for the write lock.
        version = ToInt32(await ScalarAsync(connection, "PRAGMA user_version;", cancellationToken, tx).ConfigureAwait(false));
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
            await ExecuteAsync(connection, SchemaV4, cancellationToken, tx).ConfigureAwait(false);
        }

        if (version < 5)
        {
            await ExecuteAsync(connection, SchemaV5, cancellationToken, tx).ConfigureAwait(false);
        }

        if (version < 6)
        {
            // Schema 6: who forgot (a shared server's principal; null for the store's own user and earlier forgets).
            await ExecuteAsync(connection, "ALTER TABLE forget_audit ADD COLUMN principal TEXT NULL;", cancellationToken, tx).ConfigureAwait(false);
        }

        if (version < 7)
        {
            // Schema 7: the files a memory names in the project's work tree, with their git blob hashes (no content).
            await ExecuteAsync(connection, """
                CREATE TABLE anchors(
                    memory_id TEXT NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
                    path TEXT NOT NULL,
                    blob TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    root TEXT NOT NULL,
                    PRIMARY KEY(memory_id, path)) WITHOUT ROWID;
                """, cancellationToken, tx).ConfigureAwait(false);
        }

        if (version < 8)
        {
            // Schema 8: saved recall checks; a check goes with any memory it expects (forget deletes it first: a memory still
            // expected by a check cannot be deleted, so no path can leave a check shrunk).
            await ExecuteAsync(connection, """
                CREATE TABLE checks(
                    id TEXT NOT NULL PRIMARY KEY,
                    scope TEXT NOT NULL,
                    query TEXT NOT NULL,
                    scopes TEXT NOT NULL,
                    within INTEGER NOT NULL,
                    created_at INTEGER NOT NULL);
                CREATE INDEX ix_checks_scope ON checks(scope);
                CREATE TABLE check_memories(
                    check_id TEXT NOT NULL REFERENCES checks(id) ON DELETE CASCADE,
                    memory_id TEXT NOT NULL REFERENCES memories(id) ON DELETE RESTRICT,
                    ord INTEGER NOT NULL,
                    PRIMARY KEY(check_id, memory_id)) WITHOUT ROWID;
                CREATE INDEX ix_check_memories_memory ON check_memories(memory_id);
                """, cancellationToken, tx).ConfigureAwait(false);
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
                await using var command = Command(connection, null, $"CREATE INDEX IF NOT EXISTS {Name} ON memories(scope, observed_at);");
                command.CommandTimeout = 1; // Microsoft.Data.Sqlite retries a busy statement until the command's time-out.
                return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (SqliteException e) when (e.SqliteErrorCode is 5 or 6 or 8)
        {
            // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY.
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

        List<(string Id, string Scope, string Content)> rows;
        await using (var select = Command(connection, tx, "SELECT id, scope, content FROM memories ORDER BY rowid;"))
        {
            rows = await ReadAsync(select, r => (r.GetString(0), r.GetString(1), r.GetString(2)), cancellationToken).ConfigureAwait(false);
        }

        await using var insert = SqliteEntities.InsertLink(connection, tx);
        foreach (var (id, scope, content) in rows)
        {
            foreach (var entity in Curation.EntityExtractor.Extract(content))
            {
                await ExecuteAsync(insert, cancellationToken, scope, entity, id).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Schema 4: a memory may hold vectors of several models (a re-embedding fills the new model's beside the old), and
    /// each scope records, per model, its dimension and whether its vectors are ready (complete once, then kept up).
    /// A scope whose memories all had a model's vectors is ready for that model.
    /// </summary>
    private const string SchemaV4 = """
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
        """;

    /// <summary>
    /// Schema 5: the bearer tokens of a shared server's principals. Only a token's hash is kept (hex SHA-256, unique), so
    /// the secret cannot be read back; <c>scopes</c> is a JSON array of the scope patterns it may use.
    /// </summary>
    private const string SchemaV5 = """
        CREATE TABLE tokens(
            id TEXT NOT NULL PRIMARY KEY,
            hash TEXT NOT NULL UNIQUE,
            principal TEXT NOT NULL,
            scopes TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            revoked_at INTEGER NULL);
        CREATE INDEX ix_tokens_principal ON tokens(principal);
        """;
}
