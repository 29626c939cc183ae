using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Engram.Mcp.Hosting;

/// <summary>The MCP server on stdin/stdout, as clients launch it: stdout carries only the protocol, logs go to stderr.</summary>
internal static class StdioHost
{
    public static async Task<int> RunAsync(HostSettings settings, LogLevel level, TextWriter banner, CancellationToken cancellationToken = default)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Logging.AddEngramConsole(level);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.AddEngramServer(settings).WithStdioServerTransport();

        // A person who started it in a terminal learns what it is doing; a client that pipes both streams is not told.
        if (!Console.IsInputRedirected || !Console.IsErrorRedirected)
        {
            await banner.WriteLineAsync(
                $"engram {EngramServer.Version}: MCP server on stdio; store {settings.StoreDisplay}; default scope {settings.DefaultScope} (from {settings.ScopeSource}).").ConfigureAwait(false);
        }

        await builder.Build().RunAsync(cancellationToken).ConfigureAwait(false); // disposes the host when it stops
        return 0;
    }
}
