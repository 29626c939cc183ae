namespace Engram.Core.Scopes;

/// <summary>
/// One scope pattern a principal is allowed: <c>user</c> (the principal's own user scope), an exact project scope
/// (<c>project:github.com/acme/widgets</c>), or a project prefix ending in <c>*</c> (<c>project:github.com/acme/*</c>,
/// <c>project:*</c> for every project). No pattern reaches another principal's user scope.
/// </summary>
internal sealed record ScopePattern
{
    /// <summary>The syntax, in words, for error messages.</summary>
    public const string SyntaxHelp =
        "a scope pattern is 'user' (the principal's own user scope), a project scope such as 'project:github.com/acme/widgets', " +
        "or a project prefix ending in '*' such as 'project:github.com/acme/*' ('project:*' allows every project)";

    private ScopePattern(string text) => Text = text;

    /// <summary>The pattern as stored (normalised).</summary>
    public string Text { get; }

    /// <summary>Whether this is <c>user</c>.</summary>
    public bool IsUser => Text == ScopeName.User;

    /// <summary>Normalises and validates patterns: trimmed, lowercased, distinct, at least one.</summary>
    /// <exception cref="EngramArgumentException">No pattern, or one that does not fit the syntax; the message says what to send.</exception>
    public static IReadOnlyList<ScopePattern> ParseAll(IEnumerable<string>? patterns)
    {
        var parsed = (patterns ?? []).Where(p => !string.IsNullOrWhiteSpace(p)).Select(Parse).DistinctBy(p => p.Text).ToList();
        return parsed.Count > 0 ? parsed : throw new EngramArgumentException($"A token needs at least one scope pattern: {SyntaxHelp}.");
    }

    /// <summary>Normalises and validates one pattern.</summary>
    /// <exception cref="EngramArgumentException">It does not fit the syntax; the message says what to send.</exception>
    public static ScopePattern Parse(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var s = pattern.Trim().ToLowerInvariant();
        if (s == ScopeName.User)
        {
            return new ScopePattern(s);
        }

        if (s.StartsWith(ScopeName.PrincipalUserPrefix, StringComparison.Ordinal) || s == "*")
        {
            throw new EngramArgumentException(
                $"'{pattern.Trim()}' cannot be granted: 'user' always means the token's own principal's user scope, and no token reaches another principal's. {Capitalised(SyntaxHelp)}.");
        }

        if (s.EndsWith('*'))
        {
            var stem = s[..^1];
            if (stem == ScopeName.ProjectPrefix || (stem.StartsWith(ScopeName.ProjectPrefix, StringComparison.Ordinal) && IsKeyPrefix(stem[ScopeName.ProjectPrefix.Length..])))
            {
                return new ScopePattern(s);
            }
        }
        else
        {
            try
            {
                if (ScopeName.Normalize(s).StartsWith(ScopeName.ProjectPrefix, StringComparison.Ordinal))
                {
                    return new ScopePattern(s);
                }
            }
            catch (EngramArgumentException)
            {
                // Reported below with the pattern syntax.
            }
        }

        throw new EngramArgumentException($"'{pattern.Trim()}' is not a valid scope pattern: {SyntaxHelp}.");
    }

    /// <summary>Whether <paramref name="scope"/> (a normalised project scope) falls under this pattern. <c>user</c> matches no project.</summary>
    public bool Matches(string scope) =>
        !IsUser && (Text.EndsWith('*') ? scope.StartsWith(Text[..^1], StringComparison.Ordinal) : scope == Text);

    /// <inheritdoc />
    public override string ToString() => Text;

    /// <summary>The start of a project key: its characters, starting with a letter or digit, no '..' or '//'.</summary>
    private static bool IsKeyPrefix(string prefix) =>
        prefix.Length is >= 1 and <= 200
        && char.IsAsciiLetterOrDigit(prefix[0])
        && prefix.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '-' or '_' or '/')
        && !prefix.Contains("..", StringComparison.Ordinal) && !prefix.Contains("//", StringComparison.Ordinal);

    private static string Capitalised(string s) => char.ToUpperInvariant(s[0]) + s[1..];
}
