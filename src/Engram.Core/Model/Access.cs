namespace Engram.Core.Model;

/// <summary>
/// A caller on a shared server: a named principal and the scope patterns its token allows (<c>user</c> for its own
/// user scope, <c>project:github.com/acme/widgets</c>, or a prefix such as <c>project:github.com/acme/*</c>). Calls made
/// within <see cref="MemoryService.ActAs"/> read, explain, write and forget only within these scopes.
/// </summary>
/// <param name="Name">The principal's name: 1–64 characters of a-z, 0-9, '.', '-' and '_'.</param>
/// <param name="ScopePatterns">The scope patterns it may use.</param>
public sealed record Principal(string Name, IReadOnlyList<string> ScopePatterns);

/// <summary>A token just issued. <see cref="Token"/> is its secret, shown this once: the store keeps only its hash.</summary>
/// <param name="Id">The token's public id (<c>tok_…</c>), to list and revoke it by.</param>
/// <param name="Principal">Whose token it is.</param>
/// <param name="Scopes">The scope patterns it may use.</param>
/// <param name="CreatedAt">When it was issued.</param>
/// <param name="Token">The bearer secret (<c>engram_…</c>).</param>
public sealed record IssuedToken(string Id, string Principal, IReadOnlyList<string> Scopes, DateTimeOffset CreatedAt, string Token);

/// <summary>A token as listed: never its secret nor its hash.</summary>
/// <param name="Id">The token's public id.</param>
/// <param name="Principal">Whose token it is.</param>
/// <param name="Scopes">The scope patterns it may use.</param>
/// <param name="CreatedAt">When it was issued.</param>
/// <param name="RevokedAt">When it was revoked, or <see langword="null"/> while it is live.</param>
public sealed record TokenInfo(string Id, string Principal, IReadOnlyList<string> Scopes, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt);
