using Microsoft.Data.Sqlite;
using static Engram.Core.Storage.Sqlite.SqliteDatabase;

namespace Engram.Core.Storage.Sqlite;

/// <summary>The <c>anchors</c> table: the files a memory names, with their blob hashes when it was stored.</summary>
internal sealed class SqliteAnchors(SqliteDatabase database)
{
    /// <inheritdoc cref="IAnchorStore.SetAnchorsAsync"/>
    public async Task SetAnchorsAsync(IReadOnlyList<(string MemoryId, IReadOnlyList<CodeAnchor> Anchors)> anchored, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using var clear = Command(connection, tx, "DELETE FROM anchors WHERE memory_id = $id;", "$id");
        await using var add = Command(connection, tx, "INSERT INTO anchors(memory_id, path, blob, at, root) SELECT $id, $path, $blob, $at, $root WHERE EXISTS (SELECT 1 FROM memories WHERE id = $id);",
            "$id", "$path", "$blob", "$at", "$root");
        foreach (var (memoryId, anchors) in anchored)
        {
            await ExecuteAsync(clear, cancellationToken, memoryId).ConfigureAwait(false);
            foreach (var anchor in anchors)
            {
                await ExecuteAsync(add, cancellationToken, memoryId, anchor.Path, anchor.Blob, anchor.At, anchor.Root).ConfigureAwait(false);
            }
        }

        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc cref="IAnchorStore.AnchorsAsync"/>
    public async Task<Dictionary<string, List<CodeAnchor>>> AnchorsAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        if (ids.Count == 0)
        {
            return new(StringComparer.Ordinal);
        }

        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, c => $"SELECT memory_id, path, blob, at, root FROM anchors WHERE memory_id IN ({AddList(c, "$i", ids.ToList())});");
        return Group(await ReadAsync(command, Read, cancellationToken).ConfigureAwait(false));
    }

    /// <inheritdoc cref="IAnchorStore.AnchorsInScopesAsync"/>
    public async Task<Dictionary<string, List<CodeAnchor>>> AnchorsInScopesAsync(IReadOnlyList<string> scopes, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, c => $"""
            SELECT a.memory_id, a.path, a.blob, a.at, a.root FROM anchors a JOIN memories m ON m.id = a.memory_id
            WHERE m.scope IN ({AddList(c, "$s", scopes)}) AND m.superseded_by IS NULL;
            """);
        return Group(await ReadAsync(command, Read, cancellationToken).ConfigureAwait(false));
    }

    private static (string Id, CodeAnchor Anchor) Read(SqliteDataReader r) => (r.GetString(0), new CodeAnchor(r.GetString(1), r.GetString(2), r.GetInt64(3), r.GetString(4)));

    internal static Dictionary<string, List<CodeAnchor>> Group(List<(string Id, CodeAnchor Anchor)> rows) =>
        rows.GroupBy(r => r.Id, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Select(r => r.Anchor).OrderBy(a => a.Path, StringComparer.Ordinal).ToList(), StringComparer.Ordinal);
}
