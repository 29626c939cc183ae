using System.Globalization;
using Engram.Core.Storage;
using Lucene.Net.Analysis;
using Lucene.Net.Analysis.TokenAttributes;
using Lucene.Net.Documents;
using Lucene.Net.Index;
using Lucene.Net.Search;
using Lucene.Net.Search.Similarities;
using Lucene.Net.Store;
using Lucene.Net.Util;
using Microsoft.Extensions.Logging;
using LuceneDirectory = Lucene.Net.Store.Directory;

namespace Engram.Core.Search;

/// <summary>
/// The BM25 index (Lucene.Net, English analysis that also splits identifiers), a derived cache of SQLite kept on disk. The change sequence it
/// reflects is stored in each commit's user data; whichever process needs it newer takes the write lock, applies the
/// change feed, and commits. A missing or unreadable index is rebuilt from SQLite.
/// </summary>
internal sealed partial class LexicalIndex : IDerivedIndex, IDisposable
{
    private const LuceneVersion Version = LuceneVersion.LUCENE_48;
    private const string IdField = "id";
    private const string ScopeField = "scope";
    private const string TagField = "tag";
    private const string ContentField = "content";
    private const string AdjacentField = "context_adjacent";
    private const string NearbyField = "context_nearby";
    private const string AskedField = "context_asked";

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
    private const string IdValuesField = "id_dv";
    private const string SeqKey = "seq";
    private const string FormatKey = "format";

    /// <summary>The document layout; an index written with another one is rebuilt.</summary>
    private const string Format = "5";

    private readonly IChangeFeed _store;
    private readonly string _path;
    private readonly ILogger _logger;
    private readonly Analyzer _analyzer = new MemoryAnalyzer();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Filter> _scopeFilters = new(StringComparer.Ordinal);
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

    /// <inheritdoc />
    public Task CatchUpAsync(long seq, IReadOnlyList<string> scopes, CancellationToken cancellationToken) => EnsureCurrentAsync(seq, cancellationToken);

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
                RefreshSearcher();
                if (_searchers is not null && Seq >= targetSeq)
                {
                    return;
                }

                await ApplyChangesAsync(rebuild: false, cancellationToken).ConfigureAwait(false);
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

        var config = new IndexWriterConfig(Version, _analyzer)
        {
            Similarity = Bm25(),
            OpenMode = rebuild ? OpenMode.CREATE : OpenMode.CREATE_OR_APPEND,
            // Other processes hold the lock only while they apply a batch of changes; wait for them.
            WriteLockTimeout = 30_000,
            // Every catch-up commits a small segment, and each query term is looked up in every segment: merge eagerly,
            // at most three segments a tier (Lucene's default of ten left LoCoMo's index in five segments, and each
            // recall ~0.8 ms slower). Segments under 2 MB are one tier, so most merges rewrite little.
            // ForceMergeDeletes after a forget must rewrite every segment holding a deleted document, however few it
            // holds: Lucene's default skips segments under 10% deleted, which left a forgotten memory's words on disk.
            MergePolicy = new TieredMergePolicy { SegmentsPerTier = 3, MaxMergeAtOnce = 3, ForceMergeDeletesPctAllowed = 0 },
        };
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

        foreach (var (memory, before, after) in upserts)
        {
            writer.UpdateDocument(new Term(IdField, memory.Id), ToDocument(memory, SessionContext.Of(memory, before, after)));
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
    }

    /// <summary>The change sequence a commit reflects; 0 (rebuild everything) when it was written in another format.</summary>
    private static long CommittedSeq(IDictionary<string, string> data) =>
        data.TryGetValue(FormatKey, out var format) && format == Format && data.TryGetValue(SeqKey, out var seq)
            ? long.Parse(seq, CultureInfo.InvariantCulture)
            : 0;

    /// <summary>
    /// BM25 with k1 = 0.9, b = 0.4, the common setting for short passages (Anserini's for MS MARCO) rather than
    /// Lucene's 1.2 / 0.75 for documents: memories are one to three sentences, so term repetition and length say little.
    /// </summary>
    private static BM25Similarity Bm25() => new(0.9f, 0.4f);

    private static Document ToDocument(StoredMemory memory, SessionContext context)
    {
        var doc = new Document
        {
            new StringField(IdField, memory.Id, Field.Store.NO),
            // Hits are mapped back to ids through doc values: far cheaper than loading stored fields.
            new BinaryDocValuesField(IdValuesField, new BytesRef(memory.Id)),
            new StringField(ScopeField, memory.Scope, Field.Store.NO),
            new TextField(ContentField, memory.Content, Field.Store.NO),
            new TextField(AdjacentField, context.Adjacent, Field.Store.NO),
            new TextField(NearbyField, context.Nearby, Field.Store.NO),
            new TextField(AskedField, context.Asked, Field.Store.NO),
        };
        foreach (var tag in memory.Tags)
        {
            doc.Add(new StringField(TagField, tag, Field.Store.NO));
        }

        return doc;
    }

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

    /// <summary>BM25 search over <paramref name="scopes"/> (and any of <paramref name="tags"/> when given); best first.</summary>
    public List<(string Id, float Score)> Search(string query, IReadOnlyList<string> scopes, IReadOnlyList<string>? tags, int k, IReadOnlyList<(string Term, float Weight)>? expansion = null) =>
        Search(QueryTermList(query), scopes, tags, k, expansion);

    /// <summary>BM25 search for already analysed query <paramref name="terms"/> (<see cref="QueryTermList"/>).</summary>
    public List<(string Id, float Score)> Search(IReadOnlyList<string> terms, IReadOnlyList<string> scopes, IReadOnlyList<string>? tags, int k, IReadOnlyList<(string Term, float Weight)>? expansion = null)
    {
        var results = new List<(string, float)>();
        if (_searchers is null || terms.Count == 0 || k <= 0)
        {
            return results;
        }

        var searcher = _searchers.Acquire();
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

            var hits = searcher.Search(boolean, ScopeFilter(scopes, tags), k);
            var leaves = searcher.IndexReader.Leaves;
            var ids = new BinaryDocValues?[leaves.Count];
            var bytes = new BytesRef();
            foreach (var hit in hits.ScoreDocs)
            {
                var leaf = ReaderUtil.SubIndex(hit.Doc, leaves);
                ids[leaf] ??= leaves[leaf].AtomicReader.GetBinaryDocValues(IdValuesField);
                ids[leaf]!.Get(hit.Doc - leaves[leaf].DocBase, bytes);
                results.Add((bytes.Utf8ToString(), hit.Score));
            }
        }
        finally
        {
            _searchers.Release(searcher);
        }

        return results;
    }

    /// <summary>
    /// Pseudo-relevance feedback: the terms that the top results' texts share most, weighted by each result's rank and
    /// the term's rarity, leaving out the query's own terms and terms common to many memories.
    /// </summary>
    /// <param name="queryTerms">The query's analysed terms (<see cref="QueryTermList"/>).</param>
    /// <param name="feedbackTerms">Each feedback document's analysed terms (<see cref="Terms"/>), best first.</param>
    /// <param name="count">How many terms at most.</param>
    /// <param name="boost">The weight of the strongest term.</param>
    public List<(string Term, float Weight)> ExpansionTerms(IReadOnlyList<string> queryTerms, IReadOnlyList<IReadOnlyCollection<string>> feedbackTerms, int count, float boost)
    {
        var own = queryTerms.ToHashSet(StringComparer.Ordinal);
        if (_searchers is null || feedbackTerms.Count == 0)
        {
            return [];
        }

        var searcher = _searchers.Acquire();
        try
        {
            var reader = searcher.IndexReader;
            var n = Math.Max(1, reader.NumDocs);
            // Rank-weighted occurrences first; document frequencies only for the strongest candidates, cached per reader.
            var occurrences = new Dictionary<string, double>(StringComparer.Ordinal);
            for (var i = 0; i < feedbackTerms.Count; i++)
            {
                foreach (var term in feedbackTerms[i])
                {
                    if (!own.Contains(term) && term.Length >= 3)
                    {
                        occurrences[term] = occurrences.GetValueOrDefault(term) + (1.0 / (i + 1));
                    }
                }
            }

            var states = TermStates(reader);
            var weights = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var (term, occurrence) in occurrences.OrderByDescending(o => o.Value).ThenBy(o => o.Key, StringComparer.Ordinal).Take(count * 3))
            {
                var df = states.Get(ContentField, term).Context.DocFreq;
                if (df > 0 && df <= Math.Min(n / 20, MaxFeedbackFrequency))
                {
                    weights[term] = occurrence * Math.Log(1.0 + ((double)n / df));
                }
            }

            var top = weights.OrderByDescending(w => w.Value).ThenBy(w => w.Key, StringComparer.Ordinal).Take(count).ToList();
            var max = top.Count == 0 ? 1 : top[0].Value;
            return top.Select(w => (w.Key, (float)(boost * w.Value / max))).ToList();
        }
        finally
        {
            _searchers.Release(searcher);
        }
    }

    /// <summary>
    /// A feedback word carried by more memories than this (or by more than 5% of them) is not added: it says little,
    /// and its postings would make the second pass cost as much as a scan in a large store.
    /// </summary>
    private const int MaxFeedbackFrequency = 500;

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

    /// <summary>
    /// Where each (field, word) sits in one reader's segments, with its document frequency, looked up once per reader
    /// instead of once per query clause: a recall's two passes ask for the same words, and recalls repeat words. A
    /// query built from a cached state skips the term-dictionary seeks (and the index-input copies they make).
    /// </summary>
    private sealed class TermStateCache(IndexReader reader)
    {
        /// <summary>Past this many entries the cache starts over (a reader lives until the next write, which may be long).</summary>
        private const int MaxEntries = 50_000;

        private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Field, string Text), TermState> _states = new();

        // Counted apart: ConcurrentDictionary.Count takes every lock, and a miss must not serialise concurrent recalls.
        private int _count;

        public IndexReader Reader { get; } = reader;

        public TermState Get(string field, string text)
        {
            if (_states.TryGetValue((field, text), out var state))
            {
                return state;
            }

            var term = new Term(field, text);
            state = new TermState(term, TermContext.Build(Reader.Context, term));
            if (_states.TryAdd((field, text), state) && Interlocked.Increment(ref _count) > MaxEntries)
            {
                _states.Clear();
                Interlocked.Exchange(ref _count, 0);
            }

            return state;
        }
    }

    /// <summary>A term and its per-segment state in one reader.</summary>
    private sealed record TermState(Term Term, TermContext Context)
    {
        public TermQuery Query(float boost) => new(Term, Context) { Boost = boost };
    }

    /// <summary>How many documents the index holds (as of the latest refresh).</summary>
    public int DocumentCount()
    {
        if (_searchers is null)
        {
            return 0;
        }

        var searcher = _searchers.Acquire();
        try
        {
            return searcher.IndexReader.NumDocs;
        }
        finally
        {
            _searchers.Release(searcher);
        }
    }

    /// <summary>How many memories of <paramref name="scopes"/> the index holds (as of the latest refresh; counted once per reader).</summary>
    public int CountIn(IReadOnlyList<string> scopes)
    {
        if (_searchers is null)
        {
            return 0;
        }

        var searcher = _searchers.Acquire();
        try
        {
            var counts = Volatile.Read(ref _scopeCounts);
            if (counts?.Reader != searcher.IndexReader)
            {
                counts = new ScopeCounts(searcher.IndexReader, new(StringComparer.Ordinal));
                Volatile.Write(ref _scopeCounts, counts);
            }

            return counts.Counts.GetOrAdd(string.Join('\n', scopes), _ => searcher.Search(new ConstantScoreQuery(ScopeFilter(scopes, null)), 1).TotalHits);
        }
        finally
        {
            _searchers.Release(searcher);
        }
    }

    private ScopeCounts? _scopeCounts;

    private sealed record ScopeCounts(IndexReader Reader, System.Collections.Concurrent.ConcurrentDictionary<string, int> Counts);

    /// <summary>How many documents the index (as of the latest refresh) holds for <paramref name="ids"/>.</summary>
    public int Count(IEnumerable<string> ids)
    {
        if (_searchers is null)
        {
            return 0;
        }

        var searcher = _searchers.Acquire();
        try
        {
            return ids.Sum(id => searcher.Search(new TermQuery(new Term(IdField, id)), 1).TotalHits);
        }
        finally
        {
            _searchers.Release(searcher);
        }
    }

    private Filter ScopeFilter(IReadOnlyList<string> scopes, IReadOnlyList<string>? tags)
    {
        if (tags is not { Count: > 0 })
        {
            // Scope filters are cached per segment (bit sets), so a repeated recall does not re-run the scope terms.
            return _scopeFilters.GetOrAdd(string.Join('\n', scopes), _ => new CachingWrapperFilter(BuildFilter(scopes, null)));
        }

        return BuildFilter(scopes, tags);
    }

    private static QueryWrapperFilter BuildFilter(IReadOnlyList<string> scopes, IReadOnlyList<string>? tags)
    {
        // Lucene.Net 4.8 has no Occur.FILTER: restrict with a Filter, which also leaves the BM25 scores untouched.
        var scopeQuery = new BooleanQuery();
        foreach (var scope in scopes)
        {
            scopeQuery.Add(new TermQuery(new Term(ScopeField, scope)), Occur.SHOULD);
        }

        if (tags is not { Count: > 0 })
        {
            return new QueryWrapperFilter(scopeQuery);
        }

        var tagQuery = new BooleanQuery();
        foreach (var tag in tags)
        {
            tagQuery.Add(new TermQuery(new Term(TagField, tag)), Occur.SHOULD);
        }

        return new QueryWrapperFilter(new BooleanQuery { { scopeQuery, Occur.MUST }, { tagQuery, Occur.MUST } });
    }

    /// <summary>
    /// Words that shape a question rather than name what it is about: interrogatives, auxiliaries and pronouns. The
    /// analyzer's English stop set keeps them, and in a query they match nearly every memory ("did", "does", "he").
    /// Memories are indexed with them; queries drop them.
    /// </summary>
    private static readonly HashSet<string> QuestionWords = new(StringComparer.OrdinalIgnoreCase)
    {
        "what", "when", "where", "who", "whom", "whose", "why", "how", "which", "did", "does", "do", "done", "has", "have", "had",
        "would", "could", "should", "can", "may", "might", "will", "shall", "was", "were", "is", "are", "am", "be", "been",
        "i", "you", "he", "she", "we", "they", "me", "him", "her", "us", "them", "my", "your", "his", "our", "its",
    };

    /// <summary>The index terms of <paramref name="text"/> as a query is searched with (question words dropped).</summary>
    public HashSet<string> QueryTerms(string text) => QueryTermList(text).ToHashSet(StringComparer.Ordinal);

    /// <summary>A query's analysed terms in order, question words left out: what <see cref="Search(IReadOnlyList{string}, IReadOnlyList{string}, IReadOnlyList{string}?, int, IReadOnlyList{ValueTuple{string, float}}?)"/> looks for.</summary>
    public List<string> QueryTermList(string query) => Analyze(WithoutQuestionWords(query));

    /// <summary>The index terms of a memory's own text.</summary>
    public HashSet<string> Terms(string text) => Analyze(text).ToHashSet(StringComparer.Ordinal);

    private static readonly char[] QuerySeparators = [' ', '\t', '\n', '\r', '?', ',', '.', '!', ';', ':', '"', '(', ')'];

    internal static string WithoutQuestionWords(string query) =>
        string.Join(' ', query.Split(QuerySeparators, StringSplitOptions.RemoveEmptyEntries).Where(w => !QuestionWords.Contains(w)));

    private List<string> Analyze(string text)
    {
        var terms = new List<string>();
        using var stream = _analyzer.GetTokenStream(ContentField, text);
        var attribute = stream.AddAttribute<ICharTermAttribute>();
        stream.Reset();
        while (stream.IncrementToken())
        {
            terms.Add(attribute.ToString());
        }

        stream.End();
        return terms;
    }

    private void DisposeSearchers()
    {
        _searchers?.Dispose();
        _searchers = null;
        Seq = 0;
    }

    public void Dispose()
    {
        DisposeSearchers();
        _directory.Dispose();
        _analyzer.Dispose();
        _gate.Dispose();
    }

    private sealed class Bm25SearcherFactory : SearcherFactory
    {
        public override IndexSearcher NewSearcher(IndexReader reader) => new(reader) { Similarity = Bm25() };
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The lexical index could not be read ({Error}); rebuilding it from SQLite.")]
    private static partial void LogRebuilding(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Lexical index: applied {Upserts} upserts and {Deletes} deletes up to change {Seq}.")]
    private static partial void LogApplied(ILogger logger, int upserts, int deletes, long seq);
}
