using System.Security.Cryptography;
using System.Text;

namespace Engram.Core.Scopes;

/// <summary>
/// Works out a repository's identity: its normalised <c>origin</c> remote URL, else its canonical git root. A remote that
/// is a folder on this machine (<c>git clone /srv/repo</c>) stands for the repository there, whose identity is used.
/// Clones and worktrees of one repository get the same key; two repositories with the same folder name do not.
/// Reads <c>.git</c> files directly; git itself need not be installed.
/// </summary>
public static class ProjectIdentity
{
    /// <summary>How many local remotes are followed (a clone of a clone of …) before the last one's path names the project.</summary>
    private const int MaxLocalHops = 8;

    /// <summary>The project scope for a folder inside a git work tree, or <see langword="null"/> when there is none.</summary>
    public static string? ScopeFor(string directory)
    {
        var root = FindGitRoot(directory);
        return root is null ? null : ScopeForWorkTree(root, hops: 0);
    }

    private static string ScopeForWorkTree(string root, int hops)
    {
        var commonDir = CommonGitDir(root);

        // The canonical root is the main work tree (a worktree's common dir lives inside it).
        var canonical = commonDir is not null && Path.GetFileName(commonDir.TrimEnd(Path.DirectorySeparatorChar)) == ".git"
            ? Path.GetDirectoryName(commonDir.TrimEnd(Path.DirectorySeparatorChar))!
            : root;
        return ScopeForRepository(commonDir, canonical, hops);
    }

    /// <summary>A repository's scope from its git dir's remote: a URL names it; a local path defers to the repository there.</summary>
    private static string ScopeForRepository(string? gitDir, string canonicalRoot, int hops)
    {
        var remote = gitDir is null ? null : ReadRemoteUrl(Path.Combine(gitDir, "config"));
        if (remote is not null && NormalizeRemoteUrl(remote) is { } key)
        {
            return ScopeName.Project(key);
        }

        if (remote is not null && LocalRemotePath(remote, canonicalRoot) is { } path)
        {
            return ScopeForLocalRemote(path, hops);
        }

        return ScopeForLocalRoot(canonicalRoot);
    }

    /// <summary>
    /// A remote on this machine (<c>git clone /srv/repo</c>): the clone is the repository at that path, so it takes that
    /// repository's identity (its own remote, else its canonical root). A path that no longer holds a repository still
    /// names the project, so clones of the same path keep sharing.
    /// </summary>
    private static string ScopeForLocalRemote(string path, int hops)
    {
        // "git clone /srv/repo/.git" names the work tree's git dir.
        if (Path.GetFileName(path) == ".git" && Path.GetDirectoryName(path) is { } workTree)
        {
            path = workTree;
        }

        if (hops < MaxLocalHops)
        {
            var dotGit = Path.Combine(path, ".git");
            if (Directory.Exists(dotGit) || File.Exists(dotGit))
            {
                return ScopeForWorkTree(path, hops + 1);
            }

            if (IsBareRepository(path))
            {
                return ScopeForRepository(path, path, hops + 1);
            }
        }

        return ScopeForLocalRoot(path);
    }

    /// <summary>The full path a remote URL names when it is a folder on this machine (a path or a <c>file:</c> URL), else null.</summary>
    internal static string? LocalRemotePath(string url, string workTree)
    {
        var u = url.Trim();
        if (u.Length == 0)
        {
            return null;
        }

        string path;
        if (u.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
        {
            if (!Uri.TryCreate(u, UriKind.Absolute, out var uri) || !uri.IsFile)
            {
                return null;
            }

            path = uri.LocalPath;
        }
        else
        {
            // As git reads it: no scheme, and no colon before the first slash (else scp-like host:path), or a drive letter.
            var colon = u.IndexOf(':', StringComparison.Ordinal);
            var slash = u.IndexOfAny(['/', '\\']);
            if (u.Contains("://", StringComparison.Ordinal) || (colon > 1 && (slash < 0 || slash > colon)))
            {
                return null;
            }

            path = u;
        }

        var full = Path.GetFullPath(Path.Combine(workTree, path));
        var trimmed = full.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        return trimmed.Length == 0 ? full : trimmed;
    }

    private static bool IsBareRepository(string path) =>
        File.Exists(Path.Combine(path, "HEAD")) && File.Exists(Path.Combine(path, "config")) && Directory.Exists(Path.Combine(path, "objects"));

    /// <summary>A scope for a repository with no remote: its folder name plus a hash of its full path.</summary>
    public static string ScopeForLocalRoot(string root)
    {
        var full = Path.GetFullPath(root).TrimEnd(Path.DirectorySeparatorChar);
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(full)))[..12];
        return ScopeName.Project($"local/{Path.GetFileName(full)}-{hash}");
    }

    /// <summary>
    /// Normalises a git remote URL to <c>host/path</c>: scheme, user, port and a trailing <c>.git</c> or '/' dropped,
    /// lowercased. <c>https://github.com/acme/widgets.git</c> and <c>git@github.com:acme/widgets.git</c> both give
    /// <c>github.com/acme/widgets</c>. Returns <see langword="null"/> for a local path or an unreadable URL.
    /// </summary>
    public static string? NormalizeRemoteUrl(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        var u = url.Trim();
        if (u.Length == 0)
        {
            return null;
        }

        string host;
        string path;
        var schemeEnd = u.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd >= 0)
        {
            if (u.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
            {
                return null;
            }

            var rest = u[(schemeEnd + 3)..];
            var slash = rest.IndexOf('/', StringComparison.Ordinal);
            var authority = slash < 0 ? rest : rest[..slash];
            path = slash < 0 ? "" : rest[(slash + 1)..];
            var at = authority.LastIndexOf('@');
            host = at >= 0 ? authority[(at + 1)..] : authority;
            var colon = host.LastIndexOf(':');
            if (colon >= 0 && !host.EndsWith(']')) host = host[..colon];
        }
        else
        {
            // scp-like syntax: [user@]host:path. A Windows drive or a plain path is local.
            var colon = u.IndexOf(':', StringComparison.Ordinal);
            var firstSlash = u.IndexOf('/', StringComparison.Ordinal);
            if (colon <= 1 || (firstSlash >= 0 && firstSlash < colon))
            {
                return null;
            }

            var authority = u[..colon];
            path = u[(colon + 1)..];
            var at = authority.LastIndexOf('@');
            host = at >= 0 ? authority[(at + 1)..] : authority;
        }

        path = path.Trim('/');
        if (path.EndsWith(".git", StringComparison.OrdinalIgnoreCase)) path = path[..^4];
        path = path.TrimEnd('/');
        if (host.Length == 0 || path.Length == 0)
        {
            return null;
        }

        return $"{host}/{path}".ToLowerInvariant();
    }

    /// <summary>The nearest folder at or above <paramref name="directory"/> holding a <c>.git</c> folder or file.</summary>
    public static string? FindGitRoot(string directory)
    {
        for (var d = new DirectoryInfo(Path.GetFullPath(directory)); d is not null; d = d.Parent)
        {
            var dotGit = Path.Combine(d.FullName, ".git");
            if (Directory.Exists(dotGit) || File.Exists(dotGit))
            {
                return d.FullName;
            }
        }

        return null;
    }

    /// <summary>The git dir shared by all worktrees of the repository whose work tree is at <paramref name="root"/>.</summary>
    private static string? CommonGitDir(string root)
    {
        var dotGit = Path.Combine(root, ".git");
        var gitDir = dotGit;
        if (File.Exists(dotGit))
        {
            // A worktree or submodule: ".git" is a file "gitdir: <path>".
            var line = File.ReadLines(dotGit).FirstOrDefault(l => l.StartsWith("gitdir:", StringComparison.Ordinal));
            if (line is null) return null;
            gitDir = Path.GetFullPath(Path.Combine(root, line["gitdir:".Length..].Trim()));
        }

        var commonFile = Path.Combine(gitDir, "commondir");
        if (File.Exists(commonFile))
        {
            var common = File.ReadAllText(commonFile).Trim();
            gitDir = Path.GetFullPath(Path.Combine(gitDir, common));
        }

        return Directory.Exists(gitDir) ? gitDir : null;
    }

    /// <summary>Reads <c>remote.origin.url</c> (else the first remote's url) from a git config file.</summary>
    internal static string? ReadRemoteUrl(string configPath)
    {
        if (!File.Exists(configPath))
        {
            return null;
        }

        string? section = null;
        string? origin = null;
        string? first = null;
        foreach (var raw in File.ReadLines(configPath))
        {
            var line = raw.Trim();
            if (line.StartsWith('['))
            {
                section = line.Trim('[', ']').Trim();
                continue;
            }

            if (section is null || !section.StartsWith("remote ", StringComparison.Ordinal)) continue;
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0 || !line[..eq].Trim().Equals("url", StringComparison.OrdinalIgnoreCase)) continue;
            var value = line[(eq + 1)..].Trim().Trim('"');
            first ??= value;
            if (section == "remote \"origin\"") origin ??= value;
        }

        return origin ?? first;
    }
}
