using Lucene.Net.Index;
using Microsoft.Extensions.Logging;

namespace Engram.Core.Search;

/// <summary>
/// Merging the index's segments off the recall's path. Each catch-up commits a small segment, and each query term is
/// looked up in every segment, so segments are merged eagerly; but a merge inside a catch-up rewrote the whole of a
/// small index in the recall that caught up (a recall right after a <c>remember</c> took 40–80 ms instead of 4).
/// A catch-up now commits its segment without merging, and a merge pass runs shortly after, in the background, under
/// the same lock; a recall that needs no catch-up does not wait for it. Forgetting still merges the deleted documents
/// away in the catch-up itself, so a forgotten memory's words leave the files before the recall answers.
/// </summary>
internal sealed partial class LexicalIndex
{
    /// <summary>How long after a catch-up the merge pass starts: the recall that caught up is answered first, and a burst of catch-ups makes one pass.</summary>
    private static readonly TimeSpan MergeDelay = TimeSpan.FromMilliseconds(100);

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

    /// <summary>The writer's configuration: BM25, the lock wait, and tiered merging, started by commits only when <paramref name="merges"/>.</summary>
    private IndexWriterConfig WriterConfig(OpenMode mode, bool merges) => new(LexicalDocuments.Version, _terms.Analyzer)
    {
        Similarity = LexicalDocuments.Bm25(),
        OpenMode = mode,
        // Other processes hold the lock only while they apply a batch of changes or merge; wait for them.
        WriteLockTimeout = 30_000,
        // At most three segments a tier (Lucene's default of ten left LoCoMo's index in five segments, and each recall
        // ~0.8 ms slower); segments under 2 MB are one tier. ForceMergeDeletes after a forget must rewrite every segment
        // holding a deleted document, however few it holds: Lucene's default skips segments under 10% deleted, which
        // left a forgotten memory's words on disk.
        MergePolicy = new DeferredMergePolicy(merges) { SegmentsPerTier = 3, MaxMergeAtOnce = 3, ForceMergeDeletesPctAllowed = 0 },
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
                using (var writer = new IndexWriter(_directory, WriterConfig(OpenMode.APPEND, merges: true)))
                {
                    var data = new Dictionary<string, string>(writer.CommitData);
                    writer.MaybeMerge();
                    writer.WaitForMerges();
                    writer.SetCommitData(data);
                    writer.Commit();
                }

                RefreshSearcher();
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
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The index is as the last catch-up committed it, only in more segments: the next catch-up tries again.
            Volatile.Write(ref _mergeScheduled, 0);
            LogMergeFailed(_logger, e.GetType().Name, e.Message);
        }
    }

    /// <summary>Lucene's tiered merging, with the merges a commit would start left out unless asked for; forced merges (of deleted documents) always run.</summary>
    private sealed class DeferredMergePolicy(bool natural) : TieredMergePolicy
    {
        public override MergeSpecification? FindMerges(MergeTrigger mergeTrigger, SegmentInfos infos) =>
            natural || mergeTrigger == MergeTrigger.EXPLICIT ? base.FindMerges(mergeTrigger, infos) : null;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Merging the lexical index's segments failed ({Error}: {Message}); the next catch-up tries again.")]
    private static partial void LogMergeFailed(ILogger logger, string error, string message);
}
