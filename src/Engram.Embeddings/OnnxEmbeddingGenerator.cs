using System.Text;
using System.Text.Json;
using Engram.Core;
using Engram.Core.Embeddings;
using Microsoft.Extensions.AI;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.Tokenizers;

namespace Engram.Embeddings;

/// <summary>
/// A local sentence-transformers model exported to ONNX: <c>model.onnx</c> (or <c>onnx/model.onnx</c>) with its
/// WordPiece vocabulary (<c>vocab.txt</c>, or the vocabulary inside <c>tokenizer.json</c>), used as its configuration
/// files say (<see cref="SentenceTransformerConfig"/>): texts tokenized BERT-style, queries and documents with their
/// prompts, token states pooled (mean or [CLS]) and normalised. A model that already outputs <c>sentence_embedding</c>
/// is used as is. The model is read from its file by ONNX Runtime, and the vocabulary by the tokenizer, the first time a
/// text is embedded, not before: creating the embedder costs only reading the small configuration files.
/// </summary>
internal sealed class OnnxEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>, ILoadingEmbeddingGenerator
{
    private readonly string _modelPath;
    private readonly string _folder;
    private readonly EmbeddingGeneratorMetadata _metadata;
    private readonly Lock _loading = new();

    // Queries' embeddings, two at once (two recalls over HTTP); each run uses IntraOpNumThreads.
    private readonly InferenceThreads _queries = new(2, "Engram query embedding");
    // Stops the runs in flight when the embedder is disposed; Dispose waits for them before it frees the model.
    private readonly CancellationTokenSource _closing = new();
    private readonly ManualResetEventSlim _idle = new(initialState: true);
    private Session? _session;
    private int _running;
    private bool _disposed;
    private SentenceTransformerConfig? _config;

    private OnnxEmbeddingGenerator(string modelPath, string folder, SentenceTransformerConfig? config, string provider, string name, int? dimensions)
    {
        _modelPath = modelPath;
        _folder = folder;
        _config = config;
        _metadata = new EmbeddingGeneratorMetadata(provider, defaultModelId: name, defaultModelDimensions: dimensions);
    }

    /// <summary>How the model is used, as its folder says (read on first use when the model is Engram's own).</summary>
    public SentenceTransformerConfig Config => _config ??= SentenceTransformerConfig.Read(_folder);

    /// <summary>Whether the model has been loaded (by a first text).</summary>
    public bool IsLoaded => Volatile.Read(ref _session) is not null;

    /// <summary>The loaded model: loads it on first use; a failure is not kept, so the next call tries again.</summary>
    private Session Loaded
    {
        get
        {
            if (Volatile.Read(ref _session) is { } session)
            {
                return session;
            }

            lock (_loading)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                return _session ??= Open();
            }
        }
    }

    /// <inheritdoc />
    public Task LoadAsync(CancellationToken cancellationToken) =>
        IsLoaded ? Task.CompletedTask : Task.Run(() => Loaded, cancellationToken);

    /// <summary>
    /// Prepares the model in <paramref name="folder"/>: checks that the weights are there and reads the vocabulary and
    /// configuration. The weights are loaded on first use.
    /// </summary>
    /// <param name="folder">The export's folder.</param>
    /// <param name="provider">The provider name recorded with the vectors.</param>
    /// <param name="name">The model name recorded with the vectors; by default the folder's name with the weights'
    /// size and time and the pooling and prompts, so a replaced or differently used model is a new model.</param>
    /// <exception cref="EngramArgumentException">The folder lacks the model or the vocabulary, or a configuration file is unreadable; the message says what is needed.</exception>
    public static OnnxEmbeddingGenerator Load(string folder, string provider = "onnx", string? name = null)
    {
        var full = Path.GetFullPath(folder);
        var model = new[] { Path.Combine(full, "model.onnx"), Path.Combine(full, "onnx", "model.onnx") }.FirstOrDefault(File.Exists)
            ?? throw new EngramArgumentException($"No model.onnx in {full} (nor in its onnx/ folder). Point onnx:<folder> at a sentence-transformers export, e.g. one made with optimum-cli export onnx.");
        var config = SentenceTransformerConfig.Read(full);
        if (!File.Exists(Path.Combine(full, "vocab.txt")) && !File.Exists(Path.Combine(full, "tokenizer.json")))
        {
            throw new EngramArgumentException($"No vocab.txt or tokenizer.json in {full}: the model's WordPiece vocabulary is needed to tokenize.");
        }
        if (name is null)
        {
            var info = new FileInfo(model);
            name = $"{new DirectoryInfo(full).Name}@{info.Length:x}-{info.LastWriteTimeUtc.Ticks:x}/{config.Tag}";
        }

        return new OnnxEmbeddingGenerator(model, full, config, provider, name, config.Dimensions);
    }

    /// <summary>
    /// The model shipped with Engram in <paramref name="folder"/>, known by <paramref name="name"/> and its
    /// <paramref name="dimensions"/>: nothing is read until the first text (a server's start-up does not wait for it).
    /// </summary>
    public static OnnxEmbeddingGenerator Shipped(string folder, string provider, string name, int dimensions) =>
        new(Path.Combine(folder, "model.onnx"), folder, null, provider, name, dimensions);

    private Session Open()
    {
        var options = new SessionOptions
        {
            InterOpNumThreads = 1,
            // One query is a few tokens: half the cores leaves the rest to the signals computing beside it (two threads
            // on this two-core machine were no faster: 3.0 against 3.1 ms per query).
            IntraOpNumThreads = Math.Max(1, Environment.ProcessorCount / 2),
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        try
        {
            // The tokenizer first: if it fails, no native session is left behind.
            var tokenizer = LoadTokenizer(_folder, Config.LowerCase, Config.StripAccents);
            return new Session(new InferenceSession(_modelPath, options), tokenizer);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidOperationException($"{_modelPath} could not be loaded by ONNX Runtime: {e.Message}", e);
        }
        finally
        {
            options.Dispose();
        }
    }

    private static BertTokenizer LoadTokenizer(string folder, bool lowerCase, bool stripAccents)
    {
        var options = new BertOptions { LowerCaseBeforeTokenization = lowerCase, RemoveNonSpacingMarks = stripAccents };
        var vocab = Path.Combine(folder, "vocab.txt");
        if (File.Exists(vocab))
        {
            return BertTokenizer.Create(vocab, options);
        }

        var json = Path.Combine(folder, "tokenizer.json");
        // tokenizer.json holds the WordPiece vocabulary as {token: id}; BertTokenizer reads it as lines in id order.
        using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
        if (!doc.RootElement.TryGetProperty("model", out var m) || !m.TryGetProperty("vocab", out var entries) || entries.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidOperationException($"{json} has no WordPiece vocabulary (model.vocab). Engram reads BERT-style (WordPiece) tokenizers; add the model's vocab.txt.");
        }

        var lines = entries.EnumerateObject().OrderBy(p => p.Value.GetInt32()).Select(p => p.Name);
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"));
        return BertTokenizer.Create(stream, options);
    }

    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var query = EmbeddingInput.IsQuery(options);
        var prefix = query ? Config.QueryPrefix : Config.DocumentPrefix;
        // One text per inference run, so a text's vector never depends on the texts beside it: the shipped model
        // quantizes its activations with one scale per run, so a batch would change each text's vector with its
        // neighbours' (and padding); unpadded single texts cost no more than a padded batch on a CPU. Inference runs on
        // other threads (a query's on threads of its own, see InferenceThreads; documents' on the pool, side by side: a
        // memory and its sentences), so a caller's time limit can give up waiting for it.
        // At most one run per core at a time for one call (a background batch of many memories never floods the pool),
        // each taking the next text as soon as its own run ends: a memory's whole text (its longest) runs beside its
        // sentences one after another, not beside one sentence while the next waits for the pair. None starts once the
        // caller has given up, or once a run failed (the call fails with it).
        var texts = values.Select(value => prefix + value).ToList();
        var vectors = new float[texts.Count][];
        var next = -1;
        var failed = false;
        bool Work()
        {
            try
            {
                for (int i; !cancellationToken.IsCancellationRequested && !Volatile.Read(ref failed) && (i = Interlocked.Increment(ref next)) < texts.Count;)
                {
                    vectors[i] = Embed(texts[i], cancellationToken);
                }
            }
            catch
            {
                Volatile.Write(ref failed, true);
                throw;
            }

            return true;
        }

        var workers = Enumerable.Range(0, Math.Min(texts.Count, Math.Max(1, Environment.ProcessorCount)))
            .Select(_ => query ? _queries.RunAsync(Work, cancellationToken) : Task.Run(Work, cancellationToken))
            .ToList();
        await Task.WhenAll(workers).WaitAsync(cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        var result = new GeneratedEmbeddings<Embedding<float>>(texts.Count);
        result.AddRange(vectors.Select(vector => new Embedding<float>(vector) { ModelId = _metadata.DefaultModelId }));
        return result;
    }

    /// <summary>
    /// One text's vector. The run stops inside ONNX Runtime (its terminate flag) once <paramref name="cancellationToken"/>
    /// is cancelled or the embedder disposed, so a caller that gave up (a time limit, a recall cancelled, a server
    /// stopping) does not leave a core busy; the model is not freed under a run (see <see cref="Dispose"/>).
    /// </summary>
    internal float[] Embed(string text, CancellationToken cancellationToken)
    {
        lock (_loading)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_running++ == 0)
            {
                _idle.Reset();
            }
        }

        try
        {
            return Run(text, cancellationToken);
        }
        finally
        {
            lock (_loading)
            {
                if (--_running == 0)
                {
                    _idle.Set();
                }
            }
        }
    }

    private float[] Run(string text, CancellationToken cancellationToken)
    {
        var session = Loaded;
        var ids = session.Tokenizer.EncodeToIds(text, Config.MaxTokens, addSpecialTokens: true, out _, out _);
        var shape = new[] { 1, ids.Count };
        var inputs = new List<NamedOnnxValue>(3) { NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids.Select(id => (long)id).ToArray(), shape)) };
        if (session.TakesMask)
        {
            inputs.Add(NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(Enumerable.Repeat(1L, ids.Count).ToArray(), shape)));
        }

        if (session.TakesTypes)
        {
            inputs.Add(NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(shape)));
        }

        using var run = new RunOptions();
        using var cancelled = cancellationToken.Register(static o => ((RunOptions)o!).Terminate = true, run);
        using var closing = _closing.Token.Register(static o => ((RunOptions)o!).Terminate = true, run);
        IDisposableReadOnlyCollection<DisposableNamedOnnxValue> outputs;
        try
        {
            outputs = session.Inference.Run(inputs, [session.Output], run);
        }
        catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested || _closing.IsCancellationRequested)
        {
            // ONNX Runtime stopped the run at our word (its terminate flag).
            cancellationToken.ThrowIfCancellationRequested();
            throw new ObjectDisposedException(nameof(OnnxEmbeddingGenerator));
        }

        using var owned = outputs;
        var tensor = outputs[0].AsTensor<float>();
        var states = tensor is DenseTensor<float> dense ? dense.Buffer.Span : tensor.ToArray();
        if (session.Pooled)
        {
            return Normalize(states.ToArray());
        }

        var hidden = tensor.Dimensions[2];
        var vector = new float[hidden];
        if (Config.Pooling == Pooling.Cls)
        {
            states[..hidden].CopyTo(vector);
        }
        else
        {
            // Mean over the tokens, as sentence-transformers does (one text: no padding to leave out).
            for (var j = 0; j < ids.Count; j++)
            {
                System.Numerics.Tensors.TensorPrimitives.Add(vector, states.Slice(j * hidden, hidden), vector);
            }

            System.Numerics.Tensors.TensorPrimitives.Divide(vector, Math.Max(1, ids.Count), vector);
        }

        return Normalize(vector);
    }

    private static float[] Normalize(float[] vector)
    {
        var norm = System.Numerics.Tensors.TensorPrimitives.Norm(vector);
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

    /// <summary>
    /// Stops the query threads and the runs in flight, waits for those runs to leave ONNX Runtime (a run stops at its
    /// next operation once told), then frees the model: freeing it under a run would crash the process.
    /// </summary>
    public void Dispose()
    {
        _queries.Dispose();
        lock (_loading)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        _closing.Cancel();
        if (!_idle.Wait(TimeSpan.FromSeconds(10)))
        {
            // A run that ignores its terminate flag for that long is stuck: leaving the model to the process's end is
            // safer than freeing it under the run.
            return;
        }

        lock (_loading)
        {
            _session?.Inference.Dispose();
            _session = null;
        }

        _closing.Dispose();
        _idle.Dispose();
    }

    /// <summary>The loaded model and what it takes and gives.</summary>
    private sealed class Session
    {
        public Session(InferenceSession inference, BertTokenizer tokenizer)
        {
            Inference = inference;
            Tokenizer = tokenizer;
            var inputs = inference.InputMetadata.Keys.ToHashSet(StringComparer.Ordinal);
            if (!inputs.Contains("input_ids"))
            {
                inference.Dispose();
                throw new InvalidOperationException($"The ONNX model takes no 'input_ids' (its inputs: {string.Join(", ", inputs)}). Export a sentence-transformers model with its tokenizer inputs.");
            }

            TakesMask = inputs.Contains("attention_mask");
            TakesTypes = inputs.Contains("token_type_ids");
            Pooled = inference.OutputMetadata.ContainsKey("sentence_embedding");
            Output = Pooled ? "sentence_embedding" : inference.OutputMetadata.ContainsKey("last_hidden_state") ? "last_hidden_state" : inference.OutputMetadata.Keys.First();
        }

        public InferenceSession Inference { get; }

        public BertTokenizer Tokenizer { get; }

        public bool TakesMask { get; }

        public bool TakesTypes { get; }

        public bool Pooled { get; }

        public string Output { get; }
    }
}
