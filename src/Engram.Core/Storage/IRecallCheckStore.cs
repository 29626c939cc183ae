using System.Data.Common;
using System.Text.Json;

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
internal sealed record Deletion(IReadOnlyList<string> Ids, int Checks)
{
    /// <summary>The scopes whose own checks a forget takes besides those naming its memories: a whole scope forgotten takes the checks living in it.</summary>
    public static IReadOnlyList<string> CheckHomes(Model.ForgetSelector selector, IReadOnlyList<string> scopes) =>
        selector == Model.ForgetSelector.All ? scopes : [];
}

/// <summary>
/// Checks as both stores read them: each check joined with the memories it expects, in one statement (a forget committed
/// meanwhile is seen whole or not at all, so never a check without its memories), grouped here.
/// </summary>
internal static class CheckRows
{
    /// <summary>One row: id, scope, query, scopes as JSON, within, created at, then one memory the check expects.</summary>
    public static Line Read(DbDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt32(4), r.GetInt64(5), r.GetString(6));

    /// <summary>The checks of <paramref name="lines"/>, ordered by check and then by the order of its memories.</summary>
    public static List<StoredCheck> Grouped(IEnumerable<Line> lines)
    {
        var checks = new List<StoredCheck>();
        foreach (var group in lines.GroupBy(l => l.Id, StringComparer.Ordinal))
        {
            var c = group.First();
            checks.Add(new StoredCheck(c.Id, c.Scope, c.Query, JsonSerializer.Deserialize<List<string>>(c.Scopes) ?? [], group.Select(l => l.Memory).ToList(), c.Within, c.CreatedAt));
        }

        return checks;
    }

    public sealed record Line(string Id, string Scope, string Query, string Scopes, int Within, long CreatedAt, string Memory);
}
