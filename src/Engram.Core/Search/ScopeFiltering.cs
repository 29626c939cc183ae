using Lucene.Net.Index;
using Lucene.Net.Search;
using Lucene.Net.Util;

namespace Engram.Core.Search;

/// <summary>
/// A scope filter cached per segment as a bit set, which the search reads as its accepted documents: Lucene's default
/// cache (a compressed set without random access) makes the query advance every clause to every document in scope,
/// where a bit set lets each clause walk only its own postings and skip the documents out of scope.
/// </summary>
internal sealed class BitSetCachingFilter(Filter filter) : CachingWrapperFilter(filter)
{
    protected override DocIdSet CacheImpl(DocIdSetIterator iterator, AtomicReader reader)
    {
        var bits = new FixedBitSet(reader.MaxDoc);
        bits.Or(iterator);
        return bits;
    }
}

/// <summary>
/// Filters by random access whenever the filter offers it (<see cref="BitSetCachingFilter"/>), wherever in the segment
/// its first document lies (Lucene's default asks for one among the first 100); a filter without random access (a tag
/// filter, not cached) is joined as before.
/// </summary>
internal sealed class AcceptedDocsStrategy : FilteredQuery.RandomAccessFilterStrategy
{
    public static readonly AcceptedDocsStrategy Instance = new();

    protected override bool UseRandomAccess(IBits bits, int firstFilterDoc) => true;
}
