using Npgsql;
using static Engram.Core.Storage.Postgres.PostgresDatabase;

namespace Engram.Core.Storage.Postgres;

/// <summary>
/// Creates the schema, or brings an older one to <see cref="SchemaVersion"/>, kept in the <c>engram_schema</c> table with
/// the store's id (a random UUID: the folder its servers keep their caches in is named by it, so a database dropped and
/// created again never meets an old cache).
/// </summary>
internal static class PostgresMigrations
{
    /// <summary>The schema this code writes.</summary>
    public const int SchemaVersion = 4;

    /// <summary>Opens (creating or migrating) the schema; returns the store's id.</summary>
    /// <remarks>Servers starting together on an empty database: one creates the schema, the others wait for its lock and find it.</remarks>
    public static Task<string> ApplyAsync(PostgresDatabase database, CancellationToken cancellationToken) =>
        database.LockedAsync(SchemaLockKey, (connection, tx) => ApplyAsync(database, connection, tx, cancellationToken), cancellationToken);

    private static async Task<string> ApplyAsync(PostgresDatabase database, NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken cancellationToken)
    {
        await ExecuteAsync(connection, tx, "CREATE TABLE IF NOT EXISTS engram_schema(version integer NOT NULL, store_id text NOT NULL)", cancellationToken).ConfigureAwait(false);
        var rows = await QueryAsync(connection, tx, "SELECT version, store_id FROM engram_schema", r => (Version: r.GetInt32(0), StoreId: r.GetString(1)), cancellationToken).ConfigureAwait(false);
        if (rows.Count > 0 && rows[0].Version > SchemaVersion)
        {
            throw new InvalidOperationException(
                $"The store at {database.Location.Display} was written by a newer Engram (schema {rows[0].Version}; this one knows {SchemaVersion}). Update Engram to open it.");
        }

        string storeId;
        int version;
        if (rows.Count == 0)
        {
            storeId = Guid.NewGuid().ToString("N");
            version = 1;
            await ExecuteAsync(connection, tx, SchemaV1, cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(connection, tx, "INSERT INTO engram_schema(version, store_id) VALUES($1, $2)", cancellationToken, version, storeId).ConfigureAwait(false);
        }
        else
        {
            (version, storeId) = rows[0];
        }

        // Later versions migrate here, step by step.
        if (version < 2)
        {
            await ExecuteAsync(connection, tx, SchemaV2, cancellationToken).ConfigureAwait(false);
        }

        if (version < 3)
        {
            await ExecuteAsync(connection, tx, SchemaV3, cancellationToken).ConfigureAwait(false);
        }

        if (version < 4)
        {
            await ExecuteAsync(connection, tx, SchemaV4, cancellationToken).ConfigureAwait(false);
        }

        if (version < SchemaVersion)
        {
            await ExecuteAsync(connection, tx, "UPDATE engram_schema SET version = $1", cancellationToken, SchemaVersion).ConfigureAwait(false);
        }

        return storeId;
    }

    /// <summary>
    /// Schema 4: saved recall checks; a check goes with any memory it expects (forget deletes it first: a memory still
    /// expected by a check cannot be deleted, so no path can leave a check shrunk). Its query keeps no planner statistics.
    /// </summary>
    private const string SchemaV4 = """
        CREATE TABLE checks(
            id text NOT NULL PRIMARY KEY,
            scope text NOT NULL,
            query text NOT NULL,
            scopes text NOT NULL,
            within integer NOT NULL,
            created_at bigint NOT NULL);
        CREATE INDEX ix_checks_scope ON checks(scope);
        ALTER TABLE checks ALTER COLUMN query SET STATISTICS 0;
        CREATE TABLE check_memories(
            check_id text NOT NULL REFERENCES checks(id) ON DELETE CASCADE,
            memory_id text NOT NULL REFERENCES memories(id) ON DELETE RESTRICT,
            ord integer NOT NULL,
            PRIMARY KEY(check_id, memory_id));
        CREATE INDEX ix_check_memories_memory ON check_memories(memory_id);
        """;

    /// <summary>Schema 3: the files a memory names in the project's work tree, with their git blob hashes (no content).</summary>
    private const string SchemaV3 = """
        CREATE TABLE anchors(
            memory_id text NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            path text NOT NULL,
            blob text NOT NULL,
            at bigint NOT NULL,
            root text NOT NULL,
            PRIMARY KEY(memory_id, path));
        ALTER TABLE anchors ALTER COLUMN path SET STATISTICS 0;
        """;

    /// <summary>Schema 2: who forgot (a shared server's principal; null for the store's own user and earlier forgets).</summary>
    private const string SchemaV2 = "ALTER TABLE forget_audit ADD COLUMN principal text NULL";

    /// <summary>
    /// Schema 1: SQLite's schema 4 (and its tokens) in PostgreSQL's terms. <c>ord</c> is the insertion order SQLite's
    /// rowid gives; vectors are little-endian float32 in <c>bytea</c>, scanned per process as on SQLite. The columns
    /// holding memory text (or what is taken from it) keep no planner statistics: <c>ANALYZE</c> would copy sample values
    /// into <c>pg_statistic</c>, where a forget and <c>compact</c> cannot reach them.
    /// </summary>
    private const string SchemaV1 = """
        CREATE TABLE memories(
            ord bigint GENERATED ALWAYS AS IDENTITY,
            id text NOT NULL PRIMARY KEY,
            scope text NOT NULL,
            content text NOT NULL,
            content_hash text NOT NULL,
            observed_at bigint NOT NULL,
            created_at bigint NOT NULL,
            superseded_by text NULL,
            superseded_at bigint NULL);
        CREATE UNIQUE INDEX ux_memories_scope_hash ON memories(scope, content_hash);
        CREATE UNIQUE INDEX ux_memories_ord ON memories(ord);
        CREATE INDEX ix_memories_superseded_by ON memories(superseded_by);
        CREATE INDEX ix_memories_scope_ord ON memories(scope, ord);
        CREATE INDEX ix_memories_scope_observed ON memories(scope, observed_at);
        CREATE TABLE memory_tags(
            memory_id text NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            tag text NOT NULL,
            PRIMARY KEY(memory_id, tag));
        CREATE INDEX ix_memory_tags_tag ON memory_tags(tag);
        CREATE TABLE embeddings(
            memory_id text NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            model text NOT NULL,
            vector bytea NOT NULL,
            PRIMARY KEY(memory_id, model));
        CREATE INDEX ix_embeddings_model ON embeddings(model);
        CREATE TABLE scope_embeddings(
            scope text NOT NULL,
            model text NOT NULL,
            dimensions integer NOT NULL,
            ready_at bigint NULL,
            PRIMARY KEY(scope, model));
        CREATE TABLE changes(
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            memory_id text NOT NULL,
            scope text NOT NULL,
            deleted boolean NOT NULL,
            at bigint NOT NULL);
        CREATE TABLE retrievals(
            id text NOT NULL PRIMARY KEY,
            at bigint NOT NULL,
            seq bigint NOT NULL,
            request text NOT NULL);
        CREATE TABLE retrieval_hits(
            retrieval_id text NOT NULL REFERENCES retrievals(id) ON DELETE CASCADE,
            rank integer NOT NULL,
            memory_id text NOT NULL,
            PRIMARY KEY(retrieval_id, rank));
        CREATE INDEX ix_retrieval_hits_memory ON retrieval_hits(memory_id);
        CREATE TABLE memory_entities(
            scope text NOT NULL,
            entity text NOT NULL,
            memory_id text NOT NULL REFERENCES memories(id) ON DELETE CASCADE,
            PRIMARY KEY(scope, entity, memory_id));
        CREATE INDEX ix_memory_entities_memory ON memory_entities(memory_id);
        CREATE TABLE forget_audit(
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at bigint NOT NULL,
            selector text NOT NULL,
            scopes text NOT NULL,
            ids text NOT NULL,
            count integer NOT NULL,
            dry_run boolean NOT NULL);
        CREATE FUNCTION engram_forget_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'forget_audit is append-only'; END $$;
        CREATE TRIGGER forget_audit_append_only BEFORE UPDATE OR DELETE ON forget_audit
            FOR EACH ROW EXECUTE FUNCTION engram_forget_audit_append_only();
        CREATE TRIGGER forget_audit_no_truncate BEFORE TRUNCATE ON forget_audit
            FOR EACH STATEMENT EXECUTE FUNCTION engram_forget_audit_append_only();
        CREATE TABLE tokens(
            id text NOT NULL PRIMARY KEY,
            hash text NOT NULL UNIQUE,
            principal text NOT NULL,
            scopes text[] NOT NULL,
            created_at bigint NOT NULL,
            revoked_at bigint NULL);
        CREATE INDEX ix_tokens_principal ON tokens(principal);
        ALTER TABLE memories ALTER COLUMN content SET STATISTICS 0;
        ALTER TABLE retrievals ALTER COLUMN request SET STATISTICS 0;
        ALTER TABLE memory_entities ALTER COLUMN entity SET STATISTICS 0;
        ALTER TABLE memory_tags ALTER COLUMN tag SET STATISTICS 0;
        """;
}
