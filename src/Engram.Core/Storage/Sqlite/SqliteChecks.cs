using System.Text.Json;
using Microsoft.Data.Sqlite;
using static Engram.Core.Storage.Sqlite.SqliteDatabase;

namespace Engram.Core.Storage.Sqlite;

/// <summary>The <c>checks</c> and <c>check_memories</c> tables: saved recall checks and the memories each expects.</summary>
internal sealed class SqliteChecks(SqliteDatabase database)
{
    /// <inheritdoc cref="IRecallCheckStore.AddCheckAsync"/>
    public async Task<bool> AddCheckAsync(StoredCheck check, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var add = Command(connection, tx, """
            INSERT INTO checks(id, scope, query, scopes, within, created_at) VALUES($id, $scope, $query, $scopes, $within, $at) ON CONFLICT(id) DO NOTHING;
            """, "$id", "$scope", "$query", "$scopes", "$within", "$at");
        if (await ExecuteAsync(add, cancellationToken, check.Id, check.Scope, check.Query, JsonSerializer.Serialize(check.Scopes), check.Within, check.CreatedAt).ConfigureAwait(false) == 0)
        {
            return false;
        }

        await using var expect = Command(connection, tx, """
            INSERT INTO check_memories(check_id, memory_id, ord) SELECT $check, $memory, $ord WHERE EXISTS (SELECT 1 FROM memories WHERE id = $memory);
            """, "$check", "$memory", "$ord");
        for (var i = 0; i < check.Expect.Count; i++)
        {
            if (await ExecuteAsync(expect, cancellationToken, check.Id, check.Expect[i], i).ConfigureAwait(false) == 0)
            {
                return false; // The transaction is rolled back when disposed.
            }
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <inheritdoc cref="IRecallCheckStore.ChecksAsync"/>
    public async Task<List<StoredCheck>> ChecksAsync(IReadOnlyList<string>? scopes, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, c => $"""
            SELECT c.id, c.scope, c.query, c.scopes, c.within, c.created_at, m.memory_id
            FROM checks c JOIN check_memories m ON m.check_id = c.id
            {(scopes is null ? "" : $"WHERE c.scope IN ({AddList(c, "$s", scopes)})")}
            ORDER BY c.created_at, c.id, m.ord;
            """);
        return CheckRows.Grouped(await ReadAsync(command, CheckRows.Read, cancellationToken).ConfigureAwait(false));
    }

    /// <inheritdoc cref="IRecallCheckStore.RemoveCheckAsync"/>
    public async Task<bool> RemoveCheckAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var remove = Command(connection, null, "DELETE FROM checks WHERE id = $id;", "$id");
        return await ExecuteAsync(remove, cancellationToken, id).ConfigureAwait(false) > 0;
    }

    /// <inheritdoc cref="IRecallCheckStore.CountChecksAsync"/>
    public async Task<int> CountChecksAsync(IReadOnlyCollection<string> memoryIds, IReadOnlyList<string> homeScopes, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var found = new HashSet<string>(StringComparer.Ordinal);
        foreach (var chunk in Chunks(memoryIds))
        {
            await using var command = Command(connection, null, c => $"SELECT id FROM checks WHERE {Naming(c, chunk, homeScopes)};");
            found.UnionWith(await ReadAsync(command, r => r.GetString(0), cancellationToken).ConfigureAwait(false));
        }

        return found.Count;
    }

    /// <summary>Within a forget's transaction: removes the checks naming <paramref name="memoryIds"/> or living in <paramref name="homeScopes"/>; returns how many.</summary>
    public static async Task<int> DeleteAsync(SqliteConnection connection, SqliteTransaction tx, IReadOnlyCollection<string> memoryIds, IReadOnlyList<string> homeScopes, CancellationToken cancellationToken)
    {
        var removed = 0;
        foreach (var chunk in Chunks(memoryIds))
        {
            await using var command = Command(connection, tx, c => $"DELETE FROM checks WHERE {Naming(c, chunk, homeScopes)};");
            removed += await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return removed;
    }

    /// <summary>The ids in chunks a statement can bind; one empty chunk when there are none (the home scopes still count).</summary>
    private static IEnumerable<string[]> Chunks(IReadOnlyCollection<string> ids) => ids.Count == 0 ? [[]] : ids.Chunk(500);

    private static string Naming(SqliteCommand command, IEnumerable<string> memoryIds, IReadOnlyList<string> homeScopes) =>
        $"id IN (SELECT check_id FROM check_memories WHERE memory_id IN ({AddList(command, "$m", memoryIds)})) OR scope IN ({AddList(command, "$h", homeScopes)})";
}
