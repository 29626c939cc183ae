using Microsoft.Data.Sqlite;

namespace Engram.Core.Tests;

/// <summary>A temporary store folder for one test class; removed with SQLite's -wal and -shm files afterwards.</summary>
public sealed class TempStore : IDisposable
{
    public TempStore()
    {
        Root = Path.Combine(Path.GetTempPath(), "engram-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
    }

    public string Root { get; }

    /// <summary>A fresh store folder under <see cref="Root"/>.</summary>
    public string NewHome() => Path.Combine(Root, Guid.NewGuid().ToString("N"));

    /// <summary>A service over <paramref name="home"/> (a fresh folder when null).</summary>
    public MemoryService Open(string? home = null, string defaultScope = "user") =>
        new(new EngramOptions { HomeDirectory = home ?? NewHome(), DefaultScope = defaultScope });

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A file still open on another platform; the temp folder is cleaned by the OS.
        }
    }
}
