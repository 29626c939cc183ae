namespace Engram.Core.Storage;

/// <summary>A memory row as SQLite holds it. Times are Unix milliseconds.</summary>
internal sealed record StoredMemory(
    string Id,
    string Scope,
    string Content,
    IReadOnlyList<string> Tags,
    long ObservedAt,
    long CreatedAt,
    string? SupersededBy,
    long? SupersededAt);

/// <summary>A memory's vector as stored, with the model that made it.</summary>
internal readonly record struct StoredVector(string MemoryId, string Scope, float[] Vector);

/// <summary>
/// An embedding model's identity as the store records it: <c>provider/model/dimensions</c>. Vectors of different
/// identities are never compared.
/// </summary>
internal sealed record EmbeddingModel(string Provider, string Model, int Dimensions)
{
    public string Id { get; } = $"{Provider}/{Model}/{Dimensions}";

    /// <summary>The dimensions an identity (<see cref="Id"/>) names, or null when it names none.</summary>
    public static int? DimensionsOf(string id) =>
        int.TryParse(id.AsSpan(id.LastIndexOf('/') + 1), System.Globalization.CultureInfo.InvariantCulture, out var dimensions) && dimensions > 0 ? dimensions : null;

    public override string ToString() => Id;
}

/// <summary>A memory whose vector for some model is missing: what the background embedder needs to fill it.</summary>
/// <param name="Id">The memory's id.</param>
/// <param name="Scope">Its scope.</param>
/// <param name="Content">Its text.</param>
/// <param name="ContentHash">The hash of its normalised text.</param>
/// <param name="ObservedAt">When it was observed (Unix milliseconds).</param>
/// <param name="Before">The memory stored just before it in its scope, with that one's vector of the model (a reply's question, see <see cref="Search.SessionContext.Answers"/>).</param>
internal readonly record struct UnembeddedMemory(string Id, string Scope, string Content, string ContentHash, long ObservedAt = 0, PrecedingMemory? Before = null)
{
    /// <summary>
    /// Whether a vector made for it still fits once <paramref name="now"/> is the memory stored before it: it answers the
    /// same question as when it was read (none, or the same one), so a reply's row holds no forgotten question.
    /// </summary>
    public bool StillAnswersAsWith(PrecedingMemory? now) =>
        Search.SessionContext.QuestionAnswered(now, ObservedAt) == Search.SessionContext.QuestionAnswered(Before, ObservedAt);
}

/// <summary>
/// The memory stored just before another in its scope (insertion order, as session context counts neighbours), with
/// its vector of one model: null when it has none (not embedded yet, or its text refused).
/// </summary>
internal sealed record PrecedingMemory(string Id, string Content, long ObservedAt, float[]? Vector)
{
    /// <summary>One from the columns id, content, observed_at and vector starting at <paramref name="at"/>; null when the id is (no memory before).</summary>
    public static PrecedingMemory? Read(System.Data.Common.DbDataReader reader, int at) =>
        reader.IsDBNull(at) ? null : new(reader.GetString(at), reader.GetString(at + 1), reader.GetInt64(at + 2),
            reader.IsDBNull(at + 3) ? null : VectorCodec.Decode(reader.GetFieldValue<byte[]>(at + 3)));
}

/// <summary>A scope's vectors for one model: whether they are ready (swapped in) and how many of its memories have one.</summary>
internal readonly record struct ScopeVectors(string Scope, bool Ready, int Memories, int Embedded);

/// <summary>A memory ready to insert: its row, the hash of its normalised text, its vector (null when the embedder was unreachable), what it supersedes, its entities.</summary>
internal sealed record PendingMemory(StoredMemory Memory, string ContentHash, float[]? Vector, IReadOnlyList<string> Supersedes, IReadOnlyList<string> Entities)
{
    /// <summary>The kinds of secret replaced in its text (<see cref="SecretPolicy.Redact"/>), or null.</summary>
    public IReadOnlyList<string>? Redacted { get; init; }

    /// <summary>
    /// The id of the question its vector was made as the answer to ("" for none, see
    /// <see cref="Search.SessionContext.QuestionAnswered"/>), when the vector can depend on it (a reply's row); null when not.
    /// </summary>
    public string? Answering { get; init; }

    /// <summary>Whether its vector lacks a row it should have (its question had no vector yet): used to offer similar memories, not stored.</summary>
    public bool OffersOnly { get; init; }

    /// <summary>
    /// The vector to store: none when it only serves offers, or was made as the answer to another question than the
    /// one it answers after <paramref name="previous"/>, the memory it follows as stored (the background embedder
    /// makes it then).
    /// </summary>
    public float[]? VectorAfter(PrecedingMemory? previous) =>
        OffersOnly ? null : Answering is null || Answering == Search.SessionContext.QuestionAnswered(previous, Memory.ObservedAt) ? Vector : null;
}

/// <summary>
/// A candidate's row with what ranking and filtering need besides: insertion order and the superseder's time. Read in
/// one query, so the hits need no second one.
/// </summary>
internal readonly record struct CandidateMeta(StoredMemory Memory, long Order, long? SupersederObservedAt)
{
    public string Id => Memory.Id;

    public string Scope => Memory.Scope;

    public long ObservedAt => Memory.ObservedAt;

    public string? SupersededBy => Memory.SupersededBy;
}
