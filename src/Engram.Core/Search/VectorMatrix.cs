using System.Numerics.Tensors;

namespace Engram.Core.Search;

/// <summary>
/// One scope's vectors as a dense row-major matrix with an id per row; rows are unit length, so a dot product is
/// the cosine. Not thread-safe: <see cref="VectorIndex"/> guards it.
/// </summary>
internal sealed class VectorMatrix(int dimensions)
{
    private float[] _data = new float[dimensions * 16];
    private string[] _ids = new string[16];
    private readonly Dictionary<string, int> _rows = new(StringComparer.Ordinal);
    private int _count;

    public void Upsert(string id, float[] vector)
    {
        if (!_rows.TryGetValue(id, out var row))
        {
            if (_count == _ids.Length)
            {
                Array.Resize(ref _ids, _ids.Length * 2);
                Array.Resize(ref _data, _ids.Length * dimensions);
            }

            row = _count++;
            _rows[id] = row;
            _ids[row] = id;
        }

        vector.CopyTo(_data.AsSpan(row * dimensions, dimensions));
    }

    public void Remove(string id)
    {
        if (!_rows.Remove(id, out var row))
        {
            return;
        }

        // Keep the matrix dense: move the last row into the hole.
        var last = --_count;
        if (row != last)
        {
            _data.AsSpan(last * dimensions, dimensions).CopyTo(_data.AsSpan(row * dimensions, dimensions));
            _ids[row] = _ids[last];
            _rows[_ids[row]] = row;
        }

        _data.AsSpan(last * dimensions, dimensions).Clear();
        _ids[last] = null!;
    }

    public int Count => _count;

    /// <summary>The rows in use, row-major.</summary>
    public ReadOnlySpan<float> Data => _data.AsSpan(0, _count * dimensions);

    public void Scan(ReadOnlySpan<float> query, TopK<string> top, IReadOnlySet<string>? allowed)
    {
        var data = _data.AsSpan(0, _count * dimensions);
        for (var row = 0; row < _count; row++)
        {
            if (allowed is not null && !allowed.Contains(_ids[row]))
            {
                continue;
            }

            top.Add(_ids[row], TensorPrimitives.Dot(data.Slice(row * dimensions, dimensions), query));
        }
    }
}
