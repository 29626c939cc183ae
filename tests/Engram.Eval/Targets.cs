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

/// <summary>Engram through <see cref="MemoryService"/> directly (bulk import, then recall).</summary>
internal sealed class LibraryTarget(string home, string? embeddings = null) : IMemoryTarget
{
    private readonly MemoryService _service = new(
        new EngramOptions { HomeDirectory = home },
        Engram.Embeddings.EmbeddingProvider.Create(embeddings, Environment.GetEnvironmentVariable("ENGRAM_EMBEDDINGS_URL"), Environment.GetEnvironmentVariable("ENGRAM_EMBEDDINGS_KEY")));

    public string Name => "library";

    public async Task<IReadOnlyList<string>> StoreAsync(string scope, IReadOnlyList<(string Content, DateTimeOffset ObservedAt)> facts)
    {
        var results = await _service.RememberManyAsync(facts.Select(f => new RememberRequest(f.Content, scope, ObservedAt: f.ObservedAt)).ToList());
        return results.Select(r => r.Id).ToList();
    }

    public async Task<IReadOnlyList<string>> RecallAsync(string scope, string query, int k) =>
        (await _service.RecallAsync(new RecallRequest(query, scope, k))).Memories.Select(m => m.Id).ToList();

    public ValueTask DisposeAsync() => _service.DisposeAsync();
}

/// <summary>Engram's built executable over stdio, through the MCP C# client: one remember call per fact.</summary>
internal sealed class McpTarget : IMemoryTarget
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

        var start = new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "engram.dll"), "serve", "--http", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--home", home, "--scope", "user"])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        start.Environment["ENGRAM_LOG_LEVEL"] = "Warning";
        start.Environment["ENGRAM_EMBEDDINGS"] = embeddings ?? "builtin";
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
        var server = Path.Combine(AppContext.BaseDirectory, "engram.dll");
        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "engram",
            Command = "dotnet",
            Arguments = [server],
            EnvironmentVariables = new Dictionary<string, string?>
            {
                ["ENGRAM_HOME"] = home, ["ENGRAM_SCOPE"] = "user", ["ENGRAM_LOG_LEVEL"] = "Warning", ["ENGRAM_EMBEDDINGS"] = embeddings ?? "builtin",
            },
        });
        return new McpTarget(await McpClient.CreateAsync(transport), "mcp");
    }

    public async Task<IReadOnlyList<string>> StoreAsync(string scope, IReadOnlyList<(string Content, DateTimeOffset ObservedAt)> facts)
    {
        var ids = new List<string>(facts.Count);
        foreach (var (content, observedAt) in facts)
        {
            var result = await Call("remember", new() { ["content"] = content, ["scope"] = scope, ["observedAt"] = observedAt.ToString("o") });
            ids.Add(result.GetProperty("id").GetString()!);
        }

        return ids;
    }

    public async Task<IReadOnlyList<string>> RecallAsync(string scope, string query, int k)
    {
        var result = await Call("recall", new() { ["query"] = query, ["scope"] = scope, ["limit"] = k });
        return result.GetProperty("memories").EnumerateArray().Select(m => m.GetProperty("id").GetString()!).ToList();
    }

    private async Task<JsonElement> Call(string tool, Dictionary<string, object?> args)
    {
        var result = await _client.CallToolAsync(tool, args);
        if (result.IsError is true || result.StructuredContent is null)
        {
            throw new InvalidOperationException($"{tool} failed: {string.Join(" ", result.Content.OfType<ModelContextProtocol.Protocol.TextContentBlock>().Select(t => t.Text))}");
        }

        return result.StructuredContent.Value;
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
