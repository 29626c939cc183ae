using Npgsql;
using static Engram.Core.Storage.Postgres.PostgresDatabase;

namespace Engram.Core.Storage.Postgres;

/// <summary>
/// The <c>embeddings</c> and <c>scope_embeddings</c> tables on PostgreSQL. Vectors are stored as <c>bytea</c> and
/// scanned per process; with pgvector, <c>embeddings.vector</c> would become a <c>vector(n)</c> column per model with an
/// HNSW index, and the scan of a large scope a query on it (docs/scaling.md).
/// </summary>
internal sealed class PostgresVectors(PostgresDatabase database)
{
    /// <inheritdoc cref="IVectorStore.ScopeVectorsAsync"/>
    public async Task<List<ScopeVectors>> ScopeVectorsAsync(IReadOnlyList<string>? scopes, string modelId, CancellationToken cancellationToken)
    {
        var result = await database.ReadAsync(connection => QueryAsync(connection, null, """
            SELECT m.scope,
                   COALESCE((SELECT s.ready_at IS NOT NULL FROM scope_embeddings s WHERE s.scope = m.scope AND s.model = $1), false),
                   COUNT(*)::int,
                   COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM embeddings e WHERE e.memory_id = m.id AND e.model = $1 AND length(e.vector) > 0))::int
            FROM memories m WHERE ($2::text[] IS NULL OR m.scope = ANY($2)) GROUP BY m.scope ORDER BY m.scope
            """, r => new ScopeVectors(r.GetString(0), r.GetBoolean(1), r.GetInt32(2), r.GetInt32(3)), cancellationToken, modelId, scopes?.ToArray()), cancellationToken).ConfigureAwait(false);

        // A scope without memories is ready for any model once it has a row; with no row it is simply empty.
        if (scopes is not null)
        {
            result.AddRange(scopes.Where(s => result.All(r => r.Scope != s)).Select(s => new ScopeVectors(s, true, 0, 0)));
        }

        return result;
    }

    /// <inheritdoc cref="IVectorStore.ReadyScopesAsync"/>
    public async Task<Dictionary<string, long?>> ReadyScopesAsync(IReadOnlyList<string> scopes, string modelId, CancellationToken cancellationToken)
    {
        var rows = await database.ReadAsync(connection => QueryAsync(connection, null, """
            SELECT a.scope, s.ready_at FROM unnest($2::text[]) AS a(scope) LEFT JOIN scope_embeddings s ON s.scope = a.scope AND s.model = $1
            WHERE s.ready_at IS NOT NULL OR (s.scope IS NULL AND NOT EXISTS (SELECT 1 FROM memories WHERE scope = a.scope))
            """, r => (Scope: r.GetString(0), At: r.IsDBNull(1) ? (long?)null : r.GetInt64(1)), cancellationToken, modelId, scopes.ToArray()), cancellationToken).ConfigureAwait(false);
        var ready = new Dictionary<string, long?>(StringComparer.Ordinal);
        foreach (var (scope, at) in rows)
        {
            ready[scope] = at;
        }

        return ready;
    }

    /// <inheritdoc cref="IVectorStore.UnembeddedAsync"/>
    public Task<List<UnembeddedMemory>> UnembeddedAsync(string modelId, int limit, CancellationToken cancellationToken) =>
        database.ReadAsync(connection => QueryAsync(connection, null, """
            SELECT m.id, m.scope, m.content, m.content_hash, m.observed_at, p.id, p.content, p.observed_at, pe.vector
            FROM (SELECT u.ord, u.id, u.scope, u.content, u.content_hash, u.observed_at FROM memories u
                  WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.memory_id = u.id AND e.model = $1)
                  ORDER BY u.scope, u.ord LIMIT $2) m
            LEFT JOIN LATERAL (SELECT x.id, x.content, x.observed_at FROM memories x WHERE x.scope = m.scope AND x.ord < m.ord ORDER BY x.ord DESC LIMIT 1) p ON true
            LEFT JOIN embeddings pe ON pe.memory_id = p.id AND pe.model = $1
            ORDER BY m.scope, m.ord
            """, r => new UnembeddedMemory(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4), PrecedingMemory.Read(r, 5)), cancellationToken, modelId, limit), cancellationToken);

    /// <inheritdoc cref="IVectorStore.LastMemoriesAsync"/>
    public async Task<Dictionary<string, PrecedingMemory>> LastMemoriesAsync(IReadOnlyList<string> scopes, string modelId, CancellationToken cancellationToken)
    {
        var rows = await database.ReadAsync(connection => QueryAsync(connection, null, """
            SELECT s.scope, p.id, p.content, p.observed_at, pe.vector FROM unnest($2::text[]) s(scope)
            CROSS JOIN LATERAL (SELECT x.id, x.content, x.observed_at FROM memories x WHERE x.scope = s.scope ORDER BY x.ord DESC LIMIT 1) p
            LEFT JOIN embeddings pe ON pe.memory_id = p.id AND pe.model = $1
            """, r => (r.GetString(0), PrecedingMemory.Read(r, 1)!), cancellationToken, modelId, scopes.Distinct(StringComparer.Ordinal).ToArray()), cancellationToken).ConfigureAwait(false);
        return rows.ToDictionary(r => r.Item1, r => r.Item2, StringComparer.Ordinal);
    }

    /// <inheritdoc cref="IVectorStore.SaveVectorsAsync"/>
    public async Task<List<string>> SaveVectorsAsync(EmbeddingModel model, IReadOnlyList<(UnembeddedMemory Memory, float[] Vector)> vectors, CancellationToken cancellationToken)
    {
        if (vectors.Count == 0)
        {
            // Most idle checks find every scope ready: answer them without the feed lock.
            var pending = await database.ReadAsync(async connection => (bool)(await ScalarAsync(connection, null, """
                SELECT EXISTS (SELECT 1 FROM (SELECT DISTINCT scope FROM memories) m
                    WHERE NOT EXISTS (SELECT 1 FROM scope_embeddings s WHERE s.scope = m.scope AND s.model = $1 AND s.ready_at IS NOT NULL))
                """, cancellationToken, model.Id).ConfigureAwait(false))!, cancellationToken).ConfigureAwait(false);
            if (!pending)
            {
                return [];
            }
        }

        return await database.WriteAsync(async (connection, tx) =>
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            // One row a memory (the last vector given for it): one statement cannot update a row twice. A vector is kept
            // only while the memory answers the question it was embedded as the answer to, or none (a reply's row holds
            // the question's meaning): if that one was forgotten meanwhile, the memory stays unembedded and the next pass
            // makes it again.
            var given = vectors.GroupBy(v => v.Memory.Id, StringComparer.Ordinal).Select(g => g.Last()).ToList();
            var before = (await QueryAsync(connection, tx, """
                SELECT v.id, p.id, p.content, p.observed_at, NULL::bytea FROM unnest($1::text[]) v(id) JOIN memories m ON m.id = v.id
                LEFT JOIN LATERAL (SELECT x.id, x.content, x.observed_at FROM memories x WHERE x.scope = m.scope AND x.ord < m.ord ORDER BY x.ord DESC LIMIT 1) p ON true
                """, r => (r.GetString(0), PrecedingMemory.Read(r, 1)), cancellationToken, given.Select(v => v.Memory.Id).ToArray()).ConfigureAwait(false))
                .ToDictionary(x => x.Item1, x => x.Item2, StringComparer.Ordinal);
            var latest = given.Where(v => before.TryGetValue(v.Memory.Id, out var now) && v.Memory.StillAnswersAsWith(now)).ToList();
            var ids = latest.Select(v => v.Memory.Id).ToArray();
            await ExecuteAsync(connection, tx, """
                INSERT INTO embeddings(memory_id, model, vector)
                SELECT v.id, $3, v.vector FROM unnest($1::text[], $2::bytea[]) AS v(id, vector) WHERE EXISTS (SELECT 1 FROM memories WHERE id = v.id)
                ON CONFLICT (memory_id, model) DO UPDATE SET vector = excluded.vector
                WHERE octet_length(excluded.vector) > 0 OR octet_length(embeddings.vector) = 0
                """, cancellationToken, ids, latest.Select(v => VectorCodec.Encode(v.Vector)).ToArray(), model.Id).ConfigureAwait(false);
            await ExecuteAsync(connection, tx, """
                INSERT INTO changes(memory_id, scope, deleted, at)
                SELECT m.id, m.scope, false, $3 FROM unnest($1::text[]) WITH ORDINALITY AS v(id, n) JOIN memories m ON m.id = v.id
                WHERE NOT EXISTS (SELECT 1 FROM scope_embeddings s WHERE s.scope = m.scope AND s.model = $2 AND s.ready_at IS NULL)
                ORDER BY v.n
                """, cancellationToken, ids, model.Id, now).ConfigureAwait(false);

            await ExecuteAsync(connection, tx, """
                INSERT INTO scope_embeddings(scope, model, dimensions, ready_at) SELECT DISTINCT scope, $1, $2, NULL::bigint FROM memories ON CONFLICT DO NOTHING
                """, cancellationToken, model.Id, model.Dimensions).ConfigureAwait(false);
            var ready = await QueryAsync(connection, tx, """
                UPDATE scope_embeddings SET ready_at = $2
                WHERE model = $1 AND ready_at IS NULL
                  AND NOT EXISTS (SELECT 1 FROM memories m WHERE m.scope = scope_embeddings.scope
                                  AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.memory_id = m.id AND e.model = $1))
                RETURNING scope
                """, r => r.GetString(0), cancellationToken, model.Id, now).ConfigureAwait(false);

            // A swap moves the change feed on, so every process catches up and (re)loads the scope's new vectors.
            foreach (var scope in ready)
            {
                await ExecuteAsync(connection, tx, """
                    INSERT INTO changes(memory_id, scope, deleted, at) SELECT id, scope, false, $1 FROM memories WHERE scope = $2 ORDER BY ord DESC LIMIT 1
                    """, cancellationToken, now, scope).ConfigureAwait(false);
            }

            return ready;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc cref="IVectorStore.ReadVectorsAsync"/>
    public Task<VectorBatch> ReadVectorsAsync(string model, string? scope, long afterSeq, CancellationToken cancellationToken) =>
        database.SnapshotAsync(async (connection, tx) =>
        {
            var seq = await PostgresDatabase.MaxSeqAsync(connection, tx, cancellationToken).ConfigureAwait(false);
            if (scope is not null)
            {
                var all = await QueryAsync(connection, tx,
                    "SELECT e.memory_id, m.scope, e.vector FROM embeddings e JOIN memories m ON m.id = e.memory_id WHERE m.scope = $1 AND e.model = $2 ORDER BY m.ord",
                    ReadVector, cancellationToken, scope, model).ConfigureAwait(false);
                return new VectorBatch(seq, all, []);
            }

            var changed = await PostgresChangeFeed.ChangedSinceAsync(connection, tx, afterSeq, cancellationToken).ConfigureAwait(false);
            var vectors = await QueryAsync(connection, tx,
                "SELECT e.memory_id, m.scope, e.vector FROM embeddings e JOIN memories m ON m.id = e.memory_id WHERE e.memory_id = ANY($1) AND e.model = $2",
                ReadVector, cancellationToken, changed.ToArray(), model).ConfigureAwait(false);
            var byId = vectors.ToDictionary(v => v.MemoryId, StringComparer.Ordinal);
            return new VectorBatch(seq, changed.Where(byId.ContainsKey).Select(id => byId[id]).ToList(), changed.Where(id => !byId.ContainsKey(id)).ToList());
        }, cancellationToken);

    private static StoredVector ReadVector(NpgsqlDataReader reader) =>
        new(reader.GetString(0), reader.GetString(1), VectorCodec.Decode(reader.GetFieldValue<byte[]>(2)));
}
