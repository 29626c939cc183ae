using BenchmarkDotNet.Attributes;
using Engram.Core.Search;

namespace Engram.Benchmarks;

/// <summary>
/// The vector signal's work at the sizes of issue 16's MCP target: memories of one row, or of a whole text and two
/// sentences (a LoCoMo turn averages 2.7 rows), MiniLM's 384 dimensions, the recall's candidate depth of 400; then the
/// cosines of 250 candidates another signal found, from rows located beforehand.
/// </summary>
[Config(typeof(InProcessJob))]
public class VectorSignalBenchmarks
{
    private const int Dimensions = 384;
    private const int Depth = 400;
    private VectorMatrix _matrix = null!;
    private float[] _query = null!;
    private List<VectorMatrix.Located> _located = null!;

    [Params(2_000, 5_000, 10_000)]
    public int Memories { get; set; }

    [Params(1, 3)]
    public int Rows { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        _matrix = new VectorMatrix(Dimensions);
        for (var i = 0; i < Memories; i++)
        {
            var rows = new float[Rows * Dimensions];
            for (var r = 0; r < Rows; r++)
            {
                VectorScanBenchmarks.RandomUnit(random, rows.AsSpan(r * Dimensions, Dimensions));
            }

            _matrix.Upsert("m" + i, rows);
        }

        _matrix.Publish();
        _query = new float[Dimensions];
        VectorScanBenchmarks.RandomUnit(random, _query);
        _located = Enumerable.Range(0, 250).Select(i => _matrix.Locate("m" + (i * 7 % Memories))!.Value).ToList();
    }

    [Benchmark(Baseline = true, Description = "scan, top 400 (as recall chooses)")]
    public int Scan()
    {
        var top = new TopK<string>(Depth);
        _matrix.Current.Scan(_query, top, null);
        return top.ToList().Count;
    }

    [Benchmark(Description = "scan, top 400 (bytes first)")]
    public int ScanBytes()
    {
        var top = new TopK<string>(Depth);
        _matrix.Current.ScanBytes(_query, top, float.NegativeInfinity, sentences: true);
        return top.ToList().Count;
    }

    [Benchmark(Description = "scan, top 400 (floats only)")]
    public int ScanFloats()
    {
        var top = new TopK<string>(Depth);
        _matrix.Current.ScanFloats(_query, top, null, float.NegativeInfinity, sentences: true);
        return top.ToList().Count;
    }

    [Benchmark(Description = "cosines of 250 located memories")]
    public float Cosines()
    {
        var sum = 0f;
        foreach (var located in _located)
        {
            sum += located.Cosine(_query);
        }

        return sum;
    }
}
