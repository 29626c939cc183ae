using Engram.Core.Storage;

namespace Engram.Core.Search;

/// <summary>
/// BM25 twice: the query, then the query plus the rarer words its top hits share (weighted by the hits' ranks and the
/// words' rarity, at most half a query term's weight). A question names one side of a fact; its best matches often
/// name the rest, which brings in the statements that answer it in other words.
/// </summary>
internal sealed class LexicalSignal(LexicalIndex index, RowCache rows, double weight) : IRecallSignal
{
    /// <summary>Pseudo-relevance feedback: how many top BM25 hits lend their words, how many words, and their top weight.</summary>
    private const int FeedbackDocuments = 5;

    private const int FeedbackTerms = 20;

    private const float FeedbackBoost = 0.5f;

    public async Task<SignalRanking> RankAsync(RecallContext context, CancellationToken cancellationToken)
    {
        var query = context.Query;
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
        var feedbackTerms = feedbackIds.Where(found.ContainsKey).Select(id => (IReadOnlyCollection<string>)index.Terms(found[id].Memory.Content)).ToList();
        var expansion = index.ExpansionTerms(terms, feedbackTerms, FeedbackTerms, FeedbackBoost);
        var hits = index.Search(terms, query.Scopes, context.Tags, context.Depth, expansion);
        return new SignalRanking(SignalKind.Lexical, hits.Select(x => new Scored(x.Id, x.Score)).ToList(), weight)
        {
            Feedback = expansion.Select(e => e.Term).ToList(),
        };
    }
}
