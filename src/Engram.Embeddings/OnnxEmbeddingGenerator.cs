using System.Text;
using System.Text.Json;
using Engram.Core;
using Microsoft.Extensions.AI;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.Tokenizers;

namespace Engram.Embeddings;

/// <summary>
/// A local sentence-transformers model exported to ONNX: <c>model.onnx</c> (or <c>onnx/model.onnx</c>) with its
/// WordPiece vocabulary (<c>vocab.txt</c>, or the vocabulary inside <c>tokenizer.json</c>). Texts are tokenized BERT-style
/// (at most <see cref="MaxTokens"/> tokens), run through the model, mean-pooled over the attention mask and normalised.
/// A model that already outputs <c>sentence_embedding</c> is used as is.
/// </summary>
internal sealed class OnnxEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    /// <summary>Longer texts are cut: sentence-transformers models are trained on at most 256–512 tokens.</summary>
    public const int MaxTokens = 256;

    private readonly InferenceSession _session;
    private readonly BertTokenizer _tokenizer;
    private readonly EmbeddingGeneratorMetadata _metadata;
    private readonly HashSet<string> _inputs;
    private readonly string _output;
    private readonly bool _pooled;

    private OnnxEmbeddingGenerator(InferenceSession session, BertTokenizer tokenizer, string name)
    {
        _session = session;
        _tokenizer = tokenizer;
        _metadata = new EmbeddingGeneratorMetadata("onnx", defaultModelId: name);
        _inputs = session.InputMetadata.Keys.ToHashSet(StringComparer.Ordinal);
        if (!_inputs.Contains("input_ids"))
        {
            throw new EngramArgumentException($"The ONNX model takes no 'input_ids' (its inputs: {string.Join(", ", _inputs)}). Export a sentence-transformers model with its tokenizer inputs.");
        }

        _pooled = session.OutputMetadata.ContainsKey("sentence_embedding");
        _output = _pooled ? "sentence_embedding" : session.OutputMetadata.Keys.First();
    }

    /// <summary>Loads the model and vocabulary from <paramref name="folder"/>.</summary>
    /// <exception cref="EngramArgumentException">The folder lacks the model or the vocabulary; the message says what is needed.</exception>
    public static OnnxEmbeddingGenerator Load(string folder)
    {
        var full = Path.GetFullPath(folder);
        var model = new[] { Path.Combine(full, "model.onnx"), Path.Combine(full, "onnx", "model.onnx") }.FirstOrDefault(File.Exists)
            ?? throw new EngramArgumentException($"No model.onnx in {full} (nor in its onnx/ folder). Point onnx:<folder> at a sentence-transformers export, e.g. one made with optimum-cli export onnx.");
        var tokenizer = LoadTokenizer(full);
        var options = new SessionOptions { InterOpNumThreads = 1, IntraOpNumThreads = Math.Max(1, Environment.ProcessorCount / 2) };
        InferenceSession session;
        try
        {
            session = new InferenceSession(model, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new EngramArgumentException($"{model} could not be loaded by ONNX Runtime: {e.Message}");
        }
        finally
        {
            options.Dispose();
        }

        // The identity names the folder and the model file's size and time, so a replaced model is a new model.
        var info = new FileInfo(model);
        return new OnnxEmbeddingGenerator(session, tokenizer, $"{new DirectoryInfo(full).Name}@{info.Length:x}-{info.LastWriteTimeUtc.Ticks:x}");
    }

    private static BertTokenizer LoadTokenizer(string folder)
    {
        var lowerCase = ReadLowerCase(folder);
        var options = new BertOptions { LowerCaseBeforeTokenization = lowerCase };
        var vocab = Path.Combine(folder, "vocab.txt");
        if (File.Exists(vocab))
        {
            return BertTokenizer.Create(vocab, options);
        }

        var json = Path.Combine(folder, "tokenizer.json");
        if (!File.Exists(json))
        {
            throw new EngramArgumentException($"No vocab.txt or tokenizer.json in {folder}: the model's WordPiece vocabulary is needed to tokenize.");
        }

        // tokenizer.json holds the WordPiece vocabulary as {token: id}; BertTokenizer reads it as lines in id order.
        using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
        if (!doc.RootElement.TryGetProperty("model", out var m) || !m.TryGetProperty("vocab", out var entries) || entries.ValueKind != JsonValueKind.Object)
        {
            throw new EngramArgumentException($"{json} has no WordPiece vocabulary (model.vocab). Engram reads BERT-style (WordPiece) tokenizers; add the model's vocab.txt.");
        }

        var lines = entries.EnumerateObject().OrderBy(p => p.Value.GetInt32()).Select(p => p.Name);
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"));
        return BertTokenizer.Create(stream, options);
    }

    private static bool ReadLowerCase(string folder)
    {
        var config = Path.Combine(folder, "tokenizer_config.json");
        if (File.Exists(config))
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(config));
            if (doc.RootElement.TryGetProperty("do_lower_case", out var lower) && lower.ValueKind is JsonValueKind.True or JsonValueKind.False)
            {
                return lower.GetBoolean();
            }
        }

        return true;
    }

    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var texts = values.ToList();
        var result = new GeneratedEmbeddings<Embedding<float>>(texts.Count);
        foreach (var chunk in texts.Chunk(16))
        {
            // Inference runs on the thread pool, so a caller's time limit can give up waiting for it.
            var vectors = await Task.Run(() => Embed(chunk), cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
            result.AddRange(vectors.Select(v => new Embedding<float>(v) { ModelId = _metadata.DefaultModelId }));
        }

        return result;
    }

    private List<float[]> Embed(string[] texts)
    {
        var ids = texts.Select(t => _tokenizer.EncodeToIds(t, MaxTokens, addSpecialTokens: true, out _, out _)).ToList();
        var length = Math.Max(1, ids.Max(x => x.Count));
        var inputIds = new DenseTensor<long>([texts.Length, length]);
        var mask = new DenseTensor<long>([texts.Length, length]);
        var types = new DenseTensor<long>([texts.Length, length]);
        for (var i = 0; i < texts.Length; i++)
        {
            for (var j = 0; j < ids[i].Count; j++)
            {
                inputIds[i, j] = ids[i][j];
                mask[i, j] = 1;
            }
        }

        var inputs = new List<NamedOnnxValue> { NamedOnnxValue.CreateFromTensor("input_ids", inputIds) };
        if (_inputs.Contains("attention_mask"))
        {
            inputs.Add(NamedOnnxValue.CreateFromTensor("attention_mask", mask));
        }

        if (_inputs.Contains("token_type_ids"))
        {
            inputs.Add(NamedOnnxValue.CreateFromTensor("token_type_ids", types));
        }

        using var outputs = _session.Run(inputs, [_output]);
        var tensor = outputs[0].AsTensor<float>();
        var vectors = new List<float[]>(texts.Length);
        if (_pooled)
        {
            var dims = tensor.Dimensions[1];
            for (var i = 0; i < texts.Length; i++)
            {
                vectors.Add(Normalize(Enumerable.Range(0, dims).Select(d => tensor[i, d]).ToArray()));
            }

            return vectors;
        }

        // Mean pooling over the real tokens (the attention mask), as sentence-transformers does.
        var hidden = tensor.Dimensions[2];
        for (var i = 0; i < texts.Length; i++)
        {
            var sum = new float[hidden];
            var count = ids[i].Count;
            for (var j = 0; j < count; j++)
            {
                for (var d = 0; d < hidden; d++)
                {
                    sum[d] += tensor[i, j, d];
                }
            }

            for (var d = 0; d < hidden; d++)
            {
                sum[d] /= Math.Max(1, count);
            }

            vectors.Add(Normalize(sum));
        }

        return vectors;
    }

    private static float[] Normalize(float[] vector)
    {
        var norm = MathF.Sqrt(System.Numerics.Tensors.TensorPrimitives.Dot(vector, vector));
        if (norm > 0)
        {
            System.Numerics.Tensors.TensorPrimitives.Divide(vector, norm, vector);
        }

        return vector;
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType == typeof(EmbeddingGeneratorMetadata) ? _metadata
        : serviceKey is null && serviceType.IsInstanceOfType(this) ? this
        : null;

    public void Dispose() => _session.Dispose();
}
