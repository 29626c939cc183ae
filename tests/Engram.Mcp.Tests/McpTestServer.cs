using System.IO.Pipelines;
using System.Text.Json;
using Engram.Mcp.Hosting;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Engram.Mcp.Tests;

/// <summary>The real Engram MCP server in this process, and a real <see cref="McpClient"/> talking to it over in-memory pipes.</summary>
public sealed class McpTestServer : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly Pipe _clientToServer;
    private readonly Pipe _serverToClient;

    private McpTestServer(IHost host, Pipe clientToServer, Pipe serverToClient, McpClient client)
    {
        _host = host;
        _clientToServer = clientToServer;
        _serverToClient = serverToClient;
        Client = client;
    }

    public McpClient Client { get; private set; }

    /// <summary>The server's own library, for what no tool does (an administrator's saved checks, say).</summary>
    public Engram.Core.MemoryService Memory => _host.Services.GetRequiredService<Engram.Core.MemoryService>();

    private Dictionary<string, JsonElement>? _schemas;

    public static async Task<McpTestServer> StartAsync(string home, string defaultScope = "user", string? projectRoot = null)
    {
        var clientToServer = new Pipe();
        var serverToClient = new Pipe();
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Services
            .AddEngramServer(new HostSettings(home, defaultScope, "test") { Store = TestPostgres.IsDefaultStore ? TestPostgres.DatabaseOf(home) : null, ProjectRoot = projectRoot })
            .WithStreamServerTransport(clientToServer.Reader.AsStream(), serverToClient.Writer.AsStream());
        var host = builder.Build();
        await host.StartAsync();
        var client = await McpClient.CreateAsync(new StreamClientTransport(clientToServer.Writer.AsStream(), serverToClient.Reader.AsStream()));
        return new McpTestServer(host, clientToServer, serverToClient, client);
    }

    /// <summary>Calls a tool and returns its result (errors included, as the client sees them).</summary>
    public async Task<CallToolResult> CallAsync(string tool, object arguments)
    {
        var args = JsonSerializer.Deserialize<Dictionary<string, object?>>(JsonSerializer.Serialize(arguments))!;
        return await Client.CallToolAsync(tool, args);
    }

    /// <summary>Calls a tool that must succeed and returns its structured content.</summary>
    public async Task<JsonElement> CallOkAsync(string tool, object arguments)
    {
        var result = await CallAsync(tool, arguments);
        Assert.True(result.IsError is not true, $"{tool} failed: {Text(result)}");
        Assert.NotNull(result.StructuredContent);
        var structured = JsonSerializer.Deserialize<JsonElement>(result.StructuredContent.Value.GetRawText());
        _schemas ??= (await Client.ListToolsAsync()).ToDictionary(t => t.Name, t => t.ProtocolTool.OutputSchema!.Value);
        SchemaCheck.AssertValid(_schemas[tool], structured);
        Assert.False(string.IsNullOrWhiteSpace(structured.GetProperty("summary").GetString()));
        return structured;
    }

    /// <summary>Calls a tool on any client (stdio, HTTP) and returns its structured result, asserting it is not an error.</summary>
    public static async Task<JsonElement> CallAsync(McpClient client, string tool, Dictionary<string, object?> args)
    {
        var result = await client.CallToolAsync(tool, args);
        Assert.True(result.IsError is not true, Text(result));
        return JsonSerializer.Deserialize<JsonElement>(result.StructuredContent!.Value.GetRawText());
    }

    public static string Text(CallToolResult result) =>
        string.Join("\n", result.Content.OfType<TextContentBlock>().Select(t => t.Text));

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await _clientToServer.Writer.CompleteAsync();
        await _serverToClient.Writer.CompleteAsync();
        await _host.StopAsync();
        // The container holds the MemoryService, which only disposes asynchronously (its background work is awaited).
        if (_host is IAsyncDisposable host)
        {
            await host.DisposeAsync();
        }
        else
        {
            _host.Dispose();
        }
        SqliteConnection.ClearAllPools();
    }
}

/// <summary>A temporary folder for one test class, removed afterwards with SQLite's -wal and -shm files.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Root);

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "engram-mcp-tests", Guid.NewGuid().ToString("N"));

    public string NewHome() => Path.Combine(Root, Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        TestPostgres.DropDatabasesUnder(Root);
        if (Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true);
        }
    }
}
