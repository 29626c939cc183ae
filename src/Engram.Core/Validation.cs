using System.Globalization;
using Engram.Core.Model;
using Engram.Core.Scopes;
using Engram.Core.Search;

namespace Engram.Core;

/// <summary>Checks of what callers send, with messages that say how to fix it.</summary>
internal static class Validation
{
    /// <summary>Non-blank text of at most <paramref name="maxLength"/> characters, trimmed.</summary>
    /// <exception cref="EngramArgumentException">Blank or too long.</exception>
    public static string Text(string? value, string name, int maxLength, string advice)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new EngramArgumentException($"'{name}' is empty: send non-blank text. {advice}");
        }

        var trimmed = value.Trim();
        if (trimmed.Contains('\0', StringComparison.Ordinal))
        {
            // PostgreSQL's text cannot hold it, and no fact needs it: refused on every store alike.
            throw new EngramArgumentException($"'{name}' contains a NUL character (U+0000): remove it and send the text again.");
        }

        if (trimmed.Length > maxLength)
        {
            throw new EngramArgumentException($"'{name}' has {trimmed.Length.ToString(CultureInfo.InvariantCulture)} characters; the limit is {maxLength.ToString(CultureInfo.InvariantCulture)}. {advice}");
        }

        return trimmed;
    }

    /// <summary>An id as sent back by remember or recall.</summary>
    public static string Id(string? value, string name) => Text(value, name, 200, "Send ids as returned by remember or recall.");

    /// <summary>Tags lower-cased, distinct and sorted.</summary>
    public static List<string> Tags(IReadOnlyList<string>? tags)
    {
        if (tags is null || tags.Count == 0)
        {
            return [];
        }

        if (tags.Count > EngramOptions.MaxTags)
        {
            throw new EngramArgumentException($"{tags.Count} tags were sent; a memory carries at most {EngramOptions.MaxTags}.");
        }

        return tags.Select(t => Text(t, "tags[]", EngramOptions.MaxTagLength, "A tag is a short label such as 'decision' or 'build'.").ToLowerInvariant())
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>
    /// A recall request checked, with its scopes resolved for <paramref name="caller"/> (<see cref="CallerScopes.Recall"/>;
    /// a project alone when <paramref name="alone"/>). <paramref name="defaultLimit"/> is the caller's default, for the
    /// message (forget by query takes 1, recall 10).
    /// </summary>
    public static RecallQuery Recall(RecallRequest request, CallerScopes caller, int defaultLimit = 10, bool alone = false)
    {
        var query = Text(request.Query, "query", EngramOptions.MaxQueryLength, "Send a short question or a few keywords.");
        if (request.Limit is < 1 or > EngramOptions.MaxRecallLimit)
        {
            throw new EngramArgumentException($"limit {request.Limit} is out of range: send a whole number from 1 to {EngramOptions.MaxRecallLimit} (default {defaultLimit}).");
        }

        var (scopes, resolution) = caller.Recall(request.Scope, alone);
        return new RecallQuery(query, scopes, resolution, request.Limit, Tags(request.Tags), request.IncludeSuperseded, request.AsOf) { Caller = caller.Principal };
    }
}
