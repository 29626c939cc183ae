using System.Collections.Concurrent;
using Engram.Core.Storage;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace Engram.Core.Embeddings;

/// <summary>
/// The configured embedder as the service uses it: its identity (learned from a first call, since a provider's
/// dimension is only known from a vector), a time limit on every call, a pause after a failure so a provider that is
/// down costs one time-out rather than one per request, and a cache from content hash to vector.
/// </summary>
internal sealed partial class EmbeddingRuntime : IDisposable
{
    private const int MaxCached = 20_000;

    private readonly IEmbeddingGenerator<string, Embedding<float>> _generator;
    private readonly EngramOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, float[]> _cache = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _probe = new(1, 1);
    private EmbeddingModel? _model;
    private long _downUntil;
    private string? _lastError;

    public EmbeddingRuntime(IEmbeddingGenerator<string, Embedding<float>> generator, EngramOptions options, ILogger logger)
    {
        _generator = generator;
        _options = options;
        _logger = logger;
        var metadata = generator.GetService<EmbeddingGeneratorMetadata>();
        Provider = metadata?.ProviderName ?? generator.GetType().Name;
        ModelName = metadata?.DefaultModelId ?? "default";
    }

    public string Provider { get; }

    public string ModelName { get; }

    /// <summary>Whether the vectors are the built-in hashed ones (words, not meaning), as the embedder's metadata names it.</summary>
    public bool HashesWords => Provider == HashingEmbeddingGenerator.ProviderName;

    /// <summary>The identity of the vectors this embedder makes; null until a first call has succeeded.</summary>
    public EmbeddingModel? Model => Volatile.Read(ref _model);

    /// <summary>Why the last call failed, while the embedder is considered down; null when it is up.</summary>
    public string? Problem => IsDown ? Volatile.Read(ref _lastError) : null;

    private bool IsDown => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() < Interlocked.Read(ref _downUntil);

    /// <summary>Learns the embedder's identity with one small call, unless it is known or the embedder is paused after a failure.</summary>
    public async Task<EmbeddingModel?> EnsureModelAsync(CancellationToken cancellationToken)
    {
        if (Model is { } known || IsDown)
        {
            return Model;
        }

        await _probe.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Model is null && !IsDown)
            {
                await TryEmbedAsync(["engram"], null, cancellationToken).ConfigureAwait(false);
            }

            return Model;
        }
        finally
        {
            _probe.Release();
        }
    }

    /// <summary>
    /// Vectors for <paramref name="texts"/> (cached by <paramref name="hashes"/> when given), or null when the embedder
    /// is paused, fails, times out or answers with vectors of the wrong count or size. Never throws but for cancellation.
    /// </summary>
    /// <param name="texts">The texts.</param>
    /// <param name="hashes">Their content hashes, for the cache; null to bypass it.</param>
    /// <param name="cancellationToken">Cancellation.</param>
    /// <param name="pauseOnFailure">Whether a failure pauses the embedder for everyone (false while telling a bad text from a dead provider).</param>
    public async Task<float[][]?> TryEmbedAsync(IReadOnlyList<string> texts, IReadOnlyList<string>? hashes, CancellationToken cancellationToken, bool pauseOnFailure = true)
    {
        var result = new float[]?[texts.Count];
        var missing = new List<int>();
        for (var i = 0; i < texts.Count; i++)
        {
            if (hashes is not null && _cache.TryGetValue(hashes[i], out var cached))
            {
                result[i] = cached;
            }
            else
            {
                missing.Add(i);
            }
        }

        if (missing.Count > 0)
        {
            if (IsDown)
            {
                return null;
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            try
            {
                // Batches keep a remote embedder's requests to a sensible size; each has the whole time limit.
                foreach (var chunk in missing.Chunk(64))
                {
                    timeout.CancelAfter(_options.EmbeddingTimeout);
                    var embeddings = await _generator.GenerateAsync(chunk.Select(i => texts[i]), cancellationToken: timeout.Token).ConfigureAwait(false);
                    if (embeddings.Count != chunk.Length)
                    {
                        throw new InvalidDataException($"the embedder returned {embeddings.Count} vectors for {chunk.Length} texts");
                    }

                    for (var j = 0; j < chunk.Length; j++)
                    {
                        result[chunk[j]] = Accept(embeddings[j].Vector.ToArray());
                    }

                }
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                var reason = e is OperationCanceledException ? $"no answer within {_options.EmbeddingTimeout.TotalSeconds:0.#} s" : $"{e.GetType().Name}: {e.Message}";
                Volatile.Write(ref _lastError, reason);
                if (pauseOnFailure)
                {
                    Pause();
                }

                return null;
            }

            if (hashes is not null)
            {
                if (_cache.Count > MaxCached)
                {
                    _cache.Clear();
                }

                foreach (var i in missing)
                {
                    _cache[hashes[i]] = result[i]!;
                }
            }
        }

        return result!;
    }

    /// <summary>Leaves the embedder alone for the retry delay, after the failure recorded last.</summary>
    public void Pause()
    {
        Interlocked.Exchange(ref _downUntil, DateTimeOffset.UtcNow.Add(_options.EmbeddingRetryDelay).ToUnixTimeMilliseconds());
        LogDown(_logger, Provider, ModelName, Volatile.Read(ref _lastError) ?? "unknown", _options.EmbeddingRetryDelay.TotalSeconds);
    }

    /// <summary>Why the last call failed, whether or not the embedder was paused for it.</summary>
    public string? LastError => Volatile.Read(ref _lastError);

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

    [LoggerMessage(Level = LogLevel.Warning, Message = "The embedder {Provider}/{Model} failed ({Reason}); memories are stored without vectors and recall uses the other signals. Next try in {Seconds} s.")]
    private static partial void LogDown(ILogger logger, string provider, string model, string reason, double seconds);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Embeddings: {Model}.")]
    private static partial void LogIdentity(ILogger logger, string model);
}
