using BenchmarkDotNet.Attributes;
using Engram.Core;
using Engram.Core.Model;

namespace Engram.Benchmarks;

/// <summary>
/// What stale marking adds to a recall: 1,000 memories that each name a file of a work tree of 1,000 files, half of
/// them edited and a tenth moved or deleted since; every hit of a recall is anchored, so each recall checks 10 files
/// (hashes cached by modification time). The baseline is the same store and questions outside any work tree.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(InProcessJob))]
public class AnchorBenchmarks
{
    private readonly List<(MemoryService Service, string Home)> _stores = [];
    private string _root = "";
    private MemoryService _anchored = null!;
    private MemoryService _plain = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _root = Path.Combine(Path.GetTempPath(), "engram-anchor-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(_root, ".git"));
        for (var i = 0; i < 1000; i++)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(FilePath(i))!);
            File.WriteAllText(FilePath(i), $"class Handler{i} {{ const int Retries = {i % 7}; }}\n");
        }

        _anchored = Open(_root);
        _plain = Open(null);
        for (var i = 0; i < 1000; i++)
        {
            if (i % 2 == 0)
            {
                File.AppendAllText(FilePath(i), "// edited\n");
            }
            else if (i % 10 == 1)
            {
                File.Delete(FilePath(i));
            }
        }

        Recall(_anchored);
        Recall(_plain);
    }

    private string FilePath(int i) => Path.Combine(_root, "src", $"Module{i % 100}", $"Handler{i}.cs");

    private MemoryService Open(string? root)
    {
        var home = Path.Combine(Path.GetTempPath(), "engram-bench-" + Guid.NewGuid().ToString("N"));
        var service = new MemoryService(new EngramOptions { HomeDirectory = home, DefaultScope = "project:bench/anchors", ProjectRoot = root, BackgroundEmbedding = false },
            Engram.Embeddings.EmbeddingProvider.Create("builtin", null, null));
        service.RememberManyAsync(Enumerable.Range(0, 1000)
            .Select(i => new RememberRequest($"The handler for case {i} lives in src/Module{i % 100}/Handler{i}.cs and retries {i % 7} times.")).ToList()).GetAwaiter().GetResult();
        _stores.Add((service, home));
        return service;
    }

    private int Recall(MemoryService service)
    {
        var n = _next++;
        var result = service.RecallAsync(new RecallRequest($"where does the handler for case {n % 1000} live, module {n % 100}")).GetAwaiter().GetResult();
        return result.Memories.Count(m => m.Stale is not null);
    }

    [Benchmark(Baseline = true, Description = "recall (limit 10), outside a work tree")]
    public int Plain() => Recall(_plain);

    [Benchmark(Description = "recall (limit 10), 10 anchored hits, stale marked")]
    public int Anchored() => Recall(_anchored);

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var (service, home) in _stores)
        {
            Stores.Delete(service, home);
        }

        Directory.Delete(_root, recursive: true);
    }
}
