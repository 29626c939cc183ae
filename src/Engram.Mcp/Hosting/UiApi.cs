using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Engram.Core;
using Engram.Core.Model;
using Engram.Mcp.Output;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Engram.Mcp.Hosting;

/// <summary>
/// The inspector's page and JSON API. Every read and change is a call of <see cref="MemoryService"/>, the same the tools
/// and the CLI make, so the same rules, errors and receipts apply. Texts a person types (queries, memories) travel in
/// POST bodies, never in URLs, so no access log holds them.
/// </summary>
internal static partial class UiApi
{
    private static readonly JsonSerializerOptions Json = JsonOutput.Line;

    public static void Map(WebApplication app, MemoryService memory, HostSettings settings, UiSession session)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(UiApi));
        app.MapGet("/", context => PageAsync(context, session));
        app.MapGet("/app.js", context => AssetAsync(context, "app.js", "text/javascript; charset=utf-8"));
        app.MapGet("/app.css", context => AssetAsync(context, "app.css", "text/css; charset=utf-8"));

        Get(app, "/api/overview", logger, async context =>
        {
            var stats = await memory.StatsAsync(context.RequestAborted).ConfigureAwait(false);
            var current = memory.DefaultRecallScopes[0];
            return new
            {
                store = settings.StoreDisplay,
                defaultScope = current,
                embedder = stats.Embedder,
                stats.Memories,
                stats.VectorsByModel,
                scopes = stats.Scopes.OrderBy(s => s.Scope == current ? 0 : s.Scope == "user" ? 1 : 2).ThenBy(s => s.Scope, StringComparer.Ordinal),
            };
        });
        // Asked for after the first page is up: counting each scope's vectors reads them all on a large store.
        Get(app, "/api/index", logger, async context => await memory.IndexStateAsync(context.RequestAborted).ConfigureAwait(false));
        Get(app, "/api/memories", logger, async context =>
        {
            var query = context.Request.Query;
            var scope = query["scope"].ToString() is { Length: > 0 } s ? s : null;
            var offset = Number(query["offset"], 0);
            var limit = Number(query["limit"], 50);
            var superseded = query["superseded"] == "1";
            var (from, to) = (Time(query["from"]), Time(query["to"]));
            if (limit is < 1 or > MemoryService.MaxListLimit)
            {
                throw new EngramArgumentException($"limit must be 1–{MemoryService.MaxListLimit}; got {limit}.");
            }

            // One more than the page tells whether there are more; at the largest page, the next one is asked for alone.
            var page = await memory.ListAsync(scope, Math.Min(limit + 1, MemoryService.MaxListLimit), offset, superseded, from, to, context.RequestAborted).ConfigureAwait(false);
            var more = page.Count > limit || (page.Count == MemoryService.MaxListLimit &&
                (await memory.ListAsync(scope, 1, offset + limit, superseded, from, to, context.RequestAborted).ConfigureAwait(false)).Count > 0);
            return new { memories = page.Take(limit), more, offset };
        });
        Get(app, "/api/recalls", logger, async context =>
            await memory.ListRecallsAsync(null, Number(context.Request.Query["limit"], 50), context.RequestAborted).ConfigureAwait(false));
        Get(app, "/api/memory/{id}", logger, async context =>
            await memory.InspectAsync((string)context.Request.RouteValues["id"]!, context.RequestAborted).ConfigureAwait(false)
            ?? throw new EngramArgumentException("No memory with this id exists (it may have been forgotten)."));
        Get(app, "/api/explain/{retrievalId}", logger, async context =>
            await memory.ExplainPictureAsync(new ExplainRequest((string)context.Request.RouteValues["retrievalId"]!), context.RequestAborted).ConfigureAwait(false));

        Post<SearchBody>(app, "/api/search", logger, async (body, context) =>
            await memory.RecallAsync(body.ToRecall(), context.RequestAborted).ConfigureAwait(false));
        Post<ExplainBody>(app, "/api/explain", logger, async (body, context) =>
            await memory.ExplainPictureAsync(new ExplainRequest(Recall: body.ToRecall(), MemoryId: body.MemoryId is { Length: > 0 } id ? id : null), context.RequestAborted).ConfigureAwait(false));
        Post<RememberRequest>(app, "/api/remember", logger, async (body, context) =>
            await memory.RememberAsync(body, context.RequestAborted).ConfigureAwait(false));
        Post<TagsBody>(app, "/api/tags", logger, async (body, context) =>
            await memory.SetTagsAsync(
                body.Id is { Length: > 0 } id ? id : throw new EngramArgumentException("Send the memory's 'id' and its 'tags' (an array of strings)."),
                body.Tags ?? [], context.RequestAborted).ConfigureAwait(false));
        Post<ForgetBody>(app, "/api/forget", logger, async (body, context) =>
            await memory.ForgetAsync(new ForgetRequest(Ids: body.Ids ?? [], DryRun: body.DryRun), context.RequestAborted).ConfigureAwait(false));

        app.MapGet("/api/export", async context =>
        {
            var scope = context.Request.Query["scope"].ToString() is { Length: > 0 } s ? s : null;
            // A bad scope or an unreachable store is said before the download starts.
            if (!await TryAsync(context, logger, async () => { await memory.ListAsync(scope, 1, cancellationToken: context.RequestAborted).ConfigureAwait(false); }).ConfigureAwait(false))
            {
                return;
            }

            context.Response.ContentType = "application/x-ndjson; charset=utf-8";
            context.Response.Headers.ContentDisposition = "attachment; filename=\"engram-export.jsonl\"";
            // As 'engram export' writes it: the memories, then the saved recall checks.
            await using var writer = new StreamWriter(context.Response.Body, new System.Text.UTF8Encoding(false), leaveOpen: true);
            await JsonlExport.WriteAsync(memory, scope, writer, context.RequestAborted).ConfigureAwait(false);
        });
    }

    /// <summary>The page, with this run's CSRF token in a meta tag for its script to send back.</summary>
    private static async Task PageAsync(HttpContext context, UiSession session)
    {
        var page = (await ReadAssetAsync("index.html").ConfigureAwait(false)).Replace("{{csrf}}", session.CsrfToken, StringComparison.Ordinal);
        context.Response.ContentType = "text/html; charset=utf-8";
        await context.Response.WriteAsync(page).ConfigureAwait(false);
    }

    private static async Task AssetAsync(HttpContext context, string name, string type)
    {
        context.Response.ContentType = type;
        await context.Response.WriteAsync(await ReadAssetAsync(name).ConfigureAwait(false)).ConfigureAwait(false);
    }

    private static async Task<string> ReadAssetAsync(string name)
    {
        await using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Engram.Mcp.Ui." + name)
            ?? throw new InvalidOperationException($"The inspector's {name} is missing from the assembly.");
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync().ConfigureAwait(false);
    }

    private static DateTimeOffset? Time(Microsoft.Extensions.Primitives.StringValues value) =>
        value.Count == 0 || value.ToString().Length == 0 ? null
        : DateTimeOffset.TryParse(value.ToString(), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var time) ? time
        : throw new EngramArgumentException($"'{value}' is not a date and time: send ISO 8601, e.g. 2026-03-01T00:00:00Z.");

    private static int Number(Microsoft.Extensions.Primitives.StringValues value, int fallback) =>
        value.Count == 0 || value.ToString().Length == 0 ? fallback
        : int.TryParse(value.ToString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n
        : throw new EngramArgumentException($"'{value}' is not a whole number.");

    private static void Get(WebApplication app, string pattern, ILogger logger, Func<HttpContext, Task<object>> handler)
    {
        Task Answer(HttpContext context) => AnswerAsync(context, logger, () => handler(context));
        app.MapGet(pattern, Answer);
    }

    private static void Post<T>(WebApplication app, string pattern, ILogger logger, Func<T, HttpContext, Task<object>> handler) =>
        app.MapPost(pattern, context => AnswerAsync(context, logger, async () =>
        {
            T? body;
            try
            {
                body = await JsonSerializer.DeserializeAsync<T>(context.Request.Body, Json, context.RequestAborted).ConfigureAwait(false);
            }
            catch (JsonException e)
            {
                throw new EngramArgumentException($"The request body is not the JSON expected: {e.Message}");
            }

            return await handler(body ?? throw new EngramArgumentException("The request body is empty: send a JSON object."), context).ConfigureAwait(false);
        }));

    /// <summary>Writes the result as JSON, or the error (see <see cref="TryAsync"/>).</summary>
    private static async Task AnswerAsync(HttpContext context, ILogger logger, Func<Task<object>> work)
    {
        object? result = null;
        if (await TryAsync(context, logger, async () => result = await work().ConfigureAwait(false)).ConfigureAwait(false))
        {
            await context.Response.WriteAsJsonAsync(result, Json).ConfigureAwait(false);
        }
    }

    /// <summary>Runs <paramref name="work"/>; on failure writes the error a person can act on (400, 503), or a one-line 500 without a stack trace, and returns false.</summary>
    private static async Task<bool> TryAsync(HttpContext context, ILogger logger, Func<Task> work)
    {
        try
        {
            await work().ConfigureAwait(false);
            return true;
        }
        catch (EngramArgumentException e)
        {
            await ErrorAsync(context, StatusCodes.Status400BadRequest, e.Message).ConfigureAwait(false);
        }
        catch (EngramUnavailableException e)
        {
            await ErrorAsync(context, StatusCodes.Status503ServiceUnavailable, e.Message).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogFailed(logger, context.Request.Path, e.GetType().Name, e.Message);
            await ErrorAsync(context, StatusCodes.Status500InternalServerError, "The inspector failed to answer; the terminal running 'engram ui' says why.").ConfigureAwait(false);
        }

        return false;
    }

    private static Task ErrorAsync(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(new { error = message }, Json);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The inspector failed to answer {Path}: {Error}: {Message}")]
    private static partial void LogFailed(ILogger logger, PathString path, string error, string message);

    /// <summary>A search: recall's arguments.</summary>
    private sealed record SearchBody(string Query, string? Scope, int? Limit, IReadOnlyList<string>? Tags, bool IncludeSuperseded, DateTimeOffset? AsOf)
    {
        public RecallRequest ToRecall() => new(Query, Scope is { Length: > 0 } ? Scope : null, Limit ?? 20, Tags is { Count: > 0 } ? Tags : null, IncludeSuperseded, AsOf);
    }

    /// <summary>An explain of a new recall, optionally accounting for one memory.</summary>
    private sealed record ExplainBody(string Query, string? Scope, int? Limit, IReadOnlyList<string>? Tags, bool IncludeSuperseded, DateTimeOffset? AsOf, string? MemoryId)
    {
        public RecallRequest ToRecall() => new SearchBody(Query, Scope, Limit, Tags, IncludeSuperseded, AsOf).ToRecall();
    }

    private sealed record ForgetBody(IReadOnlyList<string>? Ids, bool DryRun);

    private sealed record TagsBody(string Id, IReadOnlyList<string>? Tags);
}
