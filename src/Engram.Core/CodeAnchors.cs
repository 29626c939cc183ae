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
/// so the calling model can decide; one found elsewhere with the same content is renamed (<see cref="RenameFinder"/>). A
/// file's hash is cached by its modification time and size, so a recall re-reads
/// only files that changed.
/// </summary>
/// <param name="root">The work tree's root (<see cref="EngramOptions.ProjectRoot"/>); null outside a repository: nothing is anchored.</param>
internal sealed partial class CodeAnchors(string? root)
{
    /// <summary>Files larger than this are not anchored (nor read at recall): generated or binary, not what a fact names.</summary>
    private const long MaxFileBytes = 4 * 1024 * 1024;

    private readonly string? _root = root is null ? null : Path.GetFullPath(root).TrimEnd(Path.DirectorySeparatorChar);

    private readonly ConcurrentDictionary<string, (DateTime Modified, long Length, string Blob)> _hashes = new(StringComparer.Ordinal);

    private RenameFinder? _renameFinder;

    /// <summary>Where vanished files went; made on the first vanished file.</summary>
    private RenameFinder Renames => _renameFinder ??= new RenameFinder(_root!, path => Resolve(path) is { } file ? Blob(file) : null);

    /// <summary>Whether anchoring is on (the server runs inside a work tree).</summary>
    public bool Enabled => _root is not null;

    /// <summary>The files under the root that <paramref name="content"/> names, with their blob hashes now.</summary>
    public List<CodeAnchor> Find(string content, long at)
    {
        var anchors = new List<CodeAnchor>();
        if (_root is null)
        {
            return anchors;
        }

        foreach (var path in PathPattern().Matches(content).Select(m => m.Groups[1].Value).Select(p => p.StartsWith("./", StringComparison.Ordinal) ? p[2..] : p).Distinct(StringComparer.Ordinal))
        {
            if (Resolve(path) is { } file && Blob(file) is { } blob)
            {
                anchors.Add(new CodeAnchor(path, blob, at, _root));
            }
        }

        return anchors;
    }

    /// <summary>How an anchored file stands now: null when unchanged (or anchoring is off), else changed or deleted.</summary>
    public StaleAnchor? Check(CodeAnchor anchor)
    {
        // Another work tree's anchor (a memory of the user scope remembered in another repository) is not judged here.
        if (_root is null || !string.Equals(anchor.Root, _root, StringComparison.Ordinal))
        {
            return null;
        }

        var file = Resolve(anchor.Path);
        if (file is null)
        {
            if (File.Exists(Path.Combine(_root, anchor.Path)))
            {
                return null;
            }

            return Renames.Find(anchor.Path, anchor.Blob) is { } moved
                ? new StaleAnchor(anchor.Path, "renamed", new DateTimeOffset(Directory.GetLastWriteTimeUtc(Path.GetDirectoryName(Path.Combine(_root, moved))!), TimeSpan.Zero), moved)
                : new StaleAnchor(anchor.Path, "deleted", null);
        }

        return Blob(file) is { } blob && blob != anchor.Blob
            ? new StaleAnchor(anchor.Path, "changed", new DateTimeOffset(File.GetLastWriteTimeUtc(file), TimeSpan.Zero))
            : null;
    }

    /// <summary>
    /// The full path of <paramref name="path"/> under the root: a regular file of at most <see cref="MaxFileBytes"/>,
    /// itself and (if a link) its target inside the root, not under <c>.git</c>; else null.
    /// </summary>
    private string? Resolve(string path)
    {
        if (path.Split('/', '\\').Contains(".."))
        {
            return null;
        }

        var full = Path.GetFullPath(Path.Combine(_root!, path));
        if (!Inside(full) || full.Contains($"{Path.DirectorySeparatorChar}.git{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
        {
            return null;
        }

        try
        {
            var info = new FileInfo(full);
            if (!info.Exists)
            {
                return null;
            }

            if (info.LinkTarget is not null)
            {
                // A link may point anywhere (another tree, a device): only a regular file inside the root counts.
                if (info.ResolveLinkTarget(returnFinalTarget: true) is not FileInfo target || !target.Exists || !Inside(target.FullName))
                {
                    return null;
                }

                info = target;
            }

            return (info.Attributes & (FileAttributes.Device | FileAttributes.Directory)) == 0 && info.Length <= MaxFileBytes ? info.FullName : null;
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

    private bool Inside(string full) => full.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal);

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

            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 65536);
            var blob = BlobHash(stream, info.Length);
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
        using var stream = new MemoryStream(bytes);
        return BlobHash(stream, bytes.Length);
    }

    /// <summary>git's object id of a blob of <paramref name="length"/> bytes read from <paramref name="stream"/>.</summary>
    private static string BlobHash(Stream stream, long length)
    {
#pragma warning disable CA5350 // SHA-1 is git's object id, not a security measure here.
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
#pragma warning restore CA5350
        sha.AppendData(Encoding.ASCII.GetBytes($"blob {length}\0"));
        var buffer = new byte[65536];
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            sha.AppendData(buffer.AsSpan(0, read));
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>A relative file path with an extension (<c>src/Billing/RetryPolicy.cs</c>, <c>./package.json</c>), not part of a URL.</summary>
    [GeneratedRegex(@"(?<![\w/.:\-@])((?:\./)?(?:[\w.\-]+/)*[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z0-9]{1,10})(?![\w/])")]
    private static partial Regex PathPattern();
}
