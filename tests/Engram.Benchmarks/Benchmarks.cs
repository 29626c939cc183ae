using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Engram.Core;
using Engram.Core.Model;
using Engram.Core.Search;
using Engram.Testing;
using Microsoft.Data.Sqlite;
using ModelContextProtocol.Client;

namespace Engram.Benchmarks;

/// <summary>A store of synthetic facts in one scope, built with the bulk path.</summary>
internal static class Stores
{
    /// <param name="size">How many memories.</param>
    /// <param name="embeddings">The embedder as <c>--embeddings</c> names it: <c>builtin</c> (the default here), or
    /// <c>minilm</c>, the shipped model (Engram's default).</param>
    public static async Task<(MemoryService Service, string Home)> BuildAsync(int size, string embeddings = "builtin")
    {
        var home = Path.Combine(Path.GetTempPath(), "engram-bench-" + Guid.NewGuid().ToString("N"));
        var service = new MemoryService(
            new EngramOptions { HomeDirectory = home, DefaultScope = "project:bench/recall" },
            Engram.Embeddings.EmbeddingProvider.Create(embeddings, null, null));
        var random = new Random(42);
        // Facts per memory (ENGRAM_BENCH_SENTENCES, default 1): with a model, a memory of several sentences is held as
        // one row for its whole text and one per sentence, so the scan reads that many more rows.
        var sentences = int.Parse(Environment.GetEnvironmentVariable("ENGRAM_BENCH_SENTENCES") ?? "1", System.Globalization.CultureInfo.InvariantCulture);
        for (var start = 0; start < size; start += 5000)
        {
            var batch = Enumerable.Range(start, Math.Min(5000, size - start))
                .Select(i => new RememberRequest(string.Join(' ', Enumerable.Range(0, sentences).Select(_ => SyntheticFacts.Fact(i, random))))).ToList();
            await service.RememberManyAsync(batch);
        }

        // Build the lexical index and load the vectors before timing starts.
        await service.RecallAsync(new RecallRequest("warm up"));
        return (service, home);
    }

    public static void Delete(MemoryService service, string home)
    {
        service.DisposeAsync().AsTask().GetAwaiter().GetResult(); // BenchmarkDotNet clean-ups are synchronous
        SqliteConnection.ClearAllPools();
        Directory.Delete(home, recursive: true);
    }
}

/// <summary>
/// Library recall latency against store size and embedder (one scope; a logged recall of 10, as the MCP tool does).
/// Every question is new to the process (numbered), so the model embeds each one: no cached query vector.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(InProcessJob))]
public class RecallBenchmarks
{
    private MemoryService _service = null!;
    private string _home = null!;
    private string[] _questions = null!;
    private int _next;

    /// <summary>Store sizes: 1k, 10k and 100k, or those in <c>ENGRAM_BENCH_MEMORIES</c> (comma-separated).</summary>
    public static IEnumerable<int> Sizes() =>
        (Environment.GetEnvironmentVariable("ENGRAM_BENCH_MEMORIES") ?? "1000,10000,100000").Split(',').Select(int.Parse);

    /// <summary>Embedders: builtin and the shipped model, or those in <c>ENGRAM_BENCH_EMBEDDINGS</c> (comma-separated).</summary>
    public static IEnumerable<string> Embedders() =>
        (Environment.GetEnvironmentVariable("ENGRAM_BENCH_EMBEDDINGS") ?? "builtin,minilm").Split(',');

    [ParamsSource(nameof(Sizes))]
    public int Memories { get; set; }

    [ParamsSource(nameof(Embedders))]
    public string Embeddings { get; set; } = "builtin";

    [GlobalSetup]
    public void Setup()
    {
        (_service, _home) = Stores.BuildAsync(Memories, Embeddings).GetAwaiter().GetResult();
        var random = new Random(7);
        _questions = Enumerable.Range(0, 64).Select(_ => SyntheticFacts.Question(random)).ToArray();
    }

    [Benchmark(Description = "recall (limit 10)")]
    public async Task<int> Recall()
    {
        var n = _next++;
        return (await _service.RecallAsync(new RecallRequest($"{_questions[n % _questions.Length]} ({n})"))).Memories.Count;
    }

    [GlobalCleanup]
    public void Cleanup() => Stores.Delete(_service, _home);
}

/// <summary>
/// The vector scan (dot product of every row with the query, top 100 by a bounded heap) against a memory-bandwidth
/// reference that reads the same bytes (<see cref="TensorPrimitives.Sum(ReadOnlySpan{float})"/>).
/// </summary>
[Config(typeof(ThroughputConfig))]
public class VectorScanBenchmarks
{
    public const int Dimensions = 512;
    private VectorMatrix _matrix = null!;
    private float[] _query = null!;

    [Params(10_000, 100_000)]
    public int Rows { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        _matrix = new VectorMatrix(Dimensions);
        for (var i = 0; i < Rows; i++)
        {
            _matrix.Upsert("m" + i, RandomUnit(random));
        }

        _matrix.Publish();

        _query = RandomUnit(random);
    }

    private static float[] RandomUnit(Random random)
    {
        var v = new float[Dimensions];
        RandomUnit(random, v);
        return v;
    }

    /// <summary>Fills <paramref name="v"/> with a random direction, of unit length.</summary>
    internal static void RandomUnit(Random random, Span<float> v)
    {
        for (var i = 0; i < v.Length; i++) v[i] = (float)(random.NextDouble() - 0.5);
        TensorPrimitives.Divide(v, TensorPrimitives.Norm(v), v);
    }

    [Benchmark(Baseline = true, Description = "memory bandwidth: Sum over the matrix")]
    public float Sum() => TensorPrimitives.Sum(_matrix.Current.Data);

    [Benchmark(Description = "vector scan: Dot per row + top-100 heap")]
    public int Scan()
    {
        var top = new TopK<string>(100);
        _matrix.Current.Scan(_query, top, null);
        return top.ToList().Count;
    }

    private sealed class ThroughputConfig : InProcessJob
    {
        public ThroughputConfig() => AddColumn(new GigabytesPerSecondColumn());
    }

    /// <summary>Bytes of the matrix read per operation over the mean time.</summary>
    private sealed class GigabytesPerSecondColumn : IColumn
    {
        public string Id => "GBps";
        public string ColumnName => "GB/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "Matrix bytes (rows × 512 × 4) read per second, in 10^9 bytes";
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public bool IsAvailable(Summary summary) => true;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var report = summary[benchmarkCase];
            if (report?.ResultStatistics is not { } stats)
            {
                return "-";
            }

            var rows = (int)benchmarkCase.Parameters["Rows"];
            var bytes = (double)rows * Dimensions * sizeof(float);
            return (bytes / stats.Mean).ToString("F2", System.Globalization.CultureInfo.InvariantCulture); // bytes per ns = GB/s
        }
    }
}

/// <summary>Durable single remember latency, and bulk import throughput (1,000 facts per operation).</summary>
[MemoryDiagnoser]
[Config(typeof(InProcessJob))]
public class RememberBenchmarks
{
    private MemoryService _service = null!;
    private string _home = null!;
    private int _next;
    private readonly Random _random = new(3);

    [GlobalSetup]
    public void Setup() => (_service, _home) = Stores.BuildAsync(1_000).GetAwaiter().GetResult();

    [Benchmark(Description = "remember (one fact, fsynced)")]
    public async Task<string> Remember() =>
        (await _service.RememberAsync(new RememberRequest(SyntheticFacts.Fact(1_000_000 + _next++, _random)))).Id;

    [Benchmark(Description = "bulk import (1,000 facts, one transaction)", OperationsPerInvoke = 1000)]
    public async Task<int> BulkImport()
    {
        var batch = Enumerable.Range(0, 1000).Select(_ => new RememberRequest(SyntheticFacts.Fact(2_000_000 + _next++, _random))).ToList();
        return (await _service.RememberManyAsync(batch)).Count;
    }

    [GlobalCleanup]
    public void Cleanup() => Stores.Delete(_service, _home);
}

/// <summary>Start-up at the process level: launch the built server over stdio until its first tools/list answer.</summary>
[Config(typeof(StartupJob))]
public class StartupBenchmarks
{
    private string _home = null!;

    [GlobalSetup]
    public void Setup() => _home = Path.Combine(Path.GetTempPath(), "engram-bench-start-" + Guid.NewGuid().ToString("N"));

    [Benchmark(Description = "start engram, initialize, first tools/list")]
    public async Task<int> StartToFirstToolsList()
    {
        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Command = "dotnet",
            Arguments = [Path.Combine(AppContext.BaseDirectory, "engram.dll")],
            EnvironmentVariables = new Dictionary<string, string?> { ["ENGRAM_HOME"] = _home, ["ENGRAM_SCOPE"] = "user" },
        });
        await using var client = await McpClient.CreateAsync(transport);
        return (await client.ListToolsAsync()).Count;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (Directory.Exists(_home)) Directory.Delete(_home, recursive: true);
    }
}

/// <summary>
/// One job for every suite: in process (no generated project to build; the machine's 2 cores stay on the workload),
/// 3 warm-up and 10 measured iterations.
/// </summary>
public class InProcessJob : ManualConfig
{
    // A store of 100k memories embedded by the model takes minutes to build before the first iteration.
    public InProcessJob() => AddJob(Job.Default
        .WithToolchain(new BenchmarkDotNet.Toolchains.InProcess.Emit.InProcessEmitToolchain(TimeSpan.FromMinutes(30), logOutput: true))
        .WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(10));
}

/// <summary>Process start-up: one launch per measured iteration.</summary>
public class StartupJob : ManualConfig
{
    public StartupJob() => AddJob(Job.Default
        .WithToolchain(BenchmarkDotNet.Toolchains.InProcess.Emit.InProcessEmitToolchain.Instance)
        .WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(10).WithInvocationCount(1).WithUnrollFactor(1));
}

public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
