using static Engram.Core.Storage.Postgres.PostgresDatabase;

namespace Engram.Core.Storage.Postgres;

/// <summary>The <c>anchors</c> table on PostgreSQL (see <see cref="Sqlite.SqliteAnchors"/>).</summary>
internal sealed class PostgresAnchors(PostgresDatabase database)
{
    /// <inheritdoc cref="IAnchorStore.SetAnchorsAsync"/>
    public Task SetAnchorsAsync(IReadOnlyList<(string MemoryId, IReadOnlyList<CodeAnchor> Anchors)> anchored, CancellationToken cancellationToken) =>
        database.WriteAsync(async (connection, tx) =>
        {
            var rows = anchored.SelectMany(m => m.Anchors.Select(a => (m.MemoryId, Anchor: a))).ToList();
            await ExecuteAsync(connection, tx, "DELETE FROM anchors WHERE memory_id = ANY($1)", cancellationToken, anchored.Select(m => m.MemoryId).ToArray()).ConfigureAwait(false);
            await ExecuteAsync(connection, tx, """
                INSERT INTO anchors(memory_id, path, blob, at, root)
                SELECT t.m, t.p, t.b, t.a, t.r FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) AS t(m, p, b, a, r)
                WHERE EXISTS (SELECT 1 FROM memories WHERE id = t.m)
                """, cancellationToken, rows.Select(r => r.MemoryId).ToArray(), rows.Select(r => r.Anchor.Path).ToArray(), rows.Select(r => r.Anchor.Blob).ToArray(),
                rows.Select(r => r.Anchor.At).ToArray(), rows.Select(r => r.Anchor.Root).ToArray()).ConfigureAwait(false);
            return 0;
        }, cancellationToken);

    /// <inheritdoc cref="IAnchorStore.AnchorsAsync"/>
    public async Task<Dictionary<string, List<CodeAnchor>>> AnchorsAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken) =>
        Sqlite.SqliteAnchors.Group(await database.ReadAsync(connection => QueryAsync(connection, null, "SELECT memory_id, path, blob, at, root FROM anchors WHERE memory_id = ANY($1)",
            r => (r.GetString(0), new CodeAnchor(r.GetString(1), r.GetString(2), r.GetInt64(3), r.GetString(4))), cancellationToken, ids.ToArray()), cancellationToken).ConfigureAwait(false));

    /// <inheritdoc cref="IAnchorStore.AnchorsInScopesAsync"/>
    public async Task<Dictionary<string, List<CodeAnchor>>> AnchorsInScopesAsync(IReadOnlyList<string> scopes, CancellationToken cancellationToken) =>
        Sqlite.SqliteAnchors.Group(await database.ReadAsync(connection => QueryAsync(connection, null, """
            SELECT a.memory_id, a.path, a.blob, a.at, a.root FROM anchors a JOIN memories m ON m.id = a.memory_id
            WHERE m.scope = ANY($1) AND m.superseded_by IS NULL
            """, r => (r.GetString(0), new CodeAnchor(r.GetString(1), r.GetString(2), r.GetInt64(3), r.GetString(4))), cancellationToken, scopes.ToArray()), cancellationToken).ConfigureAwait(false));
}
