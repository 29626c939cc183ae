using Engram.Core.Model;
using Engram.Core.Scopes;
using Engram.Core.Storage;
using Engram.Core.Storage.Sqlite;

namespace Engram.Core;

/// <summary>What people (the CLI) need beyond the four tools: listing, reading, export and import, figures and checks.</summary>
public sealed partial class MemoryService
{
    /// <summary>The most memories one <see cref="ListAsync"/> page holds.</summary>
    public const int MaxListLimit = 1000;

    /// <summary>
    /// Memories, newest first; in <paramref name="scope"/> when given, else every scope (within <see cref="ActAs"/>, a
    /// scope must be named); only those observed from <paramref name="observedFrom"/> (inclusive) to
    /// <paramref name="observedTo"/> (exclusive) when given.
    /// </summary>
    /// <exception cref="EngramArgumentException">A malformed scope, one outside the caller's, an out-of-range limit, or a range that ends before it starts.</exception>
    public async Task<IReadOnlyList<MemoryRecord>> ListAsync(string? scope = null, int limit = 50, int offset = 0, bool includeSuperseded = false, DateTimeOffset? observedFrom = null, DateTimeOffset? observedTo = null, CancellationToken cancellationToken = default)
    {
        if (limit is < 1 or > MaxListLimit || offset < 0)
        {
            throw new EngramArgumentException($"limit must be 1–{MaxListLimit} and offset 0 or more; got limit {limit}, offset {offset}.");
        }

        if (observedFrom > observedTo)
        {
            throw new EngramArgumentException($"The time range ends ({observedTo:O}) before it starts ({observedFrom:O}): send the earlier time as 'from'.");
        }

        TimeRange? observed = observedFrom is null && observedTo is null ? null
            : new TimeRange(observedFrom?.ToUnixTimeMilliseconds() ?? long.MinValue, observedTo?.ToUnixTimeMilliseconds() ?? long.MaxValue);
        var state = await GetEngineAsync().ConfigureAwait(false);
        var rows = await state.Store.ListAsync(Named(scope), limit, offset, includeSuperseded, oldestFirst: false, observed, cancellationToken).ConfigureAwait(false);
        return rows.Select(ToRecord).ToList();
    }

    /// <summary>
    /// The latest recalls from the recall log, newest first (those that returned <paramref name="memoryId"/> when given);
    /// within <see cref="ActAs"/>, only the caller's own.
    /// </summary>
    /// <exception cref="EngramArgumentException">An out-of-range limit.</exception>
    public async Task<IReadOnlyList<RecallLogEntry>> ListRecallsAsync(string? memoryId = null, int limit = 50, CancellationToken cancellationToken = default)
    {
        if (limit is < 1 or > MaxListLimit)
        {
            throw new EngramArgumentException($"limit must be 1–{MaxListLimit}; got {limit}.");
        }

        var state = await GetEngineAsync().ConfigureAwait(false);
        await state.Log.FlushAsync().ConfigureAwait(false);
        var caller = Scopes;
        // Another principal's recalls are left out after the read: read more than asked so the list still fills.
        var logged = await state.Store.ListRetrievalsAsync(memoryId, caller.Principal is null ? limit : limit * 8, cancellationToken).ConfigureAwait(false);
        return logged
            .Select(r => (Entry: r, Query: System.Text.Json.JsonSerializer.Deserialize<Search.RecallQuery>(r.RequestJson, RecallPipeline.LogJson)))
            .Where(r => r.Query is not null && caller.MayReplay(r.Query))
            .Select(r => new RecallLogEntry(r.Entry.Id, DateTimeOffset.FromUnixTimeMilliseconds(r.Entry.At), r.Query!.Query, r.Query.Scopes, r.Entry.Hits))
            .Take(limit)
            .ToList();
    }

    /// <summary>One memory by id, or null when there is none (or it is outside the caller's scopes).</summary>
    public async Task<MemoryRecord?> GetAsync(string id, CancellationToken cancellationToken = default)
    {
        var state = await GetEngineAsync().ConfigureAwait(false);
        var rows = await state.Store.GetAsync([id], cancellationToken).ConfigureAwait(false);
        return rows.TryGetValue(id, out var row) && Scopes.Allows(row.Scope) ? ToRecord(row) : null;
    }

    /// <summary>Every memory (of <paramref name="scope"/> when given; within <see cref="ActAs"/>, it must be) in the order stored, superseded ones included: an export.</summary>
    public async IAsyncEnumerable<MemoryRecord> ExportAsync(string? scope = null, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var state = await GetEngineAsync().ConfigureAwait(false);
        var scopes = Named(scope);
        // Each page starts after the last memory of the one before, not at a count: a memory forgotten meanwhile (by
        // another process) would shift a count and leave out one that is still there.
        for (var after = 0L; ;)
        {
            var page = await state.Store.ListAfterAsync(scopes, after, 1000, cancellationToken).ConfigureAwait(false);
            foreach (var (row, order) in page)
            {
                yield return ToRecord(row);
                after = order;
            }

            if (page.Count < 1000)
            {
                yield break;
            }
        }
    }

    /// <summary>
    /// Imports records as they are: ids, scopes, texts, tags, times and supersession are kept. A record whose id the
    /// store holds is skipped (so an import can be repeated); one whose text its scope holds under another id is a
    /// duplicate and skipped. Records are validated like <c>remember</c>'s arguments; if one is invalid, nothing of its
    /// batch is stored and the message names it. Progress is reported as (done, total).
    /// </summary>
    /// <exception cref="EngramArgumentException">A record is invalid; the message names it and says how to fix it.</exception>
    /// <exception cref="InvalidOperationException">Called within <see cref="ActAs"/>: this is an administrator's operation.</exception>
    public async Task<ImportResult> ImportAsync(IReadOnlyList<MemoryRecord> records, IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        RequireUnrestricted();
        var parts = await GetPartsAsync().ConfigureAwait(false);
        var (state, writer) = (parts.Engine, parts.Writer);
        int created = 0, present = 0, duplicates = 0, done = 0, linked = 0;
        progress?.Report((0, records.Count));
        // Supersession is linked as soon as both ends are in, batch by batch: an import that stops part way (a bad record,
        // Ctrl+C) leaves no replaced fact showing as current among what it stored.
        var links = records.Where(r => r.SupersededBy is not null)
            .Select(r => (Old: r.Id, New: r.SupersededBy!, At: (r.SupersededAt ?? r.CreatedAt).ToUnixTimeMilliseconds()))
            .ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        bool BothIn((string Old, string New, long At) link) => seen.Contains(link.Old) && seen.Contains(link.New);
        foreach (var batch in records.Chunk(500))
        {
            var known = await state.Store.GetAsync(batch.Select(r => r.Id).ToList(), cancellationToken).ConfigureAwait(false);
            // The records to store, each with its place in the whole import (1-based), which a message names.
            var fresh = batch.Select((r, i) => (Record: r, Place: done + i + 1)).Where(x => !known.ContainsKey(x.Record.Id)).DistinctBy(x => x.Record.Id).ToList();
            present += batch.Length - fresh.Count;
            string Name(int i) =>
                $"Record {fresh[i].Place} of the import{(done > 0 ? $" (records 1–{done} are in; importing again skips them)" : "")}";
            var requests = fresh.Select(x => new RememberRequest(x.Record.Content, x.Record.Scope, x.Record.Tags, x.Record.ObservedAt)).ToList();
            var pending = await writer.PrepareAsync(requests, _unrestricted, cancellationToken, Name).ConfigureAwait(false);
            for (var i = 0; i < pending.Count; i++)
            {
                var record = fresh[i].Record;
                if (string.IsNullOrWhiteSpace(record.Id) || record.Id.Length > 200)
                {
                    throw new EngramArgumentException($"{Name(i)}: 'id' must be 1–200 characters.");
                }

                pending[i] = pending[i] with { Memory = pending[i].Memory with { Id = record.Id, CreatedAt = record.CreatedAt.ToUnixTimeMilliseconds() } };
            }

            var results = await writer.InsertAsync(pending, cancellationToken).ConfigureAwait(false);
            created += results.Count(r => r.Status == RememberStatus.Created);
            duplicates += results.Count(r => r.Status == RememberStatus.Duplicate);
            seen.UnionWith(batch.Select(r => r.Id));
            var ready = links.FindAll(BothIn);
            if (ready.Count > 0)
            {
                linked += await state.Store.LinkAsync(ready, cancellationToken).ConfigureAwait(false);
                links.RemoveAll(BothIn);
            }

            done += batch.Length;
            progress?.Report((done, records.Count));
        }

        // Links to memories the store held before (not in this import).
        if (links.Count > 0)
        {
            linked += await state.Store.LinkAsync(links, cancellationToken).ConfigureAwait(false);
        }

        return new ImportResult(created, present, duplicates, linked);
    }

    /// <summary>Figures of the store: memories per scope, vectors per model, sizes on disk, forgets recorded.</summary>
    /// <exception cref="InvalidOperationException">Called within <see cref="ActAs"/>: this is an administrator's operation.</exception>
    public async Task<StoreStats> StatsAsync(CancellationToken cancellationToken = default)
    {
        RequireUnrestricted();
        var state = await GetEngineAsync().ConfigureAwait(false);
        var (scopes, vectors, forgets) = await state.Store.StatsAsync(cancellationToken).ConfigureAwait(false);
        var database = await state.Store.SizeAsync(cancellationToken).ConfigureAwait(false);
        var indexFolder = new DirectoryInfo(MemoryEngine.IndexPath(state.CacheDirectory));
        var index = indexFolder.Exists ? indexFolder.EnumerateFiles().Sum(f => f.Length) : 0;
        return new StoreStats(
            _options.Store is { Length: > 0 } ? state.Store.Description : _options.HomeDirectory, scopes.Sum(s => s.Memories),
            scopes.Select(s => new ScopeStats(s.Scope, s.Memories, s.Superseded, DateTimeOffset.FromUnixTimeMilliseconds(s.Newest))).ToList(),
            vectors, _runtime.Model?.Id ?? $"{_runtime.Provider}/{_runtime.ModelName} (unreachable)", database, index, forgets);
    }

    /// <summary>
    /// Checks the store: SQLite integrity and foreign keys, the lexical index in step with SQLite, the embedder and each
    /// scope's vectors of its model, and the recall log writer.
    /// </summary>
    /// <exception cref="InvalidOperationException">Called within <see cref="ActAs"/>: this is an administrator's operation.</exception>
    public async Task<IReadOnlyList<DoctorCheck>> DoctorAsync(CancellationToken cancellationToken = default)
    {
        RequireUnrestricted();
        var state = await GetEngineAsync().ConfigureAwait(false);
        var checks = new List<DoctorCheck>();
        var integrity = await state.Store.IntegrityAsync(cancellationToken).ConfigureAwait(false);
        checks.Add(new DoctorCheck("Store integrity", integrity == "ok", integrity == "ok" ? $"{state.Store.Description}: its checks are clean" : integrity));

        // The whole catch-up, now: a check waits for it, however far behind the index is.
        var seq = await state.Store.MaxSeqAsync(cancellationToken).ConfigureAwait(false);
        await state.Lexical.EnsureCurrentAsync(seq, cancellationToken).ConfigureAwait(false);
        var memories = await state.Store.CountAsync(cancellationToken).ConfigureAwait(false);
        var documents = state.Lexical.DocumentCount();
        checks.Add(new DoctorCheck("Lexical index", documents == memories && state.Lexical.Seq >= seq,
            $"{documents} documents for {memories} memories, at change {state.Lexical.Seq} of {seq}{(documents == memories ? "" : "; run 'engram reindex'")}"));

        if (await _runtime.EnsureModelAsync(cancellationToken).ConfigureAwait(false) is not { } model)
        {
            checks.Add(new DoctorCheck("Embedder", false, $"{_runtime.Provider}/{_runtime.ModelName} unreachable: {_runtime.Problem}. Recall works without vectors; check ENGRAM_EMBEDDINGS_URL."));
        }
        else
        {
            checks.Add(new DoctorCheck("Embedder", true, model.Id));
            foreach (var scope in await state.Store.ScopeVectorsAsync(null, model.Id, cancellationToken).ConfigureAwait(false))
            {
                var ok = scope.Ready && scope.Embedded == scope.Memories;
                checks.Add(new DoctorCheck($"Vectors of {scope.Scope}", ok,
                    ok ? $"{scope.Embedded} of {scope.Memories} memories, ready"
                    : $"{scope.Embedded} of {scope.Memories} memories{(scope.Ready ? "" : ", not ready: being embedded")}; run 'engram reembed' to finish now"));
            }
        }

        return checks;
    }

    /// <summary>
    /// Rewrites the store's files so they hold live rows only (see <c>engram compact</c>): on PostgreSQL the bytes of
    /// deleted rows stay in table pages until this runs; SQLite zeroes them at delete already and only shrinks.
    /// </summary>
    /// <returns>Whether every deleted row is gone from the files; false when a transaction older than the rewrite, which
    /// could still see deleted rows, stayed open through it (PostgreSQL waits 30 s for such transactions): run it again.</returns>
    /// <exception cref="InvalidOperationException">Called within <see cref="ActAs"/>: this is an administrator's operation.</exception>
    public async Task<bool> CompactAsync(CancellationToken cancellationToken = default)
    {
        RequireUnrestricted();
        var state = await GetEngineAsync().ConfigureAwait(false);
        return await state.Store.CompactAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Rebuilds the lexical index from SQLite (what <c>doctor</c> advises when it is out of step); returns its document count.</summary>
    /// <exception cref="InvalidOperationException">Called within <see cref="ActAs"/>: this is an administrator's operation.</exception>
    public async Task<int> ReindexAsync(CancellationToken cancellationToken = default)
    {
        RequireUnrestricted();
        var state = await GetEngineAsync().ConfigureAwait(false);
        await state.Lexical.RebuildAsync(cancellationToken).ConfigureAwait(false);
        return state.Lexical.DocumentCount();
    }

    /// <summary>The one scope a listing names, resolved for the caller; every scope (<see langword="null"/>) only for an unrestricted one.</summary>
    private List<string>? Named(string? scope) =>
        scope is not null ? [Scopes.Resolve(scope)]
        : _acting.Value is null ? null
        : throw new EngramArgumentException("Name the scope to list: a principal lists one of its scopes at a time.");

    internal static MemoryRecord ToRecord(StoredMemory m) => new(
        m.Id, m.Scope, m.Content, m.Tags,
        DateTimeOffset.FromUnixTimeMilliseconds(m.ObservedAt), DateTimeOffset.FromUnixTimeMilliseconds(m.CreatedAt),
        m.SupersededBy, m.SupersededAt is { } at ? DateTimeOffset.FromUnixTimeMilliseconds(at) : null);
}
