using Engram.Core.Storage;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace Engram.Core.Embeddings;

/// <summary>
/// The configured embedder as the service uses it. Time limit, back-off after a failure and the cache of recent texts
/// are wrappers around the embedder (<see cref="Compose"/>); this adds its identity (learned from a first vector, since
/// a provider's dimension is only known from one), the checks of what it answers, and calls that never throw.
/// </summary>
internal sealed partial class EmbeddingRuntime : IDisposable
{
    private const int MaxCached = 20_000;

    /// <summary>Texts per call: batches keep a remote embedder's requests to a sensible size; each has the whole time limit.</summary>
    private const int BatchSize = 64;

    private static readonly EmbeddingGenerationOptions DoNotPause = new() { AdditionalProperties = new() { [BackoffEmbeddingGenerator.PauseOnFailure] = false } };
    private static readonly EmbeddingGenerationOptions AsQuery = new() { AdditionalProperties = new() { [EmbeddingInput.OptionKey] = EmbeddingInput.Query } };

    private readonly IEmbeddingGenerator<string, Embedding<float>> _generator;
    private readonly BackoffEmbeddingGenerator _backoff;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _probe = new(1, 1);
    private EmbeddingModel? _model;

    /// <param name="inner">The embedder as configured; its metadata names the vectors' provider and model.</param>
    /// <param name="options">The time limit, the retry delay and the clock it runs on.</param>
    /// <param name="loggerFactory">Logging.</param>
    public EmbeddingRuntime(IEmbeddingGenerator<string, Embedding<float>> inner, EngramOptions options, ILoggerFactory loggerFactory)
    {
        var metadata = inner.GetService<EmbeddingGeneratorMetadata>();
        Provider = metadata?.ProviderName ?? inner.GetType().Name;
        // A model run in this process embeds a memory's sentences too (Sentences), stored with its whole text's vector
        // under a name of their own, so a store embedded without them is embedded again in the background. A provider
        // reached over HTTP is not asked for them: it would bill or spend each memory two to nine times over.
        EmbedsSentences = !HashesWords && inner.GetService<ILoadingEmbeddingGenerator>() is not null;
        ModelName = (metadata?.DefaultModelId ?? "default") + (EmbedsSentences ? RowsSuffix : "");
        // An embedder that states its dimensions (a local model) is known without a call: the store opens without
        // loading it, and the first text to embed does.
        if (metadata?.DefaultModelDimensions is > 0 and var dimensions)
        {
            _model = new EmbeddingModel(Provider, ModelName, dimensions);
        }

        _logger = loggerFactory.CreateLogger<EmbeddingRuntime>();
        _generator = Compose(inner, options, loggerFactory);
        _backoff = _generator.GetService<BackoffEmbeddingGenerator>()!;
    }

    /// <summary>
    /// The embedder with what Engram adds around any model, outermost first: the cache of recent texts (a hit needs no
    /// embedder, even a paused one), the back-off after a failure, and the time limit of each call.
    /// </summary>
    internal static IEmbeddingGenerator<string, Embedding<float>> Compose(IEmbeddingGenerator<string, Embedding<float>> inner, EngramOptions options, ILoggerFactory loggerFactory) =>
        new EmbeddingGeneratorBuilder<string, Embedding<float>>(inner)
            .Use(next => new CachingEmbeddingGenerator(next, MaxCached))
            .Use(next => new BackoffEmbeddingGenerator(next, options.EmbeddingRetryDelay, options.TimeProvider, loggerFactory.CreateLogger<BackoffEmbeddingGenerator>()))
            .Use(next => new TimeLimitEmbeddingGenerator(next, options.EmbeddingTimeout))
            .Build();

    /// <summary>What a model's name is recorded with when its vectors include a memory's sentences' and, for a reply, its row with the question (<see cref="TryEmbedDocumentsAsync"/>).</summary>
    public const string RowsSuffix = "+sentences+replies";

    /// <summary>What the identity of vectors with reply rows holds (<see cref="RowsSuffix"/> before the dimensions): a forgotten question drops its reply's vector of such models.</summary>
    public const string RepliesMark = "+replies/";

    /// <summary>Whether a memory's sentences (and a reply's question) are embedded beside it: with a model run in this process (not hashed vectors, not an HTTP provider).</summary>
    public bool EmbedsSentences { get; }

    public string Provider { get; }

    public string ModelName { get; }

    /// <summary>Whether the vectors are the built-in hashed ones (words, not meaning), as the embedder's metadata names it.</summary>
    public bool HashesWords => Provider == HashingEmbeddingGenerator.ProviderName;

    /// <summary>The identity of the vectors this embedder makes; null until a first call has succeeded.</summary>
    public EmbeddingModel? Model => Volatile.Read(ref _model);

    /// <summary>Why the last call failed, while the embedder is paused after it; null when it is up.</summary>
    public string? Problem => _backoff.Problem;

    /// <summary>Why the last call failed, whether or not the embedder was paused for it.</summary>
    public string? LastError => _backoff.LastError;

    /// <inheritdoc cref="BackoffEmbeddingGenerator.LastFailureTransient"/>
    public bool LastFailureTransient => _backoff.LastFailureTransient;

    /// <summary>Leaves the embedder alone for the retry delay, after the failure recorded last.</summary>
    public void Pause() => _backoff.Pause();

    /// <summary>Learns the embedder's identity with one small call, unless it is known or the embedder is paused after a failure.</summary>
    public async Task<EmbeddingModel?> EnsureModelAsync(CancellationToken cancellationToken)
    {
        if (Model is { } known || _backoff.IsPaused)
        {
            return Model;
        }

        await _probe.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Model is null && !_backoff.IsPaused)
            {
                await TryEmbedAsync(["engram"], cancellationToken).ConfigureAwait(false);
            }

            return Model;
        }
        finally
        {
            _probe.Release();
        }
    }

    /// <summary>
    /// Unit vectors for <paramref name="texts"/>, or null when the embedder is paused, fails, times out or answers with
    /// vectors of the wrong count or size. Never throws but for cancellation.
    /// </summary>
    /// <param name="texts">The texts.</param>
    /// <param name="cancellationToken">Cancellation.</param>
    /// <param name="pauseOnFailure">Whether a failure pauses the embedder for everyone (false while telling a bad text from a dead provider).</param>
    public Task<float[][]?> TryEmbedAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken, bool pauseOnFailure = true) =>
        TryEmbedAsync(texts, pauseOnFailure ? null : DoNotPause, pauseOnFailure, cancellationToken);

    /// <summary>
    /// The vectors of memories' texts as the vector index holds them: with <see cref="EmbedsSentences"/>, each text's
    /// unit vector followed by one per sentence when it has several (<see cref="Search.Sentences"/>), then, for a text
    /// that answers a question (<paramref name="asked"/>), the sum of its whole vector and the question's, as a unit
    /// vector: a reply often leaves its subject to the question ("Got any favourite styles?" "Contemporary, it's so
    /// expressive."), as session context does for words. All in one array; otherwise the text's vector alone. Null as
    /// <see cref="TryEmbedAsync(IReadOnlyList{string}, CancellationToken, bool)"/>.
    /// </summary>
    /// <param name="texts">The memories' texts.</param>
    /// <param name="cancellationToken">Cancellation.</param>
    /// <param name="pauseOnFailure">As for <see cref="TryEmbedAsync(IReadOnlyList{string}, CancellationToken, bool)"/>.</param>
    /// <param name="asked">Per text, the question it answers, if any (<see cref="Search.SessionContext.Answers"/>).</param>
    public async Task<float[][]?> TryEmbedDocumentsAsync(IReadOnlyList<string> texts, CancellationToken cancellationToken, bool pauseOnFailure = true, IReadOnlyList<Asked?>? asked = null)
    {
        if (!EmbedsSentences)
        {
            return await TryEmbedAsync(texts, cancellationToken, pauseOnFailure).ConfigureAwait(false);
        }

        var all = new List<string>(texts.Count);
        var runs = new List<(int Start, int Rows)>(texts.Count);
        foreach (var text in texts)
        {
            var sentences = Search.Sentences.Of(text);
            runs.Add((all.Count, 1 + sentences.Count));
            all.Add(text);
            all.AddRange(sentences);
        }

        var vectors = await TryEmbedAsync(all, cancellationToken, pauseOnFailure).ConfigureAwait(false);
        if (vectors is null)
        {
            return null;
        }

        var result = new float[texts.Count][];
        for (var i = 0; i < texts.Count; i++)
        {
            var (start, rows) = runs[i];
            var whole = vectors[start];
            var reply = asked?[i] switch
            {
                { InBatch: >= 0 and var earlier } when earlier < i => Reply(whole, vectors[runs[earlier].Start]),
                { Rows: { } stored } when stored.Length >= whole.Length => Reply(whole, stored.AsSpan(0, whole.Length)),
                _ => null,
            };
            result[i] = rows == 1 && reply is null ? whole : [.. vectors.Skip(start).Take(rows).SelectMany(v => v), .. reply ?? []];
        }

        return result;
    }

    /// <summary>The question a memory answers: an earlier text of the same call (by its index), or a stored memory's rows (its whole text's first).</summary>
    internal readonly record struct Asked(int InBatch, float[]? Rows)
    {
        /// <summary>
        /// The question a memory observed at <paramref name="observedAt"/> answers when <paramref name="before"/> is
        /// stored just before it (<see cref="Search.SessionContext.QuestionAnswered"/>): by <paramref name="earlier"/>,
        /// its index in the same call when it is embedded there too (else -1), or by its stored rows. Null when it
        /// answers none, or its question has no usable vector (none yet, or its text refused).
        /// </summary>
        public static Asked? By(PrecedingMemory? before, int earlier, long observedAt) =>
            Search.SessionContext.QuestionAnswered(before, observedAt) == "" ? null
            : earlier >= 0 ? new Asked(earlier, null)
            : before!.Vector is { Length: > 0 } rows ? new Asked(-1, rows)
            : null;
    }

    /// <summary>
    /// The rows a memory keeps once the memory before it is forgotten: its whole text's and its sentences', without the
    /// row of the question it answered, and with one for <paramref name="before"/>, now before it, if it answers that
    /// (<see cref="Search.SessionContext.Answers"/>). No model runs: a reply's row is a sum of whole texts' vectors.
    /// Null when the rows are not what today's rules make of its text (then they are dropped and embedded again).
    /// </summary>
    /// <param name="model">The vectors' model id (<see cref="EmbeddingModel.Id"/>, ending in the dimensions).</param>
    /// <param name="rows">The memory's stored rows.</param>
    /// <param name="content">Its text.</param>
    /// <param name="observedAt">When it was observed.</param>
    /// <param name="before">The memory now stored before it, with its vector of the model.</param>
    internal static float[]? Refollow(string model, float[] rows, string content, long observedAt, PrecedingMemory? before)
    {
        var sentences = Search.Sentences.Of(content).Count;
        if (EmbeddingModel.DimensionsOf(model) is not { } dimensions || rows.Length % dimensions != 0 || !IsRowLayout(sentences, rows.Length / dimensions))
        {
            return null;
        }

        var own = 1 + sentences;

        var reply = before is { Vector: { } question } && question.Length >= dimensions && Search.SessionContext.Answers(before.Content, before.ObservedAt, observedAt)
            ? Reply(rows.AsSpan(0, dimensions), question.AsSpan(0, dimensions))
            : null;
        return [.. rows.AsSpan(0, own * dimensions), .. reply ?? []];
    }

    /// <summary>
    /// Whether <paramref name="rows"/> rows are what today's rules make of a text of <paramref name="sentences"/> sentences
    /// (<see cref="Search.Sentences.Of"/>): its whole text's, one per sentence, then at most a reply's row
    /// (<see cref="TryEmbedDocumentsAsync"/>). Rows another build's rules made are not read as these.
    /// </summary>
    internal static bool IsRowLayout(int sentences, int rows) => rows - (1 + sentences) is 0 or 1;

    /// <summary>A reply's row: its whole text's vector plus its question's, as a unit vector (null when they cancel out).</summary>
    private static float[]? Reply(ReadOnlySpan<float> whole, ReadOnlySpan<float> question)
    {
        var sum = new float[whole.Length];
        System.Numerics.Tensors.TensorPrimitives.Add(whole, question, sum);
        var norm = System.Numerics.Tensors.TensorPrimitives.Norm(sum);
        if (!(norm > 1e-6f))
        {
            return null;
        }

        System.Numerics.Tensors.TensorPrimitives.Divide(sum, norm, sum);
        return sum;
    }

    /// <summary>The unit vector of a search query (embedded as a query, see <see cref="EmbeddingInput"/>), or null as <see cref="TryEmbedAsync(IReadOnlyList{string}, CancellationToken, bool)"/>.</summary>
    public async Task<float[]?> TryEmbedQueryAsync(string query, CancellationToken cancellationToken) =>
        (await TryEmbedAsync([query], AsQuery, pauseOnFailure: true, cancellationToken).ConfigureAwait(false))?[0];

    private async Task<float[][]?> TryEmbedAsync(IReadOnlyList<string> texts, EmbeddingGenerationOptions? options, bool pauseOnFailure, CancellationToken cancellationToken)
    {
        var result = new float[texts.Count][];
        try
        {
            for (var start = 0; start < texts.Count; start += BatchSize)
            {
                var chunk = texts.Skip(start).Take(BatchSize).ToList();
                var embeddings = await _generator.GenerateAsync(chunk, options, cancellationToken).ConfigureAwait(false);
                try
                {
                    if (embeddings.Count != chunk.Count)
                    {
                        throw new InvalidDataException($"the embedder returned {embeddings.Count} vectors for {chunk.Count} texts");
                    }

                    for (var j = 0; j < chunk.Count; j++)
                    {
                        result[start + j] = Accept(embeddings[j].Vector.ToArray());
                    }
                }
                catch (InvalidDataException e)
                {
                    // An answer the embedder gave but that cannot be used is a failure like any other.
                    _backoff.Fail($"{e.GetType().Name}: {e.Message}", pauseOnFailure);
                    return null;
                }
            }
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            // The back-off recorded why (and paused the embedder when asked to).
            return null;
        }

        return result;
    }

    /// <summary>Checks a vector against the identity (learning it from the first), and scales it to unit length.</summary>
    private float[] Accept(float[] vector)
    {
        if (vector.Length == 0)
        {
            throw new InvalidDataException("the embedder returned an empty vector");
        }

        var model = Model;
        if (model is null)
        {
            model = new EmbeddingModel(Provider, ModelName, vector.Length);
            if (Interlocked.CompareExchange(ref _model, model, null) is null)
            {
                LogIdentity(_logger, model.Id);
            }
            else
            {
                model = Model!;
            }
        }

        if (vector.Length != model.Dimensions)
        {
            throw new InvalidDataException($"the embedder returned a vector of {vector.Length} dimensions after vectors of {model.Dimensions}");
        }

        // The vector index compares by dot product: unit length makes it the cosine, whatever the provider returns.
        var norm = MathF.Sqrt(System.Numerics.Tensors.TensorPrimitives.Dot(vector, vector));
        if (norm > 0 && MathF.Abs(norm - 1) > 1e-4f)
        {
            System.Numerics.Tensors.TensorPrimitives.Divide(vector, norm, vector);
        }

        return vector;
    }

    public void Dispose() => _probe.Dispose();

    [LoggerMessage(Level = LogLevel.Debug, Message = "Embeddings: {Model}.")]
    private static partial void LogIdentity(ILogger logger, string model);
}
