using Engram.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Engram.Core.Embeddings;

/// <summary>
/// Fills in missing vectors in the background: memories stored while the embedder was unreachable, and every memory
/// of a scope whose vectors came from another model (after a switch of provider or model). A scope being re-embedded
/// keeps answering with its other signals, and its new vectors are swapped in at once when the last one is stored.
/// </summary>
internal sealed partial class EmbeddingBackfill : IAsyncDisposable
{
    private const int BatchSize = 64;

    /// <summary>How often an idle worker looks for memories other processes stored without this model's vectors.</summary>
    private static readonly TimeSpan IdleCheck = TimeSpan.FromSeconds(60);

    private readonly IVectorStore _store;
    private readonly EmbeddingRuntime _embedder;
    private readonly EngramOptions _options;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private readonly SemaphoreSlim _running = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private int _manual;

    /// <summary>How many passes in a row each memory failed alone for a reason that may pass (<see cref="TransientTries"/>).</summary>
    private readonly Dictionary<string, int> _transientFailures = new(StringComparer.Ordinal);

    /// <summary>After this many passes failing for reasons that may pass (a time-out every time, say), a text counts as refused.</summary>
    private const int TransientTries = 3;

    public EmbeddingBackfill(IVectorStore store, EmbeddingRuntime embedder, EngramOptions options, ILogger logger)
    {
        _store = store;
        _embedder = embedder;
        _options = options;
        _logger = logger;
    }

    /// <summary>Starts the background loop.</summary>
    public void Start() => _loop = Task.Run(() => LoopAsync(_stop.Token));

    /// <summary>Asks the loop to look for work now.</summary>
    public void Wake() => _wake.Release();

    /// <summary>
    /// Embeds every memory that lacks a vector of the current model, reporting (done, total) as it goes; used by
    /// <c>engram reembed</c>. Returns how many were embedded.
    /// </summary>
    /// <exception cref="InvalidOperationException">The embedder is unreachable; the message says why.</exception>
    public async Task<int> RunToCompletionAsync(IProgress<(int Done, int Total)>? progress, CancellationToken cancellationToken)
    {
        var model = await _embedder.EnsureModelAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"The embedder {_embedder.Provider}/{_embedder.ModelName} is unreachable: {_embedder.Problem}.");
        // The background loop stands aside meanwhile, so the progress counts all the work: a batch it is embedding now
        // is waited for, and it starts no other (it checks under the same gate).
        Interlocked.Increment(ref _manual);
        try
        {
            await _running.WaitAsync(cancellationToken).ConfigureAwait(false);
            _running.Release();
            return await RunAsync(model, progress, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _manual);
        }
    }

    private async Task<int> RunAsync(EmbeddingModel model, IProgress<(int Done, int Total)>? progress, CancellationToken cancellationToken)
    {
        var total = (await _store.ScopeVectorsAsync(null, model.Id, cancellationToken).ConfigureAwait(false)).Sum(s => s.Memories - s.Embedded);
        var done = 0;
        progress?.Report((0, total));
        while (true)
        {
            var (embedded, failed) = await StepAsync(model, background: false, cancellationToken).ConfigureAwait(false);
            if (failed)
            {
                throw new InvalidOperationException($"The embedder {model.Id} failed after {done} of {total} memories: {_embedder.Problem}. Run reembed again to continue; nothing is lost.");
            }

            if (embedded == 0)
            {
                return done;
            }

            done += embedded;
            progress?.Report((done, Math.Max(total, done)));
        }
    }

    private async Task LoopAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var wait = IdleCheck;
            try
            {
                if (Volatile.Read(ref _manual) > 0)
                {
                    await Task.Delay(_options.EmbeddingRetryDelay, stop).ConfigureAwait(false);
                    continue;
                }

                var model = await _embedder.EnsureModelAsync(stop).ConfigureAwait(false);
                if (model is null)
                {
                    wait = _options.EmbeddingRetryDelay;
                }
                else
                {
                    var (embedded, failed) = await StepAsync(model, background: true, stop).ConfigureAwait(false);
                    if (embedded > 0)
                    {
                        continue;
                    }

                    if (failed)
                    {
                        wait = _options.EmbeddingRetryDelay;
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Whatever went wrong (a store deleted under it, a driver error), the loop lives on and tries later.
                LogFailed(_logger, e.GetType().Name, e.Message);
                wait = _options.EmbeddingRetryDelay;
            }

            try
            {
                await _wake.WaitAsync(wait, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One batch: embed up to <see cref="BatchSize"/> memories lacking a vector and store them; with none left, mark complete scopes ready.</summary>
    private async Task<(int Embedded, bool Failed)> StepAsync(EmbeddingModel model, bool background, CancellationToken cancellationToken)
    {
        await _running.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (background && Volatile.Read(ref _manual) > 0)
            {
                return (0, false);
            }

            var batch = await _store.UnembeddedAsync(model.Id, BatchSize, cancellationToken).ConfigureAwait(false);
            if (batch.Count == 0)
            {
                // Nothing to embed: a scope that already had every vector of this model (a switch back) is ready at once.
                foreach (var scope in await _store.SaveVectorsAsync(model, [], cancellationToken).ConfigureAwait(false))
                {
                    LogReady(_logger, scope, model.Id);
                }

                return (0, false);
            }

            var embedded = await EmbedAsync(batch, cancellationToken).ConfigureAwait(false);
            if (embedded is null)
            {
                return (0, true);
            }

            var ready = await _store.SaveVectorsAsync(model, embedded, cancellationToken).ConfigureAwait(false);
            LogBatch(_logger, embedded.Count, model.Id);
            foreach (var scope in ready)
            {
                LogReady(_logger, scope, model.Id);
            }

            // Texts left for a later pass (a busy provider) are not counted as done.
            return (embedded.Count, false);
        }
        finally
        {
            _running.Release();
        }
    }

    /// <summary>
    /// Vectors for a batch; null when the embedder is down. When the batch fails but some of its texts embed one by
    /// one, the provider is up and the others are texts it refuses (too long for its context, say): they get an empty
    /// vector, which marks them as done for this model, so one bad text never holds up the rest or a scope's swap. A
    /// text that failed for a reason that may pass (too many requests, a time-out) is left for a later pass instead,
    /// after a pause, and counts as refused only after <see cref="TransientTries"/> such passes.
    /// </summary>
    private async Task<List<(UnembeddedMemory Memory, float[] Vector)>?> EmbedAsync(List<UnembeddedMemory> batch, CancellationToken cancellationToken)
    {
        if (_embedder.Problem is not null)
        {
            // Paused after a failure: nothing is asked of it until the pause ends.
            return null;
        }

        var vectors = await _embedder.TryEmbedDocumentsAsync(batch.Select(m => m.Content).ToList(), cancellationToken, pauseOnFailure: batch.Count == 1, Asked(batch)).ConfigureAwait(false);
        if (vectors is not null)
        {
            return batch.Zip(vectors).ToList();
        }

        if (batch.Count == 1 && _transientFailures.ContainsKey(batch[0].Id))
        {
            // Left alone after failing while others embedded: it counts as refused after the tries, so a text that always
            // fails never keeps the embedder paused (and recall without meaning) for good.
            if (TryLater(batch[0].Id))
            {
                return null;
            }

            LogRefused(_logger, batch[0].Id, _embedder.LastError ?? "unknown");
            return [(batch[0], [])];
        }

        if (batch.Count == 1 || _embedder.Problem is not null)
        {
            return null;
        }

        var one = new List<(UnembeddedMemory, float[]?, bool Transient)>(batch.Count);
        foreach (var memory in batch)
        {
            // One by one, a question embedded just before is no longer in the same call: its new vector is passed as stored.
            var question = memory.Before is { } before ? one.Find(x => x.Item1.Id == before.Id).Item2 : null;
            var single = await _embedder.TryEmbedDocumentsAsync([memory.Content], cancellationToken, pauseOnFailure: false,
                Asked([memory with { Before = question is null ? memory.Before : memory.Before! with { Vector = question } }])).ConfigureAwait(false);
            if (single is null && _embedder.Problem is not null)
            {
                // Another caller found the provider down meanwhile.
                return null;
            }

            one.Add((memory, single?[0], single is null && _embedder.LastFailureTransient));
        }

        if (one.All(x => x.Item2 is null))
        {
            // Nothing embeds: the provider is down, not the texts.
            _embedder.Pause();
            return null;
        }

        var later = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (memory, _, transient) in one.Where(x => x.Item2 is null))
        {
            if (transient && TryLater(memory.Id))
            {
                later.Add(memory.Id);
            }
            else
            {
                _transientFailures.Remove(memory.Id);
                LogRefused(_logger, memory.Id, _embedder.LastError ?? "unknown");
            }
        }

        if (later.Count > 0)
        {
            // The provider is busy or slow: the texts it did not take are asked again after the pause.
            _embedder.Pause();
        }

        foreach (var (memory, _, _) in one.Where(x => x.Item2 is not null))
        {
            _transientFailures.Remove(memory.Id);
        }

        return one.Where(x => !later.Contains(x.Item1.Id)).Select(x => (x.Item1, x.Item2 ?? [])).ToList();
    }

    /// <summary>Counts one more failed pass for <paramref name="id"/>: true while it is to be asked again, false (and forgotten) once the tries are spent.</summary>
    private bool TryLater(string id)
    {
        var failures = _transientFailures.GetValueOrDefault(id) + 1;
        if (failures < TransientTries)
        {
            _transientFailures[id] = failures;
            return true;
        }

        _transientFailures.Remove(id);
        return false;
    }

    /// <summary>
    /// The question each memory of a batch answers (<see cref="Search.SessionContext.Answers"/>): the memory stored
    /// before it, by its stored vector, or by the one made in this batch when it is embedded too.
    /// </summary>
    private List<EmbeddingRuntime.Asked?>? Asked(List<UnembeddedMemory> batch)
    {
        if (!_embedder.EmbedsSentences)
        {
            return null;
        }

        return batch.Select((memory, i) => EmbeddingRuntime.Asked.By(
            memory.Before, memory.Before is { } before ? batch.FindIndex(0, i, m => m.Id == before.Id) : -1, memory.ObservedAt)).ToList();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                // Stopped.
            }
        }

        _stop.Dispose();
        _wake.Dispose();
        _running.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The embedder refused memory {Id} ({Error}); it is left without a vector of this model.")]
    private static partial void LogRefused(ILogger logger, string id, string error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Embedded {Count} memories with {Model}.")]
    private static partial void LogBatch(ILogger logger, int count, string model);

    [LoggerMessage(Level = LogLevel.Information, Message = "Scope {Scope}: vectors of {Model} are ready and now used.")]
    private static partial void LogReady(ILogger logger, string scope, string model);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Background embedding failed ({Error}: {Message}); retrying later.")]
    private static partial void LogFailed(ILogger logger, string error, string message);
}
