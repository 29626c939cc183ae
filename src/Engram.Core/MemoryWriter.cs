using Engram.Core.Curation;
using Engram.Core.Embeddings;
using Engram.Core.Model;
using Engram.Core.Scopes;
using Engram.Core.Storage;
using Microsoft.Extensions.Logging;

namespace Engram.Core;

/// <summary>
/// The write path: checks requests, embeds them (an unreachable embedder does not hold a write up), stores them with
/// dedup and supersession in one transaction, and offers the existing memories a new one may restate or replace.
/// </summary>
/// <param name="engine">The store and its derived indexes.</param>
/// <param name="similarThreshold">The cosine from which an existing memory is offered in <c>similar</c> (per kind of vectors, see <see cref="EngramOptions.SimilarThreshold"/>).</param>
/// <param name="secretPolicy">What to do with a secret in a memory's text (<see cref="EngramOptions.Secrets"/>).</param>
/// <param name="anchors">The files memories name in the project's work tree (re-anchored when a fact is remembered again).</param>
/// <param name="logger">Logging.</param>
internal sealed partial class MemoryWriter(MemoryEngine engine, double similarThreshold, SecretPolicy secretPolicy, CodeAnchors anchors, ILogger logger)
{
    private const int MaxSimilar = 3;

    /// <summary>
    /// Checks and embeds <paramref name="requests"/>, each in the scope it names (else the default) as
    /// <paramref name="caller"/> may write it; in a batch, a request's message is prefixed with <paramref name="name"/> of
    /// its index (by default "Request i").
    /// </summary>
    /// <exception cref="EngramArgumentException">A request is invalid, or names a scope outside the caller's.</exception>
    public async Task<List<PendingMemory>> PrepareAsync(IReadOnlyList<RememberRequest> requests, CallerScopes caller, CancellationToken cancellationToken, Func<int, string>? name = null)
    {
        // A batch's requests are named in messages; so is a lone one when the caller names them (an import's record).
        var named = name is not null || requests.Count > 1;
        name ??= i => $"Request {i}";
        var now = DateTimeOffset.UtcNow;
        var pending = new List<PendingMemory>(requests.Count);
        var contents = new List<string>(requests.Count);
        for (var i = 0; i < requests.Count; i++)
        {
            var request = requests[i] ?? throw new EngramArgumentException($"{name(i)} is null.");
            try
            {
                var content = Validation.Text(request.Content, "content", EngramOptions.MaxContentLength,
                    "A memory is one self-contained fact of a few sentences, not a document: split it into separate facts, or keep documents in your repository and remember where they are.");
                var (checkedContent, redacted) = Secrets(content);
                content = checkedContent;
                var scope = caller.Write(request.Scope);
                var supersedes = (request.Supersedes ?? []).Select(id => Validation.Id(id, "supersedes[]")).Distinct(StringComparer.Ordinal).ToList();
                var observedAt = (request.ObservedAt ?? now).ToUnixTimeMilliseconds();
                var memory = new StoredMemory(Ids.New("mem_"), scope, content, Validation.Tags(request.Tags), observedAt, now.ToUnixTimeMilliseconds(), null, null);
                pending.Add(new PendingMemory(memory, ContentHash.Compute(content), null, supersedes, EntityExtractor.Extract(content)) { Redacted = redacted });
                contents.Add(content);
            }
            catch (EngramArgumentException e) when (named)
            {
                throw new EngramArgumentException($"{name(i)}: {e.Message}", e);
            }
        }

        // An unreachable embedder does not hold the write up: the memory is stored now and embedded in the background.
        var (asked, after, later) = await AskedAsync(pending, cancellationToken).ConfigureAwait(false);
        var vectors = await engine.Embedder.TryEmbedDocumentsAsync(contents, cancellationToken, asked: asked).ConfigureAwait(false);
        return vectors is null ? pending : pending.Select((p, i) => p with { Vector = vectors[i], Answering = after?[i], OffersOnly = later.Contains(i) }).ToList();
    }

    /// <summary>
    /// The question each new memory answers (<see cref="Search.SessionContext.Answers"/>): the memory it will follow in
    /// its scope, an earlier one of the batch or the scope's last, when that one asks within the session (its id, or ""
    /// for none, is <see cref="PendingMemory.Answering"/>: the store keeps the vector only if the memory answers the same
    /// when written). Nulls when the embedder embeds no such rows. A memory whose
    /// question has no vector yet is stored without its vector (its index in <c>Later</c>; the vector, lacking the
    /// reply's row, still finds the memories it restates), and the background embedder makes it after the question's;
    /// one whose question's text was refused (an empty vector) gets no row.
    /// </summary>
    private async Task<(List<EmbeddingRuntime.Asked?>? Asked, List<string>? After, HashSet<int> Later)> AskedAsync(List<PendingMemory> pending, CancellationToken cancellationToken)
    {
        var later = new HashSet<int>();
        // A model that does not state its dimensions is known from a first vector: learnt now, so the first reply gets its row.
        if (!engine.Embedder.EmbedsSentences || await engine.Embedder.EnsureModelAsync(cancellationToken).ConfigureAwait(false) is not { } model)
        {
            return (null, null, later);
        }

        var last = await engine.Store.LastMemoriesAsync(pending.Select(p => p.Memory.Scope).ToList(), model.Id, cancellationToken).ConfigureAwait(false);
        var asked = new List<EmbeddingRuntime.Asked?>(pending.Count);
        var after = new List<string>(pending.Count);
        var latest = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < pending.Count; i++)
        {
            var memory = pending[i].Memory;
            var (before, earlier) = latest.TryGetValue(memory.Scope, out var j)
                ? (new PrecedingMemory(pending[j].Memory.Id, pending[j].Memory.Content, pending[j].Memory.ObservedAt, null), j)
                : (last.GetValueOrDefault(memory.Scope), -1);
            var question = Search.SessionContext.QuestionAnswered(before, memory.ObservedAt);
            asked.Add(EmbeddingRuntime.Asked.By(before, earlier, memory.ObservedAt));
            after.Add(question);
            if (question != "" && earlier < 0 && before!.Vector is null)
            {
                later.Add(i);
            }

            latest[memory.Scope] = i;
        }

        return (asked, after, later);
    }

    /// <summary>
    /// Records the files each stored memory names, as they are now, in one write: a new memory that names some, and a fact
    /// remembered again (re-anchored, to none if its files are gone).
    /// </summary>
    private async Task AnchorAsync(List<PendingMemory> pending, IReadOnlyList<InsertOutcome> inserted, CancellationToken cancellationToken)
    {
        if (!anchors.Enabled)
        {
            return;
        }

        var anchored = new List<(string MemoryId, IReadOnlyList<CodeAnchor> Anchors)>();
        for (var i = 0; i < pending.Count; i++)
        {
            var found = anchors.Find(pending[i].Memory.Content, pending[i].Memory.CreatedAt);
            if (found.Count > 0 || !inserted[i].Created)
            {
                anchored.Add((inserted[i].Id, found));
            }
        }

        if (anchored.Count > 0)
        {
            // A batch may name one memory twice (a fact and its restatement): its last anchoring stands.
            await engine.Store.SetAnchorsAsync(anchored.GroupBy(a => a.MemoryId, StringComparer.Ordinal).Select(g => g.Last()).ToList(), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Applies the secret policy to a memory's text before anything is written: refused with the kinds and positions
    /// found (never the values), or redacted, or unchecked.
    /// </summary>
    private (string Content, IReadOnlyList<string>? Redacted) Secrets(string content)
    {
        if (secretPolicy == SecretPolicy.Off || SecretScanner.Scan(content) is not { Count: > 0 } found)
        {
            return (content, null);
        }

        if (secretPolicy == SecretPolicy.Redact)
        {
            return (SecretScanner.Redact(content, found), found.Select(f => f.Kind).Distinct(StringComparer.Ordinal).ToList());
        }

        throw new EngramArgumentException(
            $"This memory looks like it holds a secret ({SecretScanner.Describe(found)}); nothing was stored. Remember where the secret lives instead "
            + "(\"the staging key is in the vault under payments-staging\"), or remove it. (ENGRAM_SECRETS=redact stores such memories with the value replaced.)");
    }

    /// <summary>Stores prepared memories in one transaction; results in request order.</summary>
    public async Task<IReadOnlyList<RememberResult>> InsertAsync(List<PendingMemory> pending, CancellationToken cancellationToken)
    {
        var inserted = await engine.Store.InsertAsync(pending, engine.Embedder.Model, cancellationToken).ConfigureAwait(false);
        if (inserted.Any(o => o.Created && !o.Embedded))
        {
            engine.Backfill.Wake();
        }

        await AnchorAsync(pending, inserted, cancellationToken).ConfigureAwait(false);
        var results = new List<RememberResult>(pending.Count);
        for (var i = 0; i < pending.Count; i++)
        {
            var (created, id, _) = inserted[i];

            var memory = pending[i].Memory;
            LogRemembered(logger, id, memory.Scope, created);
            LogRememberedContent(logger, id, memory.Content);
            results.Add(new RememberResult(id, memory.Scope, created ? RememberStatus.Created : RememberStatus.Duplicate, created ? null : id, pending[i].Supersedes, []) { Redacted = pending[i].Redacted });
        }

        return results;
    }

    /// <summary>Existing current memories of <paramref name="scope"/> close to <paramref name="vector"/>, besides the memory itself and what it supersedes.</summary>
    public async Task<IReadOnlyList<SimilarMemory>> SimilarAsync(string scope, float[] vector, string selfId, IReadOnlyList<string> exclude, CancellationToken cancellationToken)
    {
        await engine.CatchUpAsync([scope], cancellationToken, engine.Vectors).ConfigureAwait(false);
        // Superseded memories are filtered after the scan, so look a little deeper than the three offered.
        // By whole texts: a restatement says the same thing as a whole, not as one of its sentences.
        var whole = vector.AsSpan(0, engine.Embedder.Model?.Dimensions ?? vector.Length);
        var near = engine.Vectors.Search(whole, [scope], (MaxSimilar * 3) + 1 + exclude.Count, sentences: false).Top
            .Where(x => x.Id != selfId && !exclude.Contains(x.Id) && x.Score >= similarThreshold)
            .ToList();
        if (near.Count == 0)
        {
            return [];
        }

        var rows = await engine.Store.GetAsync(near.Select(x => x.Id).ToList(), cancellationToken).ConfigureAwait(false);
        return near.Where(x => rows.TryGetValue(x.Id, out var m) && m.SupersededBy is null)
            .Take(MaxSimilar)
            .Select(x => new SimilarMemory(x.Id, rows[x.Id].Content, Math.Round(x.Score, 4)))
            .ToList();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "remember: {Id} in {Scope} (created: {Created}).")]
    private static partial void LogRemembered(ILogger logger, string id, string scope, bool created);

    [LoggerMessage(Level = LogLevel.Trace, Message = "remember: {Id} content: {Content}")]
    private static partial void LogRememberedContent(ILogger logger, string id, string content);
}
