using BenchmarkDotNet.Attributes;
using Engram.Core.Curation;

namespace Engram.Benchmarks;

/// <summary>What the secret check adds to every remember: a typical memory, a long one, and one that holds a key.</summary>
[Config(typeof(InProcessJob))]
public class SecretScanBenchmarks
{
    private readonly string _typical = "Decided to move the billing retries into RetryPolicy.cs with a cap of 5 attempts and jittered back-off; "
        + "the on-call runbook links it, and staging deploys stay frozen on Fridays after 3pm.";

    private readonly string _long;

    private readonly string _withKey = "The release workflow reads ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5 from the environment.";

    public SecretScanBenchmarks() => _long = string.Concat(Enumerable.Repeat(_typical + " ", 20));

    [Benchmark(Baseline = true, Description = "scan a typical memory (220 characters)")]
    public int ScanTypical() => SecretScanner.Scan(_typical).Count;

    [Benchmark(Description = "scan a long memory (4,400 characters)")]
    public int ScanLong() => SecretScanner.Scan(_long).Count;

    [Benchmark(Description = "scan a memory holding a token")]
    public int ScanWithKey() => SecretScanner.Scan(_withKey).Count;
}
