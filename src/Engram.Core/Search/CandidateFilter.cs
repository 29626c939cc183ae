using Engram.Core.Storage;

namespace Engram.Core.Search;

/// <summary>Which fused candidates a recall may return: supersession and <c>asOf</c>. Pure: no I/O.</summary>
internal static class CandidateFilter
{
    /// <summary>Why <paramref name="candidate"/> is not returned for <paramref name="query"/>, or null when it may be.</summary>
    public static string? Reason(RecallQuery query, CandidateMeta candidate)
    {
        if (query.AsOf is { } asOf)
        {
            if (candidate.ObservedAt > asOf.ToUnixTimeMilliseconds())
            {
                return FilterReasons.ObservedAfterAsOf;
            }

            // Current then unless a memory observed by then had already replaced it.
            return candidate.SupersededBy is not null && candidate.SupersederObservedAt <= asOf.ToUnixTimeMilliseconds() ? FilterReasons.SupersededAsOf : null;
        }

        return candidate.SupersededBy is not null && !query.IncludeSuperseded ? FilterReasons.Superseded : null;
    }
}

/// <summary>The reasons a candidate is filtered out, as explain reports them.</summary>
internal static class FilterReasons
{
    public const string Superseded = "superseded";
    public const string SupersededAsOf = "superseded (as of asOf)";
    public const string ObservedAfterAsOf = "outside asOf: observed after it";
    public const string TagFilter = "tag filter";
    public const string BelowCutOff = "below cut-off";
}
