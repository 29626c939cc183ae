using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Engram.Core;
using Engram.Core.Model;
using Engram.Embeddings;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Engram.Mcp;

/// <summary>
/// The command line: with no command, the MCP server on stdio (what clients launch); <c>serve --http</c> for Streamable
/// HTTP; and commands for people, with tables, or JSON with <c>--json</c>.
/// </summary>
internal static class Cli
{
    public static readonly Option<string?> Home = new("--home") { Description = "Store folder (default: $ENGRAM_HOME, else ~/.engram)", Recursive = true };
    public static readonly Option<string?> Scope = new("--scope") { Description = "Default scope: 'user' or 'project:<key>' (default: $ENGRAM_SCOPE, else the project's)", Recursive = true };
    public static readonly Option<string?> Project = new("--project") { Description = "Project folder whose repository names the scope (default: $ENGRAM_PROJECT_ROOT, $CLAUDE_PROJECT_DIR, the working directory's git root)", Recursive = true };
    public static readonly Option<string?> EmbeddingsOption = new("--embeddings") { Description = "Embedder: builtin (default), ollama:<model>, openai:<model> or onnx:<folder> (default: $ENGRAM_EMBEDDINGS)", Recursive = true };

    private static readonly Option<bool> Json = new("--json") { Description = "Print JSON instead of a table" };
    private static readonly JsonSerializerOptions JsonOut = new(JsonSerializerDefaults.Web) { WriteIndented = true };
    private static readonly JsonSerializerOptions JsonLine = new(JsonSerializerDefaults.Web);

    /// <summary>The global options alone: what <see cref="HostSettings.Resolve(IReadOnlyList{string}, Func{string, string?}, string)"/> parses.</summary>
    public static RootCommand GlobalOnly() => new("engram") { Home, Scope, Project, EmbeddingsOption };

    public static Task<int> RunAsync(string[] args) => Build().Parse(args).InvokeAsync();

    public static RootCommand Build()
    {
        var root = new RootCommand("Engram: long-term memory for coding assistants. With no command it serves MCP over stdio.")
        {
            Home, Scope, Project, EmbeddingsOption,
        };
        root.SetAction((parse, token) => WithSettingsAsync(parse, settings => ServeStdioAsync(settings, token)));
        root.Subcommands.Add(ServeCommand());
        root.Subcommands.Add(RememberCommand());
        root.Subcommands.Add(RecallCommand());
        root.Subcommands.Add(ForgetCommand());
        root.Subcommands.Add(ExplainCommand());
        root.Subcommands.Add(ListCommand());
        root.Subcommands.Add(ShowCommand());
        root.Subcommands.Add(ExportCommand());
        root.Subcommands.Add(ImportCommand());
        root.Subcommands.Add(StatsCommand());
        root.Subcommands.Add(DoctorCommand());
        var reindex = new Command("reindex", "Rebuild the lexical (BM25) index from SQLite");
        reindex.SetAction((parse, token) => WithServiceAsync(parse, async (service, _) =>
        {
            var documents = 0;
            await AnsiConsole.Status().StartAsync("Rebuilding the lexical index from SQLite…", async _ => documents = await service.ReindexAsync(token).ConfigureAwait(false)).ConfigureAwait(false);
            AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"[green]Done:[/] the lexical index holds {documents} memories.");
            return 0;
        }));
        root.Subcommands.Add(reindex);
        var reembed = new Command("reembed", "Embed every memory that lacks a vector of the configured embedder, with a progress bar");
        reembed.SetAction((parse, token) => WithServiceAsync(parse, (service, settings) => ReembedAsync(service, settings, token)));
        root.Subcommands.Add(reembed);
        return root;
    }

    /// <summary>Resolves the settings (options, environment, project) and runs <paramref name="action"/>; bad input exits 2 with what to send.</summary>
    private static async Task<int> WithSettingsAsync(ParseResult parse, Func<HostSettings, Task<int>> action)
    {
        try
        {
            var settings = HostSettings.From(parse, Environment.GetEnvironmentVariable, Directory.GetCurrentDirectory());
            return await action(settings).ConfigureAwait(false);
        }
        catch (EngramArgumentException e)
        {
            await Console.Error.WriteLineAsync($"engram: {e.Message}").ConfigureAwait(false);
            return 2;
        }
    }

    private static LogLevel LogLevelFromEnvironment() =>
        Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("ENGRAM_LOG_LEVEL"), ignoreCase: true, out var l) ? l : LogLevel.Information;

    private static async Task<int> ServeStdioAsync(HostSettings settings, CancellationToken token)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        var level = LogLevelFromEnvironment();
        // stdout carries only the protocol: every log goes to stderr.
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(level);
        // The SDK logs every request at Information; keep that for Debug and below.
        builder.Logging.AddFilter("ModelContextProtocol", level <= LogLevel.Debug ? level : LogLevel.Warning);
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.AddEngramServer(settings).WithStdioServerTransport();
        if (!Console.IsInputRedirected || !Console.IsErrorRedirected)
        {
            await Console.Error.WriteLineAsync(
                $"engram {EngramServer.Version}: MCP server on stdio; store {Path.Combine(settings.Home, "engram.db")}; default scope {settings.DefaultScope} (from {settings.ScopeSource}).").ConfigureAwait(false);
        }

        await builder.Build().RunAsync(token).ConfigureAwait(false);
        return 0;
    }

    /// <summary><c>engram reembed</c>: embeds every memory that lacks a vector of the configured embedder, with a progress bar.</summary>
    private static async Task<int> ReembedAsync(MemoryService service, HostSettings settings, CancellationToken token)
    {
        try
        {
            var embedded = 0;
            await AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .StartAsync(async context =>
                {
                    var task = context.AddTask($"Embedding with {settings.Embeddings}", maxValue: 1);
                    var progress = new Progress<(int Done, int Total)>(p =>
                    {
                        task.MaxValue = Math.Max(1, p.Total);
                        task.Value = p.Done;
                        task.Description = $"Embedding with {settings.Embeddings}: {p.Done:N0} of {p.Total:N0}";
                    });
                    embedded = await service.ReembedAsync(progress, token).ConfigureAwait(false);
                    task.Value = task.MaxValue;
                }).ConfigureAwait(false);
            AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"[green]Done:[/] {embedded:N0} memories embedded with {settings.Embeddings}; every scope's vectors of this model are in use.");
            return 0;
        }
        catch (InvalidOperationException e)
        {
            await Console.Error.WriteLineAsync($"engram reembed: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    private static Command ServeCommand()
    {
        var http = new Option<bool>("--http") { Description = "Serve Streamable HTTP at /mcp instead of stdio" };
        var port = new Option<int>("--port") { Description = $"HTTP port (default {HttpSettings.DefaultPort}; 0 picks a free one)", DefaultValueFactory = _ => HttpSettings.DefaultPort };
        var bind = new Option<string>("--bind") { Description = "Address to listen on (default 127.0.0.1; anything else needs ENGRAM_TOKEN)", DefaultValueFactory = _ => "127.0.0.1" };
        var sse = new Option<bool>("--legacy-sse") { Description = "Also serve the deprecated HTTP+SSE transport (/sse, /message) for old clients" };
        var command = new Command("serve", "Serve MCP: stdio by default, or Streamable HTTP with --http") { http, port, bind, sse };
        command.SetAction((parse, token) => WithSettingsAsync(parse, async settings =>
        {
            if (!parse.GetValue(http))
            {
                return await ServeStdioAsync(settings, token).ConfigureAwait(false);
            }

            if (!IPAddress.TryParse(parse.GetValue(bind) == "localhost" ? "127.0.0.1" : parse.GetValue(bind), out var address))
            {
                throw new EngramArgumentException($"--bind '{parse.GetValue(bind)}' is not an IP address. Send 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or one interface's address.");
            }

            var origins = (Environment.GetEnvironmentVariable("ENGRAM_ALLOWED_ORIGINS") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(o => o.TrimEnd('/')).ToList();
            var options = new HttpSettings(address, parse.GetValue(port), Environment.GetEnvironmentVariable("ENGRAM_TOKEN") is { Length: > 0 } t ? t : null, origins, parse.GetValue(sse));
            var (app, endpoint) = await HttpHost.StartAsync(settings, options, LogLevelFromEnvironment(), token).ConfigureAwait(false);
            await Console.Error.WriteLineAsync(
                $"engram {EngramServer.Version}: MCP Streamable HTTP at {endpoint}{(options.LegacySse ? " (and deprecated SSE at /sse)" : "")}; store {Path.Combine(settings.Home, "engram.db")}; default scope {settings.DefaultScope}{(options.Token is null ? "" : "; bearer token required")}.").ConfigureAwait(false);
            await app.WaitForShutdownAsync(token).ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
            return 0;
        }));
        return command;
    }

    /// <summary>Opens the service for a command, runs it, and turns the library's argument errors into exit code 2.</summary>
    private static Task<int> WithServiceAsync(ParseResult parse, Func<MemoryService, HostSettings, Task<int>> action) =>
        WithSettingsAsync(parse, async settings =>
        {
            var embedder = EmbeddingProvider.Create(settings.Embeddings, settings.EmbeddingsUrl, settings.EmbeddingsKey);
            try
            {
                using var logging = LoggerFactory.Create(b => b.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(LogLevel.Warning));
                // A command runs once and exits: no background embedder (reembed embeds in the foreground).
                var options = new EngramOptions { BackgroundEmbedding = false };
                settings.Apply(options);
                await using var service = new MemoryService(options, embedder, logging);
                return await action(service, settings).ConfigureAwait(false);
            }
            finally
            {
                embedder?.Dispose();
            }
        });

    private static int Print<T>(bool json, T value, Action render)
    {
        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(value, JsonOut));
        }
        else
        {
            render();
        }

        return 0;
    }

    private static string Short(string text, int length = 90) => Markup.Escape(text.Length <= length ? text : text[..(length - 1)] + "…");

    private static string Time(DateTimeOffset t) => t.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);

    private static Command RememberCommand()
    {
        var content = new Argument<string>("content") { Description = "The fact to remember (one self-contained statement)" };
        var tags = new Option<string[]>("--tag") { Description = "A tag (repeatable)", AllowMultipleArgumentsPerToken = true };
        var observed = new Option<string?>("--observed-at") { Description = "When it was said or became true (ISO-8601; default now)" };
        var supersedes = new Option<string[]>("--supersedes") { Description = "Ids of older memories this one replaces (repeatable)", AllowMultipleArgumentsPerToken = true };
        var command = new Command("remember", "Store a fact") { content, tags, observed, supersedes, Json };
        command.SetAction((parse, token) => WithServiceAsync(parse, async (service, _) =>
        {
            var result = await service.RememberAsync(new RememberRequest(
                parse.GetValue(content)!, null, parse.GetValue(tags), Tools.MemoryTools.ParseTimestamp(parse.GetValue(observed), "--observed-at"), parse.GetValue(supersedes)), token).ConfigureAwait(false);
            return Print(parse.GetValue(Json), result, () =>
            {
                AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"[green]{result.Status}[/] {result.Id} in {result.Scope}");
                foreach (var similar in result.Similar)
                {
                    AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"  similar {similar.Id} ({similar.Score:0.00}): {similar.Content}");
                }
            });
        }));
        return command;
    }

    private static readonly Option<string?> In = new("--in") { Description = "Only this scope" };

    private static Command RecallCommand()
    {
        var query = new Argument<string>("query") { Description = "What to look for: a question or keywords" };
        var limit = new Option<int>("--limit") { Description = "How many (1–100)", DefaultValueFactory = _ => 10 };
        var tags = new Option<string[]>("--tag") { Description = "Only memories with any of these tags", AllowMultipleArgumentsPerToken = true };
        var history = new Option<bool>("--include-superseded") { Description = "Also show replaced memories" };
        var asOf = new Option<string?>("--as-of") { Description = "What was current at this time (ISO-8601)" };
        var command = new Command("recall", "Find the memories most relevant to a query") { query, limit, tags, history, asOf, In, Json };
        command.SetAction((parse, token) => WithServiceAsync(parse, async (service, _) =>
        {
            var result = await service.RecallAsync(new RecallRequest(
                parse.GetValue(query)!, parse.GetValue(In), parse.GetValue(limit), parse.GetValue(tags), parse.GetValue(history),
                Tools.MemoryTools.ParseTimestamp(parse.GetValue(asOf), "--as-of")), token).ConfigureAwait(false);
            return Print(parse.GetValue(Json), result, () =>
            {
                var table = new Table().AddColumns("#", "id", "scope", "observed", "memory");
                foreach (var (m, i) in result.Memories.Select((m, i) => (m, i + 1)))
                {
                    table.AddRow(i.ToString(CultureInfo.InvariantCulture), m.Id, Markup.Escape(m.Scope), Time(m.ObservedAt), Short(m.Content) + (m.SupersededBy is null ? "" : $" [grey](superseded by {m.SupersededBy})[/]"));
                }

                AnsiConsole.Write(table);
                AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"[grey]{result.Memories.Count} memories from {string.Join(" + ", result.Scopes)}; retrievalId {result.RetrievalId} (engram explain {result.RetrievalId})[/]");
            });
        }));
        return command;
    }

    private static Command ForgetCommand()
    {
        var ids = new Argument<string[]>("id") { Description = "Ids of memories to forget", Arity = ArgumentArity.ZeroOrMore };
        var tag = new Option<string?>("--tag") { Description = "Forget every memory with this tag" };
        var query = new Option<string?>("--query") { Description = "Forget the best matches of this query (with --limit, default 1)" };
        var limit = new Option<int?>("--limit") { Description = "How many matches of --query" };
        var all = new Option<bool>("--all") { Description = "Forget every memory of the scope named with --in" };
        var dryRun = new Option<bool>("--dry-run") { Description = "List what would be forgotten, forget nothing" };
        var command = new Command("forget", "Remove memories from every store, for good") { ids, tag, query, limit, all, dryRun, In, Json };
        command.SetAction((parse, token) => WithServiceAsync(parse, async (service, _) =>
        {
            var given = parse.GetValue(ids) ?? [];
            var result = await service.ForgetAsync(new ForgetRequest(
                given.Length == 0 ? null : given, parse.GetValue(tag), parse.GetValue(query), parse.GetValue(all), parse.GetValue(In), parse.GetValue(limit), parse.GetValue(dryRun)), token).ConfigureAwait(false);
            return Print(parse.GetValue(Json), result, () =>
            {
                AnsiConsole.MarkupLine((result.DryRun ? "[yellow]would forget[/] " : "[red]forgot[/] ") + result.Count.ToString(CultureInfo.InvariantCulture) + " memories" + (result.Truncated ? " (list truncated)" : ""));
                foreach (var id in result.Forgotten)
                {
                    AnsiConsole.WriteLine("  " + id);
                }

                if (!result.DryRun)
                {
                    AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"[grey]left anywhere: {(result.Residue.IsEmpty ? "nothing" : result.Residue.ToString())}[/]");
                }
            });
        }));
        return command;
    }

    private static Command ExplainCommand()
    {
        var retrieval = new Argument<string?>("retrievalId") { Description = "A recall's retrievalId to replay", Arity = ArgumentArity.ZeroOrOne };
        var query = new Option<string?>("--query") { Description = "Explain a new recall of this query instead" };
        var memory = new Option<string?>("--memory") { Description = "Also account for this memory id" };
        var command = new Command("explain", "Show why a recall returned what it did") { retrieval, query, memory, In, Json };
        command.SetAction((parse, token) => WithServiceAsync(parse, async (service, _) =>
        {
            var id = parse.GetValue(retrieval);
            var text = parse.GetValue(query);
            var result = await service.ExplainAsync(new ExplainRequest(id, text is null ? null : new RecallRequest(text, parse.GetValue(In)), parse.GetValue(memory)), token).ConfigureAwait(false);
            return Print(parse.GetValue(Json), result, () =>
            {
                AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"[bold]{result.Query}[/] over {string.Join(" + ", result.Scopes)} ({result.ScopeResolution}); vectors: {result.Vectors}");
                var table = new Table().AddColumns("#", "id", "score", "lexical", "vector", "entities", "time", "recency", "status");
                foreach (var h in result.Hits)
                {
                    table.AddRow(h.Rank.ToString(CultureInfo.InvariantCulture), h.Id, h.Score.ToString("0.0000", CultureInfo.InvariantCulture),
                        Signal(h.Lexical), Signal(h.Vector), Signal(h.Entities), Signal(h.Time), Signal(h.Recency), Markup.Escape(h.Supersession));
                }

                AnsiConsole.Write(table);
                foreach (var f in result.FilteredOut)
                {
                    AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"[grey]filtered {f.Id}: {f.Reason}[/]");
                }

                if (result.Memory is { } account)
                {
                    AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"{account.Id}: {account.Reason}");
                }
            });
        }));
        return command;

        static string Signal(SignalScore? s) => s is null ? "-" : Markup.Escape($"#{s.Rank} {s.Score:0.###}{(s.Note is null ? "" : " *")}");
    }

    private static Command ListCommand()
    {
        var limit = new Option<int>("--limit") { Description = $"How many (1–{MemoryService.MaxListLimit})", DefaultValueFactory = _ => 50 };
        var offset = new Option<int>("--offset") { Description = "Skip this many", DefaultValueFactory = _ => 0 };
        var history = new Option<bool>("--include-superseded") { Description = "Also list replaced memories" };
        var command = new Command("list", "List memories, newest first") { limit, offset, history, In, Json };
        command.SetAction((parse, token) => WithServiceAsync(parse, async (service, _) =>
        {
            var rows = await service.ListAsync(parse.GetValue(In), parse.GetValue(limit), parse.GetValue(offset), parse.GetValue(history), token).ConfigureAwait(false);
            return Print(parse.GetValue(Json), rows, () =>
            {
                var table = new Table().AddColumns("id", "scope", "stored", "tags", "memory");
                foreach (var m in rows)
                {
                    table.AddRow(m.Id, Markup.Escape(m.Scope), Time(m.CreatedAt), Markup.Escape(string.Join(", ", m.Tags)), Short(m.Content) + (m.SupersededBy is null ? "" : " [grey](superseded)[/]"));
                }

                AnsiConsole.Write(table);
            });
        }));
        return command;
    }

    private static Command ShowCommand()
    {
        var id = new Argument<string>("id") { Description = "A memory id" };
        var command = new Command("show", "Show one memory with everything kept of it") { id, Json };
        command.SetAction((parse, token) => WithServiceAsync(parse, async (service, _) =>
        {
            var memory = await service.GetAsync(parse.GetValue(id)!, token).ConfigureAwait(false);
            if (memory is null)
            {
                await Console.Error.WriteLineAsync($"engram: no memory with id '{parse.GetValue(id)}'. 'engram list' shows ids.").ConfigureAwait(false);
                return 1;
            }

            return Print(parse.GetValue(Json), memory, () =>
            {
                var grid = new Grid().AddColumn().AddColumn();
                grid.AddRow("id", memory.Id);
                grid.AddRow("scope", Markup.Escape(memory.Scope));
                grid.AddRow("content", Markup.Escape(memory.Content));
                grid.AddRow("tags", Markup.Escape(string.Join(", ", memory.Tags)));
                grid.AddRow("observed", memory.ObservedAt.ToString("o", CultureInfo.InvariantCulture));
                grid.AddRow("stored", memory.CreatedAt.ToString("o", CultureInfo.InvariantCulture));
                grid.AddRow("superseded by", memory.SupersededBy ?? "-");
                AnsiConsole.Write(grid);
            });
        }));
        return command;
    }

    private static Command ExportCommand()
    {
        var output = new Option<string?>("--output", "-o") { Description = "Write to this file (default: stdout)" };
        var command = new Command("export", "Write every memory as JSON Lines (ids, times, tags and supersession kept)") { output, In };
        command.SetAction((parse, token) => WithServiceAsync(parse, async (service, _) =>
        {
            var path = parse.GetValue(output);
            await using var writer = path is null ? Console.Out : new StreamWriter(path);
            var count = 0;
            await foreach (var record in service.ExportAsync(parse.GetValue(In), token).ConfigureAwait(false))
            {
                await writer.WriteLineAsync(JsonSerializer.Serialize(record, JsonLine)).ConfigureAwait(false);
                count++;
            }

            if (path is not null)
            {
                await Console.Error.WriteLineAsync($"{count} memories written to {path}.").ConfigureAwait(false);
            }

            return 0;
        }));
        return command;
    }

    private static Command ImportCommand()
    {
        var file = new Argument<string>("file") { Description = "A JSON Lines file: an Engram export, or the reference MCP memory server's memory.jsonl" };
        var command = new Command("import", "Import memories from an Engram export or a server-memory file") { file, Json };
        command.SetAction((parse, token) => WithServiceAsync(parse, async (service, settings) =>
        {
            var path = parse.GetValue(file)!;
            if (!File.Exists(path))
            {
                throw new EngramArgumentException($"No file at {path}. Send an Engram export (engram export -o file.jsonl) or server-memory's memory.jsonl.");
            }

            var (records, format) = JsonlImport.Read(path, settings.DefaultScope);
            ImportResult? result = null;
            if (parse.GetValue(Json) || Console.IsOutputRedirected)
            {
                result = await service.ImportAsync(records, null, token).ConfigureAwait(false);
            }
            else
            {
                await AnsiConsole.Progress().StartAsync(async context =>
                {
                    var task = context.AddTask($"Importing {records.Count:N0} records ({format})", maxValue: Math.Max(1, records.Count));
                    result = await service.ImportAsync(records, new Progress<(int Done, int Total)>(p => task.Value = p.Done), token).ConfigureAwait(false);
                    task.Value = task.MaxValue;
                }).ConfigureAwait(false);
            }

            return Print(parse.GetValue(Json), new { format, result }, () =>
                AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                    $"[green]Imported[/] {result!.Created} memories from {format}; {result.AlreadyPresent} already present, {result.Duplicates} duplicates skipped, {result.Superseded} supersession links."));
        }));
        return command;
    }

    private static Command StatsCommand()
    {
        var command = new Command("stats", "Memories per scope, vectors per model, sizes on disk") { Json };
        command.SetAction((parse, token) => WithServiceAsync(parse, async (service, _) =>
        {
            var stats = await service.StatsAsync(token).ConfigureAwait(false);
            return Print(parse.GetValue(Json), stats, () =>
            {
                AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"[bold]{stats.Memories}[/] memories in {stats.Home} (database {stats.DatabaseBytes / 1024.0:N0} KiB, index {stats.IndexBytes / 1024.0:N0} KiB); embedder {stats.Embedder}; {stats.Forgets} forgets recorded");
                var scopes = new Table().AddColumns("scope", "memories", "superseded", "last stored");
                foreach (var s in stats.Scopes)
                {
                    scopes.AddRow(Markup.Escape(s.Scope), s.Memories.ToString(CultureInfo.InvariantCulture), s.Superseded.ToString(CultureInfo.InvariantCulture), s.Newest is { } n ? Time(n) : "-");
                }

                AnsiConsole.Write(scopes);
                var vectors = new Table().AddColumns("vectors of model", "count");
                foreach (var (model, count) in stats.VectorsByModel)
                {
                    vectors.AddRow(Markup.Escape(model), count.ToString(CultureInfo.InvariantCulture));
                }

                AnsiConsole.Write(vectors);
            });
        }));
        return command;
    }

    private static Command DoctorCommand()
    {
        var command = new Command("doctor", "Check the store and show how the project scope resolves from here") { Json };
        command.SetAction((parse, token) => WithServiceAsync(parse, async (service, settings) =>
        {
            var checks = (await service.DoctorAsync(token).ConfigureAwait(false)).ToList();
            checks.Insert(0, new DoctorCheck("Scope", true, $"writes go to {settings.DefaultScope} (from {settings.ScopeSource}); recall searches {string.Join(" + ", service.DefaultRecallScopes)}"));
            Print(parse.GetValue(Json), checks, () =>
            {
                var table = new Table().AddColumns("check", "", "detail");
                foreach (var c in checks)
                {
                    table.AddRow(Markup.Escape(c.Name), c.Ok ? "[green]ok[/]" : "[red]problem[/]", Markup.Escape(c.Detail));
                }

                AnsiConsole.Write(table);
            });
            return checks.All(c => c.Ok) ? 0 : 1;
        }));
        return command;
    }
}
