using System.Globalization;
using System.Text.Json;
using Engram.Core.Curation;
using Engram.Core.Embeddings;
using Engram.Core.Model;
using Engram.Core.Scopes;
using Engram.Core.Search;
using Engram.Core.Storage;
using Engram.Core.Storage.Sqlite;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Engram.Core;

/// <summary>
/// Engram's memory: remember, recall, forget and explain over one store. SQLite is the source of truth; the
/// Lucene index and the vector matrices are caches that catch up from its change feed before every answer, so
/// several services (in one process or many) can share a store. Thread-safe.
/// </summary>
public sealed partial class MemoryService : IAsyncDisposable, IDisposable
{
    /// <summary>
    /// How many candidates each signal contributes before fusion, at the least: four times the largest common limit,
    /// so that any limit up to 50 ranks the same candidates the same way (the first 10 of 50 are the 10 of 10).
    /// </summary>
    private const int CandidateDepth = 200;

    /// <summary>The cosine above which an existing memory is offered in <c>similar</c>.</summary>
    private const double SimilarThreshold = 0.55;

    /// <summary>
    /// The cosine a memory needs for the vector signal to count it at all. Hashed vectors of unrelated texts
    /// score around 0 with a spread of about 1/sqrt(dimensions) (0.044 at 512); 0.15 is beyond three of those.
    /// </summary>
    private const float VectorFloor = 0.15f;

    /// <summary>Fusion weights. BM25 is the anchor; see <see cref="BuiltInVectorWeight"/> for the vectors.</summary>
    private const double LexicalWeight = 1.0;

    private const double EntityWeight = 0.5;

    /// <summary>
    /// The time signal's weight: a date in the query says when, not what, so it lifts what was said then among what
    /// matches, and brings in the rest of that day below the query's own matches.
    /// </summary>
    private const double TimeWeight = 0.5;

    /// <summary>
    /// The built-in hashed vectors share BM25's evidence (the same words) with more noise: alone they reach LoCoMo
    /// recall@10 0.38 against BM25's 0.57, and fused at any weight they reorder BM25's list for the worse. So they only
    /// add candidates BM25 did not find (other word forms, split or joined identifiers), at half weight: a fallback
    /// that never reorders what BM25 found. A real embedding model carries different evidence (meaning) and is fused
    /// in full, at weight 1.
    /// </summary>
    private const double BuiltInVectorWeight = 0.5;

    /// <summary>An entity carried by more than this share of the searched memories is not used by the entity signal.</summary>
    private const double EntityMaxShare = 0.05;

    /// <summary>In small stores, entities shared by up to this many memories are still used.</summary>
    private const int EntityMinimumFrequencyCap = 3;

    private const int MaxSimilar = 3;
    private const int MaxFilteredListed = 50;

    private static readonly JsonSerializerOptions LogJson = new(JsonSerializerDefaults.Web);

    private readonly EngramOptions _options;
    private readonly IEmbeddingGenerator<string, Embedding<float>> _embedder;
    private readonly EmbeddingRuntime _runtime;
    private readonly bool _ownsEmbedder;
    private readonly ILogger _logger;
    private readonly ILoggerFactory _loggerFactory;
    private readonly Lazy<Task<State>> _state;

    /// <summary>Creates the service. The store is opened (and created if missing) on first use.</summary>
    /// <param name="options">Where the store is and which scope is the default.</param>
    /// <param name="embeddingGenerator">The embedder; <see langword="null"/> for the built-in offline one.</param>
    /// <param name="loggerFactory">Logging; memory text is only ever logged at Trace.</param>
    public MemoryService(EngramOptions options, IEmbeddingGenerator<string, Embedding<float>>? embeddingGenerator = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _options.DefaultScope = ScopeName.Normalize(options.DefaultScope);
        _ownsEmbedder = embeddingGenerator is null;
        _embedder = embeddingGenerator ?? new HashingEmbeddingGenerator();
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<MemoryService>();
        _runtime = new EmbeddingRuntime(_embedder, options, _loggerFactory.CreateLogger<EmbeddingRuntime>());
        _state = new Lazy<Task<State>>(OpenAsync, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>The options in force.</summary>
    public EngramOptions Options => _options;

    /// <summary>The scopes a recall searches when it names none: the default scope, plus <c>user</c>.</summary>
    public IReadOnlyList<string> DefaultRecallScopes =>
        _options.DefaultScope == ScopeName.User ? [ScopeName.User] : [_options.DefaultScope, ScopeName.User];

    /// <summary>The path of the SQLite database.</summary>
    public string DatabasePath => Path.Combine(_options.HomeDirectory, "engram.db");

    private sealed record State(IMemoryStore Store, LexicalIndex Lexical, VectorIndex Vectors, RowCache Rows, RetrievalLog Log, EmbeddingBackfill Backfill);

    private async Task<State> OpenAsync()
    {
        Directory.CreateDirectory(_options.HomeDirectory);
        var store = await SqliteMemoryStore.OpenAsync(DatabasePath).ConfigureAwait(false);
        var lexical = new LexicalIndex(store, Path.Combine(_options.HomeDirectory, "index"), _loggerFactory.CreateLogger<LexicalIndex>());
        // The embedder's identity comes from a first vector; if it cannot be reached now, the store opens all the same
        // and the vector index starts when it answers.
        var vectors = new VectorIndex(store, () => _runtime.Model);
        await _runtime.EnsureModelAsync(CancellationToken.None).ConfigureAwait(false);

        if (_logger.IsEnabled(LogLevel.Information))
        {
            var described = _runtime.Model?.Id ?? $"{_runtime.Provider}/{_runtime.ModelName} (unreachable: {_runtime.Problem})";
            LogOpened(_logger, _options.HomeDirectory, described);
        }

        var log = new RetrievalLog(store, _loggerFactory.CreateLogger<RetrievalLog>());
        var backfill = new EmbeddingBackfill(store, _runtime, _options, _loggerFactory.CreateLogger<EmbeddingBackfill>());
        if (_options.BackgroundEmbedding)
        {
            backfill.Start();
        }
        return new State(store, lexical, vectors, new RowCache(store), log, backfill);
    }

    /// <summary>
    /// Embeds, now, every memory that lacks a vector of the configured embedder (after a switch of model, or memories
    /// stored while it was unreachable), reporting (done, total); each scope's new vectors are used from the moment its
    /// last one is stored. The background embedder does the same unasked; this is <c>engram reembed</c>.
    /// </summary>
    /// <returns>How many memories were embedded.</returns>
    /// <exception cref="InvalidOperationException">The embedder is unreachable or failed; what was embedded is kept.</exception>
    public async Task<int> ReembedAsync(IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        var state = await GetStateAsync().ConfigureAwait(false);
        return await state.Backfill.RunToCompletionAsync(progress, cancellationToken).ConfigureAwait(false);
    }

    private Task<State> GetStateAsync() => _state.Value;

    /// <summary>How many of <paramref name="ids"/> this process holds in its row cache (for tests: a forgotten memory's text must not stay in memory).</summary>
    internal async Task<int> CachedRowsAsync(IEnumerable<string> ids) => (await GetStateAsync().ConfigureAwait(false)).Rows.CountOf(ids);

    /// <summary>Stores a fact, or reports the existing memory that already says it.</summary>
    /// <exception cref="EngramArgumentException">The request is invalid; the message says how to fix it.</exception>
    public async Task<RememberResult> RememberAsync(RememberRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var state = await GetStateAsync().ConfigureAwait(false);
        var pending = await PrepareAsync([request], cancellationToken).ConfigureAwait(false);
        var result = (await InsertAsync(state, pending, cancellationToken).ConfigureAwait(false))[0];
        var similar = pending[0].Vector is { } vector
            ? await SimilarAsync(state, result.Scope, vector, result.Id, pending[0].Supersedes, cancellationToken).ConfigureAwait(false)
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
        var state = await GetStateAsync().ConfigureAwait(false);
        var pending = await PrepareAsync(requests, cancellationToken).ConfigureAwait(false);
        return await InsertAsync(state, pending, cancellationToken).ConfigureAwait(false);
    }

    private async Task<List<PendingMemory>> PrepareAsync(IReadOnlyList<RememberRequest> requests, CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        var pending = new List<PendingMemory>(requests.Count);
        var contents = new List<string>(requests.Count);
        for (var i = 0; i < requests.Count; i++)
        {
            var request = requests[i] ?? throw new EngramArgumentException($"Request {i} is null.");
            try
            {
                var content = RequireText(request.Content, "content", EngramOptions.MaxContentLength,
                    "A memory is one self-contained fact of a few sentences, not a document: split it into separate facts, or keep documents in your repository and remember where they are.");
                var scope = request.Scope is null ? _options.DefaultScope : ScopeName.Normalize(request.Scope);
                var supersedes = (request.Supersedes ?? []).Select(id => RequireText(id, "supersedes[]", 200, "Send ids as returned by remember or recall.")).Distinct(StringComparer.Ordinal).ToList();
                var observedAt = (request.ObservedAt ?? now).ToUnixTimeMilliseconds();
                var memory = new StoredMemory(NewId("mem_"), scope, content, NormalizeTags(request.Tags), observedAt, now.ToUnixTimeMilliseconds(), null, null);
                pending.Add(new PendingMemory(memory, ContentHash.Compute(content), null, supersedes, EntityExtractor.Extract(content)));
                contents.Add(content);
            }
            catch (EngramArgumentException e) when (requests.Count > 1)
            {
                throw new EngramArgumentException($"Request {i}: {e.Message}", e);
            }
        }

        // An unreachable embedder does not hold the write up: the memory is stored now and embedded in the background.
        var vectors = await _runtime.TryEmbedAsync(contents, pending.Select(p => p.ContentHash).ToList(), cancellationToken).ConfigureAwait(false);
        return vectors is null ? pending : pending.Select((p, i) => p with { Vector = vectors[i] }).ToList();
    }

    private async Task<IReadOnlyList<RememberResult>> InsertAsync(State state, List<PendingMemory> pending, CancellationToken cancellationToken)
    {
        var inserted = await state.Store.InsertAsync(pending, _runtime.Model, cancellationToken).ConfigureAwait(false);
        if (pending.Any(p => p.Vector is null))
        {
            state.Backfill.Wake();
        }

        var results = new List<RememberResult>(pending.Count);
        for (var i = 0; i < pending.Count; i++)
        {
            var (created, id) = inserted[i];
            var memory = pending[i].Memory;
            LogRemembered(_logger, id, memory.Scope, created);
            LogRememberedContent(_logger, id, memory.Content);
            results.Add(new RememberResult(id, memory.Scope, created ? "created" : "duplicate", created ? null : id, pending[i].Supersedes, []));
        }

        return results;
    }

    private static async Task<IReadOnlyList<SimilarMemory>> SimilarAsync(State state, string scope, float[] vector, string selfId, IReadOnlyList<string> exclude, CancellationToken cancellationToken)
    {
        var seq = await state.Store.MaxSeqAsync(cancellationToken).ConfigureAwait(false);
        await state.Vectors.EnsureCurrentAsync([scope], seq, cancellationToken).ConfigureAwait(false);
        // Superseded memories are filtered after the scan, so look a little deeper than the three offered.
        var near = state.Vectors.Search(vector, [scope], (MaxSimilar * 3) + 1 + exclude.Count)
            .Where(x => x.Id != selfId && !exclude.Contains(x.Id) && x.Score >= SimilarThreshold)
            .ToList();
        if (near.Count == 0)
        {
            return [];
        }

        var rows = await state.Store.GetAsync(near.Select(x => x.Id).ToList(), cancellationToken).ConfigureAwait(false);
        return near.Where(x => rows.TryGetValue(x.Id, out var m) && m.SupersededBy is null)
            .Take(MaxSimilar)
            .Select(x => new SimilarMemory(x.Id, rows[x.Id].Content, Math.Round(x.Score, 4)))
            .ToList();
    }

    /// <summary>Finds the memories most relevant to a query, in the requested scopes only.</summary>
    /// <exception cref="EngramArgumentException">The request is invalid; the message says how to fix it.</exception>
    public async Task<RecallResult> RecallAsync(RecallRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var run = await RunRecallAsync(Normalize(request), log: true, cancellationToken).ConfigureAwait(false);
        return new RecallResult(run.RetrievalId, run.Query.Scopes, run.Hits.Select(h => h.Memory).ToList());
    }

    /// <summary>Forgets memories from every store: SQLite rows, the lexical index, vectors and recall logs.</summary>
    /// <exception cref="EngramArgumentException">The request selects nothing or is ambiguous; the message says how to fix it.</exception>
    public async Task<ForgetResult> ForgetAsync(ForgetRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var state = await GetStateAsync().ConfigureAwait(false);
        // Write this process's queued recall logs first, so the deletion below also removes their references.
        await state.Log.FlushAsync().ConfigureAwait(false);
        var ids = await SelectForForgetAsync(state, request, cancellationToken).ConfigureAwait(false);
        ForgetResidue residue;
        if (request.DryRun)
        {
            residue = await ResidueAsync(state, ids, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            ids = await state.Store.DeleteAsync(ids, Selector(request), request.Scope is null ? [] : [ScopeName.Normalize(request.Scope)], cancellationToken).ConfigureAwait(false);
            // Out of this process's memory first, whatever happens to the index catch-up below.
            state.Rows.Remove(ids);
            var seq = await state.Store.MaxSeqAsync(cancellationToken).ConfigureAwait(false);
            await state.Lexical.EnsureCurrentAsync(seq, cancellationToken).ConfigureAwait(false);
            await state.Vectors.EnsureCurrentAsync([], seq, cancellationToken).ConfigureAwait(false);
            await state.Rows.EnsureCurrentAsync(seq, cancellationToken).ConfigureAwait(false);
            if (!await state.Store.CheckpointAsync(cancellationToken).ConfigureAwait(false))
            {
                LogWalBusy(_logger);
            }

            residue = await ResidueAsync(state, ids, cancellationToken).ConfigureAwait(false);
            LogForgot(_logger, ids.Count);
        }

        var listed = ids.Take(EngramOptions.MaxForgetIdsListed).ToList();
        return new ForgetResult(request.DryRun, ids.Count, listed, listed.Count < ids.Count, residue);
    }

    /// <summary>The append-only record of every real forget on this store, oldest first (ids and counts, never content).</summary>
    public async Task<IReadOnlyList<ForgetAuditEntry>> ReadForgetAuditAsync(CancellationToken cancellationToken = default)
    {
        var state = await GetStateAsync().ConfigureAwait(false);
        var rows = await state.Store.ReadForgetAuditAsync(cancellationToken).ConfigureAwait(false);
        return rows.Select(r => new ForgetAuditEntry(r.At, r.Selector,
            JsonSerializer.Deserialize<List<string>>(r.Scopes) ?? [], JsonSerializer.Deserialize<List<string>>(r.Ids) ?? [], r.Count)).ToList();
    }

    private static string Selector(ForgetRequest request) =>
        request.Ids is not null ? "ids" : request.Tag is not null ? "tag" : request.Query is not null ? "query" : "all";

    private async Task<IReadOnlyList<string>> SelectForForgetAsync(State state, ForgetRequest request, CancellationToken cancellationToken)
    {
        var selectors = (request.Ids is not null ? 1 : 0) + (request.Tag is not null ? 1 : 0) + (request.Query is not null ? 1 : 0) + (request.All ? 1 : 0);
        if (selectors != 1)
        {
            throw new EngramArgumentException(selectors == 0
                ? "forget needs something to select: send 'id' or 'ids' (from recall), or 'tag', or 'query', or 'all: true' with an explicit 'scope'."
                : "forget takes exactly one selector: send only one of 'id'/'ids', 'tag', 'query', or 'all: true' with 'scope'.");
        }

        if (request.Ids is not null)
        {
            if (request.Ids.Count == 0)
            {
                throw new EngramArgumentException("'ids' is empty: send at least one memory id (from recall or remember).");
            }

            var ids = request.Ids.Select(id => RequireText(id, "ids[]", 200, "Send ids as returned by remember or recall.")).Distinct(StringComparer.Ordinal).ToList();
            var existing = await state.Store.GetAsync(ids, cancellationToken).ConfigureAwait(false);
            return ids.Where(existing.ContainsKey).ToList();
        }

        if (request.All)
        {
            if (request.Scope is null)
            {
                throw new EngramArgumentException("'all: true' forgets a whole scope, so it needs an explicit 'scope' (for example 'user' or 'project:github.com/acme/widgets'); it never applies to the default scope implicitly.");
            }

            return (await state.Store.IdsInScopesAsync([ScopeName.Normalize(request.Scope)], cancellationToken).ConfigureAwait(false)).Order(StringComparer.Ordinal).ToList();
        }

        var scopes = request.Scope is null ? DefaultRecallScopes : [ScopeName.Normalize(request.Scope)];
        if (request.Tag is not null)
        {
            var tag = NormalizeTags([request.Tag])[0];
            return (await state.Store.IdsWithAnyTagAsync(scopes, [tag], cancellationToken).ConfigureAwait(false)).Order(StringComparer.Ordinal).ToList();
        }

        var limit = request.Limit ?? 1;
        var query = Normalize(new RecallRequest(request.Query!, request.Scope, limit));
        var run = await RunRecallAsync(query, log: false, cancellationToken).ConfigureAwait(false);
        return run.Hits.Select(h => h.Memory.Id).ToList();
    }

    private static async Task<ForgetResidue> ResidueAsync(State state, IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        var (memories, tags, entities, vectors, logs) = await state.Store.CountResidueAsync(ids, cancellationToken).ConfigureAwait(false);
        return new ForgetResidue(memories, tags, vectors + state.Vectors.Count(ids), state.Lexical.Count(ids), logs, entities);
    }

    /// <summary>Explains a recall: each hit's signals, what was filtered out and why, and optionally one memory's account.</summary>
    /// <exception cref="EngramArgumentException">Neither a known retrieval id nor a query was given.</exception>
    public async Task<ExplainResult> ExplainAsync(ExplainRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var state = await GetStateAsync().ConfigureAwait(false);
        RecallRun run;
        var changed = false;
        if (request.RetrievalId is not null)
        {
            if (request.Recall is not null)
            {
                throw new EngramArgumentException("Send either 'retrievalId' (to replay a past recall) or 'query' (to explain a new one), not both.");
            }

            await state.Log.FlushAsync().ConfigureAwait(false);
            var logged = await state.Store.GetRetrievalAsync(request.RetrievalId, cancellationToken).ConfigureAwait(false)
                ?? throw new EngramArgumentException($"No recall with retrievalId '{Shorten(request.RetrievalId)}' was found: it may have been mistyped, or a memory it returned has since been forgotten (which removes the log). Send a retrievalId returned by recall, or send 'query' to explain a new recall.");
            var query = JsonSerializer.Deserialize<RecallQuery>(logged.RequestJson, LogJson)!;
            run = await RunRecallAsync(query, log: false, cancellationToken, request.RetrievalId, DateTimeOffset.FromUnixTimeMilliseconds(logged.At), explainAll: true).ConfigureAwait(false);
            changed = run.Seq != logged.Seq;
        }
        else if (request.Recall is not null)
        {
            run = await RunRecallAsync(Normalize(request.Recall), log: true, cancellationToken, explainAll: true).ConfigureAwait(false);
        }
        else
        {
            throw new EngramArgumentException("explain needs 'retrievalId' (from a recall) or 'query' (with recall's optional arguments).");
        }

        // The query's index terms, analysed once for every hit's lexical note.
        var queryTerms = state.Lexical.QueryTerms(run.Query.Query);
        var hits = run.Hits.Select(h => new ExplainHit(
            h.Memory.Id, h.Rank, h.Memory.Score,
            LexicalSignal(state, run, queryTerms, h.Memory.Id, h.Memory.Content), Signal(run.Vector, h.Memory.Id), Signal(run.Entities, h.Memory.Id),
            run.Recency.GetValueOrDefault(h.Memory.Id), Supersession(h.Memory, run.Query), Signal(run.Time, h.Memory.Id))).ToList();
        var account = request.MemoryId is null ? null : await AccountAsync(state, run, queryTerms, request.MemoryId, cancellationToken).ConfigureAwait(false);
        // Reasons other than the cut-off come first: they are what a person looks for.
        var filteredOut = run.FilteredOut.OrderBy(f => f.Reason == BelowCutOff ? 1 : 0).Take(MaxFilteredListed).ToList();
        var vectors = await VectorStatusAsync(state, run, cancellationToken).ConfigureAwait(false);
        return new ExplainResult(run.RetrievalId, run.Query.Query, run.Query.Scopes, run.Query.ScopeResolution, run.RanAt, changed, hits, filteredOut, account, vectors);
    }

    /// <summary>The vector signal's state for an explained recall, in words.</summary>
    private async Task<string> VectorStatusAsync(State state, RecallRun run, CancellationToken cancellationToken)
    {
        const string Fallback = "recall ranked by the lexical and entity signals";
        if (_runtime.Model is not { } model)
        {
            return $"unavailable: the embedder {_runtime.Provider}/{_runtime.ModelName} could not be reached ({_runtime.Problem ?? "not tried yet"}); {Fallback}.";
        }

        if (!run.QueryEmbedded)
        {
            return $"unavailable: the query could not be embedded with {model.Id} ({_runtime.Problem ?? "the embedder failed"}); {Fallback}.";
        }

        var waiting = state.Vectors.Waiting(run.Query.Scopes);
        var notes = new List<string>();
        foreach (var scope in await state.Store.ScopeVectorsAsync(run.Query.Scopes, model.Id, cancellationToken).ConfigureAwait(false))
        {
            if (waiting.Contains(scope.Scope) && scope.Memories > 0)
            {
                notes.Add($"waiting: scope {scope.Scope} is being embedded with {model.Id} ({scope.Embedded} of {scope.Memories} done); its vectors are used once all are, and until then its memories are ranked by the lexical and entity signals");
            }
            else if (scope.Embedded < scope.Memories)
            {
                notes.Add($"{scope.Memories - scope.Embedded} memories of scope {scope.Scope} have no vector of it (stored while the embedder was unreachable, or refused by it){(_runtime.Problem is { } p ? $": {p}" : "")}");
            }
        }

        return notes.Count == 0 ? $"ready ({model.Id})" : $"{model.Id}: {string.Join("; ", notes)}.";
    }

    private static string Supersession(RecalledMemory memory, RecallQuery query) =>
        memory.SupersededBy is null ? "current"
        : query.AsOf is not null ? $"superseded later by {memory.SupersededBy}; current as of asOf"
        : $"superseded by {memory.SupersededBy}; shown because includeSuperseded is true";

    private static async Task<MemoryAccount> AccountAsync(State state, RecallRun run, HashSet<string> queryTerms, string memoryId, CancellationToken cancellationToken)
    {
        var rows = await state.Store.GetAsync([memoryId], cancellationToken).ConfigureAwait(false);
        if (!rows.TryGetValue(memoryId, out var memory) || !run.Query.Scopes.Contains(memory.Scope))
        {
            // Never confirm that a memory exists in a scope that was not searched.
            return new MemoryAccount(memoryId, false, false, null, null, null, null, "No memory with this id exists in the searched scopes.");
        }

        var lexical = LexicalSignal(state, run, queryTerms, memoryId, memory.Content);
        var vector = Signal(run.Vector, memoryId);
        var entities = Signal(run.Entities, memoryId);
        var time = Signal(run.Time, memoryId);
        var hit = run.Hits.FirstOrDefault(h => h.Memory.Id == memoryId);
        var fusedRank = run.Fused.FindIndex(f => f.Id == memoryId);
        int? rank = fusedRank < 0 ? null : fusedRank + 1;
        var filtered = run.FilteredOut.FirstOrDefault(f => f.Id == memoryId);
        var found = Describe(lexical, vector, entities, time);
        string reason;
        if (hit is not null)
        {
            reason = $"It surfaced at rank {hit.Rank}; found by {found}.";
        }
        else if (filtered is not null && filtered.Reason != BelowCutOff)
        {
            reason = $"It was found by {found} but filtered out: {filtered.Reason}.";
        }
        else if (rank is null)
        {
            reason = $"No signal ranked it among its top {run.Depth} candidates: the query shares too few words, features or names with it. Try the words the memory uses.";
        }
        else
        {
            reason = $"It was found by {found} (fused rank {rank}) but fell below the cut-off of {run.Query.Limit}; ask with a larger 'limit' or more of its words.";
        }

        return new MemoryAccount(memoryId, true, hit is not null, rank, lexical, vector, entities, reason, time);
    }

    private static string Describe(SignalScore? lexical, SignalScore? vector, SignalScore? entities, SignalScore? time)
    {
        var parts = new List<string>();
        if (lexical is not null) parts.Add($"lexical (rank {lexical.Rank})");
        if (vector is not null) parts.Add($"vector (rank {vector.Rank})");
        if (entities is not null) parts.Add($"entities (rank {entities.Rank})");
        if (time is not null) parts.Add($"time (rank {time.Rank}: observed when the query's date says)");
        return parts.Count == 0 ? "no signal" : string.Join(" and ", parts);
    }

    /// <summary>The lexical signal, saying so when the memory's own text holds none of the query's words.</summary>
    private static SignalScore? LexicalSignal(State state, RecallRun run, HashSet<string> queryTerms, string id, string content)
    {
        if (Signal(run.Lexical, id) is not { } signal)
        {
            return null;
        }

        var own = state.Lexical.Terms(content);
        if (own.Overlaps(queryTerms))
        {
            return signal;
        }

        return signal with
        {
            Note = own.Overlaps(run.Feedback)
                ? "its text has none of the query's words, only words the best matches share (pseudo-relevance feedback)"
                : "its text has none of the query's words; the memories stored next to it in the same session do (session context)",
        };
    }

    private static SignalScore? Signal(List<(string Id, float Score)> ranking, string id)
    {
        for (var i = 0; i < ranking.Count; i++)
        {
            if (ranking[i].Id == id)
            {
                return new SignalScore(i + 1, Math.Round(ranking[i].Score, 6));
            }
        }

        return null;
    }

    /// <summary>A validated recall with its scopes resolved; also the form a recall is logged in.</summary>
    internal sealed record RecallQuery(string Query, IReadOnlyList<string> Scopes, string ScopeResolution, int Limit, IReadOnlyList<string> Tags, bool IncludeSuperseded, DateTimeOffset? AsOf);

    private sealed record RankedHit(int Rank, RecalledMemory Memory);

    private sealed record RecallRun(
        string RetrievalId, RecallQuery Query, DateTimeOffset RanAt, long Seq, int Depth,
        List<(string Id, float Score)> Lexical, IReadOnlyList<string> Feedback, List<(string Id, float Score)> Vector, List<(string Id, float Score)> Entities,
        List<(string Id, float Score)> Time, List<(string Id, double Score)> Fused, Dictionary<string, SignalScore> Recency, List<RankedHit> Hits, List<FilteredMemory> FilteredOut,
        bool QueryEmbedded);

    private const string BelowCutOff = "below cut-off";

    /// <summary>
    /// How far the recency tie-break may move a candidate up, and so how many candidates beyond the limit it must see:
    /// the first k hits are then the same whatever the limit (asking for 50 gives the 10 that asking for 10 gives, then
    /// 40 more).
    /// </summary>
    private const int TieBreakMargin = 20;

    /// <summary>
    /// Two candidates are near-equal in relevance when their relevance estimates differ by at most this much. The
    /// estimate is each signal's raw score divided by that signal's best score, averaged over the signals that found
    /// anything, with BM25 counted twice: hashed vectors of two statements differing in one word scatter by several
    /// hundredths, BM25 scores of such statements hardly at all.
    /// </summary>
    internal const double RecencyTieTolerance = 0.07;

    private const double LexicalRelevanceWeight = 2;

    /// <summary>
    /// The recency tie-break. Candidates stay in fused (reciprocal rank) order, except that a candidate observed
    /// later moves up past each candidate directly above it that was observed earlier and is near-equal in relevance
    /// (<see cref="RecencyTieTolerance"/>), at most <see cref="TieBreakMargin"/> places. Relevance is read from the
    /// signals' raw scores, not from fused ranks, so a weakly related new memory never passes a strongly relevant old
    /// one however close their ranks are.
    /// </summary>
    private static List<(CandidateMeta Meta, double Score)> RecencyTieBreak(
        List<(CandidateMeta Meta, double Fused)> passing,
        List<(string Id, float Score)> lexical, List<(string Id, float Score)> vector, List<(string Id, float Score)> entities,
        out Dictionary<string, SignalScore> recency)
    {
        var signals = new[] { (List: lexical, Weight: LexicalRelevanceWeight), (List: vector, Weight: 1.0), (List: entities, Weight: 1.0) }
            .Where(s => s.List.Count > 0)
            .Select(s => (s.Weight, Max: s.List.Max(x => x.Score), Scores: s.List.ToDictionary(x => x.Id, x => x.Score)))
            .ToList();
        var totalWeight = signals.Sum(s => s.Weight);
        double Relevance(string id) => signals.Count == 0 ? 0
            : signals.Sum(s => s.Max > 0 && s.Scores.TryGetValue(id, out var v) ? s.Weight * v / s.Max : 0) / totalWeight;

        var order = passing.Select(p => (p.Meta, p.Fused, Relevance: Relevance(p.Meta.Id))).ToList();
        var moved = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 1; i < order.Count; i++)
        {
            for (var j = i; j > 0 && i - j < TieBreakMargin && order[j].Meta.ObservedAt > order[j - 1].Meta.ObservedAt && Math.Abs(order[j].Relevance - order[j - 1].Relevance) <= RecencyTieTolerance; j--)
            {
                (order[j], order[j - 1]) = (order[j - 1], order[j]);
                moved[order[j - 1].Meta.Id] = moved.GetValueOrDefault(order[j - 1].Meta.Id) + 1;
            }
        }

        var byTime = order.OrderByDescending(p => p.Meta.ObservedAt).ThenBy(p => p.Meta.Order).Select((p, i) => (p.Meta.Id, Rank: i + 1)).ToDictionary(x => x.Id, x => x.Rank);
        recency = order.ToDictionary(p => p.Meta.Id, p => new SignalScore(byTime[p.Meta.Id], moved.GetValueOrDefault(p.Meta.Id)));
        return order.Select(p => (p.Meta, p.Fused)).ToList();
    }

    private RecallQuery Normalize(RecallRequest request)
    {
        var query = RequireText(request.Query, "query", EngramOptions.MaxQueryLength, "Send a short question or a few keywords.");
        if (request.Limit is < 1 or > EngramOptions.MaxRecallLimit)
        {
            throw new EngramArgumentException($"limit {request.Limit} is out of range: send a whole number from 1 to {EngramOptions.MaxRecallLimit} (default 10).");
        }

        var (scopes, resolution) = request.Scope is null
            ? (DefaultRecallScopes, $"default: {string.Join(" + ", DefaultRecallScopes)} ({_options.DefaultScopeSource})")
            : ([ScopeName.Normalize(request.Scope)], "the request's 'scope' argument");
        return new RecallQuery(query, scopes, resolution, request.Limit, NormalizeTags(request.Tags), request.IncludeSuperseded, request.AsOf);
    }

    private async Task<RecallRun> RunRecallAsync(RecallQuery query, bool log, CancellationToken cancellationToken, string? retrievalId = null, DateTimeOffset? ranAt = null, bool explainAll = false)
    {
        var state = await GetStateAsync().ConfigureAwait(false);
        var seq = await state.Store.MaxSeqAsync(cancellationToken).ConfigureAwait(false);
        await state.Lexical.EnsureCurrentAsync(seq, cancellationToken).ConfigureAwait(false);
        await state.Vectors.EnsureCurrentAsync(query.Scopes, seq, cancellationToken).ConfigureAwait(false);
        await state.Rows.EnsureCurrentAsync(seq, cancellationToken).ConfigureAwait(false);

        // Each signal ranks its own candidates, restricted to the scopes (and tags) asked for.
        var depth = Math.Max(CandidateDepth, query.Limit * 4);
        var tags = query.Tags.Count > 0 ? query.Tags : null;
        var allowed = tags is null ? null : await state.Store.IdsWithAnyTagAsync(query.Scopes, tags, cancellationToken).ConfigureAwait(false);
        var queryVector = (await _runtime.TryEmbedAsync([query.Query], null, cancellationToken).ConfigureAwait(false))?[0];
        var queryEntities = EntityExtractor.Extract(query.Query);
        var (lexical, feedback) = await LexicalWithFeedbackAsync(state, query, tags, depth, cancellationToken).ConfigureAwait(false);
        var vector = queryVector is null ? [] : state.Vectors.Search(queryVector, query.Scopes, depth, allowed).Where(x => x.Score >= VectorFloor).ToList();
        // An entity most memories share (a speaker's name, the project's own name) discriminates nothing.
        var maxFrequency = Math.Max(EntityMinimumFrequencyCap, (int)(EntityMaxShare * state.Lexical.CountIn(query.Scopes)));
        var entities = (await EntityScoring.SearchAsync(state.Store, query.Scopes, queryEntities, depth, maxFrequency, cancellationToken).ConfigureAwait(false))
            .Where(x => allowed is null || allowed.Contains(x.Id)).ToList();
        var at = ranAt ?? DateTimeOffset.UtcNow;
        var time = await TimeSignalAsync(state, query, at, _options.TimeZone, lexical, allowed, depth, cancellationToken).ConfigureAwait(false);
        var lexicalIds = lexical.Select(x => x.Id).ToList();
        var vectorIds = _runtime.IsBuiltIn
            ? vector.Select(x => x.Id).Except(lexicalIds, StringComparer.Ordinal).ToList()
            : vector.Select(x => x.Id).ToList();
        var fused = RankFusion.Fuse(
            (lexicalIds, LexicalWeight),
            (vectorIds, _runtime.IsBuiltIn ? BuiltInVectorWeight : 1.0),
            (entities.Select(x => x.Id).ToList(), EntityWeight),
            (time.Select(x => x.Id).ToList(), TimeWeight)).ToList();

        // Filter (supersession, asOf) and apply the recency tie-break over a prefix of the fused list long enough to fill
        // the limit with room for near-ties; the rows read for it are the hits' rows too.
        var filtered = new List<FilteredMemory>();
        var passing = new List<(CandidateMeta Meta, double Fused)>();
        var examined = 0;
        var window = query.Limit + TieBreakMargin;
        while (examined < fused.Count && passing.Count < query.Limit + TieBreakMargin)
        {
            var slice = fused.Skip(examined).Take(window).ToList();
            examined += slice.Count;
            var meta = await state.Rows.GetAsync(slice.Select(f => f.Id).ToList(), cancellationToken).ConfigureAwait(false);
            foreach (var (id, score) in slice)
            {
                if (!meta.TryGetValue(id, out var m) || !query.Scopes.Contains(m.Scope))
                {
                    continue;
                }

                if (FilterReason(query, m) is { } reason)
                {
                    filtered.Add(new FilteredMemory(id, reason));
                }
                else
                {
                    passing.Add((m, score));
                }
            }
        }

        var ranked = RecencyTieBreak(passing, lexical, vector, entities, out var recency);
        var top = ranked.Take(query.Limit).ToList();
        filtered.AddRange(ranked.Skip(query.Limit).Select(x => new FilteredMemory(x.Meta.Id, BelowCutOff)));
        if (explainAll && examined < fused.Count)
        {
            // An explanation accounts for every candidate: what was not examined is below the cut-off, unless a filter applies.
            var rest = fused.Skip(examined).Select(f => f.Id).ToList();
            var meta = await state.Rows.GetAsync(rest, cancellationToken).ConfigureAwait(false);
            filtered.AddRange(rest.Where(meta.ContainsKey).Where(id => query.Scopes.Contains(meta[id].Scope))
                .Select(id => new FilteredMemory(id, FilterReason(query, meta[id]) ?? BelowCutOff)));
        }

        var hits = top.Select((x, i) => new RankedHit(i + 1, ToRecalled(x.Meta.Memory, x.Score))).ToList();

        if (explainAll && allowed is not null)
        {
            // What the tag filter kept out: the unfiltered signals' candidates that carry none of the tags.
            var unfiltered = state.Lexical.Search(query.Query, query.Scopes, null, depth).Select(x => x.Id)
                .Concat(queryVector is null ? [] : state.Vectors.Search(queryVector, query.Scopes, depth).Where(x => x.Score >= VectorFloor).Select(x => x.Id))
                .Distinct(StringComparer.Ordinal)
                .Where(id => !allowed.Contains(id));
            filtered.AddRange(unfiltered.Select(id => new FilteredMemory(id, "tag filter")));
        }

        var id2 = retrievalId ?? NewId("rt_");
        if (log)
        {
            state.Log.Enqueue(new RetrievalEntry(id2, at.ToUnixTimeMilliseconds(), seq, JsonSerializer.Serialize(query, LogJson), hits.Select(h => h.Memory.Id).ToList()));
        }

        LogRecalled(_logger, id2, query.Scopes, hits.Count);
        return new RecallRun(id2, query, at, seq, depth, lexical, feedback, vector, entities, time, fused, recency, hits, filtered, queryVector is not null);
    }

    /// <summary>
    /// The time signal, for a query that names dates ("on 3 March 2025", "in July 2024", "yesterday", in
    /// <see cref="EngramOptions.TimeZone"/>): the memories observed then. What the lexical signal also found comes first,
    /// in its order, then the rest, newest first within each day or month named. A query without a date has no time
    /// signal.
    /// </summary>
    private static async Task<List<(string Id, float Score)>> TimeSignalAsync(
        State state, RecallQuery query, DateTimeOffset now, TimeZoneInfo zone, List<(string Id, float Score)> lexical, HashSet<string>? allowed, int depth, CancellationToken cancellationToken)
    {
        var windows = TimeExpressions.Find(query.Query, now, zone);
        if (windows.Count == 0)
        {
            return [];
        }

        // Lexical matches observed then, in their order (their rows tell when), then the rest of the windows in the
        // store's order (newest first), which the store read with their times.
        var rows = await state.Rows.GetAsync(lexical.Select(x => x.Id).ToList(), cancellationToken).ConfigureAwait(false);
        var observed = await state.Store.ObservedWithinAsync(query.Scopes, windows.Select(w => new TimeRange(w.From, w.To)).ToList(), depth, cancellationToken).ConfigureAwait(false);
        return lexical.Where(x => rows.ContainsKey(x.Id)).Select(x => (x.Id, rows[x.Id].ObservedAt))
            .Where(x => windows.Any(w => w.Contains(x.ObservedAt)))
            .Concat(observed.Select(x => (x.Id, x.ObservedAt)))
            .DistinctBy(x => x.Id, StringComparer.Ordinal)
            .Where(x => allowed is null || allowed.Contains(x.Id))
            .Select(x => (x.Id, Score: Closeness(windows, x.ObservedAt)))
            .Take(depth)
            .ToList();
    }

    private static float Closeness(IReadOnlyList<TimeWindow> windows, long at) =>
        windows.Max(w => (float)(1 / (1 + (Math.Abs(at - w.Centre) / 86_400_000.0))));

    /// <summary>Pseudo-relevance feedback: how many top BM25 hits lend their words, how many words, and their top weight.</summary>
    private const int FeedbackDocuments = 5;

    private const int FeedbackTerms = 20;

    private const float FeedbackBoost = 0.5f;

    /// <summary>
    /// BM25 twice: the query, then the query plus the rarer words its top hits share (weighted by the hits' ranks and
    /// the words' rarity, at most half a query term's weight). A question names one side of a fact; its best matches
    /// often name the rest, which brings in the statements that answer it in other words.
    /// </summary>
    private static async Task<(List<(string Id, float Score)> Hits, IReadOnlyList<string> Feedback)> LexicalWithFeedbackAsync(State state, RecallQuery query, IReadOnlyList<string>? tags, int depth, CancellationToken cancellationToken)
    {
        // The first pass only has to find the feedback documents; the full list comes from the second.
        // The query is analysed once for both passes and the feedback words.
        var terms = state.Lexical.QueryTermList(query.Query);
        var first = state.Lexical.Search(terms, query.Scopes, tags, FeedbackDocuments);
        if (first.Count == 0)
        {
            return (first, []);
        }

        var feedbackIds = first.Select(x => x.Id).ToList();
        var rows = await state.Rows.GetAsync(feedbackIds, cancellationToken).ConfigureAwait(false);
        var feedbackTerms = feedbackIds.Where(rows.ContainsKey).Select(id => (IReadOnlyCollection<string>)state.Lexical.Terms(rows[id].Memory.Content)).ToList();
        var expansion = state.Lexical.ExpansionTerms(terms, feedbackTerms, FeedbackTerms, FeedbackBoost);
        return (state.Lexical.Search(terms, query.Scopes, tags, depth, expansion), expansion.Select(e => e.Term).ToList());
    }

    private static string? FilterReason(RecallQuery query, CandidateMeta m)
    {
        if (query.AsOf is { } asOf)
        {
            if (m.ObservedAt > asOf.ToUnixTimeMilliseconds())
            {
                return "outside asOf: observed after it";
            }

            // Current then unless a memory observed by then had already replaced it.
            return m.SupersededBy is not null && m.SupersederObservedAt <= asOf.ToUnixTimeMilliseconds() ? "superseded (as of asOf)" : null;
        }

        return m.SupersededBy is not null && !query.IncludeSuperseded ? "superseded" : null;
    }

    private static RecalledMemory ToRecalled(StoredMemory m, double score) => new(
        m.Id, m.Content, m.Scope, [.. m.Tags],
        DateTimeOffset.FromUnixTimeMilliseconds(m.ObservedAt), DateTimeOffset.FromUnixTimeMilliseconds(m.CreatedAt),
        Math.Round(score, 6), m.SupersededBy);

    private static string RequireText(string? value, string name, int maxLength, string advice)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new EngramArgumentException($"'{name}' is empty: send non-blank text. {advice}");
        }

        var trimmed = value.Trim();
        if (trimmed.Length > maxLength)
        {
            throw new EngramArgumentException($"'{name}' has {trimmed.Length.ToString(CultureInfo.InvariantCulture)} characters; the limit is {maxLength.ToString(CultureInfo.InvariantCulture)}. {advice}");
        }

        return trimmed;
    }

    private static List<string> NormalizeTags(IReadOnlyList<string>? tags)
    {
        if (tags is null || tags.Count == 0)
        {
            return [];
        }

        if (tags.Count > EngramOptions.MaxTags)
        {
            throw new EngramArgumentException($"{tags.Count} tags were sent; a memory carries at most {EngramOptions.MaxTags}.");
        }

        return tags.Select(t => RequireText(t, "tags[]", EngramOptions.MaxTagLength, "A tag is a short label such as 'decision' or 'build'.").ToLowerInvariant())
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    private static string NewId(string prefix) => prefix + Guid.CreateVersion7().ToString("N");

    private static string Shorten(string s) => s.Length <= 64 ? s : s[..64] + "…";

    /// <inheritdoc />
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_state.IsValueCreated && _state.Value.IsCompletedSuccessfully)
        {
            var state = _state.Value.Result;
            await state.Backfill.DisposeAsync().ConfigureAwait(false);
            await state.Log.DisposeAsync().ConfigureAwait(false);
            state.Lexical.Dispose();
            state.Vectors.Dispose();
        }

        _runtime.Dispose();
        if (_ownsEmbedder)
        {
            _embedder.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Engram store opened at {Home} (embeddings: {Model}).")]
    private static partial void LogOpened(ILogger logger, string home, string model);

    [LoggerMessage(Level = LogLevel.Debug, Message = "remember: {Id} in {Scope} (created: {Created}).")]
    private static partial void LogRemembered(ILogger logger, string id, string scope, bool created);

    [LoggerMessage(Level = LogLevel.Trace, Message = "remember: {Id} content: {Content}")]
    private static partial void LogRememberedContent(ILogger logger, string id, string content);

    [LoggerMessage(Level = LogLevel.Debug, Message = "recall {RetrievalId} over {Scopes}: {Count} hits.")]
    private static partial void LogRecalled(ILogger logger, string retrievalId, IReadOnlyList<string> scopes, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "forget: other processes kept the SQLite WAL busy; it will be emptied at the next checkpoint.")]
    private static partial void LogWalBusy(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "forget: {Count} memories removed from every store.")]
    private static partial void LogForgot(ILogger logger, int count);
}
