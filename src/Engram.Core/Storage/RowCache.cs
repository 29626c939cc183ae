namespace Engram.Core.Storage;

/// <summary>
/// Candidates' rows kept in memory between recalls, so that ranking reads SQLite only for rows it has not seen yet.
/// SQLite stays the truth. A row changes only through the change feed (supersession, forgetting), so before each use
/// the cache drops every memory the feed names since it last looked, in this process or any other. A row read from a
/// snapshot older than what the cache has caught up to is used once but not kept.
/// </summary>
internal sealed class RowCache(IChangeFeed store, int capacity = RowCache.DefaultCapacity) : IDerivedIndex
{
    /// <summary>About 10 MB of LoCoMo-sized rows; a full cache starts over rather than tracking use.</summary>
    public const int DefaultCapacity = 20_000;

    /// <summary>Past this many changed memories at once (an import elsewhere), dropping everything is cheaper.</summary>
    private const int MaxEvictions = 5_000;

    private readonly Dictionary<string, CandidateMeta> _rows = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private long _seq;

    /// <summary>How many of <paramref name="ids"/> the cache holds.</summary>
    public int CountOf(IEnumerable<string> ids)
    {
        lock (_lock)
        {
            return ids.Count(_rows.ContainsKey);
        }
    }

    /// <summary>Drops the rows of <paramref name="ids"/> (memories this process has just forgotten).</summary>
    public void Remove(IEnumerable<string> ids)
    {
        lock (_lock)
        {
            foreach (var id in ids)
            {
                _rows.Remove(id);
            }
        }
    }

    /// <inheritdoc />
    public Task CatchUpAsync(long seq, IReadOnlyList<string> scopes, CancellationToken cancellationToken) => EnsureCurrentAsync(seq, cancellationToken);

    /// <summary>Drops every row the change feed has named up to <paramref name="seq"/>.</summary>
    public async Task EnsureCurrentAsync(long seq, CancellationToken cancellationToken = default)
    {
        long from;
        lock (_lock)
        {
            if (seq <= _seq)
            {
                return;
            }

            if (_rows.Count == 0)
            {
                _seq = seq;
                return;
            }

            from = _seq;
        }

        // Read outside the lock; the ids cover (from, seq], a superset of whatever is still to drop when applied.
        var changed = await store.ChangedIdsAsync(from, seq, MaxEvictions + 1, cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            if (seq <= _seq)
            {
                return;
            }

            if (changed.Count > MaxEvictions)
            {
                _rows.Clear();
            }
            else
            {
                foreach (var id in changed)
                {
                    _rows.Remove(id);
                }
            }

            _seq = seq;
        }
    }

    /// <summary>The rows of <paramref name="ids"/> that exist, from memory where held, else from SQLite.</summary>
    public async Task<Dictionary<string, CandidateMeta>> GetAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken = default)
    {
        var result = new Dictionary<string, CandidateMeta>(ids.Count, StringComparer.Ordinal);
        var missing = new List<string>();
        lock (_lock)
        {
            foreach (var id in ids)
            {
                if (_rows.TryGetValue(id, out var row))
                {
                    result[id] = row;
                }
                else
                {
                    missing.Add(id);
                }
            }
        }

        if (missing.Count == 0)
        {
            return result;
        }

        var (snapshot, read) = await store.CandidatesAsync(missing, cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            // Kept only when read at or after what the cache has caught up to: later changes will then be dropped.
            var keep = snapshot >= _seq;
            if (keep && _rows.Count + read.Count > capacity)
            {
                _rows.Clear();
            }

            foreach (var (id, row) in read)
            {
                result[id] = row;
                if (keep)
                {
                    _rows[id] = row;
                }
            }
        }

        return result;
    }
}
