using Engram.Core.Embeddings;
using Engram.Core.Model;
using Microsoft.Data.Sqlite;
using static Engram.Core.Storage.Sqlite.SqliteDatabase;

namespace Engram.Core.Storage.Sqlite;

/// <summary>
/// The <c>memories</c> and <c>memory_tags</c> tables: inserts with deduplication and supersession, import links and
/// forgetting. Reads are in <see cref="SqliteMemoryQueries"/>.
/// </summary>
internal sealed class SqliteMemories(SqliteDatabase database)
{
    /// <summary>
    /// Whether <c>$old</c> is <c>$new</c> or one of the memories that replaced it, directly or in a chain: a link
    /// making <c>$old</c> superseded by <c>$new</c> would then close a cycle (and hide every memory on it).
    /// </summary>
    private const string ReplacedChain = """
        WITH RECURSIVE chain(id) AS (
            SELECT $new
            UNION SELECT m.superseded_by FROM memories m JOIN chain c ON m.id = c.id WHERE m.superseded_by IS NOT NULL)
        SELECT 1 FROM chain WHERE id = $old
        """;

    /// <inheritdoc cref="IMemoryRecords.InsertAsync"/>
    public async Task<IReadOnlyList<InsertOutcome>> InsertAsync(IReadOnlyList<PendingMemory> batch, EmbeddingModel? model, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);

        // Prepared once, bound per row: a bulk import is dominated by statement preparation otherwise.
        await using var findDuplicate = Command(connection, tx, "SELECT id FROM memories WHERE scope=$scope AND content_hash=$hash;", "$scope", "$hash");
        await using var findScope = Command(connection, tx, "SELECT scope FROM memories WHERE id=$id;", "$id");
        await using var findLast = Command(connection, tx, "SELECT id, content, observed_at, NULL FROM memories WHERE scope=$scope ORDER BY rowid DESC LIMIT 1;", "$scope");
        await using var insertMemory = Command(connection, tx, """
            INSERT INTO memories(id, scope, content, content_hash, observed_at, created_at) VALUES($id, $scope, $content, $hash, $observed, $created);
            """, "$id", "$scope", "$content", "$hash", "$observed", "$created");
        await using var insertVector = Command(connection, tx, "INSERT INTO embeddings(memory_id, model, vector) VALUES($id, $model, $vector);", "$id", "$model", "$vector");
        await using var insertChange = Command(connection, tx, "INSERT INTO changes(memory_id, scope, deleted, at) VALUES($id, $scope, 0, $at);", "$id", "$scope", "$at");
        await using var insertTag = Command(connection, tx, "INSERT OR IGNORE INTO memory_tags(memory_id, tag) VALUES($id, $tag);", "$id", "$tag");
        await using var insertEntity = SqliteEntities.InsertLink(connection, tx);
        await using var supersede = Command(connection, tx, "UPDATE memories SET superseded_by=$new, superseded_at=$at WHERE id=$old;", "$new", "$at", "$old");

        await using var findSuperseder = Command(connection, tx, $"SELECT EXISTS ({ReplacedChain});", "$new", "$old");
        // A new memory becomes session context of the memories stored just before it: their index entries change too.
        await using var touchLatest = Command(connection, tx, $"""
            INSERT INTO changes(memory_id, scope, deleted, at)
                SELECT id, scope, 0, $at FROM (SELECT id, scope FROM memories WHERE scope=$scope ORDER BY rowid DESC LIMIT {ChangedMemory.Radius});
            """, "$at", "$scope");
        await using var readyIfNew = Command(connection, tx, """
            INSERT OR IGNORE INTO scope_embeddings(scope, model, dimensions, ready_at)
                SELECT $scope, $model, $dimensions, $at WHERE NOT EXISTS (SELECT 1 FROM memories WHERE scope=$scope);
            """, "$scope", "$model", "$dimensions", "$at");
        var touched = new HashSet<string>(StringComparer.Ordinal);
        var results = new List<InsertOutcome>(batch.Count);
        foreach (var pending in batch)
        {
            var (memory, contentHash, _, supersedes, entities) = pending;
            var existingId = await ScalarAsync(findDuplicate, cancellationToken, memory.Scope, contentHash).ConfigureAwait(false) as string;
            var id = existingId ?? memory.Id;
            foreach (var old in supersedes)
            {
                if (await ScalarAsync(findScope, cancellationToken, old).ConfigureAwait(false) as string != memory.Scope)
                {
                    throw SupersessionErrors.NotInScope(old, memory.Scope);
                }

                if (old == id || (existingId is not null && ToInt64(await ScalarAsync(findSuperseder, cancellationToken, existingId, old).ConfigureAwait(false)) == 1))
                {
                    throw SupersessionErrors.Cycle(old, itself: old == id);
                }
            }

            if (existingId is not null)
            {
                // The same fact again: nothing new is stored, but a supersession the caller asks for still takes effect.
                foreach (var old in supersedes)
                {
                    await ExecuteAsync(supersede, cancellationToken, existingId, memory.CreatedAt, old).ConfigureAwait(false);
                    await ExecuteAsync(insertChange, cancellationToken, old, memory.Scope, memory.CreatedAt).ConfigureAwait(false);
                }

                results.Add(new InsertOutcome(false, existingId));
                continue;
            }

            if (touched.Add(memory.Scope))
            {
                await ExecuteAsync(touchLatest, cancellationToken, memory.CreatedAt, memory.Scope).ConfigureAwait(false);
                if (model is not null)
                {
                    await ExecuteAsync(readyIfNew, cancellationToken, memory.Scope, model.Id, model.Dimensions, memory.CreatedAt).ConfigureAwait(false);
                }
            }

            // Its vector may hold the question it was to answer (a reply's row): kept only if it answers that one as stored.
            var vector = pending.Answering is null && !pending.OffersOnly ? pending.Vector : pending.VectorAfter(await LastAsync(findLast, memory.Scope, cancellationToken).ConfigureAwait(false));
            await ExecuteAsync(insertMemory, cancellationToken, memory.Id, memory.Scope, memory.Content, contentHash, memory.ObservedAt, memory.CreatedAt).ConfigureAwait(false);
            if (vector is not null && model is not null)
            {
                await ExecuteAsync(insertVector, cancellationToken, memory.Id, model.Id, VectorCodec.Encode(vector)).ConfigureAwait(false);
            }

            await ExecuteAsync(insertChange, cancellationToken, memory.Id, memory.Scope, memory.CreatedAt).ConfigureAwait(false);
            foreach (var tag in memory.Tags)
            {
                await ExecuteAsync(insertTag, cancellationToken, memory.Id, tag).ConfigureAwait(false);
            }

            foreach (var entity in entities)
            {
                await ExecuteAsync(insertEntity, cancellationToken, memory.Scope, entity, memory.Id).ConfigureAwait(false);
            }

            foreach (var old in supersedes)
            {
                await ExecuteAsync(supersede, cancellationToken, memory.Id, memory.CreatedAt, old).ConfigureAwait(false);
                await ExecuteAsync(insertChange, cancellationToken, old, memory.Scope, memory.CreatedAt).ConfigureAwait(false);
            }

            results.Add(new InsertOutcome(true, memory.Id, vector is not null && model is not null));
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return results;
    }

    /// <inheritdoc cref="IMemoryRecords.LinkAsync"/>
    public async Task<int> LinkAsync(IReadOnlyList<(string Old, string New, long At)> links, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var link = Command(connection, tx, $"""
            UPDATE memories SET superseded_by = $new, superseded_at = $at
            WHERE id = $old AND $old <> $new
              AND scope = (SELECT scope FROM memories WHERE id = $new)
              AND NOT EXISTS ({ReplacedChain});
            """, "$old", "$new", "$at");
        await using var change = Command(connection, tx, "INSERT INTO changes(memory_id, scope, deleted, at) SELECT id, scope, 0, $at FROM memories WHERE id = $old;", "$old", "$at");
        var applied = 0;
        foreach (var (old, @new, at) in links)
        {
            if (await ExecuteAsync(link, cancellationToken, old, @new, at).ConfigureAwait(false) > 0)
            {
                applied++;
                await ExecuteAsync(change, cancellationToken, old, at).ConfigureAwait(false);
            }
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return applied;
    }

    /// <inheritdoc cref="IMemoryRecords.SetTagsAsync"/>
    public async Task<bool> SetTagsAsync(string id, IReadOnlyList<string> tags, long at, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var change = Command(connection, tx, "INSERT INTO changes(memory_id, scope, deleted, at) SELECT id, scope, 0, $at FROM memories WHERE id = $id;", "$id", "$at");
        if (await ExecuteAsync(change, cancellationToken, id, at).ConfigureAwait(false) == 0)
        {
            return false;
        }

        await using var clear = Command(connection, tx, "DELETE FROM memory_tags WHERE memory_id = $id;", "$id");
        await ExecuteAsync(clear, cancellationToken, id).ConfigureAwait(false);
        await using var add = Command(connection, tx, "INSERT INTO memory_tags(memory_id, tag) VALUES($id, $tag);", "$id", "$tag");
        foreach (var tag in tags)
        {
            await ExecuteAsync(add, cancellationToken, id, tag).ConfigureAwait(false);
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>The memory stored last in a scope (without its vector), through <c>findLast</c>.</summary>
    private static async Task<PrecedingMemory?> LastAsync(SqliteCommand findLast, string scope, CancellationToken cancellationToken)
    {
        Bind(findLast, scope);
        return (await ReadAsync(findLast, r => PrecedingMemory.Read(r, 0), cancellationToken).ConfigureAwait(false)).FirstOrDefault();
    }

    /// <inheritdoc cref="IMemoryRecords.DeleteAsync"/>
    public async Task<Deletion> DeleteAsync(IReadOnlyCollection<string> ids, ForgetSelector selector, IReadOnlyList<string> scopes, string? principal, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        var existing = await SqliteMemoryQueries.GetAsync(connection, tx, ids, cancellationToken).ConfigureAwait(false);
        // Before the memories: a memory a check still names cannot be deleted.
        var checks = await SqliteChecks.DeleteAsync(connection, tx, existing.Keys, Deletion.CheckHomes(selector, scopes), cancellationToken).ConfigureAwait(false);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        // The memories around a forgotten one carried its text as session context: they are re-indexed without it. The
        // one after it may carry it in its vector too (a reply's row, when it asked), and may now follow a question: its
        // rows are made again for what now precedes it (no model runs), in this transaction.
        await using var next = Command(connection, tx, $"""
            SELECT n.id, n.content, n.observed_at, e.model, e.vector FROM memories n JOIN embeddings e ON e.memory_id = n.id
            WHERE n.id = (SELECT id FROM memories WHERE scope=$scope AND rowid > (SELECT rowid FROM memories WHERE id=$id) ORDER BY rowid LIMIT 1)
              AND e.model LIKE '%{EmbeddingRuntime.RepliesMark}%';
            """, "$id", "$scope");
        await using var previous = Command(connection, tx, """
            SELECT p.id, p.content, p.observed_at, pe.vector FROM memories p LEFT JOIN embeddings pe ON pe.memory_id = p.id AND pe.model = $model
            WHERE p.rowid = (SELECT max(rowid) FROM memories WHERE scope=$scope AND rowid < (SELECT rowid FROM memories WHERE id=$id));
            """, "$id", "$scope", "$model");
        await using var refollow = Command(connection, tx, "UPDATE embeddings SET vector=$vector WHERE memory_id=$id AND model=$model;", "$id", "$model", "$vector");
        await using var drop = Command(connection, tx, "DELETE FROM embeddings WHERE memory_id=$id AND model=$model;", "$id", "$model");
        await using var delete = Command(connection, tx, $"""
            INSERT INTO changes(memory_id, scope, deleted, at)
                SELECT id, scope, 0, $now FROM (SELECT id, scope FROM memories
                    WHERE scope=$scope AND rowid < (SELECT rowid FROM memories WHERE id=$id) ORDER BY rowid DESC LIMIT {ChangedMemory.Radius});
            INSERT INTO changes(memory_id, scope, deleted, at)
                SELECT id, scope, 0, $now FROM (SELECT id, scope FROM memories
                    WHERE scope=$scope AND rowid > (SELECT rowid FROM memories WHERE id=$id) ORDER BY rowid LIMIT {ChangedMemory.Radius});
            INSERT INTO changes(memory_id, scope, deleted, at)
                SELECT id, scope, 0, $now FROM memories WHERE superseded_by=$id;
            UPDATE memories SET superseded_by=NULL, superseded_at=NULL WHERE superseded_by=$id;
            DELETE FROM retrievals WHERE id IN (SELECT retrieval_id FROM retrieval_hits WHERE memory_id=$id);
            DELETE FROM retrieval_hits WHERE memory_id=$id;
            DELETE FROM memories WHERE id=$id;
            INSERT INTO changes(memory_id, scope, deleted, at) VALUES($id, $scope, 1, $now);
            """, "$id", "$scope", "$now");
        foreach (var memory in existing.Values)
        {
            Bind(next, memory.Id, memory.Scope);
            foreach (var (id, content, observedAt, model, rows) in await ReadAsync(next, r => (r.GetString(0), r.GetString(1), r.GetInt64(2), r.GetString(3), VectorCodec.Decode((byte[])r.GetValue(4))), cancellationToken).ConfigureAwait(false))
            {
                Bind(previous, memory.Id, memory.Scope, model);
                var before = (await ReadAsync(previous, r => PrecedingMemory.Read(r, 0), cancellationToken).ConfigureAwait(false)).FirstOrDefault();
                await (EmbeddingRuntime.Refollow(model, rows, content, observedAt, before) is { } kept
                    ? ExecuteAsync(refollow, cancellationToken, id, model, VectorCodec.Encode(kept))
                    : ExecuteAsync(drop, cancellationToken, id, model)).ConfigureAwait(false);
            }

            await ExecuteAsync(delete, cancellationToken, memory.Id, memory.Scope, now).ConfigureAwait(false);
        }

        var deleted = ids.Where(existing.ContainsKey).ToList();
        await SqliteForgetAudit.AppendAsync(connection, tx, now, selector, scopes, principal, deleted, cancellationToken).ConfigureAwait(false);
        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new Deletion(deleted, checks);
    }
}
