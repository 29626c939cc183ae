using System.Text.Json;
using Engram.Core.Embeddings;
using Engram.Core.Model;
using Engram.Core.Scopes;
using Engram.Core.Search;

namespace Engram.Core;

/// <summary>
/// Explain: replays a logged recall (or runs a new one) accounting for every candidate, and says per hit what each
/// signal saw, what was filtered out and why, one memory's story when asked, and the state of the vector signal. A
/// caller replays only the recalls it may (<see cref="CallerScopes.MayReplay"/>): another principal's is not found.
/// </summary>
internal sealed class RecallExplainer(MemoryEngine engine, RecallPipeline recall)
{
    private const int MaxFilteredListed = 50;

    public async Task<ExplainResult> ExplainAsync(ExplainRequest request, CallerScopes caller, CancellationToken cancellationToken) =>
        (await ExplainTracedAsync(request, caller, cancellationToken).ConfigureAwait(false)).Result;

    /// <summary>
    /// The explanation as a picture needs it: the memories it names (hits, filtered, the account) read at once, and for
    /// the hits and the account which of their words match one of the query's index terms or a pseudo-relevance feedback
    /// word, by the index's own analysis (stems, identifier parts).
    /// </summary>
    public async Task<ExplainPicture> PictureAsync(ExplainRequest request, CallerScopes caller, CancellationToken cancellationToken)
    {
        var (result, trace) = await ExplainTracedAsync(request, caller, cancellationToken).ConfigureAwait(false);
        var queryTerms = engine.Lexical.QueryTerms(trace.Query.Query);
        var feedback = trace.Signal(SignalKind.Lexical).Feedback.ToHashSet(StringComparer.Ordinal);
        var matched = result.Hits.Select(h => h.Id).Append(result.Memory?.Id).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var rows = await engine.Store.GetAsync(matched.Concat(result.FilteredOut.Select(f => f.Id)).Distinct(StringComparer.Ordinal).ToList(), cancellationToken).ConfigureAwait(false);
        // Only what was searched is shown: an account of a memory in another scope names nothing of it.
        var shown = rows.Values.Where(m => trace.Query.Scopes.Contains(m.Scope)).ToList();
        var words = new Dictionary<string, IReadOnlyList<WordMatch>>(StringComparer.Ordinal);
        foreach (var row in shown.Where(m => matched.Contains(m.Id)))
        {
            var matches = new List<WordMatch>();
            foreach (var word in System.Text.RegularExpressions.Regex.Matches(row.Content, @"[\p{L}\p{N}]+").Select(m => m.Value).Distinct(StringComparer.Ordinal))
            {
                var terms = engine.Lexical.Terms(word);
                if (terms.FirstOrDefault(queryTerms.Contains) is { } term)
                {
                    matches.Add(new WordMatch(word, term, Feedback: false));
                }
                else if (terms.FirstOrDefault(feedback.Contains) is { } added)
                {
                    matches.Add(new WordMatch(word, added, Feedback: true));
                }
            }

            words[row.Id] = matches;
        }

        return new ExplainPicture(result, [.. queryTerms.Order(StringComparer.Ordinal)], [.. feedback.Order(StringComparer.Ordinal)], words,
            shown.ToDictionary(m => m.Id, MemoryService.ToRecord, StringComparer.Ordinal));
    }

    /// <summary>
    /// Runs a saved check's recall as it was saved (not logged: a check is not a question anyone asked) and accounts for
    /// each memory it expects: its rank among the results, and explain's account of why it was or was not returned.
    /// </summary>
    public async Task<CheckOutcome> CheckAsync(RecallCheck check, CancellationToken cancellationToken)
    {
        // Deeper than any check's rank, so a miss still shows the rank it got (the ranking does not depend on the limit).
        var limit = Math.Min(EngramOptions.MaxRecallLimit, 2 * MemoryService.MaxCheckWithin);
        var query = new RecallQuery(check.Query, check.Scopes, "the scopes saved with the check", limit, [], IncludeSuperseded: false, AsOf: null);
        var trace = await recall.RunAsync(query, log: false, cancellationToken, explainAll: true).ConfigureAwait(false);
        var queryTerms = engine.Lexical.QueryTerms(query.Query);
        var expected = new List<ExpectedOutcome>();
        foreach (var id in check.Expect)
        {
            var rank = trace.Hits.FirstOrDefault(h => h.Memory.Id == id)?.Rank;
            var account = await AccountAsync(trace, queryTerms, id, cancellationToken).ConfigureAwait(false);
            expected.Add(new ExpectedOutcome(id, rank <= check.Within, rank, account.Reason));
        }

        return new CheckOutcome(check, expected.Count > 0 && expected.All(e => e.Passed), expected);
    }

    private async Task<(ExplainResult Result, RecallTrace Trace)> ExplainTracedAsync(ExplainRequest request, CallerScopes caller, CancellationToken cancellationToken)
    {
        RecallTrace trace;
        var changed = false;
        if (request.RetrievalId is not null)
        {
            if (request.Recall is not null)
            {
                throw new EngramArgumentException("Send either 'retrievalId' (to replay a past recall) or 'query' (to explain a new one), not both.");
            }

            await engine.Log.FlushAsync().ConfigureAwait(false);
            var logged = await engine.Store.GetRetrievalAsync(Validation.Id(request.RetrievalId, "retrievalId"), cancellationToken).ConfigureAwait(false);
            var query = logged is null ? null : JsonSerializer.Deserialize<RecallQuery>(logged.RequestJson, RecallPipeline.LogJson)!;
            if (logged is null || query is null || !caller.MayReplay(query))
            {
                throw new EngramArgumentException($"No recall with retrievalId '{Shorten(request.RetrievalId)}' was found: it may have been mistyped, or a memory it returned has since been forgotten (which removes the log). Send a retrievalId returned by recall, or send 'query' to explain a new recall.");
            }

            trace = await recall.RunAsync(query, log: false, cancellationToken, request.RetrievalId, DateTimeOffset.FromUnixTimeMilliseconds(logged.At), explainAll: true).ConfigureAwait(false);
            changed = trace.Seq != logged.Seq;
        }
        else if (request.Recall is not null)
        {
            trace = await recall.RunAsync(Validation.Recall(request.Recall, caller), log: true, cancellationToken, explainAll: true).ConfigureAwait(false);
        }
        else
        {
            throw new EngramArgumentException("explain needs 'retrievalId' (from a recall) or 'query' (with recall's optional arguments).");
        }

        // The query's index terms, analysed once for every hit's lexical note.
        var queryTerms = engine.Lexical.QueryTerms(trace.Query.Query);
        var hits = trace.Hits.Select(h => new ExplainHit(
            h.Memory.Id, h.Rank, h.Memory.Score,
            Lexical(trace, queryTerms, h.Memory.Id, h.Memory.Content), Vector(trace, h.Memory.Id, h.Memory.Content), trace.Signal(SignalKind.Entities).Of(h.Memory.Id),
            trace.Recency.GetValueOrDefault(h.Memory.Id), Supersession(h.Memory, trace), trace.Signal(SignalKind.Time).Of(h.Memory.Id)) { Stale = h.Memory.Stale }).ToList();
        var account = request.MemoryId is null ? null : await AccountAsync(trace, queryTerms, Validation.Id(request.MemoryId, "memoryId"), cancellationToken).ConfigureAwait(false);
        // Reasons other than the cut-off come first: they are what a person looks for.
        var filteredOut = trace.FilteredOut.OrderBy(f => f.Reason == FilterReason.BelowCutOff ? 1 : 0).Take(MaxFilteredListed).ToList();
        var vectors = await VectorStatusAsync(trace, cancellationToken).ConfigureAwait(false);
        return (new ExplainResult(trace.RetrievalId, trace.Query.Query, trace.Query.Scopes, trace.Query.ScopeResolution, trace.RanAt, changed, hits, filteredOut, account, vectors)
        {
            MeanCosine = trace.ByEvidence ? Math.Round(trace.Signal(SignalKind.Vector).MeanCosine, 6) : null,
        }, trace);
    }

    /// <summary>The vector signal's state for an explained recall, in words.</summary>
    private async Task<string> VectorStatusAsync(RecallTrace trace, CancellationToken cancellationToken)
    {
        const string Fallback = "recall ranked by the lexical and entity signals";
        var embedder = engine.Embedder;
        if (embedder.Model is not { } model)
        {
            return $"unavailable: the embedder {embedder.Provider}/{embedder.ModelName} could not be reached ({embedder.Problem ?? "not tried yet"}); {Fallback}.";
        }

        if (trace.Signal(SignalKind.Vector).Unavailable is not null)
        {
            return $"unavailable: the query could not be embedded with {model.Id} ({embedder.Problem ?? "the embedder failed"}); {Fallback}.";
        }

        var waiting = engine.Vectors.Waiting(trace.Query.Scopes);
        var notes = new List<string>();
        foreach (var scope in await engine.Store.ScopeVectorsAsync(trace.Query.Scopes, model.Id, cancellationToken).ConfigureAwait(false))
        {
            if (waiting.Contains(scope.Scope) && scope.Memories > 0)
            {
                notes.Add($"waiting: scope {scope.Scope} is being embedded with {model.Id} ({scope.Embedded} of {scope.Memories} done); its vectors are used once all are, and until then its memories are ranked by the lexical and entity signals");
            }
            else if (scope.Embedded < scope.Memories)
            {
                notes.Add($"{scope.Memories - scope.Embedded} memories of scope {scope.Scope} have no vector of it (stored while the embedder was unreachable, or refused by it){(embedder.Problem is { } p ? $": {p}" : "")}");
            }
        }

        return notes.Count == 0 ? $"ready ({model.Id})" : $"{model.Id}: {string.Join("; ", notes)}.";
    }

    private static string Supersession(RecalledMemory memory, RecallTrace trace) =>
        (memory.SupersededBy is null ? "current"
        : trace.Query.AsOf is not null ? $"superseded later by {memory.SupersededBy}; current as of asOf"
        : $"superseded by {memory.SupersededBy}; shown because includeSuperseded is true")
        + (InPlace(trace, memory.Id) is { } inPlace ? ";" + inPlace : "");

    /// <summary>" in the place of …" when the memory stood in for one it superseded, else null.</summary>
    private static string? InPlace(RecallTrace trace, string id) =>
        trace.InPlaceOf.TryGetValue(id, out var older) ? $" in the place of {older}, which it superseded and whose words the query matched" : null;

    private async Task<MemoryAccount> AccountAsync(RecallTrace trace, HashSet<string> queryTerms, string memoryId, CancellationToken cancellationToken)
    {
        var rows = await engine.Store.GetAsync([memoryId], cancellationToken).ConfigureAwait(false);
        if (!rows.TryGetValue(memoryId, out var memory) || !trace.Query.Scopes.Contains(memory.Scope))
        {
            // Never confirm that a memory exists in a scope that was not searched.
            return new MemoryAccount(memoryId, false, false, null, null, null, null, "No memory with this id exists in the searched scopes.");
        }

        var lexical = Lexical(trace, queryTerms, memoryId, memory.Content);
        var vector = Vector(trace, memoryId, memory.Content);
        var entities = trace.Signal(SignalKind.Entities).Of(memoryId);
        var time = trace.Signal(SignalKind.Time).Of(memoryId);
        var hit = trace.Hits.FirstOrDefault(h => h.Memory.Id == memoryId);
        var rank = trace.FusedRank(memoryId);
        var filtered = trace.FilteredOut.FirstOrDefault(f => f.Id == memoryId);
        var found = Describe(lexical, vector, entities, time);
        var inPlace = InPlace(trace, memoryId);
        var reason = hit is not null && inPlace is not null ? $"It surfaced at rank {hit.Rank}{inPlace}; itself found by {found}."
            : hit is not null ? $"It surfaced at rank {hit.Rank}; found by {found}."
            : inPlace is not null ? $"It stood{inPlace}, but fell below the cut-off of {trace.Query.Limit}; ask with a larger 'limit'."
            : filtered is not null && filtered.Reason != FilterReason.BelowCutOff ? $"It was found by {found} but filtered out: {WireName.Of(filtered.Reason)}."
            : rank is null ? $"No signal ranked it among its top {trace.Depth} candidates: the query shares too few words, features or names with it. Try the words the memory uses."
            : $"It was found by {found} (fused rank {rank}) but fell below the cut-off of {trace.Query.Limit}; ask with a larger 'limit' or more of its words.";
        return new MemoryAccount(memoryId, true, hit is not null, rank, lexical, vector, entities, reason, time);
    }

    /// <summary>
    /// A memory's vector signal, naming the sentence that scored it when one of its sentences' vectors did (not its whole
    /// text's, see <see cref="Sentences"/>), or saying so when its row as a reply to the question before it did.
    /// </summary>
    private SignalScore? Vector(RecallTrace trace, string id, string content)
    {
        var score = trace.Signal(SignalKind.Vector).Of(id);
        if (score is null || trace.QueryVector is not { } query || engine.Vectors.BestRow(id, trace.Query.Scopes, query) is not { Row: > 0 } best)
        {
            return score;
        }

        // The memory's rows were made from its sentences as Sentences.Of splits them (row 1 is the first), then, for a
        // reply, one with its question, unless another build's rules made them: then the counts differ, and no sentence
        // is named rather than the wrong one.
        var sentences = Sentences.Of(content);
        if (!EmbeddingRuntime.IsRowLayout(sentences.Count, best.Rows))
        {
            return score;
        }

        if (best.Row == 1 + sentences.Count)
        {
            return score with { Note = SignalScore.WithItsQuestion };
        }

        var sentence = sentences[best.Row - 1];
        return score with { Note = $"closest in its sentence \"{(sentence.Length <= MaxNoted ? sentence : sentence[..MaxNoted] + "…")}\"" };
    }

    /// <summary>The most of a sentence a vector note quotes (a row may group several sentences of a long memory).</summary>
    private const int MaxNoted = 160;

    private static string Describe(SignalScore? lexical, SignalScore? vector, SignalScore? entities, SignalScore? time)
    {
        var parts = new List<string>();
        if (lexical is not null) parts.Add($"lexical (rank {lexical.Rank})");
        if (vector is not null) parts.Add($"vector (rank {vector.Rank})");
        if (entities is not null) parts.Add($"entities (rank {entities.Rank})");
        if (time is not null) parts.Add($"time (rank {time.Rank}: observed when the query's date says)");
        return parts.Count == 0 ? "no signal" : string.Join(" and ", parts);
    }

    /// <summary>The lexical signal, saying so when the memory's own text holds none of the query's words.</summary>
    private SignalScore? Lexical(RecallTrace trace, HashSet<string> queryTerms, string id, string content)
    {
        var lexical = trace.Signal(SignalKind.Lexical);
        if (lexical.Of(id) is not { } signal)
        {
            return null;
        }

        if (lexical.Note is { } note)
        {
            return signal with { Note = note };
        }

        var own = engine.Lexical.Terms(content);
        if (own.Overlaps(queryTerms))
        {
            return signal;
        }

        return signal with
        {
            Note = own.Overlaps(lexical.Feedback)
                ? "its text has none of the query's words, only words the best matches share (pseudo-relevance feedback)"
                : "its text has none of the query's words; the memories stored next to it in the same session do (session context)",
        };
    }

    private static string Shorten(string s) => s.Length <= 64 ? s : s[..64] + "…";
}
