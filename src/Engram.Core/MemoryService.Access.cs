using System.Runtime.CompilerServices;
using Engram.Core.Model;
using Engram.Core.Scopes;

namespace Engram.Core;

/// <summary>
/// Who may see what on a shared server: principals' tokens (issued, listed, revoked, authenticated) and the caller a
/// call runs for.
/// </summary>
/// <remarks>
/// The caller is ambient (an <see cref="AsyncLocal{T}"/> set by <see cref="ActAs"/>) rather than a parameter of every
/// method: the MCP SDK builds the tools from the container and invokes them with the HTTP request's
/// <see cref="ExecutionContext"/>, so a server's authentication middleware reaches every tool call without a principal
/// argument on each tool (which would show in the tools' schemas) and without each call site having to remember it.
/// Each operation then resolves its scopes for that caller at one place (<see cref="CallerScopes"/>).
/// </remarks>
public sealed partial class MemoryService
{
    /// <summary>The principal the calls in this asynchronous flow run for, or <see langword="null"/> when unrestricted.</summary>
    public Principal? Caller => _acting.Value?.Principal;

    /// <summary>
    /// Runs the calls that follow in this asynchronous flow as <paramref name="principal"/>, until the result is disposed:
    /// they read, explain, write and forget only within its scope patterns, and its <c>user</c> is its own user scope
    /// (<c>user:&lt;name&gt;</c>). A named scope outside them is an error; an id in one is as unknown as a mistyped id; a
    /// recall another principal made cannot be explained. Outside <see cref="ActAs"/> a call is unrestricted.
    /// </summary>
    /// <exception cref="EngramArgumentException">The principal's name or a pattern is malformed.</exception>
    public IDisposable ActAs(Principal principal)
    {
        var scopes = CallerScopes.For(principal, _defaultScope, _options.DefaultScopeSource);
        var previous = _acting.Value;
        _acting.Value = new Acting(principal, scopes);
        return new Restore(_acting, previous);
    }

    /// <summary>
    /// Issues a bearer token for <paramref name="principal"/>, allowed <paramref name="scopePatterns"/> (<c>user</c>,
    /// <c>project:&lt;key&gt;</c>, or a prefix ending in <c>*</c> such as <c>project:github.com/acme/*</c>). The secret
    /// is in the result only: the store keeps its SHA-256, so every server on the store accepts it and none can show it.
    /// </summary>
    /// <exception cref="EngramArgumentException">A malformed name or pattern; the message says what to send.</exception>
    /// <exception cref="InvalidOperationException">Called within <see cref="ActAs"/>: this is an administrator's operation.</exception>
    public async Task<IssuedToken> AddTokenAsync(string principal, IReadOnlyList<string> scopePatterns, CancellationToken cancellationToken = default)
    {
        RequireUnrestricted();
        return await (await GetPartsAsync().ConfigureAwait(false)).Tokens.AddAsync(principal, scopePatterns, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every token, revoked ones included, oldest first; never a secret or its hash.</summary>
    /// <exception cref="InvalidOperationException">Called within <see cref="ActAs"/>: this is an administrator's operation.</exception>
    public async Task<IReadOnlyList<TokenInfo>> ListTokensAsync(CancellationToken cancellationToken = default)
    {
        RequireUnrestricted();
        return await (await GetPartsAsync().ConfigureAwait(false)).Tokens.ListAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Revokes the token with this id, or every token of the principal with this name; returns how many were live. This
    /// process refuses them at once, other servers of the store within <see cref="EngramOptions.TokenCacheDuration"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">Called within <see cref="ActAs"/>: this is an administrator's operation.</exception>
    public async Task<int> RevokeTokensAsync(string idOrPrincipal, CancellationToken cancellationToken = default)
    {
        RequireUnrestricted();
        return await (await GetPartsAsync().ConfigureAwait(false)).Tokens.RevokeAsync(idOrPrincipal, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The principal a presented bearer secret belongs to, or <see langword="null"/> when it is no live token. Answers are
    /// kept for <see cref="EngramOptions.TokenCacheDuration"/>.
    /// </summary>
    public async Task<Principal?> AuthenticateAsync(string token, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(token);
        return await (await GetPartsAsync().ConfigureAwait(false)).Tokens.AuthenticateAsync(token, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Whether the store holds a live token (a server on it then requires one); kept for <see cref="EngramOptions.TokenCacheDuration"/>.</summary>
    public async Task<bool> HasLiveTokensAsync(CancellationToken cancellationToken = default) =>
        await (await GetPartsAsync().ConfigureAwait(false)).Tokens.AnyLiveAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>How this call's scopes resolve: the ambient principal's, else unrestricted.</summary>
    private CallerScopes Scopes => _acting.Value?.Scopes ?? _unrestricted;

    /// <exception cref="InvalidOperationException">Within <see cref="ActAs"/>.</exception>
    private void RequireUnrestricted([CallerMemberName] string operation = "")
    {
        if (_acting.Value is { } acting)
        {
            throw new InvalidOperationException($"{operation} is an administrator's operation, not one for principal '{acting.Principal.Name}': call it outside ActAs.");
        }
    }

    private sealed record Acting(Principal Principal, CallerScopes Scopes);

    private sealed class Restore(AsyncLocal<Acting?> acting, Acting? previous) : IDisposable
    {
        public void Dispose() => acting.Value = previous;
    }
}
