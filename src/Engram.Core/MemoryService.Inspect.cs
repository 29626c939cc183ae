using Engram.Core.Curation;
using Engram.Core.Model;
using Engram.Core.Storage;

namespace Engram.Core;

/// <summary>What a person looking at one memory wants beside it (the inspector, <c>engram ui</c>).</summary>
public sealed partial class MemoryService
{
    /// <summary>
    /// Opens the store and brings this process's indexes up to date now, so that the first search does not wait for
    /// them (the inspector calls it as it starts; a large store's first index build takes seconds).
    /// </summary>
    public async Task WarmUpAsync(CancellationToken cancellationToken = default) =>
        await (await GetEngineAsync().ConfigureAwait(false)).CatchUpAsync(Scopes.Defaults(), cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Replaces a memory's tags (lower-cased, distinct, at most <see cref="EngramOptions.MaxTags"/>): a correction of
    /// how it is filed, not a new fact, so it keeps its id, text and times.
    /// </summary>
    /// <returns>The memory as it now is.</returns>
    /// <exception cref="EngramArgumentException">Bad tags, or no such memory in the caller's scopes.</exception>
    public async Task<MemoryRecord> SetTagsAsync(string id, IReadOnlyList<string> tags, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        var normalised = Validation.Tags(tags);
        var engine = await GetEngineAsync().ConfigureAwait(false);
        var found = await engine.Store.GetAsync([id], cancellationToken).ConfigureAwait(false);
        if (!found.TryGetValue(id, out var memory) || !Scopes.Allows(memory.Scope)
            || !await engine.Store.SetTagsAsync(id, normalised, _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken).ConfigureAwait(false))
        {
            throw new EngramArgumentException($"No memory with id '{id}' exists in the scopes this caller may use.");
        }

        engine.Rows.Remove([id]);
        return await GetAsync(id, cancellationToken).ConfigureAwait(false) ?? throw new EngramArgumentException($"Memory '{id}' was forgotten meanwhile.");
    }

    /// <summary>
    /// How this process's indexes stand: the change feed's position and the lexical index's (building in the background
    /// or not), the embedder's model, and per scope how many memories have its vector and whether recall uses them yet.
    /// </summary>
    public async Task<IndexState> IndexStateAsync(CancellationToken cancellationToken = default)
    {
        var engine = await GetEngineAsync().ConfigureAwait(false);
        var seq = await engine.Store.MaxSeqAsync(cancellationToken).ConfigureAwait(false);
        var model = engine.Embedder.Model;
        var scopes = model is null ? [] : (await engine.Store.ScopeVectorsAsync(null, model.Id, cancellationToken).ConfigureAwait(false)).Where(s => Scopes.Allows(s.Scope)).ToList();
        return new IndexState(seq, engine.Lexical.Seq, engine.Lexical.IsBuilding,
            model?.Id ?? $"{engine.Embedder.Provider}/{engine.Embedder.ModelName} (unreachable: {engine.Embedder.Problem ?? "not tried yet"})",
            scopes.Select(s => new ScopeIndexState(s.Scope, s.Memories, s.Embedded, s.Ready)).ToList());
    }

    /// <summary>
    /// The current memories of <paramref name="scope"/> (else the default scope) whose anchored files changed or vanished
    /// since they were stored: <c>engram stale</c>. Empty when the server runs outside a work tree.
    /// </summary>
    /// <exception cref="EngramArgumentException">A malformed scope, or one outside the caller's.</exception>
    public async Task<IReadOnlyList<StaleMemory>> StaleAsync(string? scope = null, CancellationToken cancellationToken = default)
    {
        var parts = await GetPartsAsync().ConfigureAwait(false);
        var (engine, anchors) = (parts.Engine, parts.Anchors);
        if (!anchors.Enabled)
        {
            return [];
        }

        var scopes = new[] { Scopes.Resolve(scope ?? _defaultScope) };
        var anchored = await engine.Store.AnchorsInScopesAsync(scopes, cancellationToken).ConfigureAwait(false);
        var stale = anchored.Select(a => (a.Key, Files: a.Value.Select(anchors.Check).OfType<StaleAnchor>().ToList())).Where(a => a.Files.Count > 0).ToList();
        var rows = await engine.Store.GetAsync(stale.Select(s => s.Key).ToList(), cancellationToken).ConfigureAwait(false);
        return stale.Where(s => rows.ContainsKey(s.Key))
            .Select(s => new StaleMemory(ToRecord(rows[s.Key]), s.Files))
            .OrderByDescending(s => s.Memory.CreatedAt)
            .ToList();
    }

    /// <summary>How far a supersession chain is followed each way.</summary>
    private const int MaxChain = 50;

    /// <summary>
    /// One memory with its context: the supersession chain both ways, the entities it names, its near duplicates
    /// (as <c>remember</c>'s <c>similar</c> finds them) and the latest recalls that returned it. Null when there is no
    /// such memory in the caller's scopes.
    /// </summary>
    public async Task<MemoryDetails?> InspectAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        var parts = await GetPartsAsync().ConfigureAwait(false);
        var store = parts.Engine.Store;
        var found = await store.GetAsync([id], cancellationToken).ConfigureAwait(false);
        if (!found.TryGetValue(id, out var memory) || !Scopes.Allows(memory.Scope))
        {
            return null;
        }

        // What it replaced, oldest first: each older memory may itself have replaced others.
        var replaced = new List<StoredMemory>();
        var frontier = new List<string> { id };
        while (frontier.Count > 0 && replaced.Count < MaxChain)
        {
            var older = new List<StoredMemory>();
            foreach (var newer in frontier)
            {
                older.AddRange(await store.SupersededByAsync(newer, cancellationToken).ConfigureAwait(false));
            }

            replaced.InsertRange(0, older);
            frontier = older.Select(m => m.Id).ToList();
        }

        // What replaced it, in order.
        var replacedBy = new List<StoredMemory>();
        for (var next = memory.SupersededBy; next is not null && replacedBy.Count < MaxChain;)
        {
            var rows = await store.GetAsync([next], cancellationToken).ConfigureAwait(false);
            if (!rows.TryGetValue(next, out var newer))
            {
                break;
            }

            replacedBy.Add(newer);
            next = newer.SupersededBy;
        }

        // Its vector as the index holds it; embedded again only while its scope's vectors are not in use.
        await parts.Engine.CatchUpAsync([memory.Scope], cancellationToken, parts.Engine.Vectors).ConfigureAwait(false);
        var vector = parts.Engine.Vectors.VectorOf(id) ?? (await parts.Engine.Embedder.TryEmbedAsync([memory.Content], cancellationToken).ConfigureAwait(false))?[0];
        var similar = vector is null ? [] : await parts.Writer.SimilarAsync(memory.Scope, vector, id, [], cancellationToken).ConfigureAwait(false);
        var recalls = await ListRecallsAsync(id, 20, cancellationToken).ConfigureAwait(false);
        return new MemoryDetails(ToRecord(memory), replaced.Select(ToRecord).ToList(), replacedBy.Select(ToRecord).ToList(),
            EntityExtractor.Extract(memory.Content), similar, recalls);
    }
}
