namespace Engram.Core.Storage;

/// <summary>The recall log: each recall's request and its results in rank order, so explain can replay it.</summary>
internal interface IRecallLogStore
{
    /// <summary>
    /// Logs recalls in one transaction: each request (JSON), the store's change sequence then, and the result ids in
    /// rank order. A recall whose results include a memory that no longer exists is left out whole.
    /// </summary>
    Task LogRetrievalsAsync(IReadOnlyList<RetrievalEntry> entries, CancellationToken cancellationToken = default);

    /// <summary>A logged recall, or <see langword="null"/> when the id is unknown.</summary>
    Task<LoggedRetrieval?> GetRetrievalAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>The latest logged recalls, newest first, at most <paramref name="limit"/>; only those that returned <paramref name="memoryId"/> when given.</summary>
    Task<IReadOnlyList<LoggedRecall>> ListRetrievalsAsync(string? memoryId, int limit, CancellationToken cancellationToken = default);
}

/// <summary>A logged recall in a list: its id, when it ran (Unix milliseconds), its request (JSON) and how many memories it returned.</summary>
internal sealed record LoggedRecall(string Id, long At, string RequestJson, int Hits);

/// <summary>A logged recall: when it ran (Unix milliseconds), the change sequence then, its request (JSON).</summary>
internal sealed record LoggedRetrieval(long At, long Seq, string RequestJson);

/// <summary>One recall to log: its id, when it ran (Unix milliseconds), the change sequence then, its request (JSON), its result ids in rank order.</summary>
internal sealed record RetrievalEntry(string Id, long At, long Seq, string RequestJson, IReadOnlyList<string> ResultIds);
