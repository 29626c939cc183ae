namespace Engram.Core.Storage;

/// <summary>
/// A per-process cache derived from the store (the lexical index, the vector matrices, the row cache): it catches up
/// from the store's change feed, and can always be rebuilt from it.
/// </summary>
internal interface IDerivedIndex
{
    /// <summary>Applies the change feed up to <paramref name="seq"/> at least; <paramref name="scopes"/> are those about to be searched.</summary>
    Task CatchUpAsync(long seq, IReadOnlyList<string> scopes, CancellationToken cancellationToken);
}
