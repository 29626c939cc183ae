using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol;

namespace Engram.Mcp.Tests;

/// <summary>
/// Pins <c>tools/list</c> (names, titles, descriptions, input and output schemas, annotations, order) byte for byte
/// against <c>src/Engram.Mcp/Tools/tools-list.json</c>, which the server announces, and checks that the tools the SDK
/// makes from <c>MemoryTools</c> (which run the calls) describe themselves exactly so. The tools are the contract with
/// every client: a change must be deliberate, made by replacing the file with the <c>.actual.json</c> file this test
/// writes next to the test binaries on a mismatch.
/// </summary>
public sealed class ToolsListSnapshotTests(TempFolder temp) : IClassFixture<TempFolder>
{
    private static readonly string Snapshot = Path.Combine(AppContext.BaseDirectory, "Snapshots", "tools-list.json");

    /// <summary>The file as the server announces it, through the SDK's listing and a client (a round trip).</summary>
    [Fact]
    public async Task ToolsList_IsExactlyTheCommittedSnapshot()
    {
        await using var server = await McpTestServer.StartAsync(temp.NewHome());
        var tools = (await server.Client.ListToolsAsync()).Select(t => t.ProtocolTool).ToList();
        await AssertSnapshotAsync(tools, "tools/list");
    }

    /// <summary>The tools that run the calls, made by reflection, describe themselves exactly as the file does.</summary>
    [Fact]
    public async Task MadeTools_DescribeThemselvesAsTheSnapshot()
    {
        var made = Engram.Mcp.Hosting.EngramServer.CreateTools();
        await AssertSnapshotAsync(made.Select(t => t.ProtocolTool).ToList(), "The tools made from MemoryTools");

        // And the announced tools list the same attributes as the made ones, without waiting for them.
        var announced = Engram.Mcp.Hosting.EngramServer.AnnouncedTools()
            .Select(t => new Engram.Mcp.Tools.AnnouncedTool(t, Engram.Mcp.Hosting.EngramServer.ToolMethods, new TaskCompletionSource<ModelContextProtocol.Server.McpServerTool[]>().Task));
        Assert.Equal(
            made.Select(t => string.Join(",", t.Metadata.Select(m => m.GetType().Name))),
            announced.Select(t => string.Join(",", t.Metadata.Select(m => m.GetType().Name))));
    }

    private static async Task AssertSnapshotAsync(List<ModelContextProtocol.Protocol.Tool> tools, string what)
    {
        var actual = Render(JsonSerializer.SerializeToNode(tools, McpJsonUtilities.DefaultOptions)!);
        var expected = await File.ReadAllTextAsync(Snapshot);
        if (!string.Equals(expected, actual, StringComparison.Ordinal))
        {
            var written = Path.Combine(AppContext.BaseDirectory, "Snapshots", "tools-list.actual.json");
            await File.WriteAllTextAsync(written, actual);
            Assert.Fail($"{what} differs from {Snapshot}. If the change is intended, copy {written} over src/Engram.Mcp/Tools/tools-list.json.");
        }
    }

    /// <summary>Indented, with descriptions readable as written (no \u0027 for an apostrophe), and a final newline.</summary>
    private static string Render(JsonNode node) =>
        node.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }).ReplaceLineEndings("\n") + "\n";
}
