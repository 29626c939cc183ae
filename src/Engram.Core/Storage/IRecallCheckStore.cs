namespace Engram.Core.Storage;

/// <summary>
/// Saved recall checks: a query, the scopes it searches, and the memories it must find near the top. A check goes with
/// the memories it names (and with its scope when the whole scope is forgotten).
/// </summary>
internal interface IRecallCheckStore
{
    /// <summary>Saves a check; false, with nothing written, when its id is taken or a memory it names no longer exists.</summary>
    Task<bool> AddCheckAsync(StoredCheck check, CancellationToken cancellationToken = default);

    /// <summary>The checks living in <paramref name="scopes"/> (every check when null), oldest first.</summary>
    Task<List<StoredCheck>> ChecksAsync(IReadOnlyList<string>? scopes, CancellationToken cancellationToken = default);

    /// <summary>Removes one check; false when there is none with that id.</summary>
    Task<bool> RemoveCheckAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>
    /// How many checks a forget of <paramref name="memoryIds"/> removes: those naming any of them, and those living in
    /// <paramref name="homeScopes"/> (a whole scope forgotten).
    /// </summary>
    Task<int> CountChecksAsync(IReadOnlyCollection<string> memoryIds, IReadOnlyList<string> homeScopes, CancellationToken cancellationToken = default);
}

/// <summary>
/// A saved check as stored: it lives in <paramref name="Scope"/>, searches <paramref name="Scopes"/>, and passes when
/// every one of <paramref name="Expect"/> is returned at rank <paramref name="Within"/> or better. Unix milliseconds.
/// </summary>
internal sealed record StoredCheck(string Id, string Scope, string Query, IReadOnlyList<string> Scopes, IReadOnlyList<string> Expect, int Within, long CreatedAt);

/// <summary>What a forget removed: the memories that existed, and the checks that went with them.</summary>
internal sealed record Deletion(IReadOnlyList<string> Ids, int Checks);
