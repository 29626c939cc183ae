namespace Engram.Core.Storage;

/// <summary>The entities each memory names (see <see cref="Curation.EntityExtractor"/>), per scope: raw counts and links, no scoring.</summary>
internal interface IEntityLinks
{
    /// <summary>For each of <paramref name="entities"/> that memories of <paramref name="scopes"/> carry, how many carry it.</summary>
    Task<List<EntityFrequency>> EntityFrequenciesAsync(IReadOnlyList<string> scopes, IReadOnlyCollection<string> entities, CancellationToken cancellationToken = default);

    /// <summary>Every link from a memory of <paramref name="scopes"/> to one of <paramref name="entities"/>.</summary>
    Task<List<EntityLink>> EntityLinksAsync(IReadOnlyList<string> scopes, IReadOnlyCollection<string> entities, CancellationToken cancellationToken = default);
}

/// <summary>How many memories (of the scopes asked about) carry an entity: its document frequency.</summary>
internal readonly record struct EntityFrequency(string Entity, long Frequency);

/// <summary>A memory naming an entity; <paramref name="Order"/> is the memory's insertion order.</summary>
internal readonly record struct EntityLink(string MemoryId, string Entity, long Order);
