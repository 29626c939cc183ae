using System.Globalization;
using Engram.Core.Storage;
using Lucene.Net.Index;
using Lucene.Net.Search;
using Lucene.Net.Store;
using Lucene.Net.Util;
using Microsoft.Extensions.Logging;
using LuceneDirectory = Lucene.Net.Store.Directory;
using static Engram.Core.Search.LexicalDocuments;

namespace Engram.Core.Search;

/// <summary>
/// The BM25 index (Lucene.Net, English analysis that also splits identifiers), a derived cache of SQLite kept on disk. The change sequence it
/// reflects is stored in each commit's user data; whichever process needs it newer takes the write lock, applies the
/// change feed, and commits. A missing or unreadable index is rebuilt from SQLite.
/// </summary>
internal sealed partial class LexicalIndex : IDerivedIndex, IDisposable
{

    /// <summary>
    /// How much a query word found only in a memory's session context counts against the same word in its own text:
    /// the neighbours next to it, and those two places away.
    /// </summary>
    private const float AdjacentBoost = 0.4f;

    private const float NearbyBoost = 0.2f;

    /// <summary>
    /// A reply's meaning hangs on the question before it ("Got any favourite styles?" "Contemporary, it's so
    /// expressive"): a query word found in the question a memory answers counts this much more, on top of the adjacent
    /// context.
    /// </summary>
    private const float AskedBoost = 0.3f;
    private const string SeqKey = "seq";
    private const string FormatKey = "format";

    /// <summary>The document layout; an index written with another one is rebuilt.</summary>
    private const string Format = "5";

    private readonly IChangeFeed _store;
    private readonly string _path;
    private readonly ILogger _logger;
    private readonly TextTerms _terms = new();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Filter> _scopeFilters = new(StringComparer.Ordinal);

    /// <summary>
    /// The memory ids of each segment's documents, decoded once (a segment never changes; deletes only mark documents):
    /// a recall otherwise decodes a string for each of its hundreds of hits. Entries go with their segments.
    /// </summary>
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<object, string?[]> _segmentIds = new();
    private LuceneDirectory _directory;
    private SearcherManager? _searchers;

    public LexicalIndex(IChangeFeed store, string path, ILogger logger)
    {
        _store = store;
        _path = path;
        _logger = logger;
        _directory = FSDirectory.Open(path);
    }

    /// <summary>The change sequence the current searcher reflects (0 before the first catch-up).</summary>
    public long Seq { get; private set; }

    /// <summary>
    /// How many changes behind the index may be for a catch-up to bring it up to date before the caller goes on; further
    /// behind, it builds in the background (<see cref="CatchUpOrBuildAsync"/>). Null: always before (SQLite's store has
    /// no text search to answer with meanwhile).
    /// </summary>
    public long? BackgroundLag { get; init; }

    /// <inheritdoc />
    public Task CatchUpAsync(long seq, IReadOnlyList<string> scopes, CancellationToken cancellationToken) =>
        BackgroundLag is { } lag ? CatchUpOrBuildAsync(seq, lag, cancellationToken) : EnsureCurrentAsync(seq, cancellationToken);

    /// <summary>Brings the index to <paramref name="targetSeq"/> at least, rebuilding it if it is missing or unreadable.</summary>
    public async Task EnsureCurrentAsync(long targetSeq, CancellationToken cancellationToken = default)
    {
        if (_searchers is not null && Seq >= targetSeq)
        {
            return;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            try
            {
                // Another process may already have brought the index on disk up to date.
                var opening = _searchers is null;
                RefreshSearcher();
                if (opening && _searchers is not null && Seq > await _store.MaxSeqAsync(cancellationToken).ConfigureAwait(false))
                {
                    // Ahead of its store: the index is another store's (the database was deleted or restored from an
                    // older copy beside it). Its changes would be taken as applied, so it is built again from the store.
                    LogAheadOfStore(_logger, Seq);
                    await ApplyChangesAsync(rebuild: true, cancellationToken).ConfigureAwait(false);
                }
                else if (_searchers is not null && Seq >= targetSeq)
                {
                    return;
                }
                else
                {
                    await ApplyChangesAsync(rebuild: false, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (IsUnreadable(e))
            {
                LogRebuilding(_logger, e.GetType().Name);
                await ApplyChangesAsync(rebuild: true, cancellationToken).ConfigureAwait(false);
            }

            RefreshSearcher();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Rebuilds the index from SQLite from scratch (under the write lock, so other processes wait for it).</summary>
    public async Task RebuildAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // The files stay: writing a new index over them keeps Lucene's segment names moving forward, so a reader
            // another process still holds never mistakes a new segment for an old one of the same name.
            await ApplyChangesAsync(rebuild: true, cancellationToken, clearFiles: false).ConfigureAwait(false);
            RefreshSearcher();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Damage that a rebuild from SQLite repairs; a lock held by another process is not damage.</summary>
    private static bool IsUnreadable(Exception e) =>
        e is CorruptIndexException or IndexFormatTooOldException or IndexFormatTooNewException
        || (e is IOException && e is not LockObtainFailedException);

    private async Task ApplyChangesAsync(bool rebuild, CancellationToken cancellationToken, bool clearFiles = true)
    {
        if (rebuild && clearFiles)
        {
            // Clear the unreadable files under the write lock, so a process writing the index at this moment is waited
            // for, never pulled out from under; whoever writes next starts from an empty index and rebuilds from SQLite.
            DisposeSearchers();
            System.IO.Directory.CreateDirectory(_path);
            using var writeLock = _directory.MakeLock(IndexWriter.WRITE_LOCK_NAME);
            if (!writeLock.Obtain(30_000))
            {
                throw new LockObtainFailedException("Another process held the lexical index's write lock for 30 s.");
            }

            foreach (var file in _directory.ListAll().Where(f => f != IndexWriter.WRITE_LOCK_NAME))
            {
                _directory.DeleteFile(file);
            }
        }

        // A catch-up (even a large one) leaves merging to a pass of its own after the recall, up to a few segments (Merging).
        var config = WriterConfig(rebuild ? OpenMode.CREATE : OpenMode.CREATE_OR_APPEND, pass: false);
        using var writer = new IndexWriter(_directory, config);
        // A rebuild starts from nothing, whatever the commit it writes over says.
        var committed = rebuild ? 0 : CommittedSeq(writer.CommitData);
        var (seq, upserts, deletes) = await _store.ReadChangesAsync(committed, cancellationToken).ConfigureAwait(false);
        if (seq == committed && committed > 0)
        {
            return;
        }

        if (committed == 0)
        {
            writer.DeleteAll();
        }

        try
        {
            for (var i = 0; i < upserts.Count; i++)
            {
                if (i % 1024 == 1023)
                {
                    // A large catch-up (a background build) stops when the process closes, keeping the last commit.
                    cancellationToken.ThrowIfCancellationRequested();
                }

                var (memory, before, after) = upserts[i];
                writer.UpdateDocument(new Term(IdField, memory.Id), ToDocument(memory, SessionContext.Of(memory, before, after)));
            }
        }
        catch (OperationCanceledException)
        {
            writer.Rollback();
            throw;
        }

        foreach (var id in deletes)
        {
            writer.DeleteDocuments(new Term(IdField, id));
        }

        if (deletes.Count > 0)
        {
            // Rewrite segments that hold deleted documents so a forgotten memory's terms leave the files on disk.
            writer.ForceMergeDeletes(doWait: true);
        }

        writer.SetCommitData(new Dictionary<string, string> { [SeqKey] = seq.ToString(CultureInfo.InvariantCulture), [FormatKey] = Format });
        writer.Commit();
        LogApplied(_logger, upserts.Count, deletes.Count, seq);
        if (!rebuild && upserts.Count > 0)
        {
            ScheduleMerge();
        }
    }

    /// <summary>The change sequence a commit reflects; 0 (rebuild everything) when it was written in another format.</summary>
    private static long CommittedSeq(IDictionary<string, string> data) =>
        data.TryGetValue(FormatKey, out var format) && format == Format && data.TryGetValue(SeqKey, out var seq)
            ? long.Parse(seq, CultureInfo.InvariantCulture)
            : 0;

    /// <summary>Opens or refreshes the searchers (under the gate) and reads the change sequence they reflect.</summary>
    private void RefreshSearcher()
    {
        if (_searchers is null)
        {
            if (!DirectoryReader.IndexExists(_directory))
            {
                return;
            }

            _searchers = new SearcherManager(_directory, new Bm25SearcherFactory());
        }
        else
        {
            _searchers.MaybeRefreshBlocking();
        }

        var searcher = _searchers.Acquire();
        try
        {
            Seq = CommittedSeq(((DirectoryReader)searcher.IndexReader).IndexCommit.UserData);
        }
        finally
        {
            _searchers.Release(searcher);
        }
    }

    /// <summary>Below this many memories a word is never too common to be looked for in session context.</summary>
    private const int MinContextFrequency = 50;

    /// <summary>
    /// Query words (and feedback words) used at most: a query word makes up to four clauses (its text and three
    /// context fields), a feedback word one, and the whole must stay within Lucene's limit of 1,024.
    /// </summary>
    private const int MaxQueryTerms = 200;

    /// <summary>BM25 search for a query's analysed <paramref name="terms"/> (<see cref="QueryTermList"/>) over <paramref name="scopes"/> (and any of <paramref name="tags"/> when given); best first.</summary>
    public List<Scored> Search(IReadOnlyList<string> terms, IReadOnlyList<string> scopes, IReadOnlyList<string>? tags, int k, IReadOnlyList<(string Term, float Weight)>? expansion = null)
    {
        var results = new List<Scored>();
        // One snapshot of the manager: a rebuild may set the field to null meanwhile.
        var searchers = _searchers;
        if (searchers is null || terms.Count == 0 || k <= 0)
        {
            return results;
        }

        var searcher = searchers.Acquire();
        try
        {
            // Each query word is looked for in the memory's own text and, at a lower weight, in its session context;
            // a word common to many memories only in their own text: in context it would add little to the score and
            // much to the time (every memory carries four neighbours' words).
            var boolean = new BooleanQuery();
            var states = TermStates(searcher.IndexReader);
            var common = Math.Max(MinContextFrequency, searcher.IndexReader.NumDocs / 20);
            foreach (var term in terms.Distinct(StringComparer.Ordinal).Take(MaxQueryTerms))
            {
                var content = states.Get(ContentField, term);
                boolean.Add(content.Query(1f), Occur.SHOULD);
                if (content.Context.DocFreq <= common)
                {
                    boolean.Add(states.Get(AdjacentField, term).Query(AdjacentBoost), Occur.SHOULD);
                    boolean.Add(states.Get(NearbyField, term).Query(NearbyBoost), Occur.SHOULD);
                    boolean.Add(states.Get(AskedField, term).Query(AskedBoost), Occur.SHOULD);
                }
            }

            foreach (var (term, weight) in (expansion ?? []).Take(MaxQueryTerms))
            {
                boolean.Add(states.Get(ContentField, term).Query(weight), Occur.SHOULD);
            }

            var hits = searcher.Search(new FilteredQuery(boolean, ScopeFilter(scopes, tags), AcceptedDocsStrategy.Instance), k);
            var leaves = searcher.IndexReader.Leaves;
            var values = new BinaryDocValues?[leaves.Count];
            var segments = new string?[leaves.Count][];
            var bytes = new BytesRef();
            results.Capacity = hits.ScoreDocs.Length;
            foreach (var hit in hits.ScoreDocs)
            {
                var n = ReaderUtil.SubIndex(hit.Doc, leaves);
                var reader = leaves[n].AtomicReader;
                var ids = segments[n] ??= SegmentIds(reader);
                var doc = hit.Doc - leaves[n].DocBase;
                if (ids[doc] is not { } id)
                {
                    (values[n] ??= reader.GetBinaryDocValues(IdValuesField)).Get(doc, bytes);
                    ids[doc] = id = bytes.Utf8ToString();
                }

                results.Add(new Scored(id, hit.Score));
            }
        }
        finally
        {
            searchers.Release(searcher);
        }

        return results;
    }

    /// <summary>
    /// How many documents the index holds and, for each of <paramref name="terms"/>, how many hold it in their own text:
    /// both read from one reader (looked up once per reader), for pseudo-relevance feedback's weights.
    /// </summary>
    public (int Documents, Dictionary<string, int> Frequencies) ContentFrequencies(IEnumerable<string> terms) =>
        Read((0, new Dictionary<string, int>(StringComparer.Ordinal)), searcher =>
        {
            var states = TermStates(searcher.IndexReader);
            return (searcher.IndexReader.NumDocs, terms.Distinct(StringComparer.Ordinal).ToDictionary(t => t, t => states.Get(ContentField, t).Context.DocFreq, StringComparer.Ordinal));
        });

    /// <summary>The term-state cache of the current reader; a new reader starts a new one (one reference swap, so concurrent recalls never mix readers).</summary>
    private TermStateCache TermStates(IndexReader reader)
    {
        var cached = Volatile.Read(ref _termStates);
        if (cached?.Reader != reader)
        {
            cached = new TermStateCache(reader);
            Volatile.Write(ref _termStates, cached);
        }

        return cached;
    }

    private TermStateCache? _termStates;

    /// <summary>The index terms of <paramref name="text"/> as a query is searched with (question words dropped).</summary>
    public HashSet<string> QueryTerms(string text) => QueryTermList(text).ToHashSet(StringComparer.Ordinal);

    /// <summary>A query's analysed terms in order, question words left out: what <see cref="Search(IReadOnlyList{string}, IReadOnlyList{string}, IReadOnlyList{string}?, int, IReadOnlyList{ValueTuple{string, float}}?)"/> looks for.</summary>
    public List<string> QueryTermList(string query) => _terms.OfQuery(query);

    /// <summary>The index terms of a memory's own text.</summary>
    public HashSet<string> Terms(string text) => _terms.OfText(text);

    /// <summary>How many documents the index holds (as of the latest refresh).</summary>
    public int DocumentCount() => Read(0, searcher => searcher.IndexReader.NumDocs);

    /// <summary>How many memories of <paramref name="scopes"/> the index holds (as of the latest refresh; counted once per reader).</summary>
    public int CountIn(IReadOnlyList<string> scopes) => Read(0, searcher =>
    {
        var counts = Volatile.Read(ref _scopeCounts);
        if (counts?.Reader != searcher.IndexReader)
        {
            counts = new ScopeCounts(searcher.IndexReader, new(StringComparer.Ordinal));
            Volatile.Write(ref _scopeCounts, counts);
        }

        return counts.Counts.GetOrAdd(string.Join('\n', scopes), _ => searcher.Search(new ConstantScoreQuery(ScopeFilter(scopes, null)), 1).TotalHits);
    });

    private ScopeCounts? _scopeCounts;

    private sealed record ScopeCounts(IndexReader Reader, System.Collections.Concurrent.ConcurrentDictionary<string, int> Counts);

    /// <summary>How many documents the index (as of the latest refresh) holds for <paramref name="ids"/>.</summary>
    public int Count(IEnumerable<string> ids) => Read(0, searcher => ids.Sum(id => searcher.Search(new TermQuery(new Term(IdField, id)), 1).TotalHits));

    /// <summary>
    /// Runs <paramref name="read"/> on the current searcher, or gives <paramref name="empty"/> before the index exists.
    /// The manager is read once: a rebuild may set the field to null meanwhile.
    /// </summary>
    private T Read<T>(T empty, Func<IndexSearcher, T> read)
    {
        var searchers = _searchers;
        if (searchers is null)
        {
            return empty;
        }

        var searcher = searchers.Acquire();
        try
        {
            return read(searcher);
        }
        finally
        {
            searchers.Release(searcher);
        }
    }

    /// <summary>The segment's id slots (filled as its documents are hit).</summary>
    private string?[] SegmentIds(AtomicReader segment)
    {
        if (!_segmentIds.TryGetValue(segment.CoreCacheKey, out var ids))
        {
            // Two recalls may both miss: the first slots stay, the other's are dropped.
            _segmentIds.TryAdd(segment.CoreCacheKey, new string?[segment.MaxDoc]);
            _segmentIds.TryGetValue(segment.CoreCacheKey, out ids);
        }

        return ids!;
    }

    private Filter ScopeFilter(IReadOnlyList<string> scopes, IReadOnlyList<string>? tags)
    {
        if (tags is not { Count: > 0 })
        {
            // Scope filters are cached per segment (bit sets), so a repeated recall does not re-run the scope terms.
            return _scopeFilters.GetOrAdd(string.Join('\n', scopes), _ => new BitSetCachingFilter(Filter(scopes, null)));
        }

        return Filter(scopes, tags);
    }

    private void DisposeSearchers()
    {
        _searchers?.Dispose();
        _searchers = null;
        Seq = 0;
    }

    public void Dispose()
    {
        StopBuilding();
        DisposeSearchers();
        _directory.Dispose();
        _terms.Dispose();
        _gate.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The lexical index has applied changes up to {Seq}, past its store's last: it belongs to a store deleted or restored since; rebuilding it from the store.")]
    private static partial void LogAheadOfStore(ILogger logger, long seq);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The lexical index could not be read ({Error}); rebuilding it from SQLite.")]
    private static partial void LogRebuilding(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Lexical index: applied {Upserts} upserts and {Deletes} deletes up to change {Seq}.")]
    private static partial void LogApplied(ILogger logger, int upserts, int deletes, long seq);
}
