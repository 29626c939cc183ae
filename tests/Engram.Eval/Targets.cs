using System.Diagnostics;
using System.Text.Json;
using Engram.Core;
using Engram.Core.Model;
using ModelContextProtocol.Client;

namespace Engram.Eval;

/// <summary>A memory system under test: store facts in a scope, then ask it for the best k.</summary>
internal interface IMemoryTarget : IAsyncDisposable
{
    string Name { get; }

    /// <summary>Stores facts; returns one id per fact (a duplicate returns the id it duplicates).</summary>
    Task<IReadOnlyList<string>> StoreAsync(string scope, IReadOnlyList<(string Content, DateTimeOffset ObservedAt)> facts);

    /// <summary>The ids of the best <paramref name="k"/> memories for <paramref name="query"/> in <paramref name="scope"/>.</summary>
    Task<IReadOnlyList<string>> RecallAsync(string scope, string query, int k);
}

/// <summary>
/// Engram through one way in (the library, or the server over MCP) with the tools' whole arguments, so that a data set
/// is scored the same way through each and the ways in can be compared.
/// </summary>
internal interface IEngramTarget : IMemoryTarget
{
    Task<RememberResult> RememberAsync(RememberRequest request);

    /// <summary>The ids recalled, best first.</summary>
    Task<IReadOnlyList<string>> RecallAsync(RecallRequest request);

    Task ForgetAsync(string id);
}

/// <summary>The ways into Engram that <c>--mode</c> names, each started in a home of its own.</summary>
internal static class WaysIn
{
    /// <summary>The ways in for a mode (library, mcp, http, both or all), or null for an unknown mode.</summary>
    public static IReadOnlyList<string>? For(string mode) => mode switch
    {
        "library" or "mcp" or "http" => [mode],
        "both" => ["library", "mcp"],
        "all" => ["library", "mcp", "http"],
        _ => null,
    };

    /// <summary>Starts a way in; <paramref name="embeddings"/> null means Engram's default embedder.</summary>
    public static async Task<IEngramTarget> StartAsync(string way, string work, string? embeddings)
    {
        var home = Path.Combine(work, way);
        return way switch
        {
            "library" => new LibraryTarget(home, embeddings),
            "mcp" => await McpTarget.StartAsync(home, embeddings),
            _ => await McpTarget.StartHttpAsync(home, embeddings),
        };
    }
}

/// <summary>Engram through <see cref="MemoryService"/> directly (LoCoMo's facts by bulk import).</summary>
internal sealed class LibraryTarget(string home, string? embeddings = null) : IEngramTarget
{
    private readonly MemoryService _service = new(
        new EngramOptions { HomeDirectory = home },
        Engram.Embeddings.EmbeddingProvider.Create(
            embeddings, Environment.GetEnvironmentVariable("ENGRAM_EMBEDDINGS_URL"), Environment.GetEnvironmentVariable("ENGRAM_EMBEDDINGS_KEY"), Console.Error.WriteLine));

    public string Name => "library";

    public async Task<IReadOnlyList<string>> StoreAsync(string scope, IReadOnlyList<(string Content, DateTimeOffset ObservedAt)> facts)
    {
        var results = await _service.RememberManyAsync(facts.Select(f => new RememberRequest(f.Content, scope, ObservedAt: f.ObservedAt)).ToList());
        return results.Select(r => r.Id).ToList();
    }

    public Task<IReadOnlyList<string>> RecallAsync(string scope, string query, int k) => RecallAsync(new RecallRequest(query, scope, k));

    public Task<RememberResult> RememberAsync(RememberRequest request) => _service.RememberAsync(request);

    public async Task<IReadOnlyList<string>> RecallAsync(RecallRequest request) =>
        (await _service.RecallAsync(request)).Memories.Select(m => m.Id).ToList();

    public Task ForgetAsync(string id) => _service.ForgetAsync(new ForgetRequest(Ids: [id]));

    public ValueTask DisposeAsync() => _service.DisposeAsync();
}

/// <summary>Engram's built executable over stdio or Streamable HTTP, through the MCP C# client: one tool call per fact.</summary>
internal sealed class McpTarget : IEngramTarget
{
    private readonly McpClient _client;
    private readonly Process? _server;

    private McpTarget(McpClient client, string name, Process? server = null)
    {
        _client = client;
        Name = name;
        _server = server;
    }

    public string Name { get; }

    /// <summary>The built server over Streamable HTTP on a free loopback port (`engram serve --http`).</summary>
    public static async Task<McpTarget> StartHttpAsync(string home, string? embeddings = null)
    {
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }

        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "engram.dll"), "serve", "--http", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        foreach (var (name, value) in ServerEnvironment(home, embeddings))
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }

        var server = Process.Start(start)!;
        // The server says where it listens on stderr once it is ready.
        while (await server.StandardError.ReadLineAsync() is { } line)
        {
            if (line.Contains("Streamable HTTP at", StringComparison.Ordinal))
            {
                break;
            }
        }

        _ = server.StandardError.ReadToEndAsync();
        var transport = new HttpClientTransport(new HttpClientTransportOptions { Endpoint = new Uri($"http://127.0.0.1:{port}/mcp"), TransportMode = HttpTransportMode.StreamableHttp });
        return new McpTarget(await McpClient.CreateAsync(transport), "mcp-http", server);
    }

    public static async Task<McpTarget> StartAsync(string home, string? embeddings = null)
    {
        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "engram",
            Command = "dotnet",
            Arguments = [Path.Combine(AppContext.BaseDirectory, "engram.dll")],
            EnvironmentVariables = ServerEnvironment(home, embeddings),
        });
        return new McpTarget(await McpClient.CreateAsync(transport), "mcp");
    }

    /// <summary>
    /// The server's settings: its own home, 'user' as the default scope, warnings only. ENGRAM_EMBEDDINGS is set only
    /// when an embedder was asked for; otherwise an inherited one is removed (null), so that the server runs with its
    /// default embedder, as the library target does.
    /// </summary>
    private static Dictionary<string, string?> ServerEnvironment(string home, string? embeddings) => new()
    {
        ["ENGRAM_HOME"] = home, ["ENGRAM_SCOPE"] = "user", ["ENGRAM_LOG_LEVEL"] = "Warning", ["ENGRAM_EMBEDDINGS"] = embeddings,
    };

    public async Task<IReadOnlyList<string>> StoreAsync(string scope, IReadOnlyList<(string Content, DateTimeOffset ObservedAt)> facts)
    {
        var ids = new List<string>(facts.Count);
        foreach (var (content, observedAt) in facts)
        {
            ids.Add((await RememberAsync(new RememberRequest(content, scope, ObservedAt: observedAt))).Id);
        }

        return ids;
    }

    public Task<IReadOnlyList<string>> RecallAsync(string scope, string query, int k) => RecallAsync(new RecallRequest(query, scope, k));

    public Task<RememberResult> RememberAsync(RememberRequest request) =>
        Call<RememberResult>("remember", new()
        {
            ["content"] = request.Content, ["scope"] = request.Scope, ["tags"] = request.Tags,
            ["observedAt"] = request.ObservedAt?.ToString("o"), ["supersedes"] = request.Supersedes,
        });

    public async Task<IReadOnlyList<string>> RecallAsync(RecallRequest request) =>
        (await Call<RecallResult>("recall", new()
        {
            ["query"] = request.Query, ["scope"] = request.Scope, ["limit"] = request.Limit, ["tags"] = request.Tags,
            ["includeSuperseded"] = request.IncludeSuperseded, ["asOf"] = request.AsOf?.ToString("o"),
        })).Memories.Select(m => m.Id).ToList();

    public Task ForgetAsync(string id) => Call<ForgetResult>("forget", new() { ["id"] = id });

    /// <summary>Calls a tool with the arguments that are set, and reads its structured content as the library's result record.</summary>
    private async Task<T> Call<T>(string tool, Dictionary<string, object?> args)
    {
        var result = await _client.CallToolAsync(tool, args.Where(a => a.Value is not null).ToDictionary());
        if (result.IsError is true || result.StructuredContent is not { } content)
        {
            throw new InvalidOperationException($"{tool} failed: {string.Join(" ", result.Content.OfType<ModelContextProtocol.Protocol.TextContentBlock>().Select(t => t.Text))}");
        }

        return content.Deserialize<T>(JsonSerializerOptions.Web)!;
    }

    public async ValueTask DisposeAsync()
    {
        await _client.DisposeAsync();
        if (_server is not null)
        {
            _server.Kill(entireProcessTree: true);
            await _server.WaitForExitAsync();
            _server.Dispose();
        }
    }
}

/// <summary>
/// The reference MCP memory server (<c>@modelcontextprotocol/server-memory</c>, installed from npm into a cache folder)
/// over stdio: one entity per fact with the fact as its observation; recall is its <c>search_nodes</c>.
/// </summary>
internal sealed class PeerTarget : IMemoryTarget
{
    public const string Package = "@modelcontextprotocol/server-memory";
    private readonly McpClient _client;
    private int _next;

    private PeerTarget(McpClient client) => _client = client;

    public string Name => "server-memory";

    public static string? InstalledVersion { get; private set; }

    public static async Task<PeerTarget> StartAsync(string workDir, string version)
    {
        var entry = await InstallAsync(version);
        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "server-memory",
            Command = "node",
            Arguments = [entry],
            EnvironmentVariables = new Dictionary<string, string?> { ["MEMORY_FILE_PATH"] = Path.Combine(workDir, "memory.jsonl") },
        });
        return new PeerTarget(await McpClient.CreateAsync(transport));
    }

    /// <summary>Installs the package with npm into a cache folder (once) and returns its entry script.</summary>
    private static async Task<string> InstallAsync(string version)
    {
        var cache = Path.Combine(Path.GetTempPath(), "engram-eval-peer", version);
        var packageDir = Path.Combine(cache, "node_modules", "@modelcontextprotocol", "server-memory");
        if (!File.Exists(Path.Combine(packageDir, "package.json")))
        {
            Directory.CreateDirectory(cache);
            await File.WriteAllTextAsync(Path.Combine(cache, "package.json"), """{"name":"engram-eval-peer","private":true}""");
            var npm = Process.Start(new ProcessStartInfo("npm", ["install", "--no-audit", "--no-fund", "--silent", $"{Package}@{version}"])
            {
                WorkingDirectory = cache,
                RedirectStandardOutput = true,
            })!;
            await npm.StandardOutput.ReadToEndAsync();
            await npm.WaitForExitAsync();
            if (npm.ExitCode != 0)
            {
                throw new InvalidOperationException($"npm install {Package}@{version} failed with exit code {npm.ExitCode}.");
            }
        }

        using var manifest = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(packageDir, "package.json")));
        InstalledVersion = manifest.RootElement.GetProperty("version").GetString();
        var bin = manifest.RootElement.GetProperty("bin");
        var relative = bin.ValueKind == JsonValueKind.String ? bin.GetString()! : bin.EnumerateObject().First().Value.GetString()!;
        return Path.GetFullPath(Path.Combine(packageDir, relative));
    }

    public async Task<IReadOnlyList<string>> StoreAsync(string scope, IReadOnlyList<(string Content, DateTimeOffset ObservedAt)> facts)
    {
        var ids = new List<string>(facts.Count);
        foreach (var (content, _) in facts)
        {
            var name = $"{scope}#{_next++}";
            var entity = new Dictionary<string, object?> { ["name"] = name, ["entityType"] = "memory", ["observations"] = new[] { content } };
            var result = await _client.CallToolAsync("create_entities", new Dictionary<string, object?> { ["entities"] = new[] { entity } });
            if (result.IsError is true)
            {
                throw new InvalidOperationException("create_entities failed.");
            }

            ids.Add(name);
        }

        return ids;
    }

    public async Task<IReadOnlyList<string>> RecallAsync(string scope, string query, int k)
    {
        var result = await _client.CallToolAsync("search_nodes", new Dictionary<string, object?> { ["query"] = query });
        var text = result.StructuredContent is { } structured
            ? structured.GetRawText()
            : string.Join("", result.Content.OfType<ModelContextProtocol.Protocol.TextContentBlock>().Select(t => t.Text));
        using var graph = JsonDocument.Parse(text);
        return graph.RootElement.GetProperty("entities").EnumerateArray()
            .Select(e => e.GetProperty("name").GetString()!)
            .Where(n => n.StartsWith(scope + "#", StringComparison.Ordinal))
            .Take(k)
            .ToList();
    }

    public ValueTask DisposeAsync() => _client.DisposeAsync();
}
