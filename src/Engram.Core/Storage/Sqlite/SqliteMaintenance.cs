using System.Globalization;
using static Engram.Core.Storage.Sqlite.SqliteDatabase;

namespace Engram.Core.Storage.Sqlite;

/// <summary>Counts and checks across the tables: figures for stats, SQLite's integrity checks, a forget's residue.</summary>
internal sealed class SqliteMaintenance(SqliteDatabase database)
{
    /// <inheritdoc cref="IStoreMaintenance.CountAsync"/>
    public async Task<int> CountAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return ToInt32(await ScalarAsync(connection, "SELECT COUNT(*) FROM memories;", cancellationToken).ConfigureAwait(false));
    }

    /// <inheritdoc cref="IStoreMaintenance.StatsAsync"/>
    public async Task<StoreCounts> StatsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        List<ScopeCounts> scopes;
        await using (var command = Command(connection, null, "SELECT scope, COUNT(*), SUM(superseded_by IS NOT NULL), MAX(created_at) FROM memories GROUP BY scope ORDER BY scope;"))
        {
            scopes = await ReadAsync(command, r => new ScopeCounts(r.GetString(0), r.GetInt32(1), r.GetInt32(2), r.GetInt64(3)), cancellationToken).ConfigureAwait(false);
        }

        var vectors = new Dictionary<string, int>(StringComparer.Ordinal);
        await using (var command = Command(connection, null, "SELECT model, COUNT(*) FROM embeddings GROUP BY model ORDER BY model;"))
        {
            foreach (var (model, count) in await ReadAsync(command, r => (r.GetString(0), r.GetInt32(1)), cancellationToken).ConfigureAwait(false))
            {
                vectors[model] = count;
            }
        }

        var forgets = ToInt32(await ScalarAsync(connection, "SELECT COUNT(*) FROM forget_audit;", cancellationToken).ConfigureAwait(false));
        return new StoreCounts(scopes, vectors, forgets);
    }

    /// <summary>SQLite's own checks: <c>PRAGMA integrity_check</c> and <c>foreign_key_check</c>; "ok" when clean.</summary>
    public async Task<string> IntegrityAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var integrity = Convert.ToString(await ScalarAsync(connection, "PRAGMA integrity_check;", cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
        var foreignKeys = await ScalarAsync(connection, "PRAGMA foreign_key_check;", cancellationToken).ConfigureAwait(false);
        return integrity != "ok" ? $"integrity_check: {integrity}" : foreignKeys is not null ? "foreign_key_check found dangling references" : "ok";
    }

    /// <inheritdoc cref="IStoreMaintenance.CountResidueAsync"/>
    public async Task<ResidueCounts> CountResidueAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        int memories = 0, tags = 0, entities = 0, vectors = 0, logs = 0, checks = 0;
        foreach (var chunk in ids.Chunk(500))
        {
            await using var command = Command(connection, null, c =>
            {
                var names = AddList(c, "$i", chunk);
                return $"""
                    SELECT (SELECT COUNT(*) FROM memories WHERE id IN ({names})),
                           (SELECT COUNT(*) FROM memory_tags WHERE memory_id IN ({names})),
                           (SELECT COUNT(*) FROM memory_entities WHERE memory_id IN ({names})),
                           (SELECT COUNT(*) FROM embeddings WHERE memory_id IN ({names})),
                           (SELECT COUNT(*) FROM retrieval_hits WHERE memory_id IN ({names})),
                           (SELECT COUNT(DISTINCT check_id) FROM check_memories WHERE memory_id IN ({names}));
                    """;
            });
            var row = (await ReadAsync(command, r => new ResidueCounts(r.GetInt32(0), r.GetInt32(1), r.GetInt32(2), r.GetInt32(3), r.GetInt32(4), r.GetInt32(5)), cancellationToken).ConfigureAwait(false))[0];
            memories += row.Memories;
            tags += row.Tags;
            entities += row.Entities;
            vectors += row.Vectors;
            logs += row.RetrievalLogs;
            checks += row.Checks;
        }

        return new ResidueCounts(memories, tags, entities, vectors, logs, checks);
    }

    /// <summary>
    /// Rebuilds the file (<c>VACUUM</c>) so it holds live rows only. With <c>secure_delete</c> deleted content is zeroed
    /// already; this also returns the free pages to the file system.
    /// </summary>
    public async Task CompactAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, "VACUUM;", cancellationToken).ConfigureAwait(false);
    }
}
