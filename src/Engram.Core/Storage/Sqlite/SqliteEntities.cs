using Microsoft.Data.Sqlite;
using static Engram.Core.Storage.Sqlite.SqliteDatabase;

namespace Engram.Core.Storage.Sqlite;

/// <summary>The <c>memory_entities</c> table: which memories of a scope name which entities.</summary>
internal sealed class SqliteEntities(SqliteDatabase database)
{
    /// <summary>Links a memory to an entity: bound with (scope, entity, memory id); prepared once for a batch.</summary>
    public static SqliteCommand InsertLink(SqliteConnection connection, SqliteTransaction tx) =>
        Command(connection, tx, "INSERT OR IGNORE INTO memory_entities(scope, entity, memory_id) VALUES($scope, $entity, $id);", "$scope", "$entity", "$id");

    /// <inheritdoc cref="IEntityLinks.EntityFrequenciesAsync"/>
    public async Task<List<EntityFrequency>> EntityFrequenciesAsync(IReadOnlyList<string> scopes, IReadOnlyCollection<string> entities, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, c =>
        {
            var scopeNames = AddList(c, "$s", scopes);
            var entityNames = AddList(c, "$e", entities);
            return $"SELECT entity, COUNT(*) FROM memory_entities WHERE scope IN ({scopeNames}) AND entity IN ({entityNames}) GROUP BY entity;";
        });
        return await ReadAsync(command, r => new EntityFrequency(r.GetString(0), r.GetInt64(1)), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc cref="IEntityLinks.EntityLinksAsync"/>
    public async Task<List<EntityLink>> EntityLinksAsync(IReadOnlyList<string> scopes, IReadOnlyCollection<string> entities, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, c =>
        {
            var scopeNames = AddList(c, "$s", scopes);
            var entityNames = AddList(c, "$e", entities);
            return $"""
                SELECT e.memory_id, e.entity, m.rowid FROM memory_entities e JOIN memories m ON m.id = e.memory_id
                WHERE e.scope IN ({scopeNames}) AND e.entity IN ({entityNames});
                """;
        });
        return await ReadAsync(command, r => new EntityLink(r.GetString(0), r.GetString(1), r.GetInt64(2)), cancellationToken).ConfigureAwait(false);
    }
}
