using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Engram.Core.Model;
using Engram.Core.Storage;

namespace Engram.Core;

/// <summary>
/// Code-anchored memories: the files of the project's work tree a memory names, with each file's git blob hash when it
/// was remembered (never its content). A memory whose file has changed or vanished since is stale: still returned, marked
/// so the calling model can decide. A file's hash is cached by its modification time and size, so a recall re-reads
/// only files that changed.
/// </summary>
/// <param name="root">The work tree's root (<see cref="EngramOptions.ProjectRoot"/>); null outside a repository: nothing is anchored.</param>
internal sealed partial class CodeAnchors(string? root)
{
    private readonly ConcurrentDictionary<string, (DateTime Modified, long Length, string Blob)> _hashes = new(StringComparer.Ordinal);

    /// <summary>Whether anchoring is on (the server runs inside a work tree).</summary>
    public bool Enabled => root is not null;

    /// <summary>The files under the root that <paramref name="content"/> names, with their blob hashes now.</summary>
    public List<CodeAnchor> Find(string content, long at)
    {
        var anchors = new List<CodeAnchor>();
        if (root is null)
        {
            return anchors;
        }

        foreach (var path in PathPattern().Matches(content).Select(m => m.Groups[1].Value.TrimStart('.', '/')).Distinct(StringComparer.Ordinal))
        {
            if (Resolve(path) is { } file && Blob(file) is { } blob)
            {
                anchors.Add(new CodeAnchor(path, blob, at));
            }
        }

        return anchors;
    }

    /// <summary>How an anchored file stands now: null when unchanged (or anchoring is off), else changed or deleted.</summary>
    public StaleAnchor? Check(CodeAnchor anchor)
    {
        if (root is null)
        {
            return null;
        }

        var file = Resolve(anchor.Path);
        if (file is null || !File.Exists(file))
        {
            return new StaleAnchor(anchor.Path, "deleted", null);
        }

        return Blob(file) is { } blob && blob != anchor.Blob
            ? new StaleAnchor(anchor.Path, "changed", new DateTimeOffset(File.GetLastWriteTimeUtc(file), TimeSpan.Zero))
            : null;
    }

    /// <summary>The full path of <paramref name="path"/> under the root, or null when it leaves the root or is not a file.</summary>
    private string? Resolve(string path)
    {
        var full = Path.GetFullPath(Path.Combine(root!, path));
        var inside = full.StartsWith(Path.GetFullPath(root!).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal);
        return inside && !full.Contains($"{Path.DirectorySeparatorChar}.git{Path.DirectorySeparatorChar}", StringComparison.Ordinal) && File.Exists(full) ? full : null;
    }

    /// <summary>git's blob hash of a file (SHA-1 of "blob {length}\0" and the bytes), cached by modification time and size.</summary>
    private string? Blob(string file)
    {
        try
        {
            var info = new FileInfo(file);
            if (_hashes.TryGetValue(file, out var cached) && cached.Modified == info.LastWriteTimeUtc && cached.Length == info.Length)
            {
                return cached.Blob;
            }

            var blob = BlobHash(File.ReadAllBytes(file));
            _hashes[file] = (info.LastWriteTimeUtc, info.Length, blob);
            return blob;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>git's object id of a blob holding <paramref name="bytes"/>.</summary>
    public static string BlobHash(byte[] bytes)
    {
#pragma warning disable CA5350 // SHA-1 is git's object id, not a security measure here.
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
#pragma warning restore CA5350
        sha.AppendData(Encoding.ASCII.GetBytes($"blob {bytes.Length}\0"));
        sha.AppendData(bytes);
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>A relative file path with an extension (<c>src/Billing/RetryPolicy.cs</c>, <c>./package.json</c>), not part of a URL.</summary>
    [GeneratedRegex(@"(?<![\w/.:\-@])((?:\./)?(?:[\w.\-]+/)*[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z0-9]{1,10})(?![\w/])")]
    private static partial Regex PathPattern();
}
