using System.Net;
using Engram.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Engram.Mcp.Hosting;

/// <summary>
/// The Streamable HTTP server: the same tools as over stdio, at <c>/mcp</c>, for any number of clients at once. The
/// SDK checks neither Origin nor Host, so this does: a browser page on a foreign origin gets 403 (DNS rebinding and
/// cross-site requests), a loopback server answers only to loopback host names, and beyond loopback (or with
/// <see cref="HttpSettings.RequireToken"/>) every request must carry a bearer token: a principal's, whose calls see only
/// its scopes, or the shared <c>ENGRAM_TOKEN</c> (<see cref="BearerAuthentication"/>).
/// </summary>
internal static class HttpHost
{
    /// <summary>Builds and starts the server; the returned app is running and knows its address.</summary>
    /// <param name="settings">The store and its default scope.</param>
    /// <param name="http">How to listen and whom to let in.</param>
    /// <param name="level">The least log level written.</param>
    /// <param name="configure">Changes to the service's options after <paramref name="settings"/> (tests set a clock).</param>
    /// <param name="cancellationToken">Cancellation.</param>
    /// <exception cref="EngramArgumentException">A token is required but neither ENGRAM_TOKEN nor a live token in the store exists; the message says what to do.</exception>
    public static async Task<(WebApplication App, Uri Endpoint)> StartAsync(HostSettings settings, HttpSettings http, LogLevel level, Action<EngramOptions>? configure = null, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddEngramConsole(level);
        builder.WebHost.UseKestrel(o => o.Listen(http.Bind, http.Port));
        builder.Services.AddEngramServer(settings, configure).WithHttpTransport(o =>
        {
            if (http.LegacySse)
            {
                // The old transport keeps sessions in memory, for clients that open one with the initialize handshake;
                // clients of the 2026-07-28 revision on, which have no session, are still served statelessly (not refused
                // into a downgrade, as the fully stateful mode would).
#pragma warning disable MCP9004 // Deprecated on purpose: only behind --legacy-sse, documented as such.
                o.EnableLegacySse = true;
#pragma warning restore MCP9004
                o.SessionMode = ModelContextProtocol.AspNetCore.HttpServerSessionMode.StatefulForInitializeClients;
            }
        });

        var app = builder.Build();
        var memory = app.Services.GetRequiredService<MemoryService>();
        try
        {
            await EnsureTokensAsync(http, memory, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(BearerAuthentication));
        app.Use((context, next) => GuardAsync(context, next, http, memory, logger));
        // Maps Streamable HTTP at the path and, with LegacySse, the old transport under it (HttpSettings.LegacySsePath).
        app.MapMcp(HttpSettings.Path);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return (app, new Uri(new Uri(address), HttpSettings.Path));
    }

    /// <summary>The line announced on stderr once the server listens: every address it serves, and the store.</summary>
    public static string Banner(Uri endpoint, HttpSettings http, HostSettings settings) =>
        $"engram {EngramServer.Version}: MCP Streamable HTTP at {endpoint}"
        + (http.LegacySse ? $" (and the deprecated HTTP+SSE transport at {new Uri(endpoint, HttpSettings.LegacySsePath)})" : "")
        + $"; store {settings.StoreDisplay}; default scope {settings.DefaultScope}"
        + (http.RequiresToken ? "; bearer token required." : ".");

    /// <summary>Where a token is required, one must exist: ENGRAM_TOKEN, or a live principal's token in the store.</summary>
    /// <exception cref="EngramArgumentException">Neither exists; the message says how to make one.</exception>
    private static async Task EnsureTokensAsync(HttpSettings http, MemoryService memory, CancellationToken cancellationToken)
    {
        if (!http.RequiresToken || !string.IsNullOrEmpty(http.Token) || await memory.HasLiveTokensAsync(cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        var why = http.RequireToken ? "This server's store is shared, so it needs tokens" : $"Listening on {http.Bind} (beyond this machine) needs tokens";
        throw new EngramArgumentException(
            $"{why}: create one per person with 'engram token add <name> --scopes <patterns>' (or set ENGRAM_TOKEN to a long random secret for one unrestricted caller), and give clients 'Authorization: Bearer <token>'."
            + (http.IsLoopback ? "" : " Or leave --bind out to listen on 127.0.0.1 only."));
    }

    private static Task GuardAsync(HttpContext context, RequestDelegate next, HttpSettings http, MemoryService memory, ILogger logger)
    {
        var origin = context.Request.Headers.Origin.ToString();
        if (origin.Length > 0 && !OriginAllowed(origin, http))
        {
            return RefuseAsync(context, StatusCodes.Status403Forbidden, $"Origin '{origin}' is not allowed: Engram answers pages on this machine only. Add it to ENGRAM_ALLOWED_ORIGINS to allow it.");
        }

        if (http.IsLoopback && !IsLoopbackName(context.Request.Host.Host))
        {
            // A loopback server reached under another name is a DNS-rebinding attempt.
            return RefuseAsync(context, StatusCodes.Status403Forbidden, $"Host '{context.Request.Host}' is not allowed: this server listens on {http.Bind} and answers to localhost, 127.0.0.1 or [::1].");
        }

        return BearerAuthentication.RunAsync(context, next, http, memory, logger);
    }

    private static bool OriginAllowed(string origin, HttpSettings http) =>
        http.AllowedOrigins.Contains(origin.TrimEnd('/'), StringComparer.OrdinalIgnoreCase)
        || (Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && IsLoopbackName(uri.Host));

    /// <summary>Whether a Host header names this machine's loopback (localhost, 127.0.0.1, [::1]).</summary>
    internal static bool IsLoopbackName(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    /// <summary>Answers with <paramref name="status"/> and a one-line message that says what to do.</summary>
    internal static Task RefuseAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(message + "\n");
    }
}
