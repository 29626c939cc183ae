using BenchmarkDotNet.Attributes;
using Engram.Core;
using Engram.Core.Model;
using Engram.Testing;

namespace Engram.Benchmarks;

/// <summary>
/// Recall throughput with concurrent callers (an HTTP server serves many clients): each operation runs
/// <see cref="Streams"/> streams side by side, each making <see cref="RecallsPerStream"/> recalls. On two cores, two
/// streams should take little longer than one: throughput with n streams is n times the one-stream time over the
/// n-stream time.
/// </summary>
[Config(typeof(InProcessJob))]
public class ConcurrentRecallBenchmarks
{
    public const int RecallsPerStream = 16;

    private MemoryService _service = null!;
    private string _home = null!;
    private string[] _questions = null!;

    [Params(10_000, 100_000)]
    public int Memories { get; set; }

    [Params(1, 2)]
    public int Streams { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        (_service, _home) = Stores.BuildAsync(Memories).GetAwaiter().GetResult();
        var random = new Random(7);
        _questions = Enumerable.Range(0, 64).Select(_ => SyntheticFacts.Question(random)).ToArray();
    }

    [Benchmark(Description = "concurrent recall streams (16 recalls each, limit 10)")]
    public async Task<int> Recall()
    {
        var streams = Enumerable.Range(0, Streams).Select(s => Task.Run(async () =>
        {
            var found = 0;
            for (var i = 0; i < RecallsPerStream; i++)
            {
                found += (await _service.RecallAsync(new RecallRequest(_questions[((s * RecallsPerStream) + i) % _questions.Length]))).Memories.Count;
            }

            return found;
        }));
        return (await Task.WhenAll(streams)).Sum();
    }

    [GlobalCleanup]
    public void Cleanup() => Stores.Delete(_service, _home);
}
