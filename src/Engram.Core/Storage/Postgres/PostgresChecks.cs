using System.Text.Json;
using Npgsql;
using static Engram.Core.Storage.Postgres.PostgresDatabase;

namespace Engram.Core.Storage.Postgres;

/// <summary>The <c>checks</c> and <c>check_memories</c> tables on PostgreSQL (see <see cref="Sqlite.SqliteChecks"/>).</summary>
internal sealed class PostgresChecks(PostgresDatabase database)
{
    /// <inheritdoc cref="IRecallCheckStore.AddCheckAsync"/>
    /// <remarks>Under the feed lock, as a forget is: a memory cannot go between the check's test for it and its link.</remarks>
    public Task<bool> AddCheckAsync(StoredCheck check, CancellationToken cancellationToken) =>
        database.WriteAsync(async (connection, tx) =>
        {
            if (await ExecuteAsync(connection, tx, """
                INSERT INTO checks(id, scope, query, scopes, within, created_at) VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT(id) DO NOTHING
                """, cancellationToken, check.Id, check.Scope, check.Query, JsonSerializer.Serialize(check.Scopes), check.Within, check.CreatedAt).ConfigureAwait(false) == 0)
            {
                return false;
            }

            var linked = await ExecuteAsync(connection, tx, """
                INSERT INTO check_memories(check_id, memory_id, ord)
                SELECT $1, t.m, t.o - 1 FROM unnest($2::text[]) WITH ORDINALITY AS t(m, o) WHERE EXISTS (SELECT 1 FROM memories WHERE id = t.m)
                """, cancellationToken, check.Id, check.Expect.ToArray()).ConfigureAwait(false);
            if (linked == check.Expect.Count)
            {
                return true;
            }

            await ExecuteAsync(connection, tx, "DELETE FROM checks WHERE id = $1", cancellationToken, check.Id).ConfigureAwait(false);
            return false;
        }, cancellationToken);

    /// <inheritdoc cref="IRecallCheckStore.ChecksAsync"/>
    public async Task<List<StoredCheck>> ChecksAsync(IReadOnlyList<string>? scopes, CancellationToken cancellationToken) =>
        CheckRows.Grouped(await database.ReadAsync(connection => QueryAsync(connection, null, $"""
            SELECT c.id, c.scope, c.query, c.scopes, c.within, c.created_at, m.memory_id
            FROM checks c JOIN check_memories m ON m.check_id = c.id
            {(scopes is null ? "" : "WHERE c.scope = ANY($1)")}
            ORDER BY c.created_at, c.id, m.ord
            """, CheckRows.Read, cancellationToken, scopes is null ? [] : [scopes.ToArray()]), cancellationToken).ConfigureAwait(false));

    /// <inheritdoc cref="IRecallCheckStore.RemoveCheckAsync"/>
    public async Task<bool> RemoveCheckAsync(string id, CancellationToken cancellationToken) =>
        await database.WriteAsync((connection, tx) => ExecuteAsync(connection, tx, "DELETE FROM checks WHERE id = $1", cancellationToken, id), cancellationToken).ConfigureAwait(false) > 0;

    /// <inheritdoc cref="IRecallCheckStore.CountChecksAsync"/>
    public async Task<int> CountChecksAsync(IReadOnlyCollection<string> memoryIds, IReadOnlyList<string> homeScopes, CancellationToken cancellationToken) =>
        Convert.ToInt32(await database.ReadAsync(connection => ScalarAsync(connection, null, $"SELECT COUNT(*) FROM checks WHERE {Naming}", cancellationToken,
            memoryIds.ToArray(), homeScopes.ToArray()), cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Within a forget's transaction: removes the checks naming <paramref name="memoryIds"/> or living in <paramref name="homeScopes"/>; returns how many.</summary>
    public static Task<int> DeleteAsync(NpgsqlConnection connection, NpgsqlTransaction tx, IReadOnlyCollection<string> memoryIds, IReadOnlyList<string> homeScopes, CancellationToken cancellationToken) =>
        ExecuteAsync(connection, tx, $"DELETE FROM checks WHERE {Naming}", cancellationToken, memoryIds.ToArray(), homeScopes.ToArray());

    private const string Naming = "id IN (SELECT check_id FROM check_memories WHERE memory_id = ANY($1)) OR scope = ANY($2)";
}
