using static Engram.Core.Storage.Postgres.PostgresDatabase;

namespace Engram.Core.Storage.Postgres;

/// <summary>The <c>retrievals</c> and <c>retrieval_hits</c> tables on PostgreSQL: the recall log.</summary>
internal sealed class PostgresRecallLog(PostgresDatabase database)
{
    /// <inheritdoc cref="IRecallLogStore.LogRetrievalsAsync"/>
    public Task LogRetrievalsAsync(IReadOnlyList<RetrievalEntry> entries, CancellationToken cancellationToken) =>
        database.ReadAsync(async connection =>
        {
            await using var tx = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            // A recall log is a convenience, not an acknowledged write: no wait for the WAL flush at commit.
            await ExecuteAsync(connection, tx, "SET LOCAL synchronous_commit = off", cancellationToken).ConfigureAwait(false);
            foreach (var entry in entries)
            {
                // A recall that returned a memory forgotten since (on any server) is not logged at all: its query may
                // quote it. The rows are key-share locked, so a forget running now waits for this log, and then
                // deletes it with the memory; a forget that committed first leaves them out of this count.
                var distinct = entry.ResultIds.Distinct(StringComparer.Ordinal).ToArray();
                if (distinct.Length > 0)
                {
                    var live = await QueryAsync(connection, tx, "SELECT id FROM memories WHERE id = ANY($1) FOR KEY SHARE", r => r.GetString(0), cancellationToken, distinct).ConfigureAwait(false);
                    if (live.Count != distinct.Length)
                    {
                        continue;
                    }
                }

                var inserted = await ExecuteAsync(connection, tx, "INSERT INTO retrievals(id, at, seq, request) VALUES($1, $2, $3, $4) ON CONFLICT DO NOTHING", cancellationToken,
                    entry.Id, entry.At, entry.Seq, entry.RequestJson).ConfigureAwait(false);
                if (inserted > 0 && entry.ResultIds.Count > 0)
                {
                    await ExecuteAsync(connection, tx, """
                        INSERT INTO retrieval_hits(retrieval_id, rank, memory_id)
                        SELECT $1, n::int, memory_id FROM unnest($2::text[]) WITH ORDINALITY AS h(memory_id, n) ON CONFLICT DO NOTHING
                        """, cancellationToken, entry.Id, entry.ResultIds.ToArray()).ConfigureAwait(false);
                }
            }

            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            return 0;
        }, cancellationToken);

    /// <inheritdoc cref="IRecallLogStore.GetRetrievalAsync"/>
    public async Task<LoggedRetrieval?> GetRetrievalAsync(string id, CancellationToken cancellationToken)
    {
        var rows = await database.ReadAsync(connection => QueryAsync(connection, null, "SELECT at, seq, request FROM retrievals WHERE id = $1",
            r => new LoggedRetrieval(r.GetInt64(0), r.GetInt64(1), r.GetString(2)), cancellationToken, id), cancellationToken).ConfigureAwait(false);
        return rows.Count > 0 ? rows[0] : null;
    }

    /// <inheritdoc cref="IRecallLogStore.ListRetrievalsAsync"/>
    public async Task<IReadOnlyList<LoggedRecall>> ListRetrievalsAsync(string? memoryId, int limit, CancellationToken cancellationToken) =>
        await database.ReadAsync(connection => QueryAsync(connection, null, $"""
            SELECT r.id, r.at, r.request, (SELECT COUNT(*)::int FROM retrieval_hits h WHERE h.retrieval_id = r.id) FROM retrievals r
            {(memoryId is null ? "WHERE $1::text IS NULL" : "WHERE r.id IN (SELECT retrieval_id FROM retrieval_hits WHERE memory_id = $1)")}
            ORDER BY r.at DESC, r.id DESC LIMIT $2
            """, r => new LoggedRecall(r.GetString(0), r.GetInt64(1), r.GetString(2), r.GetInt32(3)), cancellationToken, memoryId, limit), cancellationToken).ConfigureAwait(false);
}
