using Engram.Core.Model;
using Engram.Core.Search;

namespace Engram.Core.Scopes;

/// <summary>
/// The scopes one call may touch, and how the scopes its request names resolve. Every path (remember, recall, forget,
/// explain) resolves its scopes here and nowhere else. An unrestricted caller (the local user, or a server's shared
/// <c>ENGRAM_TOKEN</c>) reaches every scope, as before principals existed. A principal reaches the scopes its patterns
/// allow; its <c>user</c> is its own <c>user:&lt;principal&gt;</c>; a scope outside them is an error when named, and
/// simply absent when reached by id.
/// </summary>
internal sealed class CallerScopes
{
    private readonly IReadOnlyList<ScopePattern>? _patterns;
    private readonly string _defaultScope;
    private readonly string _defaultSource;
    private readonly IReadOnlyList<string> _defaults;

    private CallerScopes(string? principal, IReadOnlyList<ScopePattern>? patterns, string defaultScope, string defaultSource)
    {
        Principal = principal;
        _patterns = patterns;
        _defaultScope = defaultScope;
        _defaultSource = defaultSource;
        User = principal is null ? ScopeName.User : ScopeName.UserOf(principal);
        // The default scope is searched with the caller's user scope; a principal's calls never default to a user scope.
        var project = (patterns is null ? defaultScope == ScopeName.User : ScopeName.IsUser(defaultScope)) ? null : defaultScope;
        _defaults = new[] { project, User }.OfType<string>().Where(Allows).ToList();
    }

    /// <summary>An unrestricted caller with the service's default scope (normalised) and how it was chosen.</summary>
    public static CallerScopes Unrestricted(string defaultScope, string defaultSource) => new(null, null, defaultScope, defaultSource);

    /// <summary>A principal's calls, with the service's default scope (normalised) and how it was chosen.</summary>
    /// <exception cref="EngramArgumentException">The principal's name or a pattern is malformed.</exception>
    public static CallerScopes For(Principal principal, string defaultScope, string defaultSource)
    {
        ArgumentNullException.ThrowIfNull(principal);
        return new(ScopeName.PrincipalName(principal.Name), ScopePattern.ParseAll(principal.ScopePatterns), defaultScope, defaultSource);
    }

    /// <summary>The principal's (normalised) name, or <see langword="null"/> for an unrestricted caller.</summary>
    public string? Principal { get; }

    /// <summary>The caller's own user scope: <c>user</c>, or a principal's <c>user:&lt;principal&gt;</c>.</summary>
    public string User { get; }

    /// <summary>Whether the caller may read, explain, write and forget the memories of <paramref name="scope"/> (as stored).</summary>
    public bool Allows(string scope) =>
        _patterns is null || (scope == User ? _patterns.Any(p => p.IsUser) : _patterns.Any(p => p.Matches(scope)));

    /// <summary>A scope the request named, normalised, with <c>user</c> the caller's own.</summary>
    /// <exception cref="EngramArgumentException">Malformed, or outside the caller's scopes; the message says what to send.</exception>
    public string Resolve(string scope)
    {
        var named = ScopeName.Normalize(scope);
        if (_patterns is null)
        {
            return named;
        }

        var resolved = named == ScopeName.User ? User : named;
        return Allows(resolved) ? resolved
            : throw new EngramArgumentException($"Scope '{named}' is outside what this token may use ({Patterns}): send 'scope' as one of those, or leave it out for the default.");
    }

    /// <summary>Where a memory is written: the scope named, else the default project when allowed, else the caller's user scope.</summary>
    /// <exception cref="EngramArgumentException">The scope named is not the caller's, or there is no default the caller may use.</exception>
    public string Write(string? scope) =>
        scope is not null ? Resolve(scope)
        : _defaults is [var first, ..] ? first
        : throw NoDefault();

    /// <summary>
    /// The scopes a recall (or a forget by tag or query) searches, and how they were resolved: the request's scope (a
    /// project is searched with the caller's user scope when allowed, unless <paramref name="alone"/>), else the default
    /// project and the caller's user scope, those the caller may use.
    /// </summary>
    /// <exception cref="EngramArgumentException">The scope named is not the caller's, or there is no default the caller may use.</exception>
    public (IReadOnlyList<string> Scopes, string Resolution) Recall(string? scope, bool alone = false)
    {
        const string Argument = "the request's 'scope' argument";
        if (scope is null)
        {
            var defaults = _defaults;
            return defaults.Count > 0 ? (defaults, $"default: {string.Join(" + ", defaults)} ({_defaultSource}){Own(defaults)}") : throw NoDefault();
        }

        var named = Resolve(scope);
        if (alone || ScopeName.IsUser(named))
        {
            return ([named], Argument + Own([named]));
        }

        return Allows(User) ? ([named, User], $"{Argument}, with '{User}'{Own([User])}") : ([named], $"{Argument} ('user' is not among this token's scopes)");
    }

    /// <summary>The default recall scopes the caller may use: the default scope (a project) and the caller's user scope.</summary>
    public IReadOnlyList<string> Defaults() => _defaults;

    /// <summary>
    /// Whether this caller may replay a logged recall: an unrestricted caller any; a principal only its own, over scopes
    /// it may still use. Another's recall is as unknown as a mistyped id.
    /// </summary>
    public bool MayReplay(RecallQuery logged) =>
        _patterns is null || (logged.Caller == Principal && logged.Scopes.All(Allows));

    private string Patterns => string.Join(", ", _patterns!.Select(p => p.Text));

    private string Own(IReadOnlyList<string> scopes) =>
        Principal is not null && scopes.Contains(User) ? $"; '{User}' is {Principal}'s own 'user' scope" : "";

    private EngramArgumentException NoDefault() =>
        new($"This token may use neither the server's default scope '{_defaultScope}' nor 'user': send 'scope' as one of its scopes ({Patterns}).");
}
