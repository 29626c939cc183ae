using Engram.Core.Embeddings;
using Engram.Core.Search;
using Engram.Core.Storage;
using Engram.Core.Storage.Postgres;
using Engram.Core.Storage.Sqlite;
using Microsoft.Extensions.Logging;

namespace Engram.Core;

/// <summary>
/// The parts of an open store: the store itself (the truth), the derived indexes that catch up from its change feed
/// (lexical, vectors, rows), the recall log writer and the background embedder.
/// </summary>
internal sealed partial class MemoryEngine : IAsyncDisposable
{
    private MemoryEngine(IMemoryStore store, string cacheDirectory, LexicalIndex lexical, VectorIndex vectors, RowCache rows, RetrievalLog log, EmbeddingBackfill backfill, EmbeddingRuntime embedder)
    {
        Store = store;
        CacheDirectory = cacheDirectory;
        Lexical = lexical;
        Vectors = vectors;
        Rows = rows;
        Log = log;
        Backfill = backfill;
        Embedder = embedder;
        Derived = [lexical, vectors, rows];
    }

    public IMemoryStore Store { get; }

    /// <summary>The folder of this machine's derived indexes: the store's home for SQLite, a folder per database for PostgreSQL.</summary>
    public string CacheDirectory { get; }

    public LexicalIndex Lexical { get; }

    public VectorIndex Vectors { get; }

    public RowCache Rows { get; }

    public RetrievalLog Log { get; }

    public EmbeddingBackfill Backfill { get; }

    public EmbeddingRuntime Embedder { get; }

    /// <summary>Every derived index, in the order they catch up.</summary>
    public IReadOnlyList<IDerivedIndex> Derived { get; }

    /// <summary>The SQLite database in a store's home.</summary>
    public static string DatabasePath(string home) => Path.Combine(home, "engram.db");

    /// <summary>The lexical index's folder in a store's home.</summary>
    public static string IndexPath(string home) => Path.Combine(home, "index");

    /// <summary>Opens (creating or migrating) the store in <paramref name="options"/>' home and its derived indexes.</summary>
    public static async Task<MemoryEngine> OpenAsync(EngramOptions options, EmbeddingRuntime embedder, ILoggerFactory loggerFactory)
    {
        Directory.CreateDirectory(options.HomeDirectory);
        var (store, cache) = await OpenStoreAsync(options).ConfigureAwait(false);
        // Far behind a store that can search its own text, the lexical index builds in the background meanwhile.
        var lexical = new LexicalIndex(store, IndexPath(cache), loggerFactory.CreateLogger<LexicalIndex>()) { BackgroundLag = store is ITextSearch ? options.BackgroundIndexLag : null };
        // The embedder's identity comes from a first vector; if it cannot be reached now, the store opens all the same
        // and the vector index starts when it answers.
        var vectors = new VectorIndex(store, () => embedder.Model);
        await embedder.EnsureModelAsync(CancellationToken.None).ConfigureAwait(false);
        var logger = loggerFactory.CreateLogger<MemoryEngine>();
        if (logger.IsEnabled(LogLevel.Information))
        {
            var described = embedder.Model?.Id ?? $"{embedder.Provider}/{embedder.ModelName} (unreachable: {embedder.Problem})";
            LogOpened(logger, store.Description, described);
        }

        var log = new RetrievalLog(store, loggerFactory.CreateLogger<RetrievalLog>());
        var backfill = new EmbeddingBackfill(store, embedder, options, loggerFactory.CreateLogger<EmbeddingBackfill>());
        if (options.BackgroundEmbedding)
        {
            backfill.Start();
        }

        return new MemoryEngine(store, cache, lexical, vectors, new RowCache(store), log, backfill, embedder);
    }

    /// <summary>
    /// The store <paramref name="options"/> name, and the folder for this machine's caches of it: with PostgreSQL, one
    /// per database (by its id), so servers on one machine share their indexes and a database created anew never meets
    /// an old cache.
    /// </summary>
    private static async Task<(IMemoryStore Store, string Cache)> OpenStoreAsync(EngramOptions options)
    {
        if (options.Store is { Length: > 0 } connection)
        {
            var postgres = await PostgresMemoryStore.OpenAsync(PostgresLocation.Parse(connection)).ConfigureAwait(false);
            var cache = Path.Combine(options.HomeDirectory, "postgres", postgres.StoreId);
            Directory.CreateDirectory(cache);
            return (postgres, cache);
        }

        return (await SqliteMemoryStore.OpenAsync(DatabasePath(options.HomeDirectory)).ConfigureAwait(false), options.HomeDirectory);
    }

    /// <summary>
    /// Brings the derived indexes (all, or <paramref name="only"/> those given) up to the store's change feed, loading
    /// <paramref name="scopes"/> where an index loads per scope. Returns the feed's position caught up to.
    /// </summary>
    public async Task<long> CatchUpAsync(IReadOnlyList<string> scopes, CancellationToken cancellationToken, params IDerivedIndex[] only)
    {
        var seq = await Store.MaxSeqAsync(cancellationToken).ConfigureAwait(false);
        foreach (var index in only.Length > 0 ? only : Derived)
        {
            await index.CatchUpAsync(seq, scopes, cancellationToken).ConfigureAwait(false);
        }

        return seq;
    }

    public async ValueTask DisposeAsync()
    {
        await Backfill.DisposeAsync().ConfigureAwait(false);
        await Log.DisposeAsync().ConfigureAwait(false);
        Lexical.Dispose();
        Vectors.Dispose();
        if (Store is IAsyncDisposable disposable)
        {
            await disposable.DisposeAsync().ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Engram store opened: {Store} (embeddings: {Model}).")]
    private static partial void LogOpened(ILogger logger, string store, string model);
}
