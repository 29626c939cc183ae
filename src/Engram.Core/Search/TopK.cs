namespace Engram.Core.Search;

/// <summary>Keeps the k highest-scoring items seen, in a bounded min-heap: O(n log k) for n items.</summary>
internal sealed class TopK<T>
{
    private readonly int _k;
    private readonly PriorityQueue<T, float> _heap;

    public TopK(int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(k);
        _k = k;
        _heap = new PriorityQueue<T, float>(k + 1);
    }

    public void Add(T item, float score)
    {
        if (_k == 0)
        {
            return;
        }

        if (_heap.Count < _k)
        {
            _heap.Enqueue(item, score);
        }
        else if (_heap.TryPeek(out _, out var lowest) && score > lowest)
        {
            _heap.EnqueueDequeue(item, score);
        }
    }

    /// <summary>The items, best first.</summary>
    public List<(T Item, float Score)> ToList()
    {
        var items = new List<(T, float)>(_heap.Count);
        foreach (var (item, priority) in _heap.UnorderedItems)
        {
            items.Add((item, priority));
        }

        items.Sort((a, b) => b.Item2.CompareTo(a.Item2));
        return items;
    }
}
