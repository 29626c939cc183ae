using Npgsql;
using static Engram.Core.Storage.Postgres.PostgresDatabase;
using static Engram.Core.Storage.Postgres.PostgresMemoryQueries;

namespace Engram.Core.Storage.Postgres;

/// <summary>
/// The <c>changes</c> table on PostgreSQL, read in repeatable-read snapshots. Appends are serialised by the feed lock
/// (<see cref="PostgresDatabase"/>), so the newest seq a snapshot sees has every lower one committed before it.
/// </summary>
internal sealed class PostgresChangeFeed(PostgresDatabase database)
{
    /// <inheritdoc cref="IChangeFeed.MaxSeqAsync"/>
    public Task<long> MaxSeqAsync(CancellationToken cancellationToken) =>
        database.ReadAsync(connection => PostgresDatabase.MaxSeqAsync(connection, null, cancellationToken), cancellationToken);

    /// <inheritdoc cref="IChangeFeed.ReadChangesAsync"/>
    public Task<ChangeBatch> ReadChangesAsync(long afterSeq, CancellationToken cancellationToken) =>
        database.SnapshotAsync(async (connection, tx) =>
        {
            var seq = await PostgresDatabase.MaxSeqAsync(connection, tx, cancellationToken).ConfigureAwait(false);
            if (afterSeq == 0)
            {
                var all = await QueryAsync(connection, tx, $"SELECT {MemoryColumns} FROM memories m ORDER BY m.scope, m.ord", ReadMemory, cancellationToken).ConfigureAwait(false);

                return new ChangeBatch(seq, ChangedMemory.WithNeighbours(all), []);
            }

            var changed = await ChangedSinceAsync(connection, tx, afterSeq, cancellationToken).ConfigureAwait(false);
            var current = await GetAsync(connection, tx, changed, cancellationToken).ConfigureAwait(false);
            var deletes = changed.Where(id => !current.ContainsKey(id)).ToList();
            var present = changed.Where(current.ContainsKey).ToArray();
            var before = await NeighboursAsync(connection, tx, present, "<", "DESC", cancellationToken).ConfigureAwait(false);
            var after = await NeighboursAsync(connection, tx, present, ">", "ASC", cancellationToken).ConfigureAwait(false);
            var upsertsSince = present.Select(id => new ChangedMemory(current[id], before.GetValueOrDefault(id) ?? [], after.GetValueOrDefault(id) ?? [])).ToList();
            return new ChangeBatch(seq, upsertsSince, deletes);
        }, cancellationToken);

    /// <summary>For each memory, its neighbours on one side in its scope, nearest first.</summary>
    private static async Task<Dictionary<string, List<Neighbour>>> NeighboursAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string[] ids, string side, string order, CancellationToken cancellationToken)
    {
        var rows = await QueryAsync(connection, tx, $"""
            SELECT m.id, n.content, n.observed_at FROM memories m
            CROSS JOIN LATERAL (SELECT x.content, x.observed_at, x.ord FROM memories x
                WHERE x.scope = m.scope AND x.ord {side} m.ord ORDER BY x.ord {order} LIMIT {ChangedMemory.Radius}) n
            WHERE m.id = ANY($1)
            ORDER BY m.id, n.ord {order}
            """, r => (Id: r.GetString(0), Neighbour: new Neighbour(r.GetString(1), r.GetInt64(2))), cancellationToken, ids).ConfigureAwait(false);
        return rows.GroupBy(r => r.Id, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Select(r => r.Neighbour).ToList(), StringComparer.Ordinal);
    }

    /// <summary>The memories the feed names after <paramref name="afterSeq"/>, within <paramref name="tx"/>, in the order of each one's latest change.</summary>
    public static Task<List<string>> ChangedSinceAsync(NpgsqlConnection connection, NpgsqlTransaction tx, long afterSeq, CancellationToken cancellationToken) =>
        QueryAsync(connection, tx, "SELECT memory_id FROM changes WHERE seq > $1 GROUP BY memory_id ORDER BY MAX(seq)", r => r.GetString(0), cancellationToken, afterSeq);

    /// <inheritdoc cref="IChangeFeed.ChangedIdsAsync"/>
    public Task<List<string>> ChangedIdsAsync(long afterSeq, long toSeq, int limit, CancellationToken cancellationToken) =>
        database.ReadAsync(connection => QueryAsync(connection, null, "SELECT DISTINCT memory_id FROM changes WHERE seq > $1 AND seq <= $2 LIMIT $3",
            r => r.GetString(0), cancellationToken, afterSeq, toSeq, limit), cancellationToken);

    /// <inheritdoc cref="IChangeFeed.CandidatesAsync"/>
    public Task<CandidateBatch> CandidatesAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken) =>
        database.SnapshotAsync(async (connection, tx) =>
        {
            var seq = await PostgresDatabase.MaxSeqAsync(connection, tx, cancellationToken).ConfigureAwait(false);
            var rows = await QueryAsync(connection, tx, $"""
                SELECT {MemoryColumns}, m.ord, s.observed_at
                FROM memories m LEFT JOIN memories s ON s.id = m.superseded_by
                WHERE m.id = ANY($1)
                """, r => new CandidateMeta(ReadMemory(r), r.GetInt64(8), r.IsDBNull(9) ? null : r.GetInt64(9)), cancellationToken, ids.ToArray()).ConfigureAwait(false);
            return new CandidateBatch(seq, rows.ToDictionary(r => r.Id, StringComparer.Ordinal));
        }, cancellationToken);
}
