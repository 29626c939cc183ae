using System.Runtime.CompilerServices;
using Engram.Core.Storage;

namespace Engram.Core.Search;

/// <summary>
/// BM25 twice: the query, then the query plus the rarer words its top hits share (weighted by the hits' ranks and the
/// words' rarity, at most half a query term's weight). A question names one side of a fact; its best matches often
/// name the rest, which brings in the statements that answer it in other words. While the index is building in the
/// background, the store's own text search (<paramref name="store"/>) ranks instead.
/// </summary>
internal sealed class LexicalSignal(LexicalIndex index, RowCache rows, ITextSearch? store, double weight) : IRecallSignal
{
    /// <summary>What explain says of a ranking made by the store's text search.</summary>
    public const string StoreSearchNote = "found by the store's full-text search: this server is still building its lexical index";

    /// <summary>Pseudo-relevance feedback: how many top BM25 hits lend their words, how many words, and their top weight.</summary>
    private const int FeedbackDocuments = 5;

    private const int FeedbackTerms = 20;

    private const float FeedbackBoost = 0.5f;

    /// <summary>
    /// A feedback word carried by more memories than this (or by more than 5% of them) is not added: it says little,
    /// and its postings would make the second pass cost as much as a scan in a large store.
    /// </summary>
    private const int MaxFeedbackFrequency = 500;

    /// <summary>
    /// The analysed words of the texts that lent feedback, kept with the text itself (the row cache's string): the same
    /// top hits come back for related questions, and analysing them again costs more than the second pass's lookups.
    /// </summary>
    private readonly ConditionalWeakTable<string, HashSet<string>> _textTerms = new();

    /// <summary>The analyser <see cref="_textTerms"/> calls for a text it has not seen: one delegate, not one per recall.</summary>
    private readonly ConditionalWeakTable<string, HashSet<string>>.CreateValueCallback _analyse = index.Terms;

    public async Task<SignalRanking> RankAsync(RecallContext context, CancellationToken cancellationToken)
    {
        var query = context.Query;
        if (store is not null && index.Seq < context.Seq)
        {
            var matched = await store.SearchTextAsync(query.Query, query.Scopes, context.Allowed, context.Depth, cancellationToken).ConfigureAwait(false);
            return new SignalRanking(SignalKind.Lexical, matched.Select(x => new Scored(x.Id, x.Score)).ToList(), weight)
            {
                Note = StoreSearchNote,
            };
        }

        // The first pass only has to find the feedback documents; the full list comes from the second.
        // The query is analysed once for both passes and the feedback words.
        var terms = index.QueryTermList(query.Query);
        var first = index.Search(terms, query.Scopes, context.Tags, FeedbackDocuments);
        if (first.Count == 0)
        {
            return new SignalRanking(SignalKind.Lexical, [], weight);
        }

        var feedbackIds = first.Select(x => x.Id).ToList();
        var found = await rows.GetAsync(feedbackIds, cancellationToken).ConfigureAwait(false);
        var feedbackTerms = feedbackIds.Where(found.ContainsKey).Select(id => _textTerms.GetValue(found[id].Memory.Content, _analyse)).ToList();
        var expansion = Expansion(terms, feedbackTerms);
        var hits = index.Search(terms, query.Scopes, context.Tags, context.Depth, expansion);
        return new SignalRanking(SignalKind.Lexical, hits, weight)
        {
            Feedback = expansion.Select(e => e.Term).ToList(),
        };
    }

    /// <summary>
    /// Pseudo-relevance feedback: the words the top hits' texts share most, weighted by each hit's rank and the word's
    /// rarity, leaving out the query's own words and words common to many memories; the strongest weighs
    /// <see cref="FeedbackBoost"/>.
    /// </summary>
    private List<(string Term, float Weight)> Expansion(List<string> queryTerms, List<HashSet<string>> feedbackTerms)
    {
        var own = queryTerms.ToHashSet(StringComparer.Ordinal);
        if (feedbackTerms.Count == 0)
        {
            return [];
        }

        // Rank-weighted occurrences first; document frequencies only for the strongest candidates.
        var occurrences = new Dictionary<string, double>(StringComparer.Ordinal);
        for (var i = 0; i < feedbackTerms.Count; i++)
        {
            foreach (var term in feedbackTerms[i])
            {
                if (!own.Contains(term) && term.Length >= 3)
                {
                    occurrences[term] = occurrences.GetValueOrDefault(term) + (1.0 / (i + 1));
                }
            }
        }

        var candidates = occurrences.OrderByDescending(o => o.Value).ThenBy(o => o.Key, StringComparer.Ordinal).Take(FeedbackTerms * 3).ToList();
        var (documents, frequencies) = index.ContentFrequencies(candidates.Select(c => c.Key));
        var n = Math.Max(1, documents);
        var weights = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (term, occurrence) in candidates)
        {
            var df = frequencies.GetValueOrDefault(term);
            if (df > 0 && df <= Math.Min(n / 20, MaxFeedbackFrequency))
            {
                weights[term] = occurrence * Math.Log(1.0 + ((double)n / df));
            }
        }

        var top = weights.OrderByDescending(w => w.Value).ThenBy(w => w.Key, StringComparer.Ordinal).Take(FeedbackTerms).ToList();
        var max = top.Count == 0 ? 1 : top[0].Value;
        return top.Select(w => (w.Key, (float)(FeedbackBoost * w.Value / max))).ToList();
    }
}
