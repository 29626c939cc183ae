using System.CommandLine;
using System.Net;
using Engram.Core;
using Engram.Mcp.Hosting;

namespace Engram.Mcp.Commands;

/// <summary><c>engram serve</c>: the MCP server on stdio (as with no command), or on Streamable HTTP with <c>--http</c>.</summary>
internal static class ServeCommand
{
    public static Command Create(Shell shell)
    {
        var http = new Option<bool>("--http") { Description = $"Serve Streamable HTTP at {HttpSettings.Path} instead of stdio" };
        var port = new Option<int>("--port") { Description = $"HTTP port (default {HttpSettings.DefaultPort}; 0 picks a free one)", DefaultValueFactory = _ => HttpSettings.DefaultPort };
        var bind = new Option<string>("--bind") { Description = "Address to listen on (default 127.0.0.1; anything else needs tokens: 'engram token add', or ENGRAM_TOKEN)", DefaultValueFactory = _ => "127.0.0.1" };
        var sse = new Option<bool>("--legacy-sse")
        {
            Description = $"Also serve the deprecated HTTP+SSE transport ({HttpSettings.LegacySsePath}, {HttpSettings.LegacyMessagePath}) for old clients",
        };
        var command = new Command("serve", "Serve MCP: stdio by default, or Streamable HTTP with --http") { http, port, bind, sse };
        command.SetAction(shell, async (cli, cancellationToken) =>
        {
            var level = HostLogging.Level(shell.Environment);
            if (!cli.Get(http))
            {
                return await StdioHost.RunAsync(cli.Settings, level, shell.Terminal.Error, cancellationToken).ConfigureAwait(false);
            }

            var origins = (shell.Environment("ENGRAM_ALLOWED_ORIGINS") ?? "")
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(o => o.TrimEnd('/')).ToList();
            var token = shell.Environment("ENGRAM_TOKEN") is { Length: > 0 } t ? t : null;
            // A team store is shared by people: every caller of its HTTP server is somebody, with a token.
            var options = new HttpSettings(Address(cli.Get(bind)!), cli.Get(port), token, origins, cli.Get(sse)) { RequireToken = cli.Settings.Store is not null };
            var (app, endpoint) = await HttpHost.StartAsync(cli.Settings, options, level, cancellationToken: cancellationToken).ConfigureAwait(false);
            await using (app.ConfigureAwait(false))
            {
                await shell.Terminal.Error.WriteLineAsync(HttpHost.Banner(endpoint, options, cli.Settings)).ConfigureAwait(false);
                await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static IPAddress Address(string bind) =>
        IPAddress.TryParse(bind == "localhost" ? "127.0.0.1" : bind, out var address)
            ? address
            : throw new EngramArgumentException($"--bind '{bind}' is not an IP address. Send 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or one interface's address.");
}
