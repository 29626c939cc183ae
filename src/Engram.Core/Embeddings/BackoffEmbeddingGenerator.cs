using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace Engram.Core.Embeddings;

/// <summary>
/// Leaves a failing embedder alone for <paramref name="retryDelay"/> after a failure, so a provider that is down costs
/// one time-out rather than one per request: meanwhile calls fail at once. Keeps why the last call failed. The pause is
/// measured on <paramref name="time"/>.
/// </summary>
internal sealed partial class BackoffEmbeddingGenerator(IEmbeddingGenerator<string, Embedding<float>> inner, TimeSpan retryDelay, TimeProvider time, ILogger logger)
    : DelegatingEmbeddingGenerator<string, Embedding<float>>(inner)
{
    /// <summary>
    /// An <see cref="EmbeddingGenerationOptions.AdditionalProperties"/> key: <see langword="false"/> keeps a failure of
    /// this call from pausing the embedder (while telling a text it refuses from a provider that is down).
    /// </summary>
    public const string PauseOnFailure = "engram.pauseOnFailure";

    private long _downUntil;
    private string? _lastError;
    private bool _lastTransient;

    /// <summary>Why the last call failed, whether or not the embedder was paused for it.</summary>
    public string? LastError => Volatile.Read(ref _lastError);

    /// <summary>
    /// Whether the last call failed for a reason that may pass (no answer in time, too many requests, the server's own
    /// error, the network), rather than the provider refusing what was sent.
    /// </summary>
    public bool LastFailureTransient => Volatile.Read(ref _lastTransient);

    /// <summary>Why the last call failed, while the embedder is paused; null when it is up.</summary>
    public string? Problem => IsPaused ? LastError : null;

    public bool IsPaused => time.GetUtcNow().ToUnixTimeMilliseconds() < Interlocked.Read(ref _downUntil);

    public override async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        if (IsPaused)
        {
            throw new InvalidOperationException($"the embedder is paused after a failure: {LastError}");
        }

        try
        {
            return await base.GenerateAsync(values, options, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            var pause = options?.AdditionalProperties?.TryGetValue(PauseOnFailure, out var value) != true || value is not false;
            Fail(e is TimeoutException ? e.Message : $"{e.GetType().Name}: {e.Message}", pause, Transient(e));
            throw;
        }
    }

    /// <summary>Records a failure (one the caller found in an answer, too), pausing the embedder when <paramref name="pause"/>.</summary>
    public void Fail(string reason, bool pause, bool transient = false)
    {
        Volatile.Write(ref _lastTransient, transient);
        Volatile.Write(ref _lastError, reason);
        if (pause)
        {
            Pause();
        }
    }

    /// <summary>Leaves the embedder alone for the retry delay, after the failure recorded last.</summary>
    public void Pause()
    {
        Interlocked.Exchange(ref _downUntil, time.GetUtcNow().Add(retryDelay).ToUnixTimeMilliseconds());
        var metadata = GetService(typeof(EmbeddingGeneratorMetadata)) as EmbeddingGeneratorMetadata;
        LogDown(logger, metadata?.ProviderName ?? "embedder", metadata?.DefaultModelId ?? "default", LastError ?? "unknown", retryDelay.TotalSeconds);
    }

    /// <summary>A failure that may pass: a time-out, 408, 429 or a 5xx answer, or no answer at all (the network).</summary>
    private static bool Transient(Exception e) => e switch
    {
        TimeoutException => true,
        HttpRequestException { StatusCode: null } => true,
        HttpRequestException { StatusCode: { } status } => (int)status is 408 or 429 or >= 500,
        IOException => true,
        _ => e.InnerException is { } inner && Transient(inner),
    };

    [LoggerMessage(Level = LogLevel.Warning, Message = "The embedder {Provider}/{Model} failed ({Reason}); memories are stored without vectors and recall uses the other signals. Next try in {Seconds} s.")]
    private static partial void LogDown(ILogger logger, string provider, string model, string reason, double seconds);
}
