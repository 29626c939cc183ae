using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Engram.Core.Search;

/// <summary>
/// One scope's vectors as a row-major matrix with an id per row; rows are unit length, so a dot product is the
/// cosine. A memory holds one row, or several in a run: its whole text's vector first, then one per sentence (see
/// <see cref="Sentences"/>), so a memory that says several things is found by the one a query asks about. Writes (under
/// <see cref="VectorIndex"/>'s lock) build on the matrix and <see cref="Publish"/> hands readers an immutable
/// <see cref="Snapshot"/> that they scan without any lock. A published row is never written again: new rows are
/// appended beyond every published count, a removal clears the rows' id in a copy of the id array (the vectors stay), a
/// changed vector is a removal plus an append, and the matrix is compacted into new arrays once a quarter of its rows
/// are holes.
/// </summary>
internal sealed class VectorMatrix(int dimensions)
{
    private const int MinCompaction = 64;

    private float[] _data = new float[dimensions * 16];

    /// <summary>Each row as signed bytes (<c>round(v / scale)</c>, ±127) with its scale: what a large scan reads first.</summary>
    private sbyte[] _codes = new sbyte[dimensions * 16];
    private float[] _scales = new float[16];

    /// <summary>The sum of the memories' whole-text rows: the query's mean cosine over them is one dot product with it.</summary>
    private readonly double[] _wholeSum = new double[dimensions];
    private string?[] _ids = new string?[16];
    private readonly Dictionary<string, (int Row, int Rows)> _rows = new(StringComparer.Ordinal);
    private int _count;
    private int _holes;

    /// <summary>Whether readers may hold the current id array (published since it was last copied).</summary>
    private bool _idsShared;

    /// <summary>What readers scan: the rows published last.</summary>
    public Snapshot Current { get; private set; } = new([], [], [], [], 0, dimensions, new float[dimensions], 0);

    /// <summary>How many memories it holds vectors of.</summary>
    public int Count => _rows.Count;

    /// <summary>
    /// Adds or replaces a memory's rows (<paramref name="vector"/>: one or more rows of the matrix's dimensions, the
    /// whole text's first); false when the memory already held these (nothing to publish).
    /// </summary>
    public bool Upsert(string id, float[] vector)
    {
        if (!HoldsRows(vector, dimensions))
        {
            throw new ArgumentException($"A memory's vector holds one or more rows of {dimensions} finite numbers, not {vector.Length} numbers.", nameof(vector));
        }

        var rows = vector.Length / dimensions;
        if (_rows.TryGetValue(id, out var held))
        {
            // The change feed names a memory again when its neighbours or supersession change: mostly the same vector.
            if (held.Rows == rows && _data.AsSpan(held.Row * dimensions, rows * dimensions).SequenceEqual(vector))
            {
                return false;
            }

            Remove(id);
        }

        if (_count + rows > _ids.Length)
        {
            Resize(Math.Max(16, (_count - _holes + rows) * 2));
        }

        _rows[id] = (_count, rows);
        for (var r = 0; r < rows; r++)
        {
            _ids[_count + r] = id;
            _scales[_count + r] = Encode(vector.AsSpan(r * dimensions, dimensions), _codes.AsSpan((_count + r) * dimensions, dimensions));
        }

        vector.AsSpan(0, rows * dimensions).CopyTo(_data.AsSpan(_count * dimensions));
        AddWhole(_count, 1);
        _count += rows;
        return true;
    }

    /// <summary>Whether <paramref name="vector"/> is one or more whole rows of <paramref name="dimensions"/> finite numbers.</summary>
    public static bool HoldsRows(float[] vector, int dimensions) =>
        vector.Length > 0 && vector.Length % dimensions == 0 && float.IsFinite(TensorPrimitives.Sum(vector));

    public void Remove(string id)
    {
        if (!_rows.Remove(id, out var held))
        {
            return;
        }

        if (_idsShared)
        {
            _ids = (string?[])_ids.Clone();
            _idsShared = false;
        }

        Array.Clear(_ids, held.Row, held.Rows);
        AddWhole(held.Row, -1);
        _holes += held.Rows;
        if (_holes >= MinCompaction && _holes * 4 >= _count)
        {
            Resize(_ids.Length);
        }
    }

    /// <summary>Where <paramref name="id"/>'s rows lie, or null when it has none here (under the index's lock).</summary>
    public Located? Locate(string id) => _rows.TryGetValue(id, out var held) ? new Located(id, _data, held.Row, held.Rows, dimensions) : null;

    /// <summary>
    /// Which of <paramref name="id"/>'s rows is closest to <paramref name="query"/> (0: its whole text's) and how many it
    /// has, or null when it has none here (under the index's lock).
    /// </summary>
    public (int Row, int Rows)? BestRowOf(string id, ReadOnlySpan<float> query) =>
        _rows.TryGetValue(id, out var held) ? (BestRow(_data, held.Row, held.Row + held.Rows, dimensions, query).Row - held.Row, held.Rows) : null;

    /// <summary>
    /// The best cosine of rows <paramref name="from"/> to <paramref name="to"/> (excluded) with <paramref name="query"/>,
    /// and its row (the first of equal ones).
    /// </summary>
    private static (int Row, float Score) BestRow(ReadOnlySpan<float> data, int from, int to, int dimensions, ReadOnlySpan<float> query)
    {
        var (row, best) = (from, float.NegativeInfinity);
        for (var r = from; r < to; r++)
        {
            var score = TensorPrimitives.Dot(data.Slice(r * dimensions, dimensions), query);
            (row, best) = score > best ? (r, score) : (row, best);
        }

        return (row, best);
    }

    /// <summary>
    /// A memory's rows where they lie. A row, once written, is never written again (a memory embedded anew gets new
    /// rows, and a compaction new arrays), so it can be read after the index's lock is left.
    /// </summary>
    internal readonly record struct Located(string Id, float[] Data, int Row, int Rows, int Dimensions)
    {
        /// <summary>The best cosine of the memory's rows (its whole text's, its sentences') with <paramref name="query"/>, as a scan scores it.</summary>
        public float Cosine(ReadOnlySpan<float> query) => query.Length == Dimensions ? BestRow(Data, Row, Row + Rows, Dimensions, query).Score : float.NegativeInfinity;
    }

    /// <summary>A copy of <paramref name="id"/>'s whole text's vector, or null when it has none here (under the index's lock).</summary>
    public float[]? VectorOf(string id) => _rows.TryGetValue(id, out var held) ? _data.AsSpan(held.Row * dimensions, dimensions).ToArray() : null;

    /// <summary>The cosine of two ids' whole texts' vectors, or null when either has none here (under the index's lock).</summary>
    public float? Cosine(string a, string b) =>
        _rows.TryGetValue(a, out var x) && _rows.TryGetValue(b, out var y)
            ? TensorPrimitives.Dot(_data.AsSpan(x.Row * dimensions, dimensions), _data.AsSpan(y.Row * dimensions, dimensions))
            : null;

    /// <summary>Makes the writes so far visible to readers.</summary>
    public void Publish()
    {
        var wholeSum = new float[dimensions];
        for (var i = 0; i < dimensions; i++)
        {
            wholeSum[i] = (float)_wholeSum[i];
        }

        Current = new Snapshot(_data, _codes, _scales, _ids, _count, dimensions, wholeSum, _rows.Count);
        _idsShared = true;
    }

    /// <summary>Adds (or with -1 takes away) the whole-text row at <paramref name="row"/> to the sum of them.</summary>
    private void AddWhole(int row, int sign)
    {
        var whole = _data.AsSpan(row * dimensions, dimensions);
        for (var i = 0; i < dimensions; i++)
        {
            _wholeSum[i] += sign * whole[i];
        }
    }

    /// <summary>Writes <paramref name="values"/> as signed bytes into <paramref name="codes"/>; returns the scale (max |v| / 127).</summary>
    private static float Encode(ReadOnlySpan<float> values, Span<sbyte> codes)
    {
        var scale = Math.Abs(TensorPrimitives.MaxMagnitude(values)) / 127f;
        for (var i = 0; i < values.Length; i++)
        {
            codes[i] = scale > 0 ? (sbyte)Math.Clamp(MathF.Round(values[i] / scale), -127, 127) : (sbyte)0;
        }

        return scale;
    }

    /// <summary>Moves the live rows, dense, into new arrays of <paramref name="capacity"/> rows (at least what they need).</summary>
    private void Resize(int capacity)
    {
        capacity = Math.Max(capacity, _count - _holes);
        var ids = new string?[capacity];
        var data = new float[capacity * dimensions];
        var codes = new sbyte[capacity * dimensions];
        var scales = new float[capacity];
        var next = 0;
        for (var row = 0; row < _count;)
        {
            if (_ids[row] is { } id)
            {
                var rows = _rows[id].Rows;
                _data.AsSpan(row * dimensions, rows * dimensions).CopyTo(data.AsSpan(next * dimensions));
                _codes.AsSpan(row * dimensions, rows * dimensions).CopyTo(codes.AsSpan(next * dimensions));
                _scales.AsSpan(row, rows).CopyTo(scales.AsSpan(next));
                Array.Fill(ids, id, next, rows);
                _rows[id] = (next, rows);
                next += rows;
                row += rows;
            }
            else
            {
                row++;
            }
        }

        (_ids, _data, _codes, _scales, _count, _holes, _idsShared) = (ids, data, codes, scales, next, 0, false);
    }

    /// <summary>Published rows: never written again, so scanned without a lock. A removed row's id is null.</summary>
    internal sealed class Snapshot(float[] data, sbyte[] codes, float[] scales, string?[] ids, int count, int dimensions, float[] wholeSum, int memories)
    {
        /// <summary>
        /// From this many rows on, a scan reads the rows as bytes first (a quarter of the memory to read) and scores exactly
        /// only the best of them: below it the floats are read faster than the bytes are worked out. And only when those
        /// best are at most a quarter of the memories: reading their floats again then costs less than the bytes save
        /// (the top 400 asked for, 2,000 memories of three rows: 427 µs by bytes, 247 µs by floats; 10,000: 1,233 and 2,684 µs;
        /// <c>VectorSignalBenchmarks</c>).
        /// </summary>
        internal const int BytesFrom = 4096;

        /// <summary>
        /// How many more candidates than asked for the bytes pass on to be scored exactly, at least: as many again as asked
        /// for (the bytes' error is a few ten-thousandths of a cosine).
        /// </summary>
        internal const int Margin = 64;

        /// <summary>The rows in use, row-major (removed ones included).</summary>
        public ReadOnlySpan<float> Data => data.AsSpan(0, count * dimensions);

        /// <summary>
        /// Adds the memories (of <paramref name="allowed"/>, when given) whose best row (with <paramref name="sentences"/>;
        /// else their whole texts') scores <paramref name="floor"/> or above to <paramref name="top"/>; returns the sum of
        /// the whole texts' cosines and how many memories were scanned.
        /// </summary>
        public (double Sum, int Rows) Scan(ReadOnlySpan<float> query, TopK<string> top, IReadOnlySet<string>? allowed, float floor = float.NegativeInfinity, bool sentences = true)
        {
            if (allowed is null && count >= BytesFrom && Avx2.IsSupported && top.Capacity > 0 && 4 * Rescored(top.Capacity) <= memories)
            {
                return ScanBytes(query, top, floor, sentences);
            }

            return ScanFloats(query, top, allowed, floor, sentences);
        }

        /// <summary>
        /// The scan of a large matrix: every memory's best row by bytes, twice as many as asked for (at least
        /// <see cref="Margin"/> more) scored again from the floats, in row order (so ties fall as in the float scan), unless
        /// they may not hold the exact top; the mean from the sum of the whole texts' rows.
        /// </summary>
        internal (double Sum, int Rows) ScanBytes(ReadOnlySpan<float> query, TopK<string> top, float floor, bool sentences)
        {
            // The query as bytes too, widened to 16 bits for the products.
            var queryCodes = new sbyte[dimensions];
            var queryScale = Encode(query, queryCodes);
            if (queryScale == 0)
            {
                return ScanFloats(query, top, null, floor, sentences);
            }

            var widened = Array.ConvertAll(queryCodes, c => (short)c);

            var candidates = new TopK<int>(Rescored(top.Capacity));
            for (var row = 0; row < count;)
            {
                if (ids[row] is not { } id)
                {
                    row++;
                    continue;
                }

                var end = RunEnd(row, id);
                var best = float.NegativeInfinity;
                for (var r = row; r < (sentences ? end : row + 1); r++)
                {
                    best = Math.Max(best, DotBytes(codes.AsSpan(r * dimensions, dimensions), widened) * scales[r]);
                }

                candidates.Add(row, best * queryScale);
                row = end;
            }

            // The candidates scored again from the floats, in row order; how far the bytes were from the floats on them.
            var rows = Data;
            var found = candidates.ToList();
            var exact = new TopK<string>(top.Capacity);
            var error = 0f;
            foreach (var (row, approximate) in found.OrderBy(c => c.Item))
            {
                var id = ids[row]!;
                var end = RunEnd(row, id);
                var best = BestRow(rows, row, sentences ? end : row + 1, dimensions, query).Score;
                error = Math.Max(error, Math.Abs(best - approximate));
                if (best >= floor)
                {
                    exact.Add(id, best);
                }
            }

            // A memory left out scored at most the lowest candidate by bytes. Unless that is clearly below what it would
            // need (the last of the top, or the floor when the top is not full), by twice the error seen, read the floats.
            var kept = exact.ToList();
            var needed = kept.Count == top.Capacity ? kept[^1].Score : floor;
            if (found.Count == candidates.Capacity && found[^1].Score + (2 * error) >= needed)
            {
                return ScanFloats(query, top, null, floor, sentences);
            }

            foreach (var (id, score) in kept)
            {
                top.Add(id, score);
            }

            return (TensorPrimitives.Dot(wholeSum, query), memories);
        }

        /// <summary>The scan of every row from the floats (<see cref="Scan"/> reads bytes first where that pays).</summary>
        internal (double Sum, int Rows) ScanFloats(ReadOnlySpan<float> query, TopK<string> top, IReadOnlySet<string>? allowed, float floor, bool sentences)
        {
            var rows = Data;
            var (sum, scanned) = (0d, 0);
            for (var row = 0; row < count;)
            {
                if (ids[row] is not { } id)
                {
                    row++;
                    continue;
                }

                var end = RunEnd(row, id);
                if (allowed is null || allowed.Contains(id))
                {
                    var whole = TensorPrimitives.Dot(rows.Slice(row * dimensions, dimensions), query);
                    var best = sentences && end > row + 1 ? Math.Max(whole, BestRow(rows, row + 1, end, dimensions, query).Score) : whole;
                    (sum, scanned) = (sum + whole, scanned + 1);
                    if (best >= floor)
                    {
                        top.Add(id, best);
                    }
                }

                row = end;
            }

            return (sum, scanned);
        }

        /// <summary>How many of the best by bytes are scored again from the floats when <paramref name="k"/> are asked for.</summary>
        private static int Rescored(int k) => k + Math.Max(Margin, k);

        /// <summary>Where the run of rows of <paramref name="id"/> starting at <paramref name="row"/> ends (its rows share its id, the same string).</summary>
        private int RunEnd(int row, string id)
        {
            var end = row + 1;
            while (end < count && ReferenceEquals(ids[end], id))
            {
                end++;
            }

            return end;
        }

        /// <summary>The dot product of a row's bytes with the query's, widened: pairs multiplied and summed into 32 bits (AVX2).</summary>
        private static int DotBytes(ReadOnlySpan<sbyte> row, short[] query)
        {
            ref var r = ref MemoryMarshal.GetReference(row);
            ref var q = ref MemoryMarshal.GetArrayDataReference(query);
            var acc = Vector256<int>.Zero;
            var i = 0;
            for (; i + 16 <= row.Length; i += 16)
            {
                var a = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref Unsafe.Add(ref r, i)));
                acc = Avx2.Add(acc, Avx2.MultiplyAddAdjacent(a, Vector256.LoadUnsafe(ref Unsafe.Add(ref q, i))));
            }

            var sum = Vector256.Sum(acc);
            for (; i < row.Length; i++)
            {
                sum += row[i] * query[i];
            }

            return sum;
        }
    }
}
