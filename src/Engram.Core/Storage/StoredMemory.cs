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

/// <summary>One entry of the change feed: a memory written (or its state changed) or deleted.</summary>
internal readonly record struct Change(long Seq, string MemoryId, string Scope, bool Deleted);

/// <summary>A memory's vector as stored, with the model that made it.</summary>
internal readonly record struct StoredVector(string MemoryId, string Scope, float[] Vector);

/// <summary>
/// An embedding model's identity as the store records it: <c>provider/model/dimensions</c>. Vectors of different
/// identities are never compared.
/// </summary>
internal sealed record EmbeddingModel(string Provider, string Model, int Dimensions)
{
    public string Id { get; } = $"{Provider}/{Model}/{Dimensions}";

    public override string ToString() => Id;
}

/// <summary>A memory whose vector for some model is missing: what the background embedder needs to fill it.</summary>
internal readonly record struct UnembeddedMemory(string Id, string Scope, string Content, string ContentHash);

/// <summary>A scope's vectors for one model: whether they are ready (swapped in) and how many of its memories have one.</summary>
internal readonly record struct ScopeVectors(string Scope, bool Ready, int Memories, int Embedded);

/// <summary>A memory ready to insert: its row, the hash of its normalised text, its vector (null when the embedder was unreachable), what it supersedes, its entities.</summary>
internal sealed record PendingMemory(StoredMemory Memory, string ContentHash, float[]? Vector, IReadOnlyList<string> Supersedes, IReadOnlyList<string> Entities);

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

/// <summary>
/// The text of the memories stored just before and after one in its scope, within the same session: what the lexical
/// index adds to the memory as weak context. A statement often leaves its subject to the one before it ("Which one?"
/// "The Postgres one, because ..."), and a question then names words its neighbours hold.
/// </summary>
/// <param name="Adjacent">The memories next to it (one before, one after).</param>
/// <param name="Nearby">The memories two places away.</param>
/// <param name="Asked">The memory just before, when it asks a question: the one this memory most likely answers.</param>
internal sealed partial record SessionContext(string Adjacent, string Nearby, string Asked)
{
    /// <summary>How many memories on each side count as context.</summary>
    public const int Radius = 2;

    /// <summary>Neighbours observed further apart than this belong to another session and are not context.</summary>
    public static readonly TimeSpan Session = TimeSpan.FromHours(1);

    /// <summary>The context of <paramref name="memory"/> from its neighbours, nearest first on each side.</summary>
    public static SessionContext Of(StoredMemory memory, IEnumerable<(string Content, long ObservedAt)> before, IEnumerable<(string Content, long ObservedAt)> after)
    {
        var window = (long)Session.TotalMilliseconds;
        var levels = new[] { new List<string>(), new List<string>() };
        var asked = "";
        foreach (var side in new[] { before, after })
        {
            var distance = 0;
            foreach (var (content, observedAt) in side.Take(Radius))
            {
                if (Math.Abs(observedAt - memory.ObservedAt) > window)
                {
                    break;
                }

                if (distance == 0 && side == before && AsksQuestion(content))
                {
                    asked = content;
                }

                levels[distance++].Add(content);
            }
        }

        return new SessionContext(string.Join('\n', levels[0]), string.Join('\n', levels[1]), asked);
    }

    /// <summary>
    /// Whether a text asks something: a question mark closing a word or a quote, at the end or before a space and
    /// something other than a lower-case word. Code (<c>a ?? b</c>, <c>x ? y : z</c>, <c>string? name</c>) and query
    /// strings (<c>?page=2</c>) do not count.
    /// </summary>
    public static bool AsksQuestion(string text) => Question().IsMatch(text);

    [System.Text.RegularExpressions.GeneratedRegex(@"[\p{L}\p{N}""'’)\]][?？][?!？！]*(?:\s*$|\s+(?!\p{Ll}))")]
    private static partial System.Text.RegularExpressions.Regex Question();
}
