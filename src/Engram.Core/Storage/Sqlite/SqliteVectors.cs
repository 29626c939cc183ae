using System.Text.Json;
using Microsoft.Data.Sqlite;
using static Engram.Core.Storage.Sqlite.SqliteDatabase;

namespace Engram.Core.Storage.Sqlite;

/// <summary>The <c>embeddings</c> and <c>scope_embeddings</c> tables: vectors per model, and each scope's readiness for a model.</summary>
internal sealed class SqliteVectors(SqliteDatabase database)
{
    /// <inheritdoc cref="IVectorStore.ScopeVectorsAsync"/>
    public async Task<List<ScopeVectors>> ScopeVectorsAsync(IReadOnlyList<string>? scopes, string modelId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, c => $"""
            SELECT m.scope,
                   (SELECT ready_at IS NOT NULL FROM scope_embeddings s WHERE s.scope = m.scope AND s.model = $model),
                   COUNT(*),
                   SUM(EXISTS (SELECT 1 FROM embeddings e WHERE e.memory_id = m.id AND e.model = $model AND length(e.vector) > 0))
            FROM memories m {(scopes is null ? "" : $"WHERE m.scope IN ({AddList(c, "$s", scopes)})")} GROUP BY m.scope ORDER BY m.scope;
            """, "$model");
        Bind(command, modelId);
        var result = await ReadAsync(command, r => new ScopeVectors(r.GetString(0), !r.IsDBNull(1) && r.GetInt64(1) == 1, r.GetInt32(2), r.GetInt32(3)), cancellationToken).ConfigureAwait(false);

        // A scope without memories is ready for any model once it has a row; with no row it is simply empty.
        if (scopes is not null)
        {
            foreach (var scope in scopes.Where(s => result.All(r => r.Scope != s)))
            {
                result.Add(new ScopeVectors(scope, true, 0, 0));
            }
        }

        return result;
    }

    /// <inheritdoc cref="IVectorStore.ReadyScopesAsync"/>
    public async Task<Dictionary<string, long?>> ReadyScopesAsync(IReadOnlyList<string> scopes, string modelId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, """
            SELECT a.value, s.ready_at FROM json_each($all) a LEFT JOIN scope_embeddings s ON s.scope = a.value AND s.model = $model
            WHERE s.ready_at IS NOT NULL OR (s.scope IS NULL AND NOT EXISTS (SELECT 1 FROM memories WHERE scope = a.value));
            """, "$model", "$all");
        Bind(command, modelId, JsonSerializer.Serialize(scopes));
        var ready = new Dictionary<string, long?>(StringComparer.Ordinal);
        foreach (var (scope, at) in await ReadAsync(command, r => (r.GetString(0), r.IsDBNull(1) ? (long?)null : r.GetInt64(1)), cancellationToken).ConfigureAwait(false))
        {
            ready[scope] = at;
        }

        return ready;
    }

    /// <inheritdoc cref="IVectorStore.UnembeddedAsync"/>
    public async Task<List<UnembeddedMemory>> UnembeddedAsync(string modelId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, """
            SELECT m.id, m.scope, m.content, m.content_hash, m.observed_at, p.id, p.content, p.observed_at, pe.vector
            FROM (SELECT rowid AS r, id, scope, content, content_hash, observed_at FROM memories u
                  WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.memory_id = u.id AND e.model = $model)
                  ORDER BY scope, rowid LIMIT $limit) m
            LEFT JOIN memories p ON p.rowid = (SELECT max(x.rowid) FROM memories x WHERE x.scope = m.scope AND x.rowid < m.r)
            LEFT JOIN embeddings pe ON pe.memory_id = p.id AND pe.model = $model
            ORDER BY m.scope, m.r;
            """, "$model", "$limit");
        Bind(command, modelId, limit);
        return await ReadAsync(command, r => new UnembeddedMemory(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4), PrecedingMemory.Read(r, 5)), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc cref="IVectorStore.LastMemoriesAsync"/>
    public async Task<Dictionary<string, PrecedingMemory>> LastMemoriesAsync(IReadOnlyList<string> scopes, string modelId, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, """
            SELECT p.id, p.content, p.observed_at, pe.vector FROM memories p
            LEFT JOIN embeddings pe ON pe.memory_id = p.id AND pe.model = $model
            WHERE p.rowid = (SELECT max(rowid) FROM memories WHERE scope = $scope);
            """, "$model", "$scope");
        var last = new Dictionary<string, PrecedingMemory>(StringComparer.Ordinal);
        foreach (var scope in scopes.Distinct(StringComparer.Ordinal))
        {
            Bind(command, modelId, scope);
            if ((await ReadAsync(command, r => PrecedingMemory.Read(r, 0), cancellationToken).ConfigureAwait(false)) is [{ } memory])
            {
                last[scope] = memory;
            }
        }

        return last;
    }

    /// <inheritdoc cref="IVectorStore.SaveVectorsAsync"/>
    public async Task<List<string>> SaveVectorsAsync(EmbeddingModel model, IReadOnlyList<(UnembeddedMemory Memory, float[] Vector)> vectors, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        if (vectors.Count == 0)
        {
            // Most idle checks find every scope ready: answer them without a write transaction.
            await using var check = Command(connection, null, """
                SELECT EXISTS (SELECT 1 FROM (SELECT DISTINCT scope FROM memories) m
                    WHERE NOT EXISTS (SELECT 1 FROM scope_embeddings s WHERE s.scope = m.scope AND s.model = $model AND s.ready_at IS NOT NULL));
                """, "$model");
            if (ToInt64(await ScalarAsync(check, cancellationToken, model.Id).ConfigureAwait(false)) == 0)
            {
                return [];
            }
        }

        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        // A vector is kept only while the memory answers the question it was embedded as the answer to, or none (a
        // reply's row holds the question's meaning): if that one was forgotten meanwhile, the memory stays unembedded and
        // the next pass makes it again.
        await using var before = Command(connection, tx, """
            SELECT p.id, p.content, p.observed_at, NULL FROM memories m
            JOIN memories p ON p.rowid = (SELECT max(x.rowid) FROM memories x WHERE x.scope = m.scope AND x.rowid < m.rowid) WHERE m.id = $id;
            """, "$id");
        // A refused text's empty vector never replaces a vector another process made meanwhile.
        await using var save = Command(connection, tx, """
            INSERT INTO embeddings(memory_id, model, vector) SELECT $id, $model, $vector WHERE EXISTS (SELECT 1 FROM memories WHERE id = $id)
                ON CONFLICT(memory_id, model) DO UPDATE SET vector = excluded.vector WHERE length(excluded.vector) > 0 OR length(embeddings.vector) = 0;
            INSERT INTO changes(memory_id, scope, deleted, at)
                SELECT id, scope, 0, $at FROM memories WHERE id = $id
                AND NOT EXISTS (SELECT 1 FROM scope_embeddings s WHERE s.scope = memories.scope AND s.model = $model AND s.ready_at IS NULL);
            """, "$id", "$model", "$vector", "$at");
        foreach (var (memory, vector) in vectors)
        {
            Bind(before, memory.Id);
            if (!memory.StillAnswersAsWith((await ReadAsync(before, r => PrecedingMemory.Read(r, 0), cancellationToken).ConfigureAwait(false)).FirstOrDefault()))
            {
                continue;
            }

            await ExecuteAsync(save, cancellationToken, memory.Id, model.Id, VectorCodec.Encode(vector), now).ConfigureAwait(false);
        }

        List<string> ready;
        await using (var mark = Command(connection, tx, """
            INSERT OR IGNORE INTO scope_embeddings(scope, model, dimensions, ready_at) SELECT DISTINCT scope, $model, $dimensions, NULL FROM memories;
            UPDATE scope_embeddings SET ready_at = $at
            WHERE model = $model AND ready_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM memories m WHERE m.scope = scope_embeddings.scope
                              AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.memory_id = m.id AND e.model = $model))
            RETURNING scope;
            """, "$model", "$dimensions", "$at"))
        {
            Bind(mark, model.Id, model.Dimensions, now);
            ready = await ReadAsync(mark, r => r.GetString(0), cancellationToken).ConfigureAwait(false);
        }

        // A swap moves the change feed on, so every process catches up and (re)loads the scope's new vectors.
        await using var announce = Command(connection, tx, """
            INSERT INTO changes(memory_id, scope, deleted, at) SELECT id, scope, 0, $at FROM memories WHERE scope = $scope ORDER BY rowid DESC LIMIT 1;
            """, "$at", "$scope");
        foreach (var scope in ready)
        {
            await ExecuteAsync(announce, cancellationToken, now, scope).ConfigureAwait(false);
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return ready;
    }

    /// <inheritdoc cref="IVectorStore.ReadVectorsAsync"/>
    public async Task<VectorBatch> ReadVectorsAsync(string model, string? scope, long afterSeq, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = connection.BeginTransaction(deferred: true);
        var seq = await SqliteChangeFeed.MaxSeqAsync(connection, tx, cancellationToken).ConfigureAwait(false);
        if (scope is not null)
        {
            await using var command = Command(connection, tx,
                "SELECT e.memory_id, m.scope, e.vector FROM embeddings e JOIN memories m ON m.id = e.memory_id WHERE m.scope=$scope AND e.model=$model ORDER BY m.rowid;",
                "$scope", "$model");
            Bind(command, scope, model);
            return new VectorBatch(seq, await ReadAsync(command, ReadVector, cancellationToken).ConfigureAwait(false), []);
        }

        var changed = await SqliteChangeFeed.ChangedSinceAsync(connection, tx, afterSeq, cancellationToken).ConfigureAwait(false);
        var vectors = new List<StoredVector>();
        foreach (var chunk in changed.Chunk(500))
        {
            await using var command = Command(connection, tx,
                c => $"SELECT e.memory_id, m.scope, e.vector FROM embeddings e JOIN memories m ON m.id = e.memory_id WHERE e.memory_id IN ({AddList(c, "$i", chunk)}) AND e.model=$model;",
                "$model");
            Bind(command, model);
            vectors.AddRange(await ReadAsync(command, ReadVector, cancellationToken).ConfigureAwait(false));
        }

        var byId = vectors.ToDictionary(v => v.MemoryId, StringComparer.Ordinal);
        var removed = changed.Where(id => !byId.ContainsKey(id)).ToList();
        return new VectorBatch(seq, changed.Where(byId.ContainsKey).Select(id => byId[id]).ToList(), removed);
    }

    private static StoredVector ReadVector(SqliteDataReader reader) =>
        new(reader.GetString(0), reader.GetString(1), VectorCodec.Decode((byte[])reader.GetValue(2)));
}
