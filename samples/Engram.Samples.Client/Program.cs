// An MCP client talking to Engram like Claude Code or Cursor do: it launches the server over stdio (or connects to
// `engram serve --http` when given its URL), lists the tools, and calls remember, recall and explain.
//   dotnet run --project samples/Engram.Samples.Client                          (stdio, a throwaway store)
//   dotnet run --project samples/Engram.Samples.Client -- http://127.0.0.1:8765/mcp
using System.Text.Json;
using ModelContextProtocol.Client;

var home = Path.Combine(Path.GetTempPath(), "engram-client-sample-" + Guid.NewGuid().ToString("N"));
IClientTransport transport = args.Length > 0
    ? new HttpClientTransport(new HttpClientTransportOptions { Endpoint = new Uri(args[0]), TransportMode = HttpTransportMode.StreamableHttp })
    : new StdioClientTransport(new StdioClientTransportOptions
    {
        Name = "engram",
        Command = "dotnet",
        Arguments = [Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "src", "Engram.Mcp", "bin", DebugOrRelease(), "net10.0", "engram.dll")],
        EnvironmentVariables = new Dictionary<string, string?> { ["ENGRAM_HOME"] = home, ["ENGRAM_SCOPE"] = "project:example/client-sample" },
    });

await using (var client = await McpClient.CreateAsync(transport))
{
    Console.WriteLine($"Connected to {client.ServerInfo?.Name} {client.ServerInfo?.Version}; tools: {string.Join(", ", (await client.ListToolsAsync()).Select(t => t.Name))}");

    await Call("remember", new() { ["content"] = "The orders service runs on Postgres 16.", ["tags"] = Decision });
    await Call("remember", new() { ["content"] = "Integration tests need docker compose up first." });
    var recall = await Call("recall", new() { ["query"] = "which database do orders use?", ["limit"] = 3 });
    foreach (var memory in recall.GetProperty("memories").EnumerateArray())
    {
        Console.WriteLine($"  {memory.GetProperty("score").GetDouble():F4}  {memory.GetProperty("content").GetString()}");
    }

    var explain = await Call("explain", new() { ["retrievalId"] = recall.GetProperty("retrievalId").GetString() });
    Console.WriteLine($"explain: {explain.GetProperty("summary").GetString()} Vectors: {explain.GetProperty("vectors").GetString()}");

    async Task<JsonElement> Call(string tool, Dictionary<string, object?> arguments)
    {
        var result = await client.CallToolAsync(tool, arguments);
        if (result.IsError is true)
        {
            throw new InvalidOperationException($"{tool} failed: {string.Join(" ", result.Content.OfType<ModelContextProtocol.Protocol.TextContentBlock>().Select(c => c.Text))}");
        }

        return result.StructuredContent!.Value;
    }
}

if (Directory.Exists(home))
{
    Directory.Delete(home, recursive: true);
}

static string DebugOrRelease() => AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";

internal static partial class Program
{
    private static readonly string[] Decision = ["decision"];
}
