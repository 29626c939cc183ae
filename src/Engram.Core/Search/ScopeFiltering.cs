using Lucene.Net.Index;
using Lucene.Net.Search;
using Lucene.Net.Util;

namespace Engram.Core.Search;

/// <summary>
/// A scope filter cached per segment as a bit set, which the search reads as its accepted documents: Lucene's default
/// cache (a compressed set without random access) makes the query advance every clause to every document in scope,
/// where a bit set lets the query score its own matches in bulk and skip the rest.
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
/// Filters by random access whenever the filter offers it (<see cref="BitSetCachingFilter"/>), also for bulk scoring,
/// which Lucene's default strategy leaves to an in-order scorer; otherwise it is the default strategy.
/// </summary>
internal sealed class AcceptedDocsStrategy : FilteredQuery.RandomAccessFilterStrategy
{
    public static readonly AcceptedDocsStrategy Instance = new();

    protected override bool UseRandomAccess(IBits bits, int firstFilterDoc) => true;
}
