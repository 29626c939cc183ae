using System.Text.Json;
using Engram.Core.Model;
using Npgsql;
using static Engram.Core.Storage.Postgres.PostgresDatabase;

namespace Engram.Core.Storage.Postgres;

/// <summary>
/// The rest of the store on PostgreSQL: the append-only forget audit, figures and checks, a forget's residue, the
/// rewrite of the tables that holds no deleted bytes (<see cref="CompactAsync"/>), and the principals' tokens.
/// </summary>
internal sealed class PostgresAdministration(PostgresDatabase database)
{
    /// <summary>The tables that hold memory text or what derives from it: what <see cref="CompactAsync"/> rewrites.</summary>
    public static readonly string[] MemoryTables = ["memories", "memory_tags", "memory_entities", "embeddings", "anchors", "checks", "check_memories", "changes", "retrievals", "retrieval_hits"];

    /// <summary>Records a real forget within its transaction: when, the selector kind (its wire string), the scopes and the ids deleted (never content).</summary>
    public static Task AppendForgetAuditAsync(NpgsqlConnection connection, NpgsqlTransaction tx, long at, ForgetSelector selector, IReadOnlyList<string> scopes, string? principal, List<string> deleted, CancellationToken cancellationToken) =>
        ExecuteAsync(connection, tx, "INSERT INTO forget_audit(at, selector, scopes, ids, count, dry_run, principal) VALUES($1, $2, $3, $4, $5, false, $6)", cancellationToken,
            at, WireName.Of(selector), JsonSerializer.Serialize(scopes), JsonSerializer.Serialize(deleted), deleted.Count, principal);

    /// <inheritdoc cref="IForgetAudit.ReadForgetAuditAsync"/>
    public async Task<IReadOnlyList<ForgetAuditRow>> ReadForgetAuditAsync(CancellationToken cancellationToken) =>
        await database.ReadAsync(connection => QueryAsync(connection, null, "SELECT at, selector, scopes, ids, count, principal FROM forget_audit ORDER BY seq", r => new ForgetAuditRow(
            DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(0)), WireName.Parse<ForgetSelector>(r.GetString(1)), r.GetString(2), r.GetString(3), r.GetInt32(4), r.IsDBNull(5) ? null : r.GetString(5)), cancellationToken), cancellationToken).ConfigureAwait(false);

    /// <summary>The bytes of the tables that hold memories and what derives from them, with their indexes and TOAST.</summary>
    public Task<long> SizeAsync(CancellationToken cancellationToken) =>
        database.ReadAsync(async connection => Convert.ToInt64(await ScalarAsync(connection, null,
            "SELECT COALESCE(SUM(pg_total_relation_size(t::regclass)), 0) FROM unnest($1::text[]) AS t", cancellationToken, MemoryTables).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture), cancellationToken);

    /// <inheritdoc cref="IStoreMaintenance.CountAsync"/>
    public Task<int> CountAsync(CancellationToken cancellationToken) =>
        database.ReadAsync(async connection => Convert.ToInt32(await ScalarAsync(connection, null, "SELECT COUNT(*) FROM memories", cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture), cancellationToken);

    /// <inheritdoc cref="IStoreMaintenance.StatsAsync"/>
    public Task<StoreCounts> StatsAsync(CancellationToken cancellationToken) =>
        database.SnapshotAsync(async (connection, tx) =>
        {
            var scopes = await QueryAsync(connection, tx, "SELECT scope, COUNT(*)::int, COUNT(superseded_by)::int, MAX(created_at) FROM memories GROUP BY scope ORDER BY scope",
                r => new ScopeCounts(r.GetString(0), r.GetInt32(1), r.GetInt32(2), r.GetInt64(3)), cancellationToken).ConfigureAwait(false);
            var vectors = (await QueryAsync(connection, tx, "SELECT model, COUNT(*)::int FROM embeddings GROUP BY model ORDER BY model", r => (r.GetString(0), r.GetInt32(1)), cancellationToken).ConfigureAwait(false))
                .ToDictionary(x => x.Item1, x => x.Item2, StringComparer.Ordinal);
            var forgets = Convert.ToInt32(await ScalarAsync(connection, tx, "SELECT COUNT(*) FROM forget_audit", cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
            return new StoreCounts(scopes, vectors, forgets);
        }, cancellationToken);

    /// <summary>
    /// PostgreSQL checks its own pages and keys; this checks what it cannot: supersession links that point at a
    /// memory that is gone or in another scope. "ok" when clean.
    /// </summary>
    public Task<string> IntegrityAsync(CancellationToken cancellationToken) =>
        database.ReadAsync(async connection =>
        {
            var dangling = Convert.ToInt64(await ScalarAsync(connection, null, """
                SELECT COUNT(*) FROM memories m LEFT JOIN memories s ON s.id = m.superseded_by
                WHERE m.superseded_by IS NOT NULL AND (s.id IS NULL OR s.scope <> m.scope)
                """, cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
            return dangling == 0 ? "ok" : $"{dangling} memories are marked superseded by a memory that is gone or in another scope";
        }, cancellationToken);

    /// <inheritdoc cref="IStoreMaintenance.CountResidueAsync"/>
    public Task<ResidueCounts> CountResidueAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken) =>
        database.SnapshotAsync(async (connection, tx) => (await QueryAsync(connection, tx, """
            SELECT (SELECT COUNT(*) FROM memories WHERE id = ANY($1))::int,
                   (SELECT COUNT(*) FROM memory_tags WHERE memory_id = ANY($1))::int,
                   (SELECT COUNT(*) FROM memory_entities WHERE memory_id = ANY($1))::int,
                   (SELECT COUNT(*) FROM embeddings WHERE memory_id = ANY($1))::int,
                   (SELECT COUNT(*) FROM retrieval_hits WHERE memory_id = ANY($1))::int,
                   (SELECT COUNT(DISTINCT check_id) FROM check_memories WHERE memory_id = ANY($1))::int
            """, r => new ResidueCounts(r.GetInt32(0), r.GetInt32(1), r.GetInt32(2), r.GetInt32(3), r.GetInt32(4), r.GetInt32(5)), cancellationToken, ids.ToArray()).ConfigureAwait(false))[0], cancellationToken);

    /// <summary>
    /// Rewrites every table that holds memory text (<c>VACUUM FULL</c>): a deleted row's bytes stay in its page until the
    /// page is rewritten, and this writes new files holding live rows only and removes the old ones. It takes an
    /// exclusive lock on each table while it runs, so servers wait (they do not fail) for its length. The write-ahead
    /// log is not rewritten: its old segments are recycled at the next checkpoints, which this asks for.
    /// </summary>
    /// <remarks>
    /// A deleted row is still visible to a transaction of this database that began before the delete, and
    /// <c>VACUUM FULL</c> copies every row some transaction may still see into the new files; a writing transaction of
    /// another database of the server holds it back as well. So the rewrite first waits, up to
    /// <paramref name="patience"/>, for every such transaction that was running when it began to end.
    /// </remarks>
    /// <returns>Whether it could wait for them: false when one stayed open throughout, so deleted rows it could still see
    /// may have been copied (run it again once it has ended).</returns>
    public Task<bool> CompactAsync(TimeSpan patience, CancellationToken cancellationToken) =>
        database.ReadAsync(async connection =>
        {
            var horizon = (string)(await ScalarAsync(connection, null, "SELECT pg_snapshot_xmax(pg_current_snapshot())::text", cancellationToken).ConfigureAwait(false))!;
            var quiet = await WaitForOlderTransactionsAsync(connection, horizon, patience, cancellationToken).ConfigureAwait(false);
            foreach (var table in MemoryTables)
            {
                await using var command = Command(connection, null, $"VACUUM (FULL, ANALYZE) {table}");
                command.CommandTimeout = 0;
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            try
            {
                await ExecuteAsync(connection, null, "CHECKPOINT", cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException e) when (e.SqlState == "42501")
            {
                // Only a superuser (or pg_checkpoint) may ask for one; the server's own checkpoints come soon enough.
            }

            return quiet;
        }, cancellationToken);

    /// <summary>
    /// Waits until no other session holds a snapshot of this database, or runs a writing transaction in any database of
    /// the server, older than <paramref name="horizon"/>: a running transaction of another database holds back what
    /// <c>VACUUM FULL</c> here may drop too (measured: a deleted row was copied while one was open), a snapshot there
    /// does not. Other roles' sessions are seen with <c>pg_read_all_stats</c> (a superuser sees them all).
    /// </summary>
    private static async Task<bool> WaitForOlderTransactionsAsync(NpgsqlConnection connection, string horizon, TimeSpan patience, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + patience;
        while (true)
        {
            var older = Convert.ToInt64(await ScalarAsync(connection, null, """
                SELECT COUNT(*) FROM pg_stat_activity, (SELECT xid($1::text::xid8) AS h) x
                WHERE pid <> pg_backend_pid()
                  AND ((datname = current_database() AND backend_xmin IS NOT NULL AND age(backend_xmin) > age(x.h))
                       OR (backend_xid IS NOT NULL AND age(backend_xid) > age(x.h)))
                """, cancellationToken, horizon).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
            if (older == 0)
            {
                return true;
            }

            if (DateTimeOffset.UtcNow >= deadline)
            {
                return false;
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc cref="IPrincipalStore.AddTokenAsync"/>
    public Task AddTokenAsync(StoredToken token, CancellationToken cancellationToken) =>
        database.ReadAsync(connection => ExecuteAsync(connection, null, "INSERT INTO tokens(id, hash, principal, scopes, created_at, revoked_at) VALUES($1, $2, $3, $4, $5, $6)", cancellationToken,
            token.Id, token.Hash, token.Principal, token.Scopes.ToArray(), token.CreatedAt, token.RevokedAt), cancellationToken);

    /// <inheritdoc cref="IPrincipalStore.ListTokensAsync"/>
    public async Task<IReadOnlyList<StoredToken>> ListTokensAsync(CancellationToken cancellationToken) =>
        await database.ReadAsync(connection => QueryAsync(connection, null, "SELECT id, hash, principal, scopes, created_at, revoked_at FROM tokens ORDER BY created_at, id", ReadToken, cancellationToken), cancellationToken).ConfigureAwait(false);

    /// <inheritdoc cref="IPrincipalStore.RevokeTokensAsync"/>
    public Task<int> RevokeTokensAsync(string idOrPrincipal, long at, CancellationToken cancellationToken) =>
        database.ReadAsync(connection => ExecuteAsync(connection, null, "UPDATE tokens SET revoked_at = $2 WHERE (id = $1 OR principal = $1) AND revoked_at IS NULL", cancellationToken, idOrPrincipal, at), cancellationToken);

    /// <inheritdoc cref="IPrincipalStore.FindTokenAsync"/>
    public async Task<StoredToken?> FindTokenAsync(string hash, CancellationToken cancellationToken)
    {
        var rows = await database.ReadAsync(connection => QueryAsync(connection, null, "SELECT id, hash, principal, scopes, created_at, revoked_at FROM tokens WHERE hash = $1 AND revoked_at IS NULL", ReadToken, cancellationToken, hash), cancellationToken).ConfigureAwait(false);
        return rows.Count > 0 ? rows[0] : null;
    }

    private static StoredToken ReadToken(NpgsqlDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetFieldValue<string[]>(3), r.GetInt64(4), r.IsDBNull(5) ? null : r.GetInt64(5));
}
