using System.Net;
using System.Security.Cryptography;
using System.Text;
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
/// cross-site requests), a loopback server answers only to loopback host names, and beyond loopback every request must
/// carry the bearer token.
/// </summary>
internal static class HttpHost
{
    /// <summary>Builds and starts the server; the returned app is running and knows its address.</summary>
    /// <exception cref="EngramArgumentException">Beyond loopback without a token; the message says what to set.</exception>
    public static async Task<(WebApplication App, Uri Endpoint)> StartAsync(HostSettings settings, HttpSettings http, LogLevel level, CancellationToken cancellationToken = default)
    {
        if (!http.IsLoopback && string.IsNullOrEmpty(http.Token))
        {
            throw new EngramArgumentException(
                $"Listening on {http.Bind} (beyond this machine) needs a token: set ENGRAM_TOKEN to a long random secret and give clients 'Authorization: Bearer <token>'. Or leave --bind out to listen on 127.0.0.1 only.");
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddEngramConsole(level);
        builder.WebHost.UseKestrel(o => o.Listen(http.Bind, http.Port));
        builder.Services.AddEngramServer(settings).WithHttpTransport(o =>
        {
            if (http.LegacySse)
            {
                // The old transport keeps sessions in memory; Streamable HTTP stays stateless either way for new clients.
#pragma warning disable MCP9004 // Deprecated on purpose: only behind --legacy-sse, documented as such.
                o.EnableLegacySse = true;
#pragma warning restore MCP9004
                o.Stateless = false;
            }
        });

        var app = builder.Build();
        app.Use((context, next) => Guard(context, next, http));
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
        + (http.Token is null ? "." : "; bearer token required.");

    private static Task Guard(HttpContext context, RequestDelegate next, HttpSettings http)
    {
        var origin = context.Request.Headers.Origin.ToString();
        if (origin.Length > 0 && !OriginAllowed(origin, http))
        {
            return Refuse(context, StatusCodes.Status403Forbidden, $"Origin '{origin}' is not allowed: Engram answers pages on this machine only. Add it to ENGRAM_ALLOWED_ORIGINS to allow it.");
        }

        if (http.IsLoopback && !IsLoopbackName(context.Request.Host.Host))
        {
            // A loopback server reached under another name is a DNS-rebinding attempt.
            return Refuse(context, StatusCodes.Status403Forbidden, $"Host '{context.Request.Host}' is not allowed: this server listens on {http.Bind} and answers to localhost, 127.0.0.1 or [::1].");
        }

        if (!string.IsNullOrEmpty(http.Token) && !TokenMatches(context.Request.Headers.Authorization.ToString(), http.Token))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            return Refuse(context, StatusCodes.Status401Unauthorized, "Send 'Authorization: Bearer <token>' with the token in ENGRAM_TOKEN.");
        }

        return next(context);
    }

    private static bool OriginAllowed(string origin, HttpSettings http) =>
        http.AllowedOrigins.Contains(origin.TrimEnd('/'), StringComparer.OrdinalIgnoreCase)
        || (Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && IsLoopbackName(uri.Host));

    private static bool IsLoopbackName(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    private static bool TokenMatches(string header, string token)
    {
        const string Prefix = "Bearer ";
        if (!header.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var sent = Encoding.UTF8.GetBytes(header[Prefix.Length..].Trim());
        var expected = Encoding.UTF8.GetBytes(token);
        return CryptographicOperations.FixedTimeEquals(SHA256.HashData(sent), SHA256.HashData(expected));
    }

    private static Task Refuse(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(message + "\n");
    }
}
