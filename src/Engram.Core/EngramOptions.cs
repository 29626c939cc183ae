namespace Engram.Core;

/// <summary>Settings of one Engram store and its service.</summary>
public sealed class EngramOptions
{
    /// <summary>The most characters a memory may hold. Memories are single facts, not documents.</summary>
    public const int MaxContentLength = 4000;

    /// <summary>The most characters a recall query may hold.</summary>
    public const int MaxQueryLength = 2000;

    /// <summary>The largest <c>limit</c> a recall accepts.</summary>
    public const int MaxRecallLimit = 100;

    /// <summary>The most tags one memory may carry.</summary>
    public const int MaxTags = 20;

    /// <summary>The longest tag.</summary>
    public const int MaxTagLength = 64;

    /// <summary>The most ids a forget result lists; <c>count</c> is always exact.</summary>
    public const int MaxForgetIdsListed = 1000;

    /// <summary>
    /// The folder that holds the SQLite store (<c>engram.db</c>) and its derived index; with a PostgreSQL
    /// <see cref="Store"/>, only this machine's caches of it (<c>postgres/&lt;store id&gt;/</c>). Created when missing.
    /// </summary>
    public string HomeDirectory { get; set; } = DefaultHomeDirectory;

    /// <summary>
    /// A PostgreSQL connection string (<c>postgres://user@host:5432/engram</c> or <c>Host=...;Database=...</c>, without
    /// a password: Npgsql reads <c>PGPASSWORD</c> or <c>~/.pgpass</c>) for a store shared by a team; <see langword="null"/>
    /// for the SQLite file in <see cref="HomeDirectory"/>.
    /// </summary>
    public string? Store { get; set; }

    /// <summary>The scope writes go to when a request names none: the resolved project, else <c>user</c>.</summary>
    public string DefaultScope { get; set; } = Scopes.ScopeName.User;

    /// <summary>How <see cref="DefaultScope"/> was chosen, in words (shown by explain).</summary>
    public string DefaultScopeSource { get; set; } = "no project resolved";

    /// <summary>The calendar a query's dates are read in ("on 3 March", "yesterday"): the machine's, where the person asking is.</summary>
    public TimeZoneInfo TimeZone { get; set; } = TimeZoneInfo.Local;

    /// <summary>
    /// The longest an embedding call may take before the memory is stored without its vector (filled in later) or the
    /// recall goes on without the vector signal.
    /// </summary>
    public TimeSpan EmbeddingTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>After an embedding call fails, how long the embedder is left alone before it is tried again.</summary>
    public TimeSpan EmbeddingRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The clock of the embedder's back-off and of the token cache: it tells when an embedder paused after a failure (for
    /// <see cref="EmbeddingRetryDelay"/>) may be called again, and when a cached token answer (for
    /// <see cref="TokenCacheDuration"/>) is stale. A test passes a fake one to end a pause or a window without waiting.
    /// </summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// How long a server keeps what the store said about a presented token (who it belongs to, or that it is not one), so
    /// that not every request reads the store. A token revoked by another process stops working on this one within this
    /// time; the process that revokes it stops accepting it at once.
    /// </summary>
    public TimeSpan TokenCacheDuration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Whether the service fills missing vectors in the background (a server's job). A one-shot command turns it off:
    /// it would exit before the work is done, and <c>reembed</c> does that work in the foreground, counting all of it.
    /// </summary>
    public bool BackgroundEmbedding { get; set; } = true;

    /// <summary>
    /// What <c>remember</c> (and import) does with a text that holds a secret (a private key, a token of a known shape, a
    /// password in a connection string, a random value assigned to a secret-sounding name): refuse it (the default),
    /// store it with each value replaced by <c>[REDACTED:kind]</c>, or not look (<c>ENGRAM_SECRETS</c>).
    /// </summary>
    public SecretPolicy Secrets { get; set; } = SecretPolicy.Refuse;

    /// <summary>
    /// The root of the project's git work tree, when the server runs inside one: <c>remember</c> then records the blob
    /// hash of each file a memory names, and <c>recall</c> marks a memory whose file changed or vanished since as stale.
    /// Null: no anchoring.
    /// </summary>
    public string? ProjectRoot { get; set; }

    /// <summary>The default of <see cref="BackgroundIndexLag"/>: about a second of indexing on a small machine.</summary>
    public const long DefaultBackgroundIndexLag = 5_000;

    /// <summary>
    /// On a store that can search its own text (PostgreSQL): how many changes this process's lexical index may be behind
    /// for a recall to bring it up to date before answering. Further behind (a server joining a large store), the index
    /// builds in the background and recalls find words with the store's full-text search until it is done.
    /// </summary>
    public long BackgroundIndexLag { get; set; } = DefaultBackgroundIndexLag;

    /// <summary>
    /// The lexical (BM25) signal's weight in the fusion by rank: the anchor the other weights are relative to. With a
    /// model's vectors the signals are fused by evidence (a fitted model, <c>EvidenceFusion</c>) and these weights apply
    /// only when the model cannot answer.
    /// </summary>
    public double LexicalWeight { get; set; } = 1.0;

    /// <summary>
    /// The vector signal's weight with the built-in hashed vectors. They share BM25's evidence (the same words) with more
    /// noise: alone they reach LoCoMo recall@10 0.38 against BM25's 0.57, and fused at any weight they reorder BM25's
    /// list for the worse. So they only add candidates BM25 did not find (other word forms, split or joined
    /// identifiers), at this weight: a fallback that never reorders what BM25 found.
    /// </summary>
    public double HashedVectorWeight { get; set; } = 0.5;

    /// <summary>
    /// The cosine from which <c>remember</c> offers an existing memory in <c>similar</c>, with a model's vectors. Calibrated
    /// for the shipped all-MiniLM-L6-v2 on the restatement pairs in <c>../shared/bench/projects</c>: restatements score
    /// 0.48–0.94 (all but 2 of 31 at 0.63 or more), different facts on the same topic 0.15–0.61; halfway between the
    /// highest different fact and the third lowest restatement (docs/benchmarks.md). Another model scales its cosines its
    /// own way: set this for it.
    /// </summary>
    public double SimilarThreshold { get; set; } = 0.62;

    /// <summary>
    /// The same with the built-in hashed vectors, which score by shared words: restatements in other words score
    /// 0.10–0.67 on the same pairs, different facts on the same topic −0.05–0.19, but two facts about one service share
    /// its name and more. Only restatements in mostly the same words are offered (8 of the 31 pairs).
    /// </summary>
    public double HashedSimilarThreshold { get; set; } = 0.55;

    /// <summary>The entity signal's weight (names, identifiers and paths the query and a memory share).</summary>
    public double EntityWeight { get; set; } = 0.5;

    /// <summary>
    /// The time signal's weight: a date in the query says when, not what, so it lifts what was said then among what
    /// matches, and brings in the rest of that day below the query's own matches.
    /// </summary>
    public double TimeWeight { get; set; } = 0.5;

    /// <summary>Whether <paramref name="store"/> names a PostgreSQL database (a URI or key=value string) rather than a folder.</summary>
    public static bool IsConnectionString(string store) => Storage.Postgres.PostgresLocation.IsConnectionString(store);

    /// <summary>A PostgreSQL connection string as banners show it (<c>postgres://user@host/db</c>), after checking it.</summary>
    /// <exception cref="EngramArgumentException">Malformed, or carrying a password; the message says what to send.</exception>
    public static string DescribeConnectionString(string store) => Storage.Postgres.PostgresLocation.Parse(store).Display;

    /// <summary>The default home: <c>~/.engram</c>.</summary>
    public static string DefaultHomeDirectory =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".engram");
}

/// <summary>What <c>remember</c> does with a secret in a memory's text (<see cref="EngramOptions.Secrets"/>).</summary>
public enum SecretPolicy
{
    /// <summary>Refuse the memory, naming what was found (kind and position, never the value); nothing is stored.</summary>
    Refuse,

    /// <summary>Store it with each secret value replaced by <c>[REDACTED:kind]</c>, and say so in the result.</summary>
    Redact,

    /// <summary>Do not look for secrets.</summary>
    Off,
}
