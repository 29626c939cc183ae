using Microsoft.Data.Sqlite;

namespace Engram.Core.Tests;

/// <summary>
/// A temporary store folder for one test class; removed with SQLite's -wal and -shm files afterwards. With
/// <c>ENGRAM_TEST_STORE=postgres</c> every home is also a fresh PostgreSQL database (the folder then holds only the
/// caches), so the same tests run on both stores; the databases are dropped afterwards.
/// </summary>
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

    /// <summary>
    /// The lexical index's folder of a store opened at <paramref name="home"/>: in the home on SQLite, under its
    /// PostgreSQL database's cache folder otherwise.
    /// </summary>
    public static string IndexFolder(string home) =>
        Directory.GetDirectories(home, "index", SearchOption.AllDirectories).Single();

    /// <summary>A service over <paramref name="home"/> (a fresh folder when null).</summary>
    public MemoryService Open(string? home = null, string defaultScope = "user") =>
        new(Options(home ?? NewHome(), defaultScope));

    /// <summary>The options of a service over <paramref name="home"/>: its SQLite store, or its own PostgreSQL database.</summary>
    public static EngramOptions Options(string home, string defaultScope = "user") =>
        new() { HomeDirectory = home, DefaultScope = defaultScope, Store = TestPostgres.IsDefaultStore ? TestPostgres.DatabaseOf(home) : null };


    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        TestPostgres.DropDatabasesUnder(Root);
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
