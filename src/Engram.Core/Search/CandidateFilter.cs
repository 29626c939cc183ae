using Engram.Core.Model;
using Engram.Core.Storage;

namespace Engram.Core.Search;

/// <summary>Which fused candidates a recall may return: supersession and <c>asOf</c>. Pure: no I/O.</summary>
internal static class CandidateFilter
{
    /// <summary>Why <paramref name="candidate"/> is not returned for <paramref name="query"/>, or null when it may be.</summary>
    public static FilterReason? Reason(RecallQuery query, CandidateMeta candidate)
    {
        if (query.AsOf is { } asOf)
        {
            if (candidate.ObservedAt > asOf.ToUnixTimeMilliseconds())
            {
                return FilterReason.ObservedAfterAsOf;
            }

            // Current then unless a memory observed by then had already replaced it; with includeSuperseded, the history
            // up to then.
            return candidate.SupersededBy is not null && candidate.SupersederObservedAt <= asOf.ToUnixTimeMilliseconds() && !query.IncludeSuperseded
                ? FilterReason.SupersededAsOf
                : null;
        }

        return candidate.SupersededBy is not null && !query.IncludeSuperseded ? FilterReason.Superseded : null;
    }
}
