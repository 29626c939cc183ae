using BenchmarkDotNet.Attributes;
using Engram.Core;
using Engram.Core.Storage;

namespace Engram.Benchmarks;

/// <summary>
/// What a recall pays when a memory's file vanished: looking for where it went in a work tree of 10,000 files in 500
/// folders. Cold is the first look (the tree walked, same-named files hashed); warm is a look within the next 10 s.
/// </summary>
[Config(typeof(InProcessJob))]
public class RenameFinderBenchmarks
{
    private string _root = "";
    private CodeAnchor _anchor = null!;
    private CodeAnchors _warm = null!;

    [GlobalSetup]
    public void Setup()
    {
        _root = Path.Combine(Path.GetTempPath(), "engram-rename-bench-" + Guid.NewGuid().ToString("N")[..8]);
        for (var folder = 0; folder < 500; folder++)
        {
            var path = Path.Combine(_root, "src", $"area{folder % 20}", $"module{folder}");
            Directory.CreateDirectory(path);
            for (var file = 0; file < 20; file++)
            {
                File.WriteAllText(Path.Combine(path, $"File{file}.cs"), $"class File{file}_{folder} {{ }}\n");
            }
        }

        // The file a memory named, moved to another folder.
        File.Move(Path.Combine(_root, "src", "area3", "module3", "File7.cs"), Path.Combine(_root, "src", "area3", "module3", "Moved.cs"));
        Directory.CreateDirectory(Path.Combine(_root, "lib"));
        File.WriteAllText(Path.Combine(_root, "lib", "RetryPolicy.cs"), "class RetryPolicy { }\n");
        _anchor = new CodeAnchor("src/Billing/RetryPolicy.cs", CodeAnchors.BlobHash("class RetryPolicy { }\n"u8.ToArray()), 0, _root);
        _warm = new CodeAnchors(_root);
        _warm.Check(_anchor);
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_root, recursive: true);

    [Benchmark(Baseline = true, Description = "first look: walk 10,000 files, hash the same-named")]
    public string? Cold() => new CodeAnchors(_root).Check(_anchor)?.To;

    [Benchmark(Description = "a look within 10 s of the last")]
    public string? Warm() => _warm.Check(_anchor)?.To;
}
