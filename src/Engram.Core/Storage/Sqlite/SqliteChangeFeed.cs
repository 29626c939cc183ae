using System.Text.Json;
using Microsoft.Data.Sqlite;
using static Engram.Core.Storage.Sqlite.SqliteDatabase;
using static Engram.Core.Storage.Sqlite.SqliteMemoryQueries;

namespace Engram.Core.Storage.Sqlite;

/// <summary>The <c>changes</c> table, read in snapshots: what the derived indexes and the row cache catch up from.</summary>
internal sealed class SqliteChangeFeed(SqliteDatabase database)
{
    /// <inheritdoc cref="IChangeFeed.MaxSeqAsync"/>
    public async Task<long> MaxSeqAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await MaxSeqAsync(connection, null, cancellationToken).ConfigureAwait(false);
    }

    public static async Task<long> MaxSeqAsync(SqliteConnection connection, SqliteTransaction? tx, CancellationToken cancellationToken) =>
        ToInt64(await ScalarAsync(connection, "SELECT COALESCE(MAX(seq), 0) FROM changes;", cancellationToken, tx).ConfigureAwait(false));

    /// <inheritdoc cref="IChangeFeed.ReadChangesAsync"/>
    public async Task<ChangeBatch> ReadChangesAsync(long afterSeq, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = connection.BeginTransaction(deferred: true);
        var seq = await MaxSeqAsync(connection, tx, cancellationToken).ConfigureAwait(false);
        if (afterSeq == 0)
        {
            List<StoredMemory> all;
            await using (var command = Command(connection, tx, $"""
                SELECT {MemoryColumns}
                FROM memories m ORDER BY m.scope, m.rowid;
                """))
            {
                all = await ReadAsync(command, ReadMemory, cancellationToken).ConfigureAwait(false);
            }

            return new ChangeBatch(seq, ChangedMemory.WithNeighbours(all), []);
        }

        var changed = await ChangedSinceAsync(connection, tx, afterSeq, cancellationToken).ConfigureAwait(false);
        var current = await GetAsync(connection, tx, changed, cancellationToken).ConfigureAwait(false);
        var deletes = changed.Where(id => !current.ContainsKey(id)).ToList();
        await using var previous = Command(connection, tx, $"""
            SELECT content, observed_at FROM memories
            WHERE scope=$scope AND rowid < (SELECT rowid FROM memories WHERE id=$id) ORDER BY rowid DESC LIMIT {ChangedMemory.Radius};
            """, "$scope", "$id");
        await using var next = Command(connection, tx, $"""
            SELECT content, observed_at FROM memories
            WHERE scope=$scope AND rowid > (SELECT rowid FROM memories WHERE id=$id) ORDER BY rowid LIMIT {ChangedMemory.Radius};
            """, "$scope", "$id");
        var changedUpserts = new List<ChangedMemory>();
        foreach (var memory in changed.Where(current.ContainsKey).Select(id => current[id]))
        {
            var before = await NeighboursAsync(previous, memory, cancellationToken).ConfigureAwait(false);
            var after = await NeighboursAsync(next, memory, cancellationToken).ConfigureAwait(false);
            changedUpserts.Add(new ChangedMemory(memory, before, after));
        }

        return new ChangeBatch(seq, changedUpserts, deletes);
    }

    private static Task<List<Neighbour>> NeighboursAsync(SqliteCommand command, StoredMemory memory, CancellationToken cancellationToken)
    {
        Bind(command, memory.Scope, memory.Id);
        return ReadAsync(command, r => new Neighbour(r.GetString(0), r.GetInt64(1)), cancellationToken);
    }

    /// <summary>The memories the feed names after <paramref name="afterSeq"/>, within <paramref name="tx"/>.</summary>
    public static async Task<List<string>> ChangedSinceAsync(SqliteConnection connection, SqliteTransaction tx, long afterSeq, CancellationToken cancellationToken)
    {
        // In the order of each memory's latest change, so every process applies the feed in the same order.
        await using var command = Command(connection, tx, "SELECT memory_id FROM changes WHERE seq > $after GROUP BY memory_id ORDER BY MAX(seq);", "$after");
        Bind(command, afterSeq);
        return await ReadAsync(command, r => r.GetString(0), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc cref="IChangeFeed.ChangedIdsAsync"/>
    public async Task<List<string>> ChangedIdsAsync(long afterSeq, long toSeq, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, "SELECT DISTINCT memory_id FROM changes WHERE seq > $after AND seq <= $to LIMIT $limit;", "$after", "$to", "$limit");
        Bind(command, afterSeq, toSeq, limit);
        return await ReadAsync(command, r => r.GetString(0), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc cref="IChangeFeed.CandidatesAsync"/>
    public async Task<CandidateBatch> CandidatesAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = connection.BeginTransaction(deferred: true);
        var seq = await MaxSeqAsync(connection, tx, cancellationToken).ConfigureAwait(false);
        var result = new Dictionary<string, CandidateMeta>(ids.Count, StringComparer.Ordinal);
        await using var command = Command(connection, tx, $"""
            SELECT {MemoryColumns},
                   m.rowid, s.observed_at
            FROM memories m LEFT JOIN memories s ON s.id = m.superseded_by
            WHERE m.id IN (SELECT value FROM json_each($ids));
            """, "$ids");
        Bind(command, JsonSerializer.Serialize(ids));
        var rows = await ReadAsync(command, r => new CandidateMeta(ReadMemory(r), r.GetInt64(8), r.IsDBNull(9) ? null : r.GetInt64(9)), cancellationToken).ConfigureAwait(false);
        foreach (var row in rows)
        {
            result[row.Id] = row;
        }

        return new CandidateBatch(seq, result);
    }
}
