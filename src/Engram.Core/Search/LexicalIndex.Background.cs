using Microsoft.Extensions.Logging;

namespace Engram.Core.Search;

/// <summary>
/// A catch-up too large to make a caller wait for (a server joining a large store, or back after many writes) runs in
/// the background, while recalls are answered without this index (see <see cref="Storage.ITextSearch"/>).
/// </summary>
internal sealed partial class LexicalIndex
{
    private readonly CancellationTokenSource _stopping = new();
    private Task? _background;

    /// <summary>What a background catch-up waits for before it starts (tests hold it, to see recalls answered meanwhile).</summary>
    internal Task BuildMayStart { get; set; } = Task.CompletedTask;

    /// <summary>The running (or last) background catch-up; completes when it ends.</summary>
    internal Task Built => _background ?? Task.CompletedTask;

    /// <summary>Whether a background catch-up is running.</summary>
    public bool IsBuilding => _background is { IsCompleted: false };

    /// <summary>
    /// Brings the index to <paramref name="targetSeq"/>, unless it is more than <paramref name="lag"/> changes behind (or
    /// already catching up in the background): then the catch-up runs in the background, until the index is within
    /// <paramref name="lag"/> of the feed, and this returns at once with <see cref="Seq"/> still behind (which is how a
    /// recall knows to search without the index).
    /// </summary>
    public async Task CatchUpOrBuildAsync(long targetSeq, long lag, CancellationToken cancellationToken)
    {
        if (IsBuilding)
        {
            return;
        }

        if (_searchers is null && await _gate.WaitAsync(0, cancellationToken).ConfigureAwait(false))
        {
            // What the index on disk already holds (a server restarted on its own folder is only a little behind).
            try
            {
                RefreshSearcher();
            }
            catch (Exception e) when (IsUnreadable(e))
            {
                // The catch-up rebuilds it.
            }
            finally
            {
                _gate.Release();
            }
        }

        if (targetSeq - Seq > lag)
        {
            lock (_stopping)
            {
                if (!IsBuilding && !_stopping.IsCancellationRequested)
                {
                    LogBuilding(_logger, Seq, targetSeq);
                    _background = Task.Run(() => BuildAsync(targetSeq, lag, _stopping.Token), CancellationToken.None);
                }
            }

            return;
        }

        await EnsureCurrentAsync(targetSeq, cancellationToken).ConfigureAwait(false);
    }

    private async Task BuildAsync(long targetSeq, long lag, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            await BuildMayStart.WaitAsync(cancellationToken).ConfigureAwait(false);
            // Writes go on while it builds: catch up again until what is left is small enough for a recall to apply.
            do
            {
                await EnsureCurrentAsync(targetSeq, cancellationToken).ConfigureAwait(false);
                targetSeq = await _store.MaxSeqAsync(cancellationToken).ConfigureAwait(false);
            }
            while (targetSeq - Seq > lag);

            LogBuilt(_logger, Seq, started.Elapsed.TotalSeconds);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Closing: what was not committed is rolled back; the next start builds again.
        }
        catch (Exception e)
        {
            // The store went away mid-build (a restart): the next recall starts it again.
            LogBuildFailed(_logger, e.GetType().Name, e.Message);
        }
    }

    /// <summary>
    /// Stops a background catch-up and waits for it. What it had not committed is rolled back: a build from empty commits
    /// once, at its end, so the next start builds again from the start.
    /// </summary>
    private void StopBuilding()
    {
        Task? running;
        lock (_stopping)
        {
            _stopping.Cancel();
            running = _background;
        }

        // BuildAsync and MergeAsync catch what they throw; Lucene's work between two cancellation checks is one batch or merge.
        running?.GetAwaiter().GetResult();
        Merged.GetAwaiter().GetResult();
        _stopping.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Lexical index at change {Seq} of {Target}: building it in the background; recalls use the store's own text search until it is done.")]
    private static partial void LogBuilding(ILogger logger, long seq, long target);

    [LoggerMessage(Level = LogLevel.Information, Message = "Lexical index built in the background up to change {Seq} in {Seconds:F1} s.")]
    private static partial void LogBuilt(ILogger logger, long seq, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The lexical index's background build stopped ({Error}: {Message}); the next recall starts it again.")]
    private static partial void LogBuildFailed(ILogger logger, string error, string message);
}
