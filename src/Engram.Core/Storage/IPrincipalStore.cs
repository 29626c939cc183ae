namespace Engram.Core.Storage;

/// <summary>
/// The named principals of a shared server and their bearer tokens. Only a hash of each token is stored, so every
/// server on the store accepts it and none can print it again.
/// </summary>
internal interface IPrincipalStore
{
    /// <summary>Records a new token of <paramref name="token"/>'s principal, with the scope patterns it is allowed.</summary>
    Task AddTokenAsync(StoredToken token, CancellationToken cancellationToken = default);

    /// <summary>Every token, revoked ones included, oldest first.</summary>
    Task<IReadOnlyList<StoredToken>> ListTokensAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Revokes the tokens <paramref name="idOrPrincipal"/> names (a token id, or every token of a principal) at
    /// <paramref name="at"/>; returns how many were live before.
    /// </summary>
    Task<int> RevokeTokensAsync(string idOrPrincipal, long at, CancellationToken cancellationToken = default);

    /// <summary>The live (not revoked) token with this hash, or <see langword="null"/>.</summary>
    Task<StoredToken?> FindTokenAsync(string hash, CancellationToken cancellationToken = default);
}

/// <summary>
/// A token as stored: its public id, the hash of its secret (hex SHA-256), its principal, the scope patterns it may
/// use (<c>project:github.com/acme/*</c>, <c>user</c>), when it was made and revoked (Unix milliseconds).
/// </summary>
internal sealed record StoredToken(string Id, string Hash, string Principal, IReadOnlyList<string> Scopes, long CreatedAt, long? RevokedAt);
