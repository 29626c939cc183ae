using static Engram.Core.Storage.Postgres.PostgresDatabase;

namespace Engram.Core.Storage.Postgres;

/// <summary>The <c>anchors</c> table on PostgreSQL (see <see cref="Sqlite.SqliteAnchors"/>).</summary>
internal sealed class PostgresAnchors(PostgresDatabase database)
{
    /// <inheritdoc cref="IAnchorStore.SetAnchorsAsync"/>
    public Task SetAnchorsAsync(string memoryId, IReadOnlyList<CodeAnchor> anchors, CancellationToken cancellationToken) =>
        database.WriteAsync(async (connection, tx) =>
        {
            await ExecuteAsync(connection, tx, "DELETE FROM anchors WHERE memory_id = $1", cancellationToken, memoryId).ConfigureAwait(false);
            await ExecuteAsync(connection, tx, """
                INSERT INTO anchors(memory_id, path, blob, at, root)
                SELECT $1, p, b, a, r FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[]) AS t(p, b, a, r) WHERE EXISTS (SELECT 1 FROM memories WHERE id = $1)
                """, cancellationToken, memoryId, anchors.Select(a => a.Path).ToArray(), anchors.Select(a => a.Blob).ToArray(), anchors.Select(a => a.At).ToArray(), anchors.Select(a => a.Root).ToArray()).ConfigureAwait(false);
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
