namespace Engram.Core.Search;

/// <summary>Keeps the k highest-scoring items seen, in a bounded min-heap: O(n log k) for n items.</summary>
internal sealed class TopK<T>
{
    private readonly int _k;

    /// <summary>
    /// Ordered by score, then by arrival negated: of equal scores the later item is the lower and goes first, so the
    /// earlier one wins and results do not depend on heap internals. Value tuples compare without a delegate.
    /// </summary>
    private readonly PriorityQueue<T, (float Score, long Arrival)> _heap;
    private long _added;

    /// <summary>How many it keeps at most.</summary>
    public int Capacity => _k;

    public TopK(int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        _k = k;
        // Sized as it fills: a scan with a floor may keep far fewer than k.
        _heap = new PriorityQueue<T, (float, long)>(Math.Min(k + 1, 64));
    }

    public void Add(T item, float score)
    {
        if (_k == 0)
        {
            return;
        }

        var arrival = -_added++;
        if (_heap.Count < _k)
        {
            _heap.Enqueue(item, (score, arrival));
        }
        else if (_heap.TryPeek(out _, out var lowest) && score > lowest.Score)
        {
            _heap.EnqueueDequeue(item, (score, arrival));
        }
    }

    /// <summary>The items, best first (of equal scores, the earlier first).</summary>
    public List<(T Item, float Score)> ToList()
    {
        var keys = new (float Score, long Arrival)[_heap.Count];
        var items = new T[_heap.Count];
        var i = 0;
        foreach (var (item, priority) in _heap.UnorderedItems)
        {
            (keys[i], items[i]) = (priority, item);
            i++;
        }

        // Ascending by (score, negated arrival): read backwards, best first. Arrivals are distinct, so the order is total.
        Array.Sort(keys, items);
        var best = new List<(T Item, float Score)>(items.Length);
        for (var j = items.Length - 1; j >= 0; j--)
        {
            best.Add((items[j], keys[j].Score));
        }

        return best;
    }
}
