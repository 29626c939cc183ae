namespace Engram.Core.Storage;

/// <summary>The files each memory names in the project's work tree, with their git blob hashes when it was stored.</summary>
internal interface IAnchorStore
{
    /// <summary>Replaces the anchors of each memory named, in one transaction (a re-remembered fact is re-anchored to the files as they are now).</summary>
    Task SetAnchorsAsync(IReadOnlyList<(string MemoryId, IReadOnlyList<CodeAnchor> Anchors)> anchored, CancellationToken cancellationToken = default);

    /// <summary>The anchors of <paramref name="ids"/>, by memory (memories without any are absent).</summary>
    Task<Dictionary<string, List<CodeAnchor>>> AnchorsAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken = default);

    /// <summary>Every anchor of the current (not superseded) memories of <paramref name="scopes"/>, by memory.</summary>
    Task<Dictionary<string, List<CodeAnchor>>> AnchorsInScopesAsync(IReadOnlyList<string> scopes, CancellationToken cancellationToken = default);
}

/// <summary>
/// A file a memory names (relative to the work tree <paramref name="Root"/>), and its git blob hash when the memory was
/// stored (or re-anchored), Unix milliseconds. A process in another work tree does not judge it.
/// </summary>
internal sealed record CodeAnchor(string Path, string Blob, long At, string Root);
