using System.Text.Json;
using Engram.Core.Model;
using Engram.Core.Storage;
using Engram.Core.Scopes;
using Microsoft.Extensions.Logging;

namespace Engram.Core;

/// <summary>
/// Forget: selects memories by one selector (ids, tag, query, or all of a scope) and removes them from every store
/// (SQLite rows, the lexical index, vectors, entity links, recall logs, the saved checks expecting them, the bytes of the WAL), then counts what is left.
/// Only the caller's scopes are touched: a scope outside them is an error when named, and an id of one is unknown.
/// </summary>
internal sealed partial class Forgetting(MemoryEngine engine, RecallPipeline recall, ILogger logger)
{
    public async Task<ForgetResult> ForgetAsync(ForgetRequest request, CallerScopes caller, CancellationToken cancellationToken)
    {
        // Write this process's queued recall logs first, so the deletion below also removes their references.
        await engine.Log.FlushAsync().ConfigureAwait(false);
        var ids = await SelectAsync(request, caller, cancellationToken).ConfigureAwait(false);
        var scopes = request.Scope is null ? [] : new[] { caller.Resolve(request.Scope) };
        int checks;
        if (request.DryRun)
        {
            checks = await engine.Store.CountChecksAsync(ids, Deletion.CheckHomes(Selector(request), scopes), cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var deletion = await engine.Store.DeleteAsync(ids, Selector(request), scopes, caller.Principal, cancellationToken).ConfigureAwait(false);
            (ids, checks) = (deletion.Ids, deletion.Checks);
            // A vector dropped with a forgotten memory (one its neighbour's rows were not made by today's rules for) is made again in the background.
            engine.Backfill.Wake();
            // Out of this process's memory first, whatever happens to the index catch-up below.
            engine.Rows.Remove(ids);
            // The memories are gone from the store, the truth: what follows cleans up after them, to the end even if the
            // caller gives up now, and does not fail the forget. An error here would invite a retry, and a forget by
            // query retried forgets the next match. What a failed clean-up leaves shows in the residue, and the next
            // recall's catch-up removes it from the index.
            try
            {
                await engine.CatchUpAsync([], CancellationToken.None).ConfigureAwait(false);
                if (!await engine.Store.CheckpointAsync(CancellationToken.None).ConfigureAwait(false))
                {
                    LogWalBusy(logger);
                }
            }
            catch (Exception e)
            {
                LogCleanUpFailed(logger, ids.Count, e.GetType().Name, e.Message);
            }

            LogForgot(logger, ids.Count);
        }

        // After a real forget the receipt is written whatever the caller does now: it is the proof of what went. If the
        // store goes away before it is counted, the error says the forget is done, so it is not repeated (a forget by
        // query repeated would take the next match).
        ForgetResidue residue;
        try
        {
            residue = await ResidueAsync(ids, request.DryRun ? cancellationToken : CancellationToken.None).ConfigureAwait(false);
        }
        catch (EngramUnavailableException e) when (!request.DryRun)
        {
            throw new EngramUnavailableException(
                $"Forgot {ids.Count} memories, but the store cannot be reached right now to count what is left. Do not repeat the forget: recall to see that they are gone. ({e.Message})", e);
        }

        var listed = ids.Take(EngramOptions.MaxForgetIdsListed).ToList();
        return new ForgetResult(request.DryRun, ids.Count, listed, listed.Count < ids.Count, residue, checks);
    }

    /// <summary>The append-only record of every real forget on this store, oldest first (ids and counts, never content).</summary>
    public async Task<IReadOnlyList<ForgetAuditEntry>> ReadAuditAsync(CancellationToken cancellationToken)
    {
        var rows = await engine.Store.ReadForgetAuditAsync(cancellationToken).ConfigureAwait(false);
        return rows.Select(r => new ForgetAuditEntry(r.At, r.Selector,
            JsonSerializer.Deserialize<List<string>>(r.Scopes) ?? [], JsonSerializer.Deserialize<List<string>>(r.Ids) ?? [], r.Count, r.Principal)).ToList();
    }

    private static ForgetSelector Selector(ForgetRequest request) =>
        request.Ids is not null ? ForgetSelector.Ids : request.Tag is not null ? ForgetSelector.Tag : request.Query is not null ? ForgetSelector.Query : ForgetSelector.All;

    private async Task<IReadOnlyList<string>> SelectAsync(ForgetRequest request, CallerScopes caller, CancellationToken cancellationToken)
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

            var ids = request.Ids.Select(id => Validation.Id(id, "ids[]")).Distinct(StringComparer.Ordinal).ToList();
            // An id of a scope outside the caller's is as unknown as a mistyped one.
            var existing = await engine.Store.GetAsync(ids, cancellationToken).ConfigureAwait(false);
            return ids.Where(id => existing.TryGetValue(id, out var memory) && caller.Allows(memory.Scope)).ToList();
        }

        if (request.All)
        {
            if (request.Scope is null)
            {
                throw new EngramArgumentException("'all: true' forgets a whole scope, so it needs an explicit 'scope' (for example 'user' or 'project:github.com/acme/widgets'); it never applies to the default scope implicitly.");
            }

            return (await engine.Store.IdsInScopesAsync([caller.Resolve(request.Scope)], cancellationToken).ConfigureAwait(false)).Order(StringComparer.Ordinal).ToList();
        }

        if (request.Tag is not null)
        {
            var tag = Validation.Tags([request.Tag])[0];
            var scopes = request.Scope is null ? caller.Recall(null).Scopes : [caller.Resolve(request.Scope)];
            return (await engine.Store.IdsWithAnyTagAsync(scopes, [tag], cancellationToken).ConfigureAwait(false)).Order(StringComparer.Ordinal).ToList();
        }

        var query = Validation.Recall(new RecallRequest(request.Query!, request.Scope, request.Limit ?? 1), caller, defaultLimit: 1, alone: true);
        var trace = await recall.RunAsync(query, log: false, cancellationToken).ConfigureAwait(false);
        return trace.Hits.Select(h => h.Memory.Id).ToList();
    }

    private async Task<ForgetResidue> ResidueAsync(IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        var (memories, tags, entities, vectors, logs, checks) = await engine.Store.CountResidueAsync(ids, cancellationToken).ConfigureAwait(false);
        return new ForgetResidue(memories, tags, vectors + engine.Vectors.Count(ids), engine.Lexical.Count(ids), logs, entities, checks);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Forgot {Count} memories; cleaning up after them failed ({Error}: {Message}): the receipt's residue shows what is left, and the next recall's catch-up removes it from the index.")]
    private static partial void LogCleanUpFailed(ILogger logger, int count, string error, string message);

    [LoggerMessage(Level = LogLevel.Warning, Message = "forget: other processes kept the SQLite WAL busy; it will be emptied at the next checkpoint.")]
    private static partial void LogWalBusy(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "forget: {Count} memories removed from every store.")]
    private static partial void LogForgot(ILogger logger, int count);
}
