using Engram.Core.Model;
using Engram.Core.Scopes;
using Engram.Core.Storage;

namespace Engram.Core;

/// <summary>
/// Saved recall checks (<c>engram check</c>, <c>engram doctor --checks</c>): the recalls a person depends on, kept in the
/// store and run again after a change of embedder, an import or an upgrade. Administrator's operations.
/// </summary>
public sealed partial class MemoryService
{
    /// <summary>The largest rank a check may allow.</summary>
    public const int MaxCheckWithin = 50;

    /// <summary>The most memories one check may expect.</summary>
    public const int MaxCheckExpected = 20;

    /// <summary>
    /// Saves a check: <paramref name="query"/>, searched as a recall from here with <paramref name="scope"/> would be
    /// (the scopes are resolved now and kept), must return every one of <paramref name="expect"/> at rank
    /// <paramref name="within"/> or better. It lives in <paramref name="scope"/> (else the default scope).
    /// </summary>
    /// <exception cref="EngramArgumentException">A malformed query or scope, an id that is no memory of the searched
    /// scopes or was superseded, or a rank out of range; the message says what to send.</exception>
    /// <exception cref="InvalidOperationException">Called within <see cref="ActAs"/>: this is an administrator's operation.</exception>
    public async Task<RecallCheck> AddCheckAsync(string query, IReadOnlyList<string> expect, int within = 3, string? scope = null, CancellationToken cancellationToken = default)
    {
        RequireUnrestricted();
        var recall = Validation.Recall(new RecallRequest(query, scope), _unrestricted);
        ValidateCheck(expect, within);
        var ids = expect.Select(id => Validation.Id(id, "expect")).Distinct(StringComparer.Ordinal).ToList();
        var state = await GetEngineAsync().ConfigureAwait(false);
        var rows = await state.Store.GetAsync(ids, cancellationToken).ConfigureAwait(false);
        foreach (var id in ids)
        {
            if (!rows.TryGetValue(id, out var memory))
            {
                throw new EngramArgumentException($"No memory with id '{id}'. Send ids from recall or 'engram list'.");
            }

            if (!recall.Scopes.Contains(memory.Scope))
            {
                throw new EngramArgumentException($"Memory '{id}' is in scope {memory.Scope}, which this check would not search ({string.Join(" + ", recall.Scopes)}). Save the check with 'scope' {memory.Scope}.");
            }

            if (memory.SupersededBy is { } newer)
            {
                throw new EngramArgumentException($"Memory '{id}' was superseded by '{newer}', so a recall no longer returns it. Expect '{newer}' instead.");
            }
        }

        var check = new StoredCheck(Ids.New("chk_"), _unrestricted.Write(scope), recall.Query, recall.Scopes, ids, within, _options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds());
        if (!await state.Store.AddCheckAsync(check, cancellationToken).ConfigureAwait(false))
        {
            throw new EngramArgumentException("A memory the check expects was forgotten just now; nothing was saved. Send ids of memories that exist.");
        }

        return ToCheck(check);
    }

    /// <summary>The saved checks, oldest first: those living in <paramref name="scope"/> when given, else all.</summary>
    /// <exception cref="InvalidOperationException">Called within <see cref="ActAs"/>: this is an administrator's operation.</exception>
    public async Task<IReadOnlyList<RecallCheck>> ListChecksAsync(string? scope = null, CancellationToken cancellationToken = default)
    {
        RequireUnrestricted();
        var state = await GetEngineAsync().ConfigureAwait(false);
        return (await state.Store.ChecksAsync(Named(scope), cancellationToken).ConfigureAwait(false)).Select(ToCheck).ToList();
    }

    /// <summary>Removes a saved check; false when there is none with that id.</summary>
    /// <exception cref="InvalidOperationException">Called within <see cref="ActAs"/>: this is an administrator's operation.</exception>
    public async Task<bool> RemoveCheckAsync(string id, CancellationToken cancellationToken = default)
    {
        RequireUnrestricted();
        var state = await GetEngineAsync().ConfigureAwait(false);
        return await state.Store.RemoveCheckAsync(Validation.Id(id, "id"), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs the saved checks (of <paramref name="scope"/> when given, else all) against the store as it is now, each
    /// recall as a person's would be ranked but not logged, reporting (done, total).
    /// </summary>
    /// <exception cref="InvalidOperationException">Called within <see cref="ActAs"/>: this is an administrator's operation.</exception>
    public async Task<IReadOnlyList<CheckOutcome>> RunChecksAsync(string? scope = null, IProgress<(int Done, int Total)>? progress = null, CancellationToken cancellationToken = default)
    {
        var checks = await ListChecksAsync(scope, cancellationToken).ConfigureAwait(false);
        var explainer = (await GetPartsAsync().ConfigureAwait(false)).Explainer;
        var outcomes = new List<CheckOutcome>(checks.Count);
        progress?.Report((0, checks.Count));
        foreach (var check in checks)
        {
            outcomes.Add(await explainer.CheckAsync(check, cancellationToken).ConfigureAwait(false));
            progress?.Report((outcomes.Count, checks.Count));
        }

        return outcomes;
    }

    /// <summary>
    /// Imports saved checks (an export's) as they are. A check whose id the store holds is skipped (so an import can be
    /// repeated), and so is one expecting a memory the store does not hold.
    /// </summary>
    /// <exception cref="EngramArgumentException">A check is malformed; the message names it.</exception>
    /// <exception cref="InvalidOperationException">Called within <see cref="ActAs"/>: this is an administrator's operation.</exception>
    public async Task<CheckImport> ImportChecksAsync(IReadOnlyList<RecallCheck> checks, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(checks);
        RequireUnrestricted();
        var stored = checks.Select((c, i) =>
        {
            try
            {
                return Stored(c);
            }
            catch (EngramArgumentException e)
            {
                throw new EngramArgumentException($"Check {i + 1} ('{c?.Id}'): {e.Message}", e);
            }
        }).ToList();
        var state = await GetEngineAsync().ConfigureAwait(false);
        var known = (await state.Store.ChecksAsync(null, cancellationToken).ConfigureAwait(false)).Select(c => c.Id).ToHashSet(StringComparer.Ordinal);
        int added = 0, present = 0;
        foreach (var check in stored)
        {
            if (!known.Add(check.Id))
            {
                present++;
            }
            else if (await state.Store.AddCheckAsync(check, cancellationToken).ConfigureAwait(false))
            {
                added++;
            }
        }

        return new CheckImport(added, present, stored.Count - added - present);
    }

    private static void ValidateCheck(IReadOnlyList<string>? expect, int within)
    {
        if (expect is null || expect.Count is 0 or > MaxCheckExpected)
        {
            throw new EngramArgumentException($"A check expects 1 to {MaxCheckExpected} memories: send their ids (from recall or 'engram list').");
        }

        if (within is < 1 or > MaxCheckWithin)
        {
            throw new EngramArgumentException($"'within' {within} is out of range: send the worst rank the memories may have, from 1 to {MaxCheckWithin} (default 3).");
        }
    }

    /// <summary>
    /// A saved check as read from a file, validated as an import will validate it (its scopes normalised), so a reader
    /// can refuse a malformed one before anything is imported.
    /// </summary>
    /// <exception cref="EngramArgumentException">The check is malformed; the message says what to send.</exception>
    public static RecallCheck ValidCheck(RecallCheck check) => ToCheck(Stored(check));

    /// <summary>An imported check, validated like a new one (its scopes normalised).</summary>
    private static StoredCheck Stored(RecallCheck check)
    {
        if (check is null)
        {
            throw new EngramArgumentException("A check is null: send objects with id, scope, query, scopes, expect and within.");
        }

        ValidateCheck(check.Expect, check.Within);
        if (check.Scopes is null || check.Scopes.Count == 0 || check.Scopes.Any(string.IsNullOrWhiteSpace))
        {
            throw new EngramArgumentException("'scopes' is empty or holds an empty scope: a check names the scopes its recall searches (\"user\", \"project:…\").");
        }

        var scopes = check.Scopes.Select(ScopeName.Normalize).Distinct(StringComparer.Ordinal).ToList();
        return new StoredCheck(Validation.Id(check.Id, "id"), ScopeName.Normalize(check.Scope ?? ""), Validation.Text(check.Query, "query", EngramOptions.MaxQueryLength, "Send the check's question."),
            scopes, check.Expect.Select(id => Validation.Id(id, "expect")).Distinct(StringComparer.Ordinal).ToList(), check.Within, check.CreatedAt.ToUnixTimeMilliseconds());
    }

    private static RecallCheck ToCheck(StoredCheck c) =>
        new(c.Id, c.Scope, c.Query, c.Scopes, c.Expect, c.Within, DateTimeOffset.FromUnixTimeMilliseconds(c.CreatedAt));
}
