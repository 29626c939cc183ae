using Microsoft.Extensions.Logging;

namespace Engram.Mcp.Hosting;

/// <summary>Logging shared by every mode: to stderr only (stdout carries the protocol or a command's output).</summary>
internal static class HostLogging
{
    /// <summary><c>ENGRAM_LOG_LEVEL</c>, else <paramref name="fallback"/>.</summary>
    public static LogLevel Level(Func<string, string?> environment, LogLevel fallback = LogLevel.Information) =>
        Enum.TryParse<LogLevel>(environment("ENGRAM_LOG_LEVEL"), ignoreCase: true, out var level) ? level : fallback;

    /// <summary>
    /// Logs to stderr at <paramref name="level"/>. The SDK and ASP.NET Core log every request at Information: their
    /// chatter shows from Debug down.
    /// </summary>
    public static ILoggingBuilder AddEngramConsole(this ILoggingBuilder logging, LogLevel level) =>
        logging
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .SetMinimumLevel(level)
            .AddFilter("ModelContextProtocol", level <= LogLevel.Debug ? level : LogLevel.Warning)
            .AddFilter("Microsoft", level <= LogLevel.Debug ? level : LogLevel.Warning);
}
