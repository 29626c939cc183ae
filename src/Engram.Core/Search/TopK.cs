namespace Engram.Core.Search;

/// <summary>Keeps the k highest-scoring items seen, in a bounded min-heap: O(n log k) for n items.</summary>
internal sealed class TopK<T>
{
    private readonly int _k;
    private readonly PriorityQueue<(T Item, long Order), (float Score, long Order)> _heap;
    private long _added;

    public TopK(int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        _k = k;
        // Equal scores rank by arrival: the earlier item wins, so results do not depend on heap internals.
        // Sized as it fills: a scan with a floor may keep far fewer than k.
        _heap = new PriorityQueue<(T, long), (float, long)>(Math.Min(k + 1, 64), Comparer<(float Score, long Order)>.Create(
            (a, b) => a.Score != b.Score ? a.Score.CompareTo(b.Score) : b.Order.CompareTo(a.Order)));
    }

    public void Add(T item, float score)
    {
        if (_k == 0)
        {
            return;
        }

        var order = _added++;
        if (_heap.Count < _k)
        {
            _heap.Enqueue((item, order), (score, order));
        }
        else if (_heap.TryPeek(out _, out var lowest) && score > lowest.Score)
        {
            _heap.EnqueueDequeue((item, order), (score, order));
        }
    }

    /// <summary>The items, best first.</summary>
    public List<(T Item, float Score)> ToList()
    {
        var items = new ((T Item, long Order) Element, (float Score, long Order) Priority)[_heap.Count];
        var i = 0;
        foreach (var item in _heap.UnorderedItems)
        {
            items[i++] = item;
        }

        Array.Sort(items, static (a, b) => a.Priority.Score != b.Priority.Score
            ? b.Priority.Score.CompareTo(a.Priority.Score)
            : a.Priority.Order.CompareTo(b.Priority.Order));
        var best = new List<(T Item, float Score)>(items.Length);
        foreach (var (element, priority) in items)
        {
            best.Add((element.Item, priority.Score));
        }

        return best;
    }
}
