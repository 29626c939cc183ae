using System.Text.RegularExpressions;

namespace Engram.Core.Scopes;

/// <summary>
/// Scope names: <c>user</c>, or <c>project:&lt;key&gt;</c> where the key is 1 to 200 characters of lowercase
/// letters, digits, '.', '-', '_' and '/', starting and ending with a letter or digit, with no '..' or '//'.
/// A scope is a label, never a path. On a shared server each principal's own <c>user</c> scope is stored as
/// <c>user:&lt;principal&gt;</c>: a principal reaches only its own (by sending <c>user</c>), and only an unrestricted
/// caller (an administrator) may name another's.
/// </summary>
public static partial class ScopeName
{
    /// <summary>The person's own cross-project scope.</summary>
    public const string User = "user";

    /// <summary>The prefix of per-repository scopes.</summary>
    public const string ProjectPrefix = "project:";

    /// <summary>The prefix of a principal's own user scope on a shared server (<c>user:alice</c>).</summary>
    internal const string PrincipalUserPrefix = "user:";

    /// <summary>The syntax of a principal's name, in words, for error messages.</summary>
    internal const string PrincipalHelp =
        "a principal's name is 1-64 characters of a-z, 0-9, '.', '-' and '_', starting and ending with a letter or digit (for example 'alice' or 'ci-bot')";

    /// <summary>The syntax, in words, for error messages.</summary>
    public const string SyntaxHelp =
        "a scope is 'user' or 'project:<key>', where <key> is 1-200 characters of a-z, 0-9, '.', '-', '_' and '/', " +
        "starting and ending with a letter or digit (for example 'project:github.com/acme/widgets')";

    [GeneratedRegex("^[a-z0-9](?:[a-z0-9._/-]{0,198}[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex ProjectKey();

    [GeneratedRegex("^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex PrincipalNameSyntax();

    /// <summary>Normalises (trims, lowercases) and validates a scope name.</summary>
    /// <exception cref="EngramArgumentException">The name is not a valid scope.</exception>
    public static string Normalize(string scope)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var s = scope.Trim().ToLowerInvariant();
        if (s == User)
        {
            return s;
        }

        if (s.StartsWith(PrincipalUserPrefix, StringComparison.Ordinal) && PrincipalNameSyntax().IsMatch(s[PrincipalUserPrefix.Length..]))
        {
            return s;
        }

        if (s.StartsWith(ProjectPrefix, StringComparison.Ordinal))
        {
            var key = s[ProjectPrefix.Length..];
            if (ProjectKey().IsMatch(key) && !key.Contains("..", StringComparison.Ordinal) && !key.Contains("//", StringComparison.Ordinal))
            {
                return s;
            }
        }

        throw new EngramArgumentException($"'{Truncate(scope)}' is not a valid scope: {SyntaxHelp}.");
    }

    /// <summary>Builds a project scope from a key, lowercasing it and replacing characters outside the syntax.</summary>
    public static string Project(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var chars = key.Trim().ToLowerInvariant().Select(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '-' or '_' or '/' ? c : '-').ToArray();
        var cleaned = new string(chars);
        while (cleaned.Contains("//", StringComparison.Ordinal)) cleaned = cleaned.Replace("//", "/", StringComparison.Ordinal);
        while (cleaned.Contains("..", StringComparison.Ordinal)) cleaned = cleaned.Replace("..", ".", StringComparison.Ordinal);
        cleaned = cleaned.Trim('.', '-', '_', '/');
        if (cleaned.Length > 200) cleaned = cleaned[..200].TrimEnd('.', '-', '_', '/');
        return Normalize(ProjectPrefix + (cleaned.Length == 0 ? "unnamed" : cleaned));
    }

    /// <summary>Whether <paramref name="scope"/> (normalised) is a user scope: <c>user</c>, or a principal's <c>user:&lt;principal&gt;</c>.</summary>
    internal static bool IsUser(string scope) => scope == User || scope.StartsWith(PrincipalUserPrefix, StringComparison.Ordinal);

    /// <summary>The user scope of <paramref name="principal"/> (a normalised name).</summary>
    internal static string UserOf(string principal) => PrincipalUserPrefix + principal;

    /// <summary>Normalises (trims, lowercases) and validates a principal's name.</summary>
    /// <exception cref="EngramArgumentException">The name does not fit the syntax.</exception>
    internal static string PrincipalName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var s = name.Trim().ToLowerInvariant();
        return PrincipalNameSyntax().IsMatch(s) ? s : throw new EngramArgumentException($"'{Truncate(name)}' is not a valid principal: {PrincipalHelp}.");
    }

    private static string Truncate(string s) => s.Length <= 80 ? s : s[..80] + "…";
}
