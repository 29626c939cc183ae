using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Engram.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Engram.Mcp.Hosting;

/// <summary>
/// Who an HTTP request is, and the rest of the request run as them. The shared <c>ENGRAM_TOKEN</c> is an unrestricted
/// caller, as before principals existed; a token from <c>engram token add</c> is its principal, whose calls
/// <see cref="MemoryService.ActAs"/> confines to its scopes; no token is an unrestricted caller only where none is
/// required (<see cref="HttpSettings.RequiresToken"/>). A bearer the server does not know is always refused, so a revoked
/// token never falls back to being nobody in particular.
/// </summary>
internal static partial class BearerAuthentication
{
    private const string Scheme = "Bearer";

    /// <summary>Authenticates the request and runs <paramref name="next"/> as its caller, or answers 401.</summary>
    public static async Task RunAsync(HttpContext context, RequestDelegate next, HttpSettings http, MemoryService memory, ILogger logger)
    {
        var presented = Presented(context.Request.Headers.Authorization.ToString());
        if (presented is null)
        {
            if (http.RequiresToken)
            {
                await RefuseAsync(context, "Send 'Authorization: Bearer <token>': a token from 'engram token add', or the one in ENGRAM_TOKEN.").ConfigureAwait(false);
                return;
            }

            await next(context).ConfigureAwait(false);
            return;
        }

        if (!string.IsNullOrEmpty(http.Token) && SameSecret(presented, http.Token))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        Engram.Core.Model.Principal? principal;
        try
        {
            principal = await memory.AuthenticateAsync(presented, context.RequestAborted).ConfigureAwait(false);
        }
        catch (EngramUnavailableException e)
        {
            // The store keeps the tokens: while it is away (a database restart) no one can be told apart, so say when to retry.
            context.Response.Headers.RetryAfter = "5";
            await HttpHost.RefuseAsync(context, StatusCodes.Status503ServiceUnavailable, e.Message).ConfigureAwait(false);
            return;
        }

        if (principal is null)
        {
            LogRefused(logger, context.Connection.RemoteIpAddress);
            await RefuseAsync(context, "The bearer token is not valid: it was mistyped or has been revoked. Ask for a new one ('engram token add').").ConfigureAwait(false);
            return;
        }

        // The SDK binds a stateful session to the user who opened it, so another principal cannot take it over.
        context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, principal.Name), new Claim(ClaimTypes.Name, principal.Name)], Scheme));
        // The MCP SDK invokes the tools with this request's ExecutionContext, so the caller set here reaches them.
        using (memory.ActAs(principal))
        {
            await next(context).ConfigureAwait(false);
        }
    }

    private static string? Presented(string header) =>
        header.StartsWith(Scheme + " ", StringComparison.OrdinalIgnoreCase) && header[(Scheme.Length + 1)..].Trim() is { Length: > 0 } secret ? secret : null;

    private static bool SameSecret(string presented, string token) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    [LoggerMessage(Level = LogLevel.Debug, Message = "refused a bearer token that is no live token, from {Remote}.")]
    private static partial void LogRefused(ILogger logger, System.Net.IPAddress? remote);

    private static Task RefuseAsync(HttpContext context, string message)
    {
        context.Response.Headers.WWWAuthenticate = Scheme;
        return HttpHost.RefuseAsync(context, StatusCodes.Status401Unauthorized, message);
    }
}
