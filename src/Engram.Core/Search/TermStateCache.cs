using Lucene.Net.Index;
using Lucene.Net.Search;

namespace Engram.Core.Search;

/// <summary>
/// Where each (field, word) sits in one reader's segments, with its document frequency, looked up once per reader
/// instead of once per query clause: a recall's two passes ask for the same words, and recalls repeat words. A
/// query built from a cached state skips the term-dictionary seeks (and the index-input copies they make).
/// </summary>
internal sealed class TermStateCache(IndexReader reader)
{
    /// <summary>Past this many entries the cache starts over (a reader lives until the next write, which may be long).</summary>
    private const int MaxEntries = 50_000;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Field, string Text), TermState> _states = new();

    // Counted apart: ConcurrentDictionary.Count takes every lock, and a miss must not serialise concurrent recalls.
    private int _count;

    public IndexReader Reader { get; } = reader;

    public TermState Get(string field, string text)
    {
        if (_states.TryGetValue((field, text), out var state))
        {
            return state;
        }

        var term = new Term(field, text);
        state = new TermState(term, TermContext.Build(Reader.Context, term));
        if (_states.TryAdd((field, text), state) && Interlocked.Increment(ref _count) > MaxEntries)
        {
            _states.Clear();
            Interlocked.Exchange(ref _count, 0);
        }

        return state;
    }
}

/// <summary>A term and its per-segment state in one reader.</summary>
internal sealed record TermState(Term Term, TermContext Context)
{
    public TermQuery Query(float boost) => new(Term, Context) { Boost = boost };
}
