namespace Engram.Core.Storage;

/// <summary>
/// A store that can itself find memories by their words (PostgreSQL's full-text search). A server that joins a large
/// store answers with it while its own lexical index builds in the background; a store without it (SQLite, whose index
/// is rebuilt from a local file in moments) makes the first recall wait for the index instead.
/// </summary>
internal interface ITextSearch
{
    /// <summary>
    /// Memories of <paramref name="scopes"/> (and among <paramref name="allowed"/> when given: a tag filter) holding any
    /// of the query's words, best first, at most <paramref name="k"/>.
    /// </summary>
    Task<List<(string Id, float Score)>> SearchTextAsync(string query, IReadOnlyList<string> scopes, IReadOnlySet<string>? allowed, int k, CancellationToken cancellationToken = default);
}
