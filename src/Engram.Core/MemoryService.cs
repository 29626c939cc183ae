using Engram.Core.Access;
using Engram.Core.Embeddings;
using Engram.Core.Model;
using Engram.Core.Scopes;
using Engram.Core.Search;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Engram.Core;

/// <summary>
/// Engram's memory: remember, recall, forget and explain over one store. SQLite is the source of truth; the
/// Lucene index and the vector matrices are caches that catch up from its change feed before every answer, so
/// several services (in one process or many) can share a store. Thread-safe.
/// </summary>
public sealed partial class MemoryService : IAsyncDisposable
{
    private readonly EngramOptions _options;
    private readonly string _defaultScope;
    private readonly IEmbeddingGenerator<string, Embedding<float>> _embedder;
    private readonly EmbeddingRuntime _runtime;
    private readonly bool _ownsEmbedder;
    private readonly ILoggerFactory _loggerFactory;
    private readonly SemaphoreSlim _opening = new(1, 1);
    private Task<Parts>? _parts;
    private readonly CallerScopes _unrestricted;
    private readonly AsyncLocal<Acting?> _acting = new();

    /// <summary>Creates the service. The store is opened (and created if missing) on first use.</summary>
    /// <param name="options">Where the store is and which scope is the default.</param>
    /// <param name="embeddingGenerator">The embedder; <see langword="null"/> for the built-in offline one.</param>
    /// <param name="loggerFactory">Logging; memory text is only ever logged at Trace.</param>
    public MemoryService(EngramOptions options, IEmbeddingGenerator<string, Embedding<float>>? embeddingGenerator = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _defaultScope = ScopeName.Normalize(options.DefaultScope);
        _ownsEmbedder = embeddingGenerator is null;
        _embedder = embeddingGenerator ?? new HashingEmbeddingGenerator();
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _runtime = new EmbeddingRuntime(_embedder, options, _loggerFactory);
        _unrestricted = CallerScopes.Unrestricted(_defaultScope, options.DefaultScopeSource);
    }

    /// <summary>The options in force.</summary>
    public EngramOptions Options => _options;

    /// <summary>The scopes a recall searches when it names none (for an unrestricted caller): the default scope, plus <c>user</c>.</summary>
    public IReadOnlyList<string> DefaultRecallScopes => _unrestricted.Defaults();

    /// <summary>The path of the SQLite database.</summary>
    public string DatabasePath => MemoryEngine.DatabasePath(_options.HomeDirectory);

    /// <summary>The open store and the operations over it.</summary>
    private sealed record Parts(MemoryEngine Engine, MemoryWriter Writer, RecallPipeline Recall, Forgetting Forgetting, RecallExplainer Explainer, TokenDirectory Tokens, CodeAnchors Anchors);

    private async Task<Parts> OpenAsync()
    {
        var engine = await MemoryEngine.OpenAsync(_options, _runtime, _loggerFactory).ConfigureAwait(false);
        var anchors = new CodeAnchors(_options.ProjectRoot);
        // The signals in the order of their rankings, which is the order they run (a later one may read an earlier one's
        // ranking), except that one waiting for the query's embedding lets those after it run first.
        var hashed = _runtime.HashesWords;
        var similarThreshold = hashed ? _options.HashedSimilarThreshold : _options.SimilarThreshold;
        IRecallSignal[] signals =
        [
            new LexicalSignal(engine.Lexical, engine.Rows, engine.Store as Storage.ITextSearch, _options.LexicalWeight),
            new VectorSignal(engine.Vectors, _runtime, hashed ? _options.HashedVectorWeight : 1.0 /* a model's cosines are fused by evidence: no weight applies */, addsOnly: hashed),
            new EntitySignal(engine.Store, engine.Lexical, _options.EntityWeight),
            new TimeSignal(engine.Store, engine.Rows, _options.TimeZone, _options.TimeWeight),
        ];
        var recall = new RecallPipeline(engine, signals, semantic: !hashed, similarThreshold, anchors, _loggerFactory.CreateLogger<RecallPipeline>());
        var logger = _loggerFactory.CreateLogger<MemoryService>();
        return new Parts(
            engine,
            new MemoryWriter(engine, similarThreshold, _options.Secrets, anchors, logger),
            recall,
            new Forgetting(engine, recall, logger),
            new RecallExplainer(engine, recall),
            new TokenDirectory(engine.Store, _options.TokenCacheDuration, _options.TimeProvider, _loggerFactory.CreateLogger<TokenDirectory>()),
            anchors);
    }

    /// <summary>
    /// The open store, opened by the first call. A failed open is not kept: a store that could not be reached (a
    /// PostgreSQL server restarting) is tried again by the next call, so a server recovers by itself.
    /// </summary>
    private async Task<Parts> GetPartsAsync()
    {
        if (_parts is { IsCompletedSuccessfully: true } open)
        {
            return open.Result;
        }

        await _opening.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_parts is null || _parts.IsFaulted || _parts.IsCanceled)
            {
                _parts = OpenAsync();
            }
        }
        finally
        {
            _opening.Release();
        }

        return await _parts.ConfigureAwait(false);
    }

    private async Task<MemoryEngine> GetEngineAsync() => (await GetPartsAsync().ConfigureAwait(false)).Engine;

    /// <summary>Stores a fact, or reports the existing memory that already says it.</summary>
    /// <exception cref="EngramArgumentException">The request is invalid; the message says how to fix it.</exception>
    public async Task<RememberResult> RememberAsync(RememberRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var writer = (await GetPartsAsync().ConfigureAwait(false)).Writer;
        var pending = await writer.PrepareAsync([request], Scopes, cancellationToken).ConfigureAwait(false);
        var result = (await writer.InsertAsync(pending, cancellationToken).ConfigureAwait(false))[0];
        var similar = pending[0].Vector is { } vector
            ? await writer.SimilarAsync(result.Scope, vector, result.Id, pending[0].Supersedes, cancellationToken).ConfigureAwait(false)
            : [];
        return result with { Similar = similar };
    }

    /// <summary>
    /// Stores many facts in one transaction: the bulk import path. Results are in request order; duplicates (of stored
    /// memories or of earlier requests in the batch) are reported as in <see cref="RememberAsync"/>. No
    /// <c>similar</c> candidates are computed. If any request is invalid, nothing is stored.
    /// </summary>
    /// <exception cref="EngramArgumentException">A request is invalid; the message names it and says how to fix it.</exception>
    public async Task<IReadOnlyList<RememberResult>> RememberManyAsync(IReadOnlyList<RememberRequest> requests, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var writer = (await GetPartsAsync().ConfigureAwait(false)).Writer;
        var pending = await writer.PrepareAsync(requests, Scopes, cancellationToken).ConfigureAwait(false);
        return await writer.InsertAsync(pending, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Finds the memories most relevant to a query, in the requested scopes only.</summary>
    /// <exception cref="EngramArgumentException">The request is invalid; the message says how to fix it.</exception>
    public async Task<RecallResult> RecallAsync(RecallRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var query = Validation.Recall(request, Scopes);
        var trace = await (await GetPartsAsync().ConfigureAwait(false)).Recall.RunAsync(query, log: true, cancellationToken).ConfigureAwait(false);
        return new RecallResult(trace.RetrievalId, trace.Query.Scopes, trace.Hits.Select(h => h.Memory).ToList());
    }

    /// <summary>Forgets memories from every store: SQLite rows, the lexical index, vectors and recall logs.</summary>
    /// <exception cref="EngramArgumentException">The request selects nothing or is ambiguous; the message says how to fix it.</exception>
    public async Task<ForgetResult> ForgetAsync(ForgetRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return await (await GetPartsAsync().ConfigureAwait(false)).Forgetting.ForgetAsync(request, Scopes, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The append-only record of every real forget on this store, oldest first (ids and counts, never content).</summary>
    /// <exception cref="InvalidOperationException">Called within <see cref="ActAs"/>: this is an administrator's operation.</exception>
    public async Task<IReadOnlyList<ForgetAuditEntry>> ReadForgetAuditAsync(CancellationToken cancellationToken = default)
    {
        RequireUnrestricted();
        return await (await GetPartsAsync().ConfigureAwait(false)).Forgetting.ReadAuditAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Explains a recall: each hit's signals, what was filtered out and why, and optionally one memory's account.</summary>
    /// <exception cref="EngramArgumentException">Neither a known retrieval id nor a query was given.</exception>
    public async Task<ExplainResult> ExplainAsync(ExplainRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return await (await GetPartsAsync().ConfigureAwait(false)).Explainer.ExplainAsync(request, Scopes, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// <see cref="ExplainAsync"/> with what a picture of it needs: for each memory it names (hits and the account), which
    /// of its words matched a query word or a pseudo-relevance feedback word (the inspector, <c>engram ui</c>).
    /// </summary>
    /// <exception cref="EngramArgumentException">Neither a known retrieval id nor a query was given.</exception>
    public async Task<ExplainPicture> ExplainPictureAsync(ExplainRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return await (await GetPartsAsync().ConfigureAwait(false)).Explainer.PictureAsync(request, Scopes, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Embeds, now, every memory that lacks a vector of the configured embedder (after a switch of model, or memories
    /// stored while it was unreachable), reporting (done, total); each scope's new vectors are used from the moment its
    /// last one is stored. The background embedder does the same unasked; this is <c>engram reembed</c>.
    /// </summary>
    /// <returns>How many memories were embedded.</returns>
    /// <exception cref="InvalidOperationException">The embedder is unreachable or failed; what was embedded is kept.</exception>
    /// <exception cref="InvalidOperationException">Called within <see cref="ActAs"/>: this is an administrator's operation.</exception>
    public async Task<int> ReembedAsync(IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        RequireUnrestricted();
        return await (await GetEngineAsync().ConfigureAwait(false)).Backfill.RunToCompletionAsync(progress, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>How many of <paramref name="ids"/> this process holds in its row cache (for tests: a forgotten memory's text must not stay in memory).</summary>
    internal async Task<int> CachedRowsAsync(IEnumerable<string> ids) => (await GetEngineAsync().ConfigureAwait(false)).Rows.CountOf(ids);

    /// <summary>Saves <paramref name="vector"/> as the memory's, as the background embedder does (for tests: an empty one is a refusal).</summary>
    internal async Task SaveVectorAsync(string id, float[] vector)
    {
        var engine = await GetEngineAsync().ConfigureAwait(false);
        var memory = (await engine.Store.GetAsync([id]).ConfigureAwait(false))[id];
        var unembedded = new Storage.UnembeddedMemory(memory.Id, memory.Scope, memory.Content, Curation.ContentHash.Compute(memory.Content), memory.ObservedAt);
        await engine.Store.SaveVectorsAsync(engine.Embedder.Model!, [(unembedded, vector)]).ConfigureAwait(false);
    }

    /// <summary>Completes once this process has written <paramref name="entries"/> recall-log entries by itself (for tests).</summary>
    internal async Task RecallLogWrittenAsync(long entries) => await (await GetEngineAsync().ConfigureAwait(false)).Log.WrittenAsync(entries).ConfigureAwait(false);

    /// <summary>Makes a background build of the lexical index wait for <paramref name="until"/> before it starts (for tests).</summary>
    internal async Task HoldLexicalBuildAsync(Task until) => (await GetEngineAsync().ConfigureAwait(false)).Lexical.BuildMayStart = until;

    /// <summary>Completes when the lexical index's background build (if any) has ended (for tests).</summary>
    internal async Task LexicalBuiltAsync() => await (await GetEngineAsync().ConfigureAwait(false)).Lexical.Built.ConfigureAwait(false);

    /// <summary>Holds the lexical index's merge passes until <paramref name="until"/> completes (for tests).</summary>
    internal async Task HoldLexicalMergesAsync(Task until) => (await GetEngineAsync().ConfigureAwait(false)).Lexical.MergeMayStart = until;

    /// <summary>The lexical index's segments, once the merge passes scheduled so far have ended when <paramref name="merged"/> (for tests).</summary>
    internal async Task<int> LexicalSegmentsAsync(bool merged)
    {
        var lexical = (await GetEngineAsync().ConfigureAwait(false)).Lexical;
        if (merged)
        {
            await lexical.Merged.ConfigureAwait(false);
        }

        return lexical.Segments;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_parts is { IsCompletedSuccessfully: true } open)
        {
            await open.Result.Engine.DisposeAsync().ConfigureAwait(false);
        }

        _opening.Dispose();
        _runtime.Dispose();
        if (_ownsEmbedder)
        {
            _embedder.Dispose();
        }
    }
}
