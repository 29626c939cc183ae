using Microsoft.Data.Sqlite;
using static Engram.Core.Storage.Sqlite.SqliteDatabase;

namespace Engram.Core.Storage.Sqlite;

/// <summary>The <c>retrievals</c> and <c>retrieval_hits</c> tables: the recall log.</summary>
internal sealed class SqliteRecallLog(SqliteDatabase database)
{
    /// <inheritdoc cref="IRecallLogStore.LogRetrievalsAsync"/>
    public async Task LogRetrievalsAsync(IReadOnlyList<RetrievalEntry> entries, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        // A recall log is a convenience, not an acknowledged write: in WAL mode NORMAL skips the fsync at commit
        // (the log survives a process crash, and may lose its last entries to a power cut). The pooled handle goes
        // back to FULL before anyone else gets it.
        await WithoutCommitSyncAsync(connection, () => WriteAsync(connection, entries, cancellationToken), cancellationToken).ConfigureAwait(false);
    }

    private static async Task WriteAsync(SqliteConnection connection, IReadOnlyList<RetrievalEntry> entries, CancellationToken cancellationToken)
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
                await using var exists = Command(connection, tx, c => $"SELECT COUNT(*) FROM memories WHERE id IN ({AddList(c, "$m", distinct)});");
                if (ToInt32(await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false)) != distinct.Count)
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

    /// <inheritdoc cref="IRecallLogStore.GetRetrievalAsync"/>
    public async Task<LoggedRetrieval?> GetRetrievalAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, "SELECT at, seq, request FROM retrievals WHERE id=$id;", "$id");
        Bind(command, id);
        var rows = await ReadAsync(command, r => new LoggedRetrieval(r.GetInt64(0), r.GetInt64(1), r.GetString(2)), cancellationToken).ConfigureAwait(false);
        return rows.Count > 0 ? rows[0] : null;
    }

    /// <inheritdoc cref="IRecallLogStore.ListRetrievalsAsync"/>
    public async Task<IReadOnlyList<LoggedRecall>> ListRetrievalsAsync(string? memoryId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, $"""
            SELECT r.id, r.at, r.request, (SELECT COUNT(*) FROM retrieval_hits h WHERE h.retrieval_id = r.id) FROM retrievals r
            {(memoryId is null ? "WHERE $memory IS NULL" : "WHERE r.id IN (SELECT retrieval_id FROM retrieval_hits WHERE memory_id = $memory)")}
            ORDER BY r.at DESC, r.rowid DESC LIMIT $limit;
            """, "$memory", "$limit");
        Bind(command, (object?)memoryId ?? DBNull.Value, limit);
        return await ReadAsync(command, r => new LoggedRecall(r.GetString(0), r.GetInt64(1), r.GetString(2), r.GetInt32(3)), cancellationToken).ConfigureAwait(false);
    }
}
