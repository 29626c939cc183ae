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
    public Task<List<StoredCheck>> ChecksAsync(IReadOnlyList<string>? scopes, CancellationToken cancellationToken) =>
        database.SnapshotAsync(async (connection, tx) =>
        {
            var rows = await QueryAsync(connection, tx, $"""
                SELECT id, scope, query, scopes, within, created_at FROM checks {(scopes is null ? "" : "WHERE scope = ANY($1)")} ORDER BY created_at, id
                """, r => (r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt32(4), r.GetInt64(5)), cancellationToken,
                scopes is null ? [] : [scopes.ToArray()]).ConfigureAwait(false);
            var expects = (await QueryAsync(connection, tx, "SELECT check_id, memory_id FROM check_memories WHERE check_id = ANY($1) ORDER BY check_id, ord",
                r => (Check: r.GetString(0), Memory: r.GetString(1)), cancellationToken, rows.Select(r => r.Item1).ToArray()).ConfigureAwait(false))
                .ToLookup(e => e.Check, e => e.Memory, StringComparer.Ordinal);
            return rows.Select(r => Sqlite.SqliteChecks.Row(r.Item1, r.Item2, r.Item3, r.Item4, r.Item5, r.Item6, expects[r.Item1].ToList())).ToList();
        }, cancellationToken);

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
