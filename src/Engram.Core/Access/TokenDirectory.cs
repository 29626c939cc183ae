using System.Collections.Concurrent;
using Engram.Core.Model;
using Engram.Core.Scopes;
using Engram.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Engram.Core.Access;

/// <summary>
/// Principals' tokens over the store: issuing (the secret is returned once, its hash stored), listing, revoking, and
/// authenticating a presented secret. What the store answered is kept for <paramref name="cacheFor"/>, so a server does
/// not read the store on every request; a revoke therefore takes effect at once in the process that made it, and
/// within <paramref name="cacheFor"/> on every other server of the store.
/// </summary>
/// <param name="store">The tokens' table.</param>
/// <param name="cacheFor">How long an answer of the store is kept (<see cref="EngramOptions.TokenCacheDuration"/>).</param>
/// <param name="time">The clock.</param>
/// <param name="logger">Logging: ids, principals and counts, never a secret or a hash.</param>
internal sealed partial class TokenDirectory(IPrincipalStore store, TimeSpan cacheFor, TimeProvider time, ILogger logger)
{
    /// <summary>Past this many remembered wrong secrets, they are forgotten (the live tokens' answers are kept).</summary>
    private const int MaxMisses = 10_000;

    private readonly ConcurrentDictionary<string, Cached<Principal?>> _byHash = new(StringComparer.Ordinal);
    private int _misses;

    /// <summary>Issues a token of <paramref name="principal"/> for <paramref name="patterns"/>.</summary>
    /// <exception cref="EngramArgumentException">A malformed name or pattern; the message says what to send.</exception>
    public async Task<IssuedToken> AddAsync(string principal, IReadOnlyList<string> patterns, CancellationToken cancellationToken)
    {
        var name = ScopeName.PrincipalName(principal);
        if (name.StartsWith(TokenSecret.IdPrefix, StringComparison.Ordinal))
        {
            throw new EngramArgumentException($"'{name}' looks like a token id: a principal's name may not start with '{TokenSecret.IdPrefix}', so that revoking by id or by name is never ambiguous.");
        }

        var scopes = ScopePattern.ParseAll(patterns).Select(p => p.Text).ToList();
        var secret = TokenSecret.New();
        var token = new StoredToken(TokenSecret.NewId(), TokenSecret.Hash(secret), name, scopes, time.GetUtcNow().ToUnixTimeMilliseconds(), null);
        await store.AddTokenAsync(token, cancellationToken).ConfigureAwait(false);
        LogIssued(logger, token.Id, name, scopes);
        return new IssuedToken(token.Id, name, scopes, DateTimeOffset.FromUnixTimeMilliseconds(token.CreatedAt), secret);
    }

    /// <summary>Every token, revoked ones included, oldest first; never a secret or a hash.</summary>
    public async Task<IReadOnlyList<TokenInfo>> ListAsync(CancellationToken cancellationToken) =>
        (await store.ListTokensAsync(cancellationToken).ConfigureAwait(false)).Select(t => new TokenInfo(
            t.Id, t.Principal, t.Scopes, DateTimeOffset.FromUnixTimeMilliseconds(t.CreatedAt),
            t.RevokedAt is { } at ? DateTimeOffset.FromUnixTimeMilliseconds(at) : null)).ToList();

    /// <summary>Revokes a token by id, or every token of a principal by name; returns how many were live.</summary>
    /// <exception cref="EngramArgumentException">Nothing was named.</exception>
    public async Task<int> RevokeAsync(string idOrPrincipal, CancellationToken cancellationToken)
    {
        var name = Validation.Text(idOrPrincipal, "id or principal", 200, "Send a token id (from the token list) or a principal's name.").ToLowerInvariant();
        var revoked = await store.RevokeTokensAsync(name, time.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken).ConfigureAwait(false);
        _byHash.Clear();
        Interlocked.Exchange(ref _misses, 0);
        LogRevoked(logger, revoked, name);
        return revoked;
    }

    /// <summary>The principal of a live token with this secret, or <see langword="null"/> (unknown, revoked, or not a token).</summary>
    public async Task<Principal?> AuthenticateAsync(string secret, CancellationToken cancellationToken)
    {
        if (!secret.StartsWith(TokenSecret.Prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var hash = TokenSecret.Hash(secret);
        var now = time.GetUtcNow();
        if (_byHash.TryGetValue(hash, out var cached) && cached.Until > now)
        {
            return cached.Value;
        }

        var token = await store.FindTokenAsync(hash, cancellationToken).ConfigureAwait(false);
        var principal = token is null ? null : new Principal(token.Principal, token.Scopes);
        if (principal is null && Interlocked.Increment(ref _misses) > MaxMisses)
        {
            // Wrong secrets sent over and over fill the cache: drop theirs, never the live tokens' (so a flood of
            // wrong ones cannot push every real request onto the store).
            foreach (var miss in _byHash.Where(e => e.Value.Value is null))
            {
                _byHash.TryRemove(miss);
            }

            Interlocked.Exchange(ref _misses, 0);
        }

        _byHash[hash] = new Cached<Principal?>(principal, now + cacheFor);
        return principal;
    }

    /// <summary>Whether the store holds any live token (asked once, when a server that requires tokens starts).</summary>
    public async Task<bool> AnyLiveAsync(CancellationToken cancellationToken) =>
        (await store.ListTokensAsync(cancellationToken).ConfigureAwait(false)).Any(t => t.RevokedAt is null);

    private sealed record Cached<T>(T Value, DateTimeOffset Until);

    [LoggerMessage(Level = LogLevel.Information, Message = "token {Id} issued to {Principal} for {Scopes}.")]
    private static partial void LogIssued(ILogger logger, string id, string principal, IReadOnlyList<string> scopes);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Count} tokens revoked by id or principal '{Name}'.")]
    private static partial void LogRevoked(ILogger logger, int count, string name);
}
