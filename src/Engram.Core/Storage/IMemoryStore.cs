namespace Engram.Core.Storage;

/// <summary>
/// The store: the only source of truth and the only state shared between processes. Every write appends to the change
/// feed, from which the derived indexes (lexical, vector, the row cache) catch up. Each family of tables is its own
/// small interface, so a part of the service holds only the one it reads; the store is all of them.
/// </summary>
internal interface IMemoryStore : IMemoryRecords, IChangeFeed, IVectorStore, IEntityLinks, IRecallLogStore, IForgetAudit, IStoreMaintenance, IPrincipalStore, IAnchorStore, IRecallCheckStore;
