using System.Globalization;

namespace Engram.Mcp;

/// <summary>The ISO-8601 times the tools and the command line accept (<c>observedAt</c>, <c>asOf</c>): a date, or a date and time.</summary>
internal static class Timestamps
{
    /// <summary>What to send, for messages.</summary>
    public const string Hint = "send a date like '2025-03-14' or a time like '2025-03-14T09:30:00Z' (an offset such as '+02:00' may replace 'Z')";

    private static readonly string[] Formats =
    [
        "yyyy-MM-dd", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd'T'HH:mmK", "yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK",
        "yyyy-MM-dd HH:mm", "yyyy-MM-dd HH:mmK", "yyyy-MM-dd HH:mm:ssK", "yyyy-MM-dd HH:mm:ss.FFFFFFFK",
    ];

    /// <summary>Reads <paramref name="value"/>; a time without an offset is UTC.</summary>
    public static bool TryParse(string value, out DateTimeOffset parsed) =>
        DateTimeOffset.TryParseExact(value.Trim(), Formats, CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out parsed);
}
