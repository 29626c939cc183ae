using System.Numerics.Tensors;
using Engram.Core.Storage;

namespace Engram.Core.Search;

/// <summary>
/// Per-scope vector matrices held in memory, derived from SQLite. Each scope is one contiguous row-major
/// <c>float[]</c>, scanned with <see cref="TensorPrimitives.Dot(ReadOnlySpan{float}, ReadOnlySpan{float})"/>
/// (vectors are unit length, so the dot product is the cosine). Scopes load on first use and catch up from the change feed.
/// Only vectors of the embedder's model are loaded, and a scope only once its vectors of that model are ready: while a
/// scope is being re-embedded it is absent here, and it is loaded whole at the first recall after the swap.
/// </summary>
internal sealed class VectorIndex : IDerivedIndex, IDisposable
{
    private readonly IVectorStore _store;
    private readonly Func<EmbeddingModel?> _model;
    private readonly SemaphoreSlim _catchUp = new(1, 1);
    private readonly Lock _lock = new();
    private readonly Dictionary<string, VectorMatrix> _scopes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _scopeOf = new(StringComparer.Ordinal);
    private readonly HashSet<string> _dirty = new(StringComparer.Ordinal);

    /// <summary>For each loaded scope, when its vectors became ready (null: it was empty); a later time means a swap.</summary>
    private readonly Dictionary<string, long?> _readyAt = new(StringComparer.Ordinal);
    private long _seq;

    /// <param name="store">The store the vectors come from.</param>
    /// <param name="model">The embedder's identity, null until it is known (it may be unreachable when the store opens).</param>
    public VectorIndex(IVectorStore store, Func<EmbeddingModel?> model)
    {
        _store = store;
        _model = model;
    }

    /// <summary>The model whose vectors this index holds; null until the embedder's identity is known.</summary>
    public EmbeddingModel? Model => _model();

    /// <summary>Those of <paramref name="scopes"/> whose vectors are not loaded (not ready for the model yet).</summary>
    public List<string> Waiting(IReadOnlyList<string> scopes)
    {
        lock (_lock)
        {
            return scopes.Where(s => !_scopes.ContainsKey(s)).ToList();
        }
    }

    /// <summary>The change sequence this index has applied.</summary>
    public long Seq => Volatile.Read(ref _seq);

    /// <inheritdoc />
    public Task CatchUpAsync(long seq, IReadOnlyList<string> scopes, CancellationToken cancellationToken) => EnsureCurrentAsync(scopes, seq, cancellationToken);

    /// <summary>Applies the change feed up to <paramref name="targetSeq"/> at least and loads <paramref name="scopes"/> if not yet loaded.</summary>
    public async Task EnsureCurrentAsync(IReadOnlyList<string> scopes, long targetSeq, CancellationToken cancellationToken = default)
    {
        if (Model is not { } model)
        {
            return;
        }

        bool loaded;
        lock (_lock)
        {
            loaded = scopes.All(_scopes.ContainsKey);
        }

        if (loaded && Seq >= targetSeq)
        {
            return;
        }

        await _catchUp.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            bool any;
            lock (_lock)
            {
                any = _scopes.Count > 0;
            }

            if (Seq < targetSeq && !any)
            {
                // Nothing loaded yet (a server just started): a scope is read whole when first searched, from a snapshot
                // at least this new, so the feed so far has nothing to say to this index.
                Volatile.Write(ref _seq, targetSeq);
            }
            else if (Seq < targetSeq)
            {
                var (seq, vectors, removed) = await _store.ReadVectorsAsync(model.Id, null, Seq, cancellationToken).ConfigureAwait(false);
                lock (_lock)
                {
                    foreach (var id in removed)
                    {
                        RemoveLocked(id);
                    }

                    foreach (var v in vectors)
                    {
                        if (_scopes.ContainsKey(v.Scope))
                        {
                            UpsertLocked(v);
                        }
                    }

                    PublishLocked();
                    Volatile.Write(ref _seq, seq);
                }

                // A loaded scope whose vectors were swapped since (re-embedded by another process, or filled by another
                // model's process while it was empty here) is loaded again.
                List<string> held;
                lock (_lock)
                {
                    held = [.. _readyAt.Keys];
                }

                if (held.Count > 0)
                {
                    var current = await _store.ReadyScopesAsync(held, model.Id, cancellationToken).ConfigureAwait(false);
                    lock (_lock)
                    {
                        foreach (var scope in held.Where(s => !current.TryGetValue(s, out var at) || at != _readyAt[s]))
                        {
                            UnloadLocked(scope);
                        }
                    }
                }
            }

            var unloaded = Waiting(scopes);
            var ready = unloaded.Count == 0 ? [] : await _store.ReadyScopesAsync(unloaded, model.Id, cancellationToken).ConfigureAwait(false);
            foreach (var scope in unloaded.Where(ready.ContainsKey))
            {
                // A scope's snapshot may be newer than Seq; later catch-ups re-apply those changes, which is harmless.
                var (_, vectors, _) = await _store.ReadVectorsAsync(model.Id, scope, 0, cancellationToken).ConfigureAwait(false);
                lock (_lock)
                {
                    _readyAt[scope] = ready[scope];
                    _scopes[scope] = new VectorMatrix(model.Dimensions);
                    foreach (var v in vectors)
                    {
                        UpsertLocked(v);
                    }

                    PublishLocked();
                }
            }
        }
        finally
        {
            _catchUp.Release();
        }
    }

    /// <summary>
    /// The top <paramref name="k"/> memories of <paramref name="scopes"/> by cosine, best first, of those at
    /// <paramref name="floor"/> or above; and the query's mean cosine over every memory scanned (0 when none was), by
    /// their whole texts. A memory's cosine is its best row's: its whole text's or, with <paramref name="sentences"/>,
    /// one of its sentences'.
    /// </summary>
    public VectorSearch Search(ReadOnlySpan<float> query, IReadOnlyList<string> scopes, int k, IReadOnlySet<string>? allowed = null, float floor = float.NegativeInfinity, bool sentences = true)
    {
        if (Model is not { } model)
        {
            return new([], 0);
        }

        if (query.Length != model.Dimensions)
        {
            throw new ArgumentException($"The query vector has {query.Length} dimensions; this index holds {model.Dimensions}.", nameof(query));
        }

        // The matrices' published snapshots are immutable: concurrent recalls scan them side by side, and a catch-up
        // publishing new ones meanwhile waits for nobody.
        var snapshots = new List<VectorMatrix.Snapshot>(scopes.Count);
        lock (_lock)
        {
            foreach (var scope in scopes)
            {
                if (_scopes.TryGetValue(scope, out var matrix))
                {
                    snapshots.Add(matrix.Current);
                }
            }
        }

        var top = new TopK<string>(k);
        var (sum, rows) = (0d, 0);
        foreach (var snapshot in snapshots)
        {
            var scanned = snapshot.Scan(query, top, allowed, floor, sentences);
            (sum, rows) = (sum + scanned.Sum, rows + scanned.Rows);
        }

        return new(top.ToList(), rows == 0 ? 0 : (float)(sum / rows));
    }

    /// <summary>
    /// Where the rows of <paramref name="ids"/> (those of <paramref name="scopes"/> with a vector here) lie, to score
    /// them later by <see cref="VectorMatrix.Located.Cosine"/> as the scan would: for candidates another signal found
    /// below the scan's top k. The lookups, a few random reads each, can be done while the query's embedding computes;
    /// the rows they point at are never written again.
    /// </summary>
    public List<VectorMatrix.Located> Locate(IReadOnlyList<string> scopes, IEnumerable<string> ids)
    {
        var found = new List<VectorMatrix.Located>();
        if (Model is null)
        {
            return found;
        }

        lock (_lock)
        {
            foreach (var id in ids)
            {
                if (MatrixOf(id, scopes)?.Locate(id) is { } located)
                {
                    found.Add(located);
                }
            }
        }

        return found;
    }

    /// <summary>
    /// Which of a memory's rows is closest to <paramref name="query"/> (0: its whole text's, 1 on: its sentences') and how
    /// many it has, or null when it has no vector here or is not in <paramref name="scopes"/>.
    /// </summary>
    public (int Row, int Rows)? BestRow(string id, IReadOnlyList<string> scopes, ReadOnlySpan<float> query)
    {
        if (Model is not { } model || query.Length != model.Dimensions)
        {
            return null;
        }

        lock (_lock)
        {
            return MatrixOf(id, scopes)?.BestRowOf(id, query);
        }
    }

    /// <summary>The cosine of two memories of one scope (their whole texts'), or null when they are in different scopes or lack vectors here.</summary>
    public float? Likeness(string a, string b)
    {
        lock (_lock)
        {
            return _scopeOf.TryGetValue(a, out var scope) && _scopeOf.TryGetValue(b, out var other) && scope == other
                && _scopes.TryGetValue(scope, out var matrix) ? matrix.Cosine(a, b) : null;
        }
    }

    /// <summary>A copy of a memory's (whole text's) vector as this process holds it (its scope loaded), or null.</summary>
    public float[]? VectorOf(string id)
    {
        lock (_lock)
        {
            return MatrixOf(id)?.VectorOf(id);
        }
    }

    /// <summary>The matrix holding <paramref name="id"/>'s rows, when its scope is loaded (and among <paramref name="scopes"/>, when given); under the lock.</summary>
    private VectorMatrix? MatrixOf(string id, IReadOnlyList<string>? scopes = null) =>
        _scopeOf.TryGetValue(id, out var scope) && (scopes is null || scopes.Contains(scope)) && _scopes.TryGetValue(scope, out var matrix) ? matrix : null;

    /// <summary>How many of <paramref name="ids"/> this process still holds in memory.</summary>
    public int Count(IEnumerable<string> ids)
    {
        lock (_lock)
        {
            return ids.Count(_scopeOf.ContainsKey);
        }
    }

    public void Dispose() => _catchUp.Dispose();

    private void UpsertLocked(StoredVector v)
    {
        // One row or more (its whole text's, then its sentences'), each of the model's dimensions: another is skipped.
        if (Model?.Dimensions is not { } dimensions || !VectorMatrix.HoldsRows(v.Vector, dimensions))
        {
            return;
        }

        if (_scopeOf.TryGetValue(v.MemoryId, out var oldScope) && oldScope != v.Scope)
        {
            RemoveLocked(v.MemoryId);
        }

        if (_scopes[v.Scope].Upsert(v.MemoryId, v.Vector))
        {
            _dirty.Add(v.Scope);
        }
        _scopeOf[v.MemoryId] = v.Scope;
    }

    /// <summary>Hands the matrices written since the last call to readers.</summary>
    private void PublishLocked()
    {
        foreach (var scope in _dirty)
        {
            if (_scopes.TryGetValue(scope, out var matrix))
            {
                matrix.Publish();
            }
        }

        _dirty.Clear();
    }

    private void UnloadLocked(string scope)
    {
        _readyAt.Remove(scope);
        if (_scopes.Remove(scope))
        {
            foreach (var id in _scopeOf.Where(p => p.Value == scope).Select(p => p.Key).ToList())
            {
                _scopeOf.Remove(id);
            }
        }
    }

    private void RemoveLocked(string id)
    {
        if (_scopeOf.Remove(id, out var scope) && _scopes.TryGetValue(scope, out var matrix))
        {
            matrix.Remove(id);
            _dirty.Add(scope);
        }
    }
}

/// <summary>A vector search's result.</summary>
/// <param name="Top">The best memories by cosine, best first.</param>
/// <param name="MeanCosine">The query's mean cosine over every memory scanned: how alike the query is to the searched memories at large (0 when none was scanned).</param>
internal sealed record VectorSearch(List<(string Id, float Score)> Top, float MeanCosine);
