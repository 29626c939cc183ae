using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol;

namespace Engram.Mcp.Tests;

/// <summary>
/// Pins <c>tools/list</c> (names, titles, descriptions, input and output schemas, annotations) byte for byte against
/// <c>Snapshots/tools-list.json</c>. The tools are the contract with every client: a change must be deliberate, made
/// by replacing the snapshot with the <c>.actual.json</c> file this test writes next to the test binaries on a mismatch.
/// </summary>
public sealed class ToolsListSnapshotTests(TempFolder temp) : IClassFixture<TempFolder>
{
    private static readonly string Snapshot = Path.Combine(AppContext.BaseDirectory, "Snapshots", "tools-list.json");

    [Fact]
    public async Task ToolsList_IsExactlyTheCommittedSnapshot()
    {
        await using var server = await McpTestServer.StartAsync(temp.NewHome());
        var tools = (await server.Client.ListToolsAsync()).Select(t => t.ProtocolTool).OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        var actual = Render(JsonSerializer.SerializeToNode(tools, McpJsonUtilities.DefaultOptions)!);

        var expected = await File.ReadAllTextAsync(Snapshot);
        if (!string.Equals(expected, actual, StringComparison.Ordinal))
        {
            var written = Path.Combine(AppContext.BaseDirectory, "Snapshots", "tools-list.actual.json");
            await File.WriteAllTextAsync(written, actual);
            Assert.Fail($"tools/list differs from {Snapshot}. If the change is intended, copy {written} over tests/Engram.Mcp.Tests/Snapshots/tools-list.json.");
        }
    }

    /// <summary>Indented, with descriptions readable as written (no \u0027 for an apostrophe), and a final newline.</summary>
    private static string Render(JsonNode node) =>
        node.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }).ReplaceLineEndings("\n") + "\n";
}
