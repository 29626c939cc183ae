using Lucene.Net.Index;
using Lucene.Net.Store;
using Microsoft.Extensions.Logging;

namespace Engram.Core.Search;

/// <summary>
/// Merging the index's segments off the recall's path. Each catch-up commits a small segment, and each query term is
/// looked up in every segment, so segments are merged eagerly; but a merge inside a catch-up rewrote the whole of a
/// small index in the recall that caught up (a recall right after a <c>remember</c> took 40–80 ms instead of 4).
/// A catch-up now commits its segment without merging, unless the index has more than <see cref="MaxDeferredSegments"/>
/// (a process too short-lived for the pass, such as one CLI command, or a large build's many flushes), and a merge pass
/// runs shortly after, in the background, under the same lock; a recall that needs no catch-up does not wait for it.
/// Forgetting still merges the deleted documents away in the catch-up itself, so a forgotten memory's words leave the
/// files before the recall answers. Until a pass has run, the copies of re-indexed memories (a new memory's session
/// neighbours) still count in BM25's document frequencies, as they did between two merging catch-ups before: scores
/// can differ slightly before and after a pass at the same change sequence.
/// </summary>
internal sealed partial class LexicalIndex
{
    /// <summary>How long after a catch-up the merge pass starts: the recall that caught up is answered first, and a burst of catch-ups makes one pass.</summary>
    private static readonly TimeSpan MergeDelay = TimeSpan.FromMilliseconds(100);

    /// <summary>Beyond this many segments a catch-up merges as it commits, as every catch-up did before.</summary>
    internal const int MaxDeferredSegments = 8;

    private int _mergeScheduled;
    private Task _merging = Task.CompletedTask;

    /// <summary>Completes when the merge passes scheduled so far have ended (for tests).</summary>
    internal Task Merged => Volatile.Read(ref _merging);

    /// <summary>What a merge pass waits for before it starts (tests hold it, to see the segments catch-ups leave).</summary>
    internal Task MergeMayStart { get; set; } = Task.CompletedTask;

    /// <summary>The segments the current searcher reads (for tests).</summary>
    internal int Segments
    {
        get
        {
            if (_searchers is not { } searchers)
            {
                return 0;
            }

            var searcher = searchers.Acquire();
            try
            {
                return searcher.IndexReader.Leaves.Count;
            }
            finally
            {
                searchers.Release(searcher);
            }
        }
    }

    /// <summary>
    /// A writer's configuration: BM25 and tiered merging. A catch-up's (<paramref name="pass"/> false) waits for another
    /// process's lock and merges only beyond <see cref="MaxDeferredSegments"/>; a merge pass's merges on its own thread
    /// and gives way at once to a process holding the lock (its next catch-up schedules another pass).
    /// </summary>
    private IndexWriterConfig WriterConfig(OpenMode mode, bool pass) => new(LexicalDocuments.Version, _terms.Analyzer)
    {
        Similarity = LexicalDocuments.Bm25(),
        OpenMode = mode,
        // Other processes hold the lock only while they apply a batch of changes or merge.
        WriteLockTimeout = pass ? 0 : 30_000,
        MergeScheduler = pass ? new SerialMergeScheduler() : new ConcurrentMergeScheduler(),
        // At most three segments a tier (Lucene's default of ten left LoCoMo's index in five segments, and each recall
        // ~0.8 ms slower); segments under 2 MB are one tier. ForceMergeDeletes after a forget must rewrite every segment
        // holding a deleted document, however few it holds: Lucene's default skips segments under 10% deleted, which
        // left a forgotten memory's words on disk.
        MergePolicy = new DeferredMergePolicy(pass) { SegmentsPerTier = 3, MaxMergeAtOnce = 3, ForceMergeDeletesPctAllowed = 0 },
    };

    private void ScheduleMerge()
    {
        if (Interlocked.Exchange(ref _mergeScheduled, 1) != 0)
        {
            return;
        }

        lock (_stopping)
        {
            if (!_stopping.IsCancellationRequested)
            {
                var token = _stopping.Token;
                _merging = Task.WhenAll(_merging, Task.Run(() => MergeAsync(token), CancellationToken.None));
            }
        }
    }

    private async Task MergeAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(MergeDelay, cancellationToken).ConfigureAwait(false);
            await MergeMayStart.WaitAsync(cancellationToken).ConfigureAwait(false);
            await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                // A catch-up from here on schedules a pass of its own.
                Volatile.Write(ref _mergeScheduled, 0);
                if (Segments < 3)
                {
                    return; // nothing a tier of three would merge
                }

                var merged = false;
                using (var writer = new IndexWriter(_directory, WriterConfig(OpenMode.APPEND, pass: true)))
                {
                    // The commit keeps the opened commit's data (the change sequence); nothing merged, nothing written.
                    writer.MaybeMerge();
                    if (writer.HasUncommittedChanges())
                    {
                        writer.Commit();
                        merged = true;
                    }
                }

                if (merged)
                {
                    RefreshSearcher();
                }
            }
            finally
            {
                _gate.Release();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Closing: the segments stay as committed; the next catch-up schedules a pass.
        }
        catch (LockObtainFailedException)
        {
            // Another process is writing the index: its catch-up or pass merges, or this process's next catch-up retries
            // (the flag was cleared when the pass took the gate).
            LogMergeYielded(_logger);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The index is as the last catch-up committed it, only in more segments: the next catch-up tries again.
            Volatile.Write(ref _mergeScheduled, 0);
            LogMergeFailed(_logger, e.GetType().Name, e.Message);
        }
    }

    /// <summary>
    /// Lucene's tiered merging; in a catch-up (<paramref name="pass"/> false), no merge at all while the index has at most
    /// <see cref="MaxDeferredSegments"/> segments. Forced merges (of deleted documents, after a forget) always run.
    /// </summary>
    private sealed class DeferredMergePolicy(bool pass) : TieredMergePolicy
    {
        public override MergeSpecification? FindMerges(MergeTrigger mergeTrigger, SegmentInfos infos) =>
            pass || infos.Count > MaxDeferredSegments ? base.FindMerges(mergeTrigger, infos) : null;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Merging the lexical index's segments gave way to another process writing it.")]
    private static partial void LogMergeYielded(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Merging the lexical index's segments failed ({Error}: {Message}); the next catch-up tries again.")]
    private static partial void LogMergeFailed(ILogger logger, string error, string message);
}
