using System.CommandLine;
using Engram.Core;

namespace Engram.Mcp.Commands;

/// <summary>Options several commands take, and the checks of values the library would report in its own terms.</summary>
internal static class CommonOptions
{
    public const string JsonName = "--json";

    /// <summary>A new <c>--json</c> option (an option records the commands it belongs to, so each command gets its own).</summary>
    public static Option<bool> Json() => new(JsonName) { Description = "Print JSON instead of a table" };

    /// <summary>A new <c>--in &lt;scope&gt;</c> option.</summary>
    public static Option<string?> In() => new("--in") { Description = "Only this scope" };

    /// <summary>A time option's value.</summary>
    /// <exception cref="EngramArgumentException">Not an ISO-8601 time.</exception>
    public static DateTimeOffset? Time(string? value, string flag) =>
        value is null ? null
        : Timestamps.TryParse(value, out var parsed) ? parsed
        : throw new EngramArgumentException($"{flag} '{value}' is not an ISO-8601 time: {Timestamps.Hint}.");

    /// <summary>A count option's value, from 1 to <paramref name="max"/>.</summary>
    /// <exception cref="EngramArgumentException">Out of range.</exception>
    public static int Count(int value, string flag, int max, int byDefault) =>
        value >= 1 && value <= max ? value
        : throw new EngramArgumentException($"{flag} {value} is out of range: send a whole number from 1 to {max} (default {byDefault}).");
}
