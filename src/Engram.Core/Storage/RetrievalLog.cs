using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Engram.Core.Storage;

/// <summary>One logged recall.</summary>
internal sealed record RetrievalEntry(string Id, long At, long Seq, string RequestJson, IReadOnlyList<string> ResultIds);

/// <summary>
/// Writes the recall log off the recall's path: entries queue in memory and a single pump writes whatever has
/// gathered in one transaction. <see cref="FlushAsync"/> waits until everything queued before it is on disk
/// (explain and forget call it first). An entry is written only if every memory it returned still exists, so a
/// forget in any process can never be undone by a log written late.
/// </summary>
internal sealed partial class RetrievalLog : IAsyncDisposable
{
    private readonly MemoryStore _store;
    private readonly ILogger _logger;
    private readonly Channel<object> _queue = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _pump;

    public RetrievalLog(MemoryStore store, ILogger logger)
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

                batch.Clear();
            }

            waiters.ForEach(w => w.TrySetResult());
            waiters.Clear();
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
