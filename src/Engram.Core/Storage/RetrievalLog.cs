using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Engram.Core.Storage;

/// <summary>
/// Writes the recall log off the recall's path: entries queue in memory and a single pump writes whatever has
/// gathered in one transaction once recalls pause for <see cref="Quiet"/> (or the oldest entry has waited
/// <see cref="MaxWait"/>), so the write does not compete with the reply or with the next recall of a burst.
/// <see cref="FlushAsync"/> waits until everything queued before it is on disk (explain and forget call it first).
/// An entry is written only if every memory it returned still exists, so a forget in any process can never be undone
/// by a log written late.
/// </summary>
internal sealed partial class RetrievalLog : IAsyncDisposable
{
    private readonly IRecallLogStore _store;
    private readonly ILogger _logger;
    private readonly Channel<object> _queue = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _pump;

    /// <summary>How long recalls must pause before the gathered entries are written.</summary>
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(50);

    /// <summary>The longest an entry waits under a steady stream of recalls.</summary>
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(1);

    public RetrievalLog(IRecallLogStore store, ILogger logger)
    {
        _store = store;
        _logger = logger;
        _pump = Task.Run(PumpAsync);
    }

    public void Enqueue(RetrievalEntry entry) => _queue.Writer.TryWrite(entry);

    /// <summary>Completes when every entry queued before this call has been written (or failed and been logged).</summary>
    public Task FlushAsync()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return _queue.Writer.TryWrite(done) ? done.Task : Task.CompletedTask;
    }

    private async Task PumpAsync()
    {
        var batch = new List<RetrievalEntry>();
        var waiters = new List<TaskCompletionSource>();
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            // Gather until someone waits for the log, or recalls pause, or the oldest entry has waited long enough.
            var since = Stopwatch.GetTimestamp();
            do
            {
                while (_queue.Reader.TryRead(out var item))
                {
                    if (item is RetrievalEntry entry)
                    {
                        batch.Add(entry);
                    }
                    else
                    {
                        waiters.Add((TaskCompletionSource)item);
                    }
                }
            }
            while (waiters.Count == 0 && Stopwatch.GetElapsedTime(since) < MaxWait && await MoreWithinAsync(Quiet).ConfigureAwait(false));

            if (batch.Count > 0)
            {
                try
                {
                    await _store.LogRetrievalsAsync(batch).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // The log is a convenience: losing entries must never take recall down.
                    LogWriteFailed(_logger, batch.Count, e.Message);
                }

                Wrote(batch.Count);
                batch.Clear();
            }

            waiters.ForEach(w => w.TrySetResult());
            waiters.Clear();
        }
    }

    /// <summary>Whether another item arrives within <paramref name="wait"/> (false also once the queue is completed).</summary>
    private async Task<bool> MoreWithinAsync(TimeSpan wait)
    {
        using var timeout = new CancellationTokenSource(wait);
        try
        {
            return await _queue.Reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return false;
        }
    }

    private readonly Lock _writtenLock = new();
    private readonly List<(long Count, TaskCompletionSource Done)> _writtenWaiters = [];
    private long _written;

    /// <summary>
    /// Completes once the pump has handled at least <paramref name="entries"/> entries since this log started (written, or
    /// failed and logged), without asking it to hurry: for tests that watch the debounced write happen by itself.
    /// </summary>
    internal Task WrittenAsync(long entries)
    {
        lock (_writtenLock)
        {
            if (_written >= entries)
            {
                return Task.CompletedTask;
            }

            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _writtenWaiters.Add((entries, done));
            return done.Task;
        }
    }

    private void Wrote(int entries)
    {
        lock (_writtenLock)
        {
            _written += entries;
            foreach (var waiter in _writtenWaiters.Where(w => w.Count <= _written).ToList())
            {
                waiter.Done.TrySetResult();
                _writtenWaiters.Remove(waiter);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _pump.ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not write {Count} recall-log entries: {Error}")]
    private static partial void LogWriteFailed(ILogger logger, int count, string error);
}
