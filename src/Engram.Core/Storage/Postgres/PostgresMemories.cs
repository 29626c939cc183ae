using Engram.Core.Embeddings;
using Engram.Core.Model;
using Npgsql;
using static Engram.Core.Storage.Postgres.PostgresDatabase;

namespace Engram.Core.Storage.Postgres;

/// <summary>
/// The <c>memories</c> and <c>memory_tags</c> tables on PostgreSQL: inserts with deduplication and supersession, import
/// links and forgetting, with the same outcomes as <see cref="Sqlite.SqliteMemories"/>. A batch is written in a few
/// array statements, not a round trip per row.
/// </summary>
internal sealed class PostgresMemories(PostgresDatabase database)
{
    /// <summary>Whether <c>$2</c> (old) is <c>$1</c> (new) or one of the memories that replaced it, directly or in a chain.</summary>
    private const string ReplacedChain = """
        WITH RECURSIVE chain(id) AS (
            SELECT $1::text
            UNION SELECT m.superseded_by FROM memories m JOIN chain c ON m.id = c.id WHERE m.superseded_by IS NOT NULL)
        SELECT 1 FROM chain WHERE id = $2
        """;

    /// <inheritdoc cref="IMemoryRecords.InsertAsync"/>
    public Task<IReadOnlyList<InsertOutcome>> InsertAsync(IReadOnlyList<PendingMemory> batch, EmbeddingModel? model, CancellationToken cancellationToken) =>
        database.WriteAsync<IReadOnlyList<InsertOutcome>>(async (connection, tx) =>
        {
            var keys = batch.Select(p => (p.Memory.Scope, p.ContentHash)).Distinct().ToList();
            var existing = (await QueryAsync(connection, tx, """
                SELECT m.scope, m.content_hash, m.id FROM memories m
                JOIN unnest($1::text[], $2::text[]) AS k(scope, hash) ON m.scope = k.scope AND m.content_hash = k.hash
                """, r => (Key: (r.GetString(0), r.GetString(1)), Id: r.GetString(2)), cancellationToken,
                keys.Select(k => k.Scope).ToArray(), keys.Select(k => k.ContentHash).ToArray()).ConfigureAwait(false))
                .ToDictionary(x => x.Key, x => x.Id);
            var olds = batch.SelectMany(p => p.Supersedes).Distinct(StringComparer.Ordinal).ToArray();
            var scopeOf = (await QueryAsync(connection, tx, "SELECT id, scope FROM memories WHERE id = ANY($1)", r => (r.GetString(0), r.GetString(1)), cancellationToken, olds).ConfigureAwait(false))
                .ToDictionary(x => x.Item1, x => x.Item2, StringComparer.Ordinal);

            // The memory each new one follows in its scope: a vector made as the answer to another question (a reply's row) is not kept.
            var last = !batch.Any(p => p.Answering is not null) ? new Dictionary<string, PrecedingMemory>(StringComparer.Ordinal) : (await QueryAsync(connection, tx, """
                SELECT s.scope, l.id, l.content, l.observed_at, NULL::bytea FROM unnest($1::text[]) s(scope)
                CROSS JOIN LATERAL (SELECT id, content, observed_at FROM memories m WHERE m.scope = s.scope ORDER BY ord DESC LIMIT 1) l
                """, r => (r.GetString(0), PrecedingMemory.Read(r, 1)!), cancellationToken, batch.Select(p => p.Memory.Scope).Distinct().ToArray()).ConfigureAwait(false))
                .ToDictionary(x => x.Item1, x => x.Item2, StringComparer.Ordinal);
            var writes = new PendingWrites(model);
            var results = new List<InsertOutcome>(batch.Count);
            foreach (var pending in batch)
            {
                var (memory, contentHash, _, supersedes, entities) = pending;
                var existingId = existing.GetValueOrDefault((memory.Scope, contentHash));
                var id = existingId ?? memory.Id;
                foreach (var old in supersedes)
                {
                    if (scopeOf.GetValueOrDefault(old) != memory.Scope)
                    {
                        throw SupersessionErrors.NotInScope(old, memory.Scope);
                    }

                    if (old == id || (existingId is not null && await ReplacedAsync(connection, tx, writes, existingId, old, cancellationToken).ConfigureAwait(false)))
                    {
                        throw SupersessionErrors.Cycle(old, itself: old == id);
                    }
                }

                if (existingId is not null)
                {
                    // The same fact again: nothing new is stored, but a supersession the caller asks for still takes effect.
                    foreach (var old in supersedes)
                    {
                        writes.Supersede(existingId, memory.CreatedAt, old, memory.Scope);
                    }

                    results.Add(new InsertOutcome(false, existingId));
                    continue;
                }

                var vector = pending.VectorAfter(last.GetValueOrDefault(memory.Scope));
                writes.Add(memory, contentHash, vector, entities);
                last[memory.Scope] = new PrecedingMemory(memory.Id, memory.Content, memory.ObservedAt, null);
                existing[(memory.Scope, contentHash)] = memory.Id;
                scopeOf[memory.Id] = memory.Scope;
                foreach (var old in supersedes)
                {
                    writes.Supersede(memory.Id, memory.CreatedAt, old, memory.Scope);
                }

                results.Add(new InsertOutcome(true, memory.Id, vector is not null && model is not null));
            }

            await writes.FlushAsync(connection, tx, cancellationToken).ConfigureAwait(false);
            return results;
        }, cancellationToken);

    /// <summary>The chain check, with this batch's pending writes flushed first so it sees them.</summary>
    private static async Task<bool> ReplacedAsync(NpgsqlConnection connection, NpgsqlTransaction tx, PendingWrites writes, string @new, string old, CancellationToken cancellationToken)
    {
        await writes.FlushAsync(connection, tx, cancellationToken).ConfigureAwait(false);
        return (bool)(await ScalarAsync(connection, tx, $"SELECT EXISTS ({ReplacedChain})", cancellationToken, @new, old).ConfigureAwait(false))!;
    }

    /// <summary>A batch's rows, gathered in order and written in a handful of array statements.</summary>
    private sealed class PendingWrites(EmbeddingModel? model)
    {
        private readonly List<(StoredMemory Memory, string Hash)> _memories = [];
        private readonly List<(string Id, byte[] Vector)> _vectors = [];
        private readonly List<(string Id, string Tag)> _tags = [];
        private readonly List<(string Scope, string Entity, string Id)> _entities = [];
        private readonly List<(string New, long At, string Old)> _supersedes = [];
        private readonly List<(string Id, string Scope, long At)> _changes = [];
        private readonly List<(string Scope, long At)> _newScopes = [];
        private readonly HashSet<string> _touched = new(StringComparer.Ordinal);

        public void Add(StoredMemory memory, string hash, float[]? vector, IReadOnlyList<string> entities)
        {
            if (_touched.Add(memory.Scope))
            {
                _newScopes.Add((memory.Scope, memory.CreatedAt));
            }

            _memories.Add((memory, hash));
            if (vector is not null && model is not null)
            {
                _vectors.Add((memory.Id, VectorCodec.Encode(vector)));
            }

            _changes.Add((memory.Id, memory.Scope, memory.CreatedAt));
            _tags.AddRange(memory.Tags.Select(t => (memory.Id, t)));
            _entities.AddRange(entities.Select(e => (memory.Scope, e, memory.Id)));
        }

        public void Supersede(string @new, long at, string old, string scope)
        {
            _supersedes.Add((@new, at, old));
            _changes.Add((old, scope, at));
        }

        public async Task FlushAsync(NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken cancellationToken)
        {
            if (_newScopes.Count > 0)
            {
                // A new memory becomes session context of the memories stored just before it: their index entries change too.
                await ExecuteAsync(connection, tx, $"""
                    INSERT INTO changes(memory_id, scope, deleted, at)
                    SELECT l.id, l.scope, false, s.at FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS s(scope, at, n)
                    CROSS JOIN LATERAL (SELECT id, scope, ord FROM memories m WHERE m.scope = s.scope ORDER BY ord DESC LIMIT {ChangedMemory.Radius}) l
                    ORDER BY s.n, l.ord
                    """, cancellationToken, _newScopes.Select(s => s.Scope).ToArray(), _newScopes.Select(s => s.At).ToArray()).ConfigureAwait(false);
                if (model is not null)
                {
                    // A scope that receives its first memory under the model is ready for it at once.
                    await ExecuteAsync(connection, tx, """
                        INSERT INTO scope_embeddings(scope, model, dimensions, ready_at)
                        SELECT s.scope, $3, $4, s.at FROM unnest($1::text[], $2::bigint[]) AS s(scope, at)
                        WHERE NOT EXISTS (SELECT 1 FROM memories m WHERE m.scope = s.scope)
                        ON CONFLICT DO NOTHING
                        """, cancellationToken, _newScopes.Select(s => s.Scope).ToArray(), _newScopes.Select(s => s.At).ToArray(), model.Id, model.Dimensions).ConfigureAwait(false);
                }
            }

            if (_memories.Count > 0)
            {
                await ExecuteAsync(connection, tx, """
                    INSERT INTO memories(id, scope, content, content_hash, observed_at, created_at)
                    SELECT id, scope, content, hash, observed, created
                    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[]) WITH ORDINALITY AS r(id, scope, content, hash, observed, created, n)
                    ORDER BY n
                    """, cancellationToken,
                    _memories.Select(m => m.Memory.Id).ToArray(), _memories.Select(m => m.Memory.Scope).ToArray(), _memories.Select(m => m.Memory.Content).ToArray(),
                    _memories.Select(m => m.Hash).ToArray(), _memories.Select(m => m.Memory.ObservedAt).ToArray(), _memories.Select(m => m.Memory.CreatedAt).ToArray()).ConfigureAwait(false);
            }

            if (_vectors.Count > 0)
            {
                await ExecuteAsync(connection, tx, "INSERT INTO embeddings(memory_id, model, vector) SELECT id, $3, vector FROM unnest($1::text[], $2::bytea[]) AS v(id, vector)", cancellationToken,
                    _vectors.Select(v => v.Id).ToArray(), _vectors.Select(v => v.Vector).ToArray(), model!.Id).ConfigureAwait(false);
            }

            if (_tags.Count > 0)
            {
                await ExecuteAsync(connection, tx, "INSERT INTO memory_tags(memory_id, tag) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING", cancellationToken,
                    _tags.Select(t => t.Id).ToArray(), _tags.Select(t => t.Tag).ToArray()).ConfigureAwait(false);
            }

            if (_entities.Count > 0)
            {
                await ExecuteAsync(connection, tx, "INSERT INTO memory_entities(scope, entity, memory_id) SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING", cancellationToken,
                    _entities.Select(e => e.Scope).ToArray(), _entities.Select(e => e.Entity).ToArray(), _entities.Select(e => e.Id).ToArray()).ConfigureAwait(false);
            }

            if (_supersedes.Count > 0)
            {
                // In batch order: an old memory named twice ends up replaced by the later one, as row by row.
                await ExecuteAsync(connection, tx, """
                    UPDATE memories m SET superseded_by = s.new, superseded_at = s.at
                    FROM (SELECT DISTINCT ON (old) old, new, at FROM unnest($1::text[], $2::bigint[], $3::text[]) WITH ORDINALITY AS u(new, at, old, n) ORDER BY old, n DESC) s
                    WHERE m.id = s.old
                    """, cancellationToken, _supersedes.Select(x => x.New).ToArray(), _supersedes.Select(x => x.At).ToArray(), _supersedes.Select(x => x.Old).ToArray()).ConfigureAwait(false);
            }

            if (_changes.Count > 0)
            {
                await ExecuteAsync(connection, tx, """
                    INSERT INTO changes(memory_id, scope, deleted, at)
                    SELECT id, scope, false, at FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS c(id, scope, at, n) ORDER BY n
                    """, cancellationToken, _changes.Select(c => c.Id).ToArray(), _changes.Select(c => c.Scope).ToArray(), _changes.Select(c => c.At).ToArray()).ConfigureAwait(false);
            }

            _memories.Clear();
            _vectors.Clear();
            _tags.Clear();
            _entities.Clear();
            _supersedes.Clear();
            _changes.Clear();
            _newScopes.Clear();
        }
    }

    /// <inheritdoc cref="IMemoryRecords.LinkAsync"/>
    public Task<int> LinkAsync(IReadOnlyList<(string Old, string New, long At)> links, CancellationToken cancellationToken) =>
        database.WriteAsync(async (connection, tx) =>
        {
            var applied = 0;
            foreach (var (old, @new, at) in links)
            {
                var linked = await ExecuteAsync(connection, tx, $"""
                    UPDATE memories SET superseded_by = $1, superseded_at = $3
                    WHERE id = $2 AND $2 <> $1
                      AND scope = (SELECT scope FROM memories WHERE id = $1)
                      AND NOT EXISTS ({ReplacedChain})
                    """, cancellationToken, @new, old, at).ConfigureAwait(false);
                if (linked > 0)
                {
                    applied++;
                    await ExecuteAsync(connection, tx, "INSERT INTO changes(memory_id, scope, deleted, at) SELECT id, scope, false, $2 FROM memories WHERE id = $1", cancellationToken, old, at).ConfigureAwait(false);
                }
            }

            return applied;
        }, cancellationToken);

    /// <inheritdoc cref="IMemoryRecords.SetTagsAsync"/>
    public Task<bool> SetTagsAsync(string id, IReadOnlyList<string> tags, long at, CancellationToken cancellationToken) =>
        database.WriteAsync(async (connection, tx) =>
        {
            if (await ExecuteAsync(connection, tx, "INSERT INTO changes(memory_id, scope, deleted, at) SELECT id, scope, false, $2 FROM memories WHERE id = $1", cancellationToken, id, at).ConfigureAwait(false) == 0)
            {
                return false;
            }

            await ExecuteAsync(connection, tx, "DELETE FROM memory_tags WHERE memory_id = $1", cancellationToken, id).ConfigureAwait(false);
            await ExecuteAsync(connection, tx, "INSERT INTO memory_tags(memory_id, tag) SELECT $1, t FROM unnest($2::text[]) AS t", cancellationToken, id, tags.ToArray()).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    /// <inheritdoc cref="IMemoryRecords.DeleteAsync"/>
    public Task<Deletion> DeleteAsync(IReadOnlyCollection<string> ids, ForgetSelector selector, IReadOnlyList<string> scopes, string? principal, CancellationToken cancellationToken) =>
        database.WriteAsync(async (connection, tx) =>
        {
            var existing = await PostgresMemoryQueries.GetAsync(connection, tx, ids, cancellationToken).ConfigureAwait(false);
            // Before the memories: a memory a check still names cannot be deleted.
            var checks = await PostgresChecks.DeleteAsync(connection, tx, existing.Keys, Deletion.CheckHomes(selector, scopes), cancellationToken).ConfigureAwait(false);
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            foreach (var memory in existing.Values)
            {
                // The one after a forgotten memory may carry it in its vector (a reply's row, when it asked), and may now
                // follow a question: its rows are made again for what now precedes it (no model runs), in this transaction.
                var next = await QueryAsync(connection, tx, $"""
                    SELECT n.id, n.content, n.observed_at, e.model, e.vector FROM memories n JOIN embeddings e ON e.memory_id = n.id
                    WHERE n.id = (SELECT id FROM memories WHERE scope = $2 AND ord > (SELECT ord FROM memories WHERE id = $1) ORDER BY ord LIMIT 1)
                      AND e.model LIKE '%{EmbeddingRuntime.RepliesMark}%'
                    """, r => (r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetString(3), VectorCodec.Decode(r.GetFieldValue<byte[]>(4))), cancellationToken, memory.Id, memory.Scope).ConfigureAwait(false);
                foreach (var (id, content, observedAt, model, rows) in next)
                {
                    var before = (await QueryAsync(connection, tx, """
                        SELECT p.id, p.content, p.observed_at, pe.vector FROM memories p LEFT JOIN embeddings pe ON pe.memory_id = p.id AND pe.model = $3
                        WHERE p.scope = $2 AND p.ord < (SELECT ord FROM memories WHERE id = $1) ORDER BY p.ord DESC LIMIT 1
                        """, r => PrecedingMemory.Read(r, 0), cancellationToken, memory.Id, memory.Scope, model).ConfigureAwait(false)).FirstOrDefault();
                    await (EmbeddingRuntime.Refollow(model, rows, content, observedAt, before) is { } kept
                        ? ExecuteAsync(connection, tx, "UPDATE embeddings SET vector = $3 WHERE memory_id = $1 AND model = $2", cancellationToken, id, model, VectorCodec.Encode(kept))
                        : ExecuteAsync(connection, tx, "DELETE FROM embeddings WHERE memory_id = $1 AND model = $2", cancellationToken, id, model)).ConfigureAwait(false);
                }

                // The memories around a forgotten one carried its text as session context: they are re-indexed without it.
                // The row is locked first: a recall log being written for it on another server (which key-share locks
                // the rows it names) commits before the statements below read the log, so they delete it too.
                await ExecuteNamedAsync(connection, tx, $"""
                    SELECT 1 FROM memories WHERE id = @id FOR UPDATE;
                    INSERT INTO changes(memory_id, scope, deleted, at)
                        SELECT id, scope, false, @now FROM (SELECT id, scope, ord FROM memories
                            WHERE scope = @scope AND ord < (SELECT ord FROM memories WHERE id = @id) ORDER BY ord DESC LIMIT {ChangedMemory.Radius}) b ORDER BY ord DESC;
                    INSERT INTO changes(memory_id, scope, deleted, at)
                        SELECT id, scope, false, @now FROM (SELECT id, scope, ord FROM memories
                            WHERE scope = @scope AND ord > (SELECT ord FROM memories WHERE id = @id) ORDER BY ord LIMIT {ChangedMemory.Radius}) a ORDER BY ord;
                    INSERT INTO changes(memory_id, scope, deleted, at)
                        SELECT id, scope, false, @now FROM memories WHERE superseded_by = @id;
                    UPDATE memories SET superseded_by = NULL, superseded_at = NULL WHERE superseded_by = @id;
                    DELETE FROM retrievals WHERE id IN (SELECT retrieval_id FROM retrieval_hits WHERE memory_id = @id);
                    DELETE FROM retrieval_hits WHERE memory_id = @id;
                    DELETE FROM memories WHERE id = @id;
                    INSERT INTO changes(memory_id, scope, deleted, at) VALUES(@id, @scope, true, @now);
                    """, cancellationToken, ("id", memory.Id), ("scope", memory.Scope), ("now", now)).ConfigureAwait(false);
            }

            var deleted = ids.Where(existing.ContainsKey).ToList();
            await PostgresAdministration.AppendForgetAuditAsync(connection, tx, now, selector, scopes, principal, deleted, cancellationToken).ConfigureAwait(false);
            return new Deletion(deleted, checks);
        }, cancellationToken);
}
