using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Engram.Core;
using Engram.Core.Model;
using Engram.Mcp.Output;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Engram.Mcp.Hosting;

/// <summary>
/// <c>engram ui</c>: the inspector, a page and a small JSON API over the same <see cref="MemoryService"/> as the tools,
/// on 127.0.0.1 only. The URL printed carries a one-time token, exchanged at the first visit for a session cookie;
/// every request needs that cookie, a loopback Host and (when sent) a same-origin Origin; a change is a POST with the
/// page's CSRF token in a header. The page, its script and its styles are resources of this assembly: nothing is
/// fetched from elsewhere, and the Content-Security-Policy says so to the browser.
/// </summary>
internal static partial class UiHost
{
    private const string Cookie = "engram_ui";
    private const string CsrfHeader = "X-Engram-Csrf";

    private const string Policy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    /// <summary>Starts the inspector; returns the running app and the URL to open (with its one-time token).</summary>
    public static async Task<(WebApplication App, Uri Url)> StartAsync(HostSettings settings, int port, LogLevel level, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddEngramConsole(level);
        builder.WebHost.UseKestrel(o => o.Listen(IPAddress.Loopback, port));
        builder.Services.AddEngramStore(settings);
        var app = builder.Build();
        var memory = app.Services.GetRequiredService<MemoryService>();
        var session = new UiSession();
        app.Use((context, next) => GuardAsync(context, next, session));
        UiApi.Map(app, memory, settings, session);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        // The first search should not wait for the lexical index: build it while the person opens the page.
        _ = Task.Run(() => WarmUpAsync(memory, app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(UiHost)), app.Lifetime.ApplicationStopping), CancellationToken.None);
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return (app, new Uri(address, $"/?token={session.UrlToken}"));
    }

    private static async Task WarmUpAsync(MemoryService memory, ILogger logger, CancellationToken stopping)
    {
        try
        {
            await memory.WarmUpAsync(stopping).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The first search tries again and reports what is wrong.
            LogWarmUpFailed(logger, e.GetType().Name, e.Message);
        }
        catch (OperationCanceledException)
        {
            // Stopped before it was done.
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not bring the indexes up to date at start ({Error}: {Message}); the first search will.")]
    private static partial void LogWarmUpFailed(ILogger logger, string error, string message);

    /// <summary>The line announced on stderr: where the inspector is, and the store it shows.</summary>
    public static string Banner(Uri url, HostSettings settings) =>
        $"engram {EngramServer.Version}: the inspector is at {url} (this machine only; the link works once: it sets a cookie in the browser that opens it). Store {settings.StoreDisplay}. Ctrl+C stops it.";

    /// <summary>Loopback Host, same-origin Origin, the session cookie (or the one-time token, exchanged for it), CSRF on changes.</summary>
    private static async Task GuardAsync(HttpContext context, RequestDelegate next, UiSession session)
    {
        var request = context.Request;
        if (!HttpHost.IsLoopbackName(request.Host.Host))
        {
            await HttpHost.RefuseAsync(context, StatusCodes.Status403Forbidden, $"Host '{request.Host}' is not allowed: the inspector answers to 127.0.0.1 and localhost only.").ConfigureAwait(false);
            return;
        }

        var origin = request.Headers.Origin.ToString();
        if (origin.Length > 0 && !string.Equals(origin, $"{request.Scheme}://{request.Host}", StringComparison.OrdinalIgnoreCase))
        {
            await HttpHost.RefuseAsync(context, StatusCodes.Status403Forbidden, $"Origin '{origin}' is not allowed: only the inspector's own page may call it.").ConfigureAwait(false);
            return;
        }

        context.Response.Headers.ContentSecurityPolicy = Policy;
        context.Response.Headers.XContentTypeOptions = "nosniff";
        context.Response.Headers["Referrer-Policy"] = "no-referrer";
        context.Response.Headers.CacheControl = "no-store";

        if (request.Path == "/" && request.Query["token"].ToString() is { Length: > 0 } presented)
        {
            if (!session.Exchange(presented))
            {
                await HttpHost.RefuseAsync(context, StatusCodes.Status401Unauthorized, "This link was used already (it works once). Stop 'engram ui' and start it again for a new one.").ConfigureAwait(false);
                return;
            }

            context.Response.Cookies.Append(CookieName(request), session.CookieSecret, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Path = "/" });
            // Off the address bar and the history at once.
            context.Response.Redirect("/");
            return;
        }

        if (!session.IsCookie(request.Cookies[CookieName(request)]))
        {
            await HttpHost.RefuseAsync(context, StatusCodes.Status401Unauthorized, "Open the link 'engram ui' printed: it carries a one-time token that lets this browser in.").ConfigureAwait(false);
            return;
        }

        if (!HttpMethods.IsGet(request.Method) && !session.IsCsrf(request.Headers[CsrfHeader].ToString()))
        {
            await HttpHost.RefuseAsync(context, StatusCodes.Status403Forbidden, $"A change needs the page's {CsrfHeader} header: reload the inspector.").ConfigureAwait(false);
            return;
        }

        await next(context).ConfigureAwait(false);
    }

    /// <summary>Cookies ignore ports: each inspector's is named by its own, so two running side by side keep theirs.</summary>
    private static string CookieName(HttpRequest request) => $"{Cookie}_{request.Host.Port ?? 80}";
}

/// <summary>The inspector's secrets for one run: the URL's one-time token, the cookie it is exchanged for, the CSRF token.</summary>
internal sealed class UiSession
{
    private int _exchanged;

    public string UrlToken { get; } = NewSecret();

    public string CookieSecret { get; } = NewSecret();

    public string CsrfToken { get; } = NewSecret();

    /// <summary>Whether <paramref name="presented"/> is the URL's token, not yet used (it works once).</summary>
    public bool Exchange(string presented) => Same(presented, UrlToken) && Interlocked.Exchange(ref _exchanged, 1) == 0;

    public bool IsCookie(string? presented) => presented is not null && Same(presented, CookieSecret);

    public bool IsCsrf(string presented) => Same(presented, CsrfToken);

    private static bool Same(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(a)), SHA256.HashData(Encoding.UTF8.GetBytes(b)));

    private static string NewSecret() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
