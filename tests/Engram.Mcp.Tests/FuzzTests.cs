using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;
using Microsoft.Data.Sqlite;
using ModelContextProtocol.Protocol;

namespace Engram.Mcp.Tests;

/// <summary>
/// Property: whatever arguments arrive (explicit nulls among them), every tool answers with a result (an error result
/// that says what to send, or a success), the server keeps serving, and the store stays consistent.
/// </summary>
public sealed class FuzzTests(TempFolder temp) : IClassFixture<TempFolder>
{
    private static readonly string[] Tools = ["remember", "recall", "forget", "explain"];

    private static readonly string[] Names =
    [
        "content", "scope", "tags", "observedAt", "supersedes", "query", "limit", "includeSuperseded", "asOf",
        "id", "ids", "tag", "all", "dryRun", "retrievalId", "memoryId", "text", "", "Content", "__proto__",
    ];

    private static readonly Gen<string> Strings = Gen.OneOf(
        Gen.String,
        Gen.OneOf("", " ", "user", "project:acme/x", "../../etc/passwd", "/home/me", "C:\\\\x", "2025-03-14", "2025-13-45",
            "9999-12-31T23:59:59Z", "mem_nope", "rt_nope", "null", "\u0000", "💥🧠", "DROP TABLE memories;"),
        Gen.Int[0, 6000].Select(n => new string('x', n)));

    private static readonly Gen<JsonNode?> Values = Gen.Recursive<JsonNode?>((depth, inner) =>
    {
        var scalars = Gen.OneOf<JsonNode?>(
            Gen.Const(() => (JsonNode?)null),
            Gen.Bool.Select(b => (JsonNode?)JsonValue.Create(b)),
            Gen.Int.Select(i => (JsonNode?)JsonValue.Create(i)),
            Gen.OneOf(0, 1, -1, 10, 100, 101, int.MaxValue, int.MinValue).Select(i => (JsonNode?)JsonValue.Create(i)),
            Gen.Double.Select(d => (JsonNode?)(double.IsFinite(d) ? JsonValue.Create(d) : JsonValue.Create(1e308))),
            Strings.Select(s => (JsonNode?)JsonValue.Create(s)));
        return depth > 2 ? scalars : Gen.OneOf(
            scalars,
            Strings.Array[0, 4].Select(a => (JsonNode?)new JsonArray(a.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray())),
            inner.Array[0, 3].Select(a => (JsonNode?)new JsonArray(a.Select(n => n?.DeepClone()).ToArray())),
            Gen.Select(Gen.OneOf(Names), inner).Array[0, 3].Select(kv =>
            {
                var o = new JsonObject();
                foreach (var (k, v) in kv) o[k] = v?.DeepClone();
                return (JsonNode?)o;
            }));
    });

    private static readonly Dictionary<string, string[]> ToolArguments = new()
    {
        ["remember"] = ["content", "scope", "tags", "observedAt", "supersedes"],
        ["recall"] = ["query", "scope", "limit", "tags", "includeSuperseded", "asOf"],
        ["forget"] = ["id", "ids", "tag", "query", "all", "scope", "limit", "dryRun"],
        ["explain"] = ["retrievalId", "query", "scope", "limit", "tags", "includeSuperseded", "asOf", "memoryId"],
    };

    private static readonly Gen<string> Text = Gen.OneOf(
        Gen.OneOf("We deploy with Helm.", "The flaky test is OrderTests.Refund_Twice.", "Ana prefers trains.", "deploy", "user", "2025-03-14"),
        Strings);

    /// <summary>A value of the argument's own type most of the time; an explicit null (as the MCP Inspector sends for an empty field) often; anything at all otherwise.</summary>
    private static Gen<JsonNode?> ValueFor(string name) => Gen.Int[0, 99].SelectMany(p => p >= 60 ? Values : p < 15 ? Gen.Const(() => (JsonNode?)null) : name switch
    {
        "limit" => Gen.Int[-5, 120].Select(i => (JsonNode?)JsonValue.Create(i)),
        "includeSuperseded" or "all" or "dryRun" => Gen.Bool.Select(b => (JsonNode?)JsonValue.Create(b)),
        "tags" or "ids" or "supersedes" => Text.Array[0, 3].Select(a => (JsonNode?)new JsonArray(a.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray())),
        _ => Text.Select(s => (JsonNode?)JsonValue.Create(s)),
    });

    /// <summary>Mostly the tool's own argument names (a few at a time), sometimes foreign ones.</summary>
    private static readonly Gen<(string Tool, Dictionary<string, JsonElement> Args)> Calls =
        Gen.OneOf(Tools).SelectMany(tool =>
            Gen.Int[0, 99].SelectMany(p => p < 85 ? Gen.OneOf(ToolArguments[tool]) : Gen.OneOf(Names))
                .SelectMany(name => ValueFor(name).Select(value => (name, value)))
                .Array[0, 4]
                .Select(pairs =>
                {
                    var args = new Dictionary<string, JsonElement>();
                    foreach (var (name, value) in pairs)
                    {
                        args[name] = JsonSerializer.SerializeToElement(value);
                    }

                    return (tool, args);
                }));

    [Fact]
    public async Task RandomArguments_ToEveryTool_AlwaysGetAResult_AndTheStoreStaysConsistent()
    {
        var home = temp.NewHome();
        await using var server = await McpTestServer.StartAsync(home);
        int calls = 0, errors = 0;
        await Calls.SampleAsync(async call =>
        {
            calls++;
            var result = await server.Client.CallToolAsync(new CallToolRequestParams { Name = call.Tool, Arguments = call.Args });
            var text = McpTestServer.Text(result);
            Assert.False(string.IsNullOrWhiteSpace(text));
            if (result.IsError is true)
            {
                errors++;
                // A fixable mistake is explained (never the SDK's bare "An error occurred invoking"); nothing internal leaks.
                Assert.DoesNotContain("An error occurred", text, StringComparison.Ordinal);
                Assert.DoesNotContain("Exception", text, StringComparison.Ordinal);
                Assert.DoesNotContain(home, text, StringComparison.Ordinal);
                Assert.DoesNotContain("SQLite", text, StringComparison.OrdinalIgnoreCase);
            }
            else
            {
                Assert.NotNull(result.StructuredContent);
            }
        }, iter: 400, threads: 1);

        Assert.Equal(400, calls);
        Assert.InRange(errors, 1, calls - 1); // both paths were exercised
        var fact = await server.CallOkAsync("remember", new { content = "After the fuzzing the server still remembers this." });
        var recalled = await server.CallOkAsync("recall", new { query = "after the fuzzing still remembers", limit = 100 });
        Assert.Contains(recalled.GetProperty("memories").EnumerateArray(), m => m.GetProperty("id").GetString() == fact.GetProperty("id").GetString());

        await using var connection = new SqliteConnection($"Data Source={Path.Combine(home, "engram.db")}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA integrity_check;";
        Assert.Equal("ok", await command.ExecuteScalarAsync());
        command.CommandText = "PRAGMA foreign_key_check;";
        await using var reader = await command.ExecuteReaderAsync();
        Assert.False(await reader.ReadAsync());
    }
}
