using System.Numerics.Tensors;

namespace Engram.Core.Search;

/// <summary>
/// One scope's vectors as a row-major matrix with an id per row; rows are unit length, so a dot product is the
/// cosine. Writes (under <see cref="VectorIndex"/>'s lock) build on the matrix and <see cref="Publish"/> hands readers
/// an immutable <see cref="Snapshot"/> that they scan without any lock. A published row is never written again: new
/// rows are appended beyond every published count, a removal clears the row's id in a copy of the id array (the vectors
/// stay), a changed vector is a removal plus an append, and the matrix is compacted into new arrays once a quarter of
/// its rows are holes.
/// </summary>
internal sealed class VectorMatrix(int dimensions)
{
    private const int MinCompaction = 64;

    private float[] _data = new float[dimensions * 16];
    private string?[] _ids = new string?[16];
    private readonly Dictionary<string, int> _rows = new(StringComparer.Ordinal);
    private int _count;
    private int _holes;

    /// <summary>Whether readers may hold the current id array (published since it was last copied).</summary>
    private bool _idsShared;

    /// <summary>What readers scan: the rows published last.</summary>
    public Snapshot Current { get; private set; } = new([], [], 0, dimensions);

    /// <summary>How many vectors it holds.</summary>
    public int Count => _count - _holes;

    /// <summary>Adds or replaces a row; false when the row already held this vector (nothing to publish).</summary>
    public bool Upsert(string id, float[] vector)
    {
        if (_rows.TryGetValue(id, out var row))
        {
            // The change feed names a memory again when its neighbours or supersession change: mostly the same vector.
            if (_data.AsSpan(row * dimensions, dimensions).SequenceEqual(vector))
            {
                return false;
            }

            Remove(id);
        }

        if (_count == _ids.Length)
        {
            Resize(Math.Max(16, Count * 2));
        }

        row = _count++;
        _rows[id] = row;
        _ids[row] = id;
        vector.CopyTo(_data.AsSpan(row * dimensions, dimensions));
        return true;
    }

    public void Remove(string id)
    {
        if (!_rows.Remove(id, out var row))
        {
            return;
        }

        if (_idsShared)
        {
            _ids = (string?[])_ids.Clone();
            _idsShared = false;
        }

        _ids[row] = null;
        if (++_holes >= MinCompaction && _holes * 4 >= _count)
        {
            Resize(_ids.Length);
        }
    }

    /// <summary>The cosine of <paramref name="id"/>'s vector with <paramref name="query"/>, or null when it has none here (under the index's lock).</summary>
    public float? Cosine(string id, ReadOnlySpan<float> query) =>
        _rows.TryGetValue(id, out var row) ? TensorPrimitives.Dot(_data.AsSpan(row * dimensions, dimensions), query) : null;

    /// <summary>A copy of <paramref name="id"/>'s vector, or null when it has none here (under the index's lock).</summary>
    public float[]? VectorOf(string id) => _rows.TryGetValue(id, out var row) ? _data.AsSpan(row * dimensions, dimensions).ToArray() : null;

    /// <summary>The cosine of two ids' vectors, or null when either has none here (under the index's lock).</summary>
    public float? Cosine(string a, string b) =>
        _rows.TryGetValue(a, out var x) && _rows.TryGetValue(b, out var y)
            ? TensorPrimitives.Dot(_data.AsSpan(x * dimensions, dimensions), _data.AsSpan(y * dimensions, dimensions))
            : null;

    /// <summary>Makes the writes so far visible to readers.</summary>
    public void Publish()
    {
        Current = new Snapshot(_data, _ids, _count, dimensions);
        _idsShared = true;
    }

    /// <summary>Moves the live rows, dense, into new arrays of <paramref name="capacity"/> rows (at least what they need).</summary>
    private void Resize(int capacity)
    {
        capacity = Math.Max(capacity, Count);
        var ids = new string?[capacity];
        var data = new float[capacity * dimensions];
        var next = 0;
        for (var row = 0; row < _count; row++)
        {
            if (_ids[row] is { } id)
            {
                _data.AsSpan(row * dimensions, dimensions).CopyTo(data.AsSpan(next * dimensions, dimensions));
                ids[next] = id;
                _rows[id] = next++;
            }
        }

        (_ids, _data, _count, _holes, _idsShared) = (ids, data, next, 0, false);
    }

    /// <summary>Published rows: never written again, so scanned without a lock. A removed row's id is null.</summary>
    internal sealed class Snapshot(float[] data, string?[] ids, int count, int dimensions)
    {
        /// <summary>The rows in use, row-major (removed ones included).</summary>
        public ReadOnlySpan<float> Data => data.AsSpan(0, count * dimensions);

        /// <summary>
        /// Adds the rows (of <paramref name="allowed"/>, when given) at <paramref name="floor"/> or above to
        /// <paramref name="top"/>; returns the sum of every scanned row's cosine and how many rows were scanned.
        /// </summary>
        public (double Sum, int Rows) Scan(ReadOnlySpan<float> query, TopK<string> top, IReadOnlySet<string>? allowed, float floor = float.NegativeInfinity)
        {
            var rows = Data;
            var (sum, scanned) = (0d, 0);
            for (var row = 0; row < count; row++)
            {
                if (ids[row] is not { } id || (allowed is not null && !allowed.Contains(id)))
                {
                    continue;
                }

                var score = TensorPrimitives.Dot(rows.Slice(row * dimensions, dimensions), query);
                (sum, scanned) = (sum + score, scanned + 1);
                if (score >= floor)
                {
                    top.Add(id, score);
                }
            }

            return (sum, scanned);
        }
    }
}
