using Npgsql;
using static Engram.Core.Storage.Postgres.PostgresDatabase;

namespace Engram.Core.Storage.Postgres;

/// <summary>Reads of the <c>memories</c> and <c>memory_tags</c> tables on PostgreSQL, and how a memory row is read.</summary>
internal sealed class PostgresMemoryQueries(PostgresDatabase database)
{
    /// <summary>A memory row's columns, in the order <see cref="ReadMemory"/> reads them (<c>m</c> is the memories table).</summary>
    public const string MemoryColumns = """
        m.id, m.scope, m.content, m.observed_at, m.created_at, m.superseded_by, m.superseded_at,
        ARRAY(SELECT tag FROM memory_tags t WHERE t.memory_id = m.id)
        """;

    public static StoredMemory ReadMemory(NpgsqlDataReader reader) =>
        new(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetFieldValue<string[]>(7).Order(StringComparer.Ordinal).ToArray(),
            reader.GetInt64(3), reader.GetInt64(4),
            reader.IsDBNull(5) ? null : reader.GetString(5),
            reader.IsDBNull(6) ? null : reader.GetInt64(6));

    /// <inheritdoc cref="IMemoryRecords.GetAsync"/>
    public Task<Dictionary<string, StoredMemory>> GetAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken) =>
        database.ReadAsync(connection => GetAsync(connection, null, ids, cancellationToken), cancellationToken);

    /// <summary>Loads memories by id within <paramref name="tx"/>; unknown ids are absent from the result.</summary>
    public static async Task<Dictionary<string, StoredMemory>> GetAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        var rows = await QueryAsync(connection, tx, $"SELECT {MemoryColumns} FROM memories m WHERE m.id = ANY($1)", ReadMemory, cancellationToken,
            ids.Distinct(StringComparer.Ordinal).ToArray()).ConfigureAwait(false);
        return rows.ToDictionary(m => m.Id, StringComparer.Ordinal);
    }

    /// <inheritdoc cref="IMemoryRecords.ListAsync"/>
    public Task<List<StoredMemory>> ListAsync(IReadOnlyList<string>? scopes, int limit, int offset, bool includeSuperseded, bool oldestFirst, TimeRange? observed, CancellationToken cancellationToken) =>
        database.ReadAsync(connection => QueryAsync(connection, null, $"""
            SELECT {MemoryColumns} FROM memories m
            WHERE ($1::text[] IS NULL OR m.scope = ANY($1)) AND ($2 OR m.superseded_by IS NULL) AND m.observed_at >= $5 AND m.observed_at < $6
            ORDER BY m.ord {(oldestFirst ? "ASC" : "DESC")} LIMIT $3 OFFSET $4
            """, ReadMemory, cancellationToken, scopes?.ToArray(), includeSuperseded, limit, offset, observed?.From ?? long.MinValue, observed?.To ?? long.MaxValue), cancellationToken);

    /// <inheritdoc cref="IMemoryRecords.ListAfterAsync"/>
    public Task<List<(StoredMemory Memory, long Order)>> ListAfterAsync(IReadOnlyList<string>? scopes, long after, int limit, CancellationToken cancellationToken) =>
        database.ReadAsync(connection => QueryAsync(connection, null, $"""
            SELECT {MemoryColumns}, m.ord FROM memories m
            WHERE m.ord > $2 AND ($1::text[] IS NULL OR m.scope = ANY($1))
            ORDER BY m.ord LIMIT $3
            """, r => (ReadMemory(r), r.GetInt64(8)), cancellationToken, scopes?.ToArray(), after, limit), cancellationToken);

    /// <inheritdoc cref="IMemoryRecords.IdsInScopesAsync"/>
    public async Task<HashSet<string>> IdsInScopesAsync(IReadOnlyList<string> scopes, CancellationToken cancellationToken) =>
        new(await database.ReadAsync(connection => QueryAsync(connection, null, "SELECT id FROM memories WHERE scope = ANY($1)", r => r.GetString(0), cancellationToken, scopes.ToArray()), cancellationToken).ConfigureAwait(false),
            StringComparer.Ordinal);

    /// <inheritdoc cref="IMemoryRecords.IdsWithAnyTagAsync"/>
    public async Task<HashSet<string>> IdsWithAnyTagAsync(IReadOnlyList<string> scopes, IReadOnlyList<string> tags, CancellationToken cancellationToken) =>
        new(await database.ReadAsync(connection => QueryAsync(connection, null, """
            SELECT DISTINCT t.memory_id FROM memory_tags t JOIN memories m ON m.id = t.memory_id WHERE m.scope = ANY($1) AND t.tag = ANY($2)
            """, r => r.GetString(0), cancellationToken, scopes.ToArray(), tags.ToArray()), cancellationToken).ConfigureAwait(false), StringComparer.Ordinal);

    /// <inheritdoc cref="IMemoryRecords.ObservedWithinAsync"/>
    public async Task<List<ObservedMemory>> ObservedWithinAsync(IReadOnlyList<string> scopes, IReadOnlyList<TimeRange> ranges, int k, CancellationToken cancellationToken)
    {
        var found = new List<ObservedMemory>();
        if (ranges.Count == 0 || k <= 0)
        {
            return found;
        }

        return await database.ReadAsync(async connection =>
        {
            foreach (var range in ranges)
            {
                found.AddRange(await QueryAsync(connection, null, """
                    SELECT id, observed_at FROM memories WHERE scope = ANY($1) AND observed_at >= $2 AND observed_at < $3
                    ORDER BY observed_at DESC, ord DESC LIMIT $4
                    """, r => new ObservedMemory(r.GetString(0), r.GetInt64(1)), cancellationToken, scopes.ToArray(), range.From, range.To, k - found.Count).ConfigureAwait(false));
                if (found.Count >= k)
                {
                    break;
                }
            }

            return found;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc cref="ITextSearch.SearchTextAsync"/>
    /// <remarks>
    /// Any of the query's words (a question names one side of a fact; file names and identifiers split at punctuation on
    /// both sides, so <c>RetryPolicy.cs</c> matches), ranked by <c>ts_rank</c> with English stemming and
    /// stop words. There is no full-text index: the scan is of the searched scopes' memories only, through the scope
    /// index, so its cost is that of the scopes' size (a few milliseconds for a thousand memories), and writes pay nothing.
    /// </remarks>
    public Task<List<(string Id, float Score)>> SearchTextAsync(string query, IReadOnlyList<string> scopes, IReadOnlySet<string>? allowed, int k, CancellationToken cancellationToken)
    {
        var words = System.Text.RegularExpressions.Regex.Matches(query.ToLowerInvariant(), @"[\p{L}\p{N}]+")
            .Select(m => m.Value).Distinct(StringComparer.Ordinal).Take(64).ToList();
        if (words.Count == 0 || scopes.Count == 0 || k <= 0)
        {
            return Task.FromResult(new List<(string Id, float Score)>());
        }

        return database.ReadAsync(connection => QueryAsync(connection, null, """
            SELECT m.id, ts_rank(v.doc, q) AS score
            FROM memories m
            CROSS JOIN to_tsquery('english', $2) q
            CROSS JOIN LATERAL (SELECT to_tsvector('english', regexp_replace(m.content, '[^[:alnum:]]+', ' ', 'g')) AS doc) v
            WHERE m.scope = ANY($1) AND ($4::text[] IS NULL OR m.id = ANY($4)) AND v.doc @@ q
            ORDER BY score DESC, m.ord DESC LIMIT $3
            """, r => (r.GetString(0), r.GetFloat(1)), cancellationToken, scopes.ToArray(), string.Join(" | ", words), k, allowed?.ToArray()), cancellationToken);
    }

    /// <inheritdoc cref="IMemoryRecords.SupersededByAsync"/>
    public Task<List<StoredMemory>> SupersededByAsync(string id, CancellationToken cancellationToken) =>
        database.ReadAsync(connection => QueryAsync(connection, null, $"SELECT {MemoryColumns} FROM memories m WHERE m.superseded_by = $1 ORDER BY m.ord",
            ReadMemory, cancellationToken, id), cancellationToken);
}
