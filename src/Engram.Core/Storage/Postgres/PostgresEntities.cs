using static Engram.Core.Storage.Postgres.PostgresDatabase;

namespace Engram.Core.Storage.Postgres;

/// <summary>The <c>memory_entities</c> table on PostgreSQL: which memories of a scope name which entities.</summary>
internal sealed class PostgresEntities(PostgresDatabase database)
{
    /// <inheritdoc cref="IEntityLinks.EntityFrequenciesAsync"/>
    public Task<List<EntityFrequency>> EntityFrequenciesAsync(IReadOnlyList<string> scopes, IReadOnlyCollection<string> entities, CancellationToken cancellationToken) =>
        database.ReadAsync(connection => QueryAsync(connection, null,
            "SELECT entity, COUNT(*) FROM memory_entities WHERE scope = ANY($1) AND entity = ANY($2) GROUP BY entity",
            r => new EntityFrequency(r.GetString(0), r.GetInt64(1)), cancellationToken, scopes.ToArray(), entities.ToArray()), cancellationToken);

    /// <inheritdoc cref="IEntityLinks.EntityLinksAsync"/>
    public Task<List<EntityLink>> EntityLinksAsync(IReadOnlyList<string> scopes, IReadOnlyCollection<string> entities, CancellationToken cancellationToken) =>
        database.ReadAsync(connection => QueryAsync(connection, null, """
            SELECT e.memory_id, e.entity, m.ord FROM memory_entities e JOIN memories m ON m.id = e.memory_id
            WHERE e.scope = ANY($1) AND e.entity = ANY($2)
            """, r => new EntityLink(r.GetString(0), r.GetString(1), r.GetInt64(2)), cancellationToken, scopes.ToArray(), entities.ToArray()), cancellationToken);
}
