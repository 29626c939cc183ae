using Microsoft.Data.Sqlite;
using static Engram.Core.Storage.Sqlite.SqliteDatabase;

namespace Engram.Core.Storage.Sqlite;

/// <summary>Reads of the <c>memories</c> and <c>memory_tags</c> tables, and how a memory row is read.</summary>
internal sealed class SqliteMemoryQueries(SqliteDatabase database)
{
    /// <summary>A memory row's columns, in the order <see cref="ReadMemory"/> reads them (<c>m</c> is the memories table).</summary>
    public const string MemoryColumns = """
        m.id, m.scope, m.content, m.observed_at, m.created_at, m.superseded_by, m.superseded_at,
        (SELECT group_concat(tag, char(31)) FROM memory_tags t WHERE t.memory_id = m.id)
        """;

    public static StoredMemory ReadMemory(SqliteDataReader reader)
    {
        var tags = reader.IsDBNull(7) ? [] : reader.GetString(7).Split('\u001f').Order(StringComparer.Ordinal).ToArray();
        return new StoredMemory(
            reader.GetString(0), reader.GetString(1), reader.GetString(2), tags,
            reader.GetInt64(3), reader.GetInt64(4),
            reader.IsDBNull(5) ? null : reader.GetString(5),
            reader.IsDBNull(6) ? null : reader.GetInt64(6));
    }

    /// <inheritdoc cref="IMemoryRecords.GetAsync"/>
    public async Task<Dictionary<string, StoredMemory>> GetAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await GetAsync(connection, null, ids, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Loads memories by id within <paramref name="tx"/>; unknown ids are absent from the result.</summary>
    public static async Task<Dictionary<string, StoredMemory>> GetAsync(SqliteConnection connection, SqliteTransaction? tx, IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        var result = new Dictionary<string, StoredMemory>(ids.Count, StringComparer.Ordinal);
        foreach (var chunk in ids.Distinct(StringComparer.Ordinal).Chunk(500))
        {
            await using var command = Command(connection, tx, c => $"""
                SELECT {MemoryColumns}
                FROM memories m WHERE m.id IN ({AddList(c, "$i", chunk)});
                """);
            foreach (var memory in await ReadAsync(command, ReadMemory, cancellationToken).ConfigureAwait(false))
            {
                result[memory.Id] = memory;
            }
        }

        return result;
    }

    /// <inheritdoc cref="IMemoryRecords.ListAsync"/>
    public async Task<List<StoredMemory>> ListAsync(IReadOnlyList<string>? scopes, int limit, int offset, bool includeSuperseded, bool oldestFirst, TimeRange? observed, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, c =>
        {
            var where = new List<string>();
            if (scopes is not null)
            {
                where.Add($"m.scope IN ({AddList(c, "$s", scopes)})");
            }

            if (!includeSuperseded)
            {
                where.Add("m.superseded_by IS NULL");
            }

            where.Add("m.observed_at >= $from AND m.observed_at < $to");

            return $"""
                SELECT {MemoryColumns}
                FROM memories m {(where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where))}
                ORDER BY m.rowid {(oldestFirst ? "ASC" : "DESC")} LIMIT $limit OFFSET $offset;
                """;
        }, "$limit", "$offset", "$from", "$to");
        Bind(command, limit, offset, observed?.From ?? long.MinValue, observed?.To ?? long.MaxValue);
        return await ReadAsync(command, ReadMemory, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc cref="IMemoryRecords.ListAfterAsync"/>
    public async Task<List<(StoredMemory Memory, long Order)>> ListAfterAsync(IReadOnlyList<string>? scopes, long after, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, c => $"""
            SELECT {MemoryColumns}, m.rowid
            FROM memories m WHERE m.rowid > $after {(scopes is null ? "" : $"AND m.scope IN ({AddList(c, "$s", scopes)})")}
            ORDER BY m.rowid LIMIT $limit;
            """, "$after", "$limit");
        Bind(command, after, limit);
        return await ReadAsync(command, r => (ReadMemory(r), r.GetInt64(8)), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc cref="IMemoryRecords.IdsInScopesAsync"/>
    public async Task<HashSet<string>> IdsInScopesAsync(IReadOnlyList<string> scopes, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, c => $"SELECT id FROM memories WHERE scope IN ({AddList(c, "$s", scopes)});");
        return await ReadIdsAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc cref="IMemoryRecords.IdsWithAnyTagAsync"/>
    public async Task<HashSet<string>> IdsWithAnyTagAsync(IReadOnlyList<string> scopes, IReadOnlyList<string> tags, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, c =>
        {
            var scopeNames = AddList(c, "$s", scopes);
            var tagNames = AddList(c, "$t", tags);
            return $"SELECT DISTINCT t.memory_id FROM memory_tags t JOIN memories m ON m.id = t.memory_id WHERE m.scope IN ({scopeNames}) AND t.tag IN ({tagNames});";
        });
        return await ReadIdsAsync(command, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<HashSet<string>> ReadIdsAsync(SqliteCommand command, CancellationToken cancellationToken) =>
        new(await ReadAsync(command, r => r.GetString(0), cancellationToken).ConfigureAwait(false), StringComparer.Ordinal);

    /// <inheritdoc cref="IMemoryRecords.ObservedWithinAsync"/>
    public async Task<List<ObservedMemory>> ObservedWithinAsync(IReadOnlyList<string> scopes, IReadOnlyList<TimeRange> ranges, int k, CancellationToken cancellationToken)
    {
        var found = new List<ObservedMemory>();
        if (ranges.Count == 0 || k <= 0)
        {
            return found;
        }

        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, c => $"""
            SELECT id, observed_at FROM memories WHERE scope IN ({AddList(c, "$s", scopes)}) AND observed_at >= $from AND observed_at < $to
            ORDER BY observed_at DESC, rowid DESC LIMIT $k;
            """, "$from", "$to", "$k");
        foreach (var range in ranges)
        {
            Bind(command, range.From, range.To, k - found.Count);
            found.AddRange(await ReadAsync(command, r => new ObservedMemory(r.GetString(0), r.GetInt64(1)), cancellationToken).ConfigureAwait(false));
            if (found.Count >= k)
            {
                break;
            }
        }

        return found;
    }

    /// <inheritdoc cref="IMemoryRecords.SupersededByAsync"/>
    public async Task<List<StoredMemory>> SupersededByAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, $"SELECT {MemoryColumns} FROM memories m WHERE m.superseded_by = $id ORDER BY m.rowid;", "$id");
        Bind(command, id);
        return await ReadAsync(command, ReadMemory, cancellationToken).ConfigureAwait(false);
    }
}
