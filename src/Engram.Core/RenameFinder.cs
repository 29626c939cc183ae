using System.Buffers.Binary;

namespace Engram.Core;

/// <summary>
/// Finds where a file of the work tree went when it vanished from its path: a file elsewhere in the tree with the same
/// git blob hash (the same content). It looks first in git's index (a <c>git mv</c>, staged or committed: every tracked
/// path with its blob hash, read again only when the index file changes), then among the files of the tree with the
/// same name (a plain <c>mv</c> into another folder). Answers are kept for <see cref="Fresh"/>, so a recall that meets
/// a vanished file again soon does not walk the tree again; a kept answer is checked against the file as it is now.
/// </summary>
/// <param name="root">The work tree's root, a full path.</param>
/// <param name="blob">git's blob hash of a path relative to the root, read as anchors are (inside the root, cached by
/// the caller), or null when it is no file that may be anchored.</param>
internal sealed class RenameFinder(string root, Func<string, string?> blob)
{
    /// <summary>How long an answer (and the tree's file list) stands before the tree is looked at again.</summary>
    private static readonly TimeSpan Fresh = TimeSpan.FromSeconds(10);

    /// <summary>At most this many files are listed when walking the tree; a larger tree is looked at in part.</summary>
    private const int MaxFiles = 100_000;

    /// <summary>Folders never walked: git's own, and those that hold what is built or installed rather than written.</summary>
    private static readonly HashSet<string> Skipped = new(StringComparer.Ordinal) { "node_modules", "bin", "obj", "target", "dist", "build", "vendor", "__pycache__" };

    private readonly Lock _gate = new();
    private readonly Dictionary<(string Path, string Blob), (string? To, DateTime At)> _answers = [];
    private (DateTime Modified, long Length, ILookup<string, string> Paths)? _index;
    private (DateTime At, ILookup<string, string> Files)? _tree;

    /// <summary>The path (relative to the root, <c>/</c>-separated) where a file with <paramref name="blobHash"/>, once at <paramref name="path"/>, is now; null when none is found.</summary>
    public string? Find(string path, string blobHash)
    {
        lock (_gate)
        {
            var now = DateTime.UtcNow;
            if (_answers.TryGetValue((path, blobHash), out var known) && now - known.At < Fresh)
            {
                return known.To is { } kept && blob(kept) == blobHash ? kept : null;
            }

            var to = Candidates(path, blobHash, now).FirstOrDefault(c => !string.Equals(c, path, StringComparison.Ordinal) && blob(c) == blobHash);
            _answers[(path, blobHash)] = (to, now);
            return to;
        }
    }

    private IEnumerable<string> Candidates(string path, string blobHash, DateTime now)
    {
        foreach (var tracked in Index()[blobHash])
        {
            yield return tracked;
        }

        if (_tree is not { } tree || now - tree.At >= Fresh)
        {
            tree = (now, Walk().ToLookup(p => p[(p.LastIndexOf('/') + 1)..], StringComparer.Ordinal));
            _tree = tree;
        }

        foreach (var named in tree.Files[Path.GetFileName(path)])
        {
            yield return named;
        }
    }

    /// <summary>The tree's files, relative and <c>/</c>-separated, skipping hidden and built folders.</summary>
    private IEnumerable<string> Walk()
    {
        var options = new EnumerationOptions { RecurseSubdirectories = false, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.ReparsePoint };
        var pending = new Stack<string>();
        pending.Push(root);
        var count = 0;
        while (pending.Count > 0 && count < MaxFiles)
        {
            var folder = pending.Pop();
            IEnumerable<string> files, folders;
            try
            {
                files = Directory.EnumerateFiles(folder, "*", options).ToList();
                folders = Directory.EnumerateDirectories(folder, "*", options).ToList();
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }

            foreach (var file in files)
            {
                if (++count > MaxFiles)
                {
                    yield break;
                }

                yield return Path.GetRelativePath(root, file).Replace(Path.DirectorySeparatorChar, '/');
            }

            foreach (var sub in folders)
            {
                var name = Path.GetFileName(sub);
                if (!name.StartsWith('.') && !Skipped.Contains(name))
                {
                    pending.Push(sub);
                }
            }
        }
    }

    /// <summary>git's index: tracked paths by blob hash; read again when the index file changes; empty when there is none or it cannot be read.</summary>
    private ILookup<string, string> Index()
    {
        var file = IndexFile();
        try
        {
            var info = file is null ? null : new FileInfo(file);
            if (info is not { Exists: true })
            {
                return Empty;
            }

            if (_index is { } cached && cached.Modified == info.LastWriteTimeUtc && cached.Length == info.Length)
            {
                return cached.Paths;
            }

            var paths = GitIndex.Read(File.ReadAllBytes(info.FullName)).ToLookup(e => e.Blob, e => e.Path, StringComparer.Ordinal);
            _index = (info.LastWriteTimeUtc, info.Length, paths);
            return paths;
        }
        catch (IOException)
        {
            return Empty;
        }
        catch (UnauthorizedAccessException)
        {
            return Empty;
        }
    }

    private static readonly ILookup<string, string> Empty = Array.Empty<(string, string)>().ToLookup(e => e.Item1, e => e.Item2);

    /// <summary>The index of the root's repository: <c>.git/index</c>, or for a linked work tree the one its <c>.git</c> file points at.</summary>
    private string? IndexFile()
    {
        var dotGit = Path.Combine(root, ".git");
        if (Directory.Exists(dotGit))
        {
            return Path.Combine(dotGit, "index");
        }

        if (File.Exists(dotGit) && File.ReadLines(dotGit).FirstOrDefault() is { } line && line.StartsWith("gitdir:", StringComparison.Ordinal))
        {
            return Path.Combine(Path.GetFullPath(line["gitdir:".Length..].Trim(), root), "index");
        }

        return null;
    }
}

/// <summary>
/// Reads git's index file (versions 2 to 4): each entry's path and blob hash. Only what rename detection needs; an index
/// it does not understand reads as empty.
/// </summary>
internal static class GitIndex
{
    public static List<(string Path, string Blob)> Read(ReadOnlySpan<byte> data)
    {
        var entries = new List<(string, string)>();
        if (data.Length < 12 || !data[..4].SequenceEqual("DIRC"u8))
        {
            return entries;
        }

        var version = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
        var count = BinaryPrimitives.ReadUInt32BigEndian(data[8..]);
        if (version is < 2 or > 4)
        {
            return entries;
        }

        var at = 12;
        var previous = "";
        for (var i = 0; i < count; i++)
        {
            // ctime, mtime, dev, ino, mode, uid, gid, size (40 bytes), the object id (20), flags (2).
            if (at + 62 > data.Length)
            {
                return [];
            }

            var blob = Convert.ToHexStringLower(data.Slice(at + 40, 20));
            var flags = BinaryPrimitives.ReadUInt16BigEndian(data[(at + 60)..]);
            var mode = BinaryPrimitives.ReadUInt32BigEndian(data[(at + 24)..]);
            var header = 62 + ((flags & 0x4000) != 0 && version >= 3 ? 2 : 0);
            var name = at + header;
            string path;
            int end;
            if (version == 4)
            {
                // The path is the previous one less N bytes, then a NUL-terminated suffix; no padding.
                var strip = 0;
                byte c;
                var p = name;
                do
                {
                    if (p >= data.Length)
                    {
                        return [];
                    }

                    c = data[p++];
                    strip = (c & 0x80) != 0 ? ((strip + (c & 0x7f)) + 1) << 7 : strip + (c & 0x7f);
                }
                while ((c & 0x80) != 0);

                var nul = data[p..].IndexOf((byte)0);
                if (nul < 0 || strip > previous.Length)
                {
                    return [];
                }

                path = previous[..^strip] + System.Text.Encoding.UTF8.GetString(data.Slice(p, nul));
                end = p + nul + 1;
            }
            else
            {
                var nul = data[name..].IndexOf((byte)0);
                if (nul < 0)
                {
                    return [];
                }

                path = System.Text.Encoding.UTF8.GetString(data.Slice(name, nul));
                // Entries are padded with 1 to 8 NULs to a multiple of 8 bytes.
                end = at + ((header + nul + 8) & ~7);
            }

            // Regular files only (mode 100644 or 100755): not links, not submodules.
            if ((mode & 0xF000) == 0x8000)
            {
                entries.Add((path, blob));
            }

            previous = path;
            at = end;
        }

        return entries;
    }
}
