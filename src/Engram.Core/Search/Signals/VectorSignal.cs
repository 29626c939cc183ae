using Engram.Core.Embeddings;

namespace Engram.Core.Search;

/// <summary>
/// The cosine between the query's embedding and each memory's, over the scopes' in-memory matrices. Vectors that carry
/// the same evidence as BM25 (the built-in hashed ones: words, not meaning) only add candidates BM25 did not find, so
/// they never reorder what it found; a model's vectors are fused in full.
/// </summary>
internal sealed class VectorSignal(VectorIndex index, EmbeddingRuntime embedder, double weight, bool addsOnly) : IRecallSignal
{
    /// <summary>
    /// The cosine a memory needs for the vector signal to count it at all. Hashed vectors of unrelated texts score
    /// around 0 with a spread of about 1/sqrt(dimensions) (0.044 at 512); 0.15 is beyond three of those.
    /// </summary>
    internal const float Floor = 0.15f;

    /// <inheritdoc />
    public bool WaitsForQueryVector => true;

    public async Task<SignalRanking> RankAsync(RecallContext context, CancellationToken cancellationToken)
    {
        var query = context.Query;
        // Where BM25's candidates' rows lie is looked up while the query's embedding computes (the signals before this
        // one have ranked): a lookup reads memory no recall touched lately, and the embedding holds the other core.
        var lexical = context.Find(SignalKind.Lexical)?.Hits ?? [];
        var located = addsOnly ? [] : index.Locate(query.Scopes, lexical.Select(h => h.Id));
        var vector = await context.QueryVector.ConfigureAwait(false);
        if (vector is null)
        {
            return new SignalRanking(SignalKind.Vector, [], weight) { Unavailable = embedder.Problem ?? "the embedder failed" };
        }

        // The top k of those at the floor or above are the top k's at the floor or above; fewer than k there means BM25's
        // candidates outside them are below it too.
        var (scanned, meanCosine) = index.Search(vector, query.Scopes, context.Depth, context.Allowed, Floor);
        var hits = new List<Scored>(scanned.Count);
        foreach (var (id, score) in scanned)
        {
            hits.Add(new Scored(id, score));
        }

        if (!addsOnly && scanned.Count == context.Depth)
        {
            // BM25's candidates below the scan's top k are still scored by meaning, after the top k: a fusion by evidence
            // would otherwise read them as having no likeness at all to the query.
            var listed = hits.Select(h => h.Id).ToHashSet(StringComparer.Ordinal);
            hits.AddRange(located.Where(x => !listed.Contains(x.Id))
                .Select(x => new Scored(x.Id, x.Cosine(vector)))
                .Where(x => x.Score >= Floor)
                .OrderByDescending(x => x.Score).ThenBy(x => x.Id, StringComparer.Ordinal));
        }

        return new SignalRanking(SignalKind.Vector, hits, weight)
        {
            Contributed = addsOnly ? Unmatched(hits, lexical) : null,
            MeanCosine = meanCosine,
        };
    }

    /// <summary>The ids of <paramref name="hits"/> that <paramref name="lexical"/> did not find, in order.</summary>
    private static List<string> Unmatched(List<Scored> hits, IReadOnlyList<Scored> lexical)
    {
        var rest = new HashSet<string>(hits.Count, StringComparer.Ordinal);
        foreach (var hit in hits)
        {
            rest.Add(hit.Id);
        }

        foreach (var found in lexical)
        {
            rest.Remove(found.Id);
        }

        return hits.Where(h => rest.Contains(h.Id)).Select(h => h.Id).ToList();
    }
}
