using System.Diagnostics;
using System.Text.Json;

namespace Engram.Mcp.Tests;

/// <summary>The command line for people, run as the built executable: each verb, --json, export → import, server-memory import, packing.</summary>
public sealed class CliTests(TempFolder temp) : IClassFixture<TempFolder>
{
    private static readonly string ServerDll = Path.Combine(AppContext.BaseDirectory, "engram.dll");

    private static async Task<(int Exit, string Out, string Err)> RunAsync(string home, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet", [ServerDll, .. args, "--home", home, "--scope", "user"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        };
        start.Environment["ENGRAM_PROJECT_ROOT"] = "";
        start.Environment["CLAUDE_PROJECT_DIR"] = "";
        start.Environment["ENGRAM_SCOPE"] = "";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output, await errors);
    }

    private static async Task<JsonElement> JsonAsync(string home, params string[] args)
    {
        var (exit, output, errors) = await RunAsync(home, [.. args, "--json"]);
        Assert.True(exit == 0, $"exit {exit}: {errors}");
        return JsonSerializer.Deserialize<JsonElement>(output);
    }

    [Fact]
    public async Task Verbs_RememberListShowRecallExplainForgetStatsDoctor()
    {
        var home = temp.NewHome();
        var postgres = (await JsonAsync(home, "remember", "The orders service runs on Postgres 16.", "--tag", "db")).GetProperty("id").GetString()!;
        var old = (await JsonAsync(home, "remember", "Deploys go through Jenkins.")).GetProperty("id").GetString()!;
        var argo = (await JsonAsync(home, "remember", "Deploys go through ArgoCD.", "--supersedes", old)).GetProperty("id").GetString()!;

        var list = await JsonAsync(home, "list");
        Assert.Equal([argo, postgres], list.EnumerateArray().Select(m => m.GetProperty("id").GetString()));
        Assert.Equal(3, (await JsonAsync(home, "list", "--include-superseded")).GetArrayLength());

        var shown = await JsonAsync(home, "show", old);
        Assert.Equal(argo, shown.GetProperty("supersededBy").GetString());

        var recall = await JsonAsync(home, "recall", "which database do orders use");
        Assert.Equal(postgres, recall.GetProperty("memories")[0].GetProperty("id").GetString());
        var explain = await JsonAsync(home, "explain", recall.GetProperty("retrievalId").GetString()!);
        Assert.Equal(postgres, explain.GetProperty("hits")[0].GetProperty("id").GetString());

        var table = await RunAsync(home, "recall", "orders database");
        Assert.Equal(0, table.Exit);
        Assert.Contains("Postgres", table.Out, StringComparison.Ordinal);

        var dry = await JsonAsync(home, "forget", postgres, "--dry-run");
        Assert.True(dry.GetProperty("dryRun").GetBoolean());
        var forgot = await JsonAsync(home, "forget", postgres);
        Assert.Equal(1, forgot.GetProperty("count").GetInt32());
        Assert.Equal(2, (await RunAsync(home, "show", postgres)).Exit); // an unknown id is bad input (README: exit codes)

        var stats = await JsonAsync(home, "stats");
        Assert.Equal(2, stats.GetProperty("memories").GetInt32());
        Assert.Equal(1, stats.GetProperty("forgets").GetInt32());
        // Over the index as it is, and with its folder gone.
        var reindex = await RunAsync(home, "reindex");
        Assert.True(reindex.Exit == 0, reindex.Err);
        Assert.Contains("holds 2 memories", reindex.Out, StringComparison.Ordinal);
        Assert.Equal(argo, (await JsonAsync(home, "recall", "how do deploys go")).GetProperty("memories")[0].GetProperty("id").GetString());
        Directory.Delete(Path.Combine(home, "index"), recursive: true);
        reindex = await RunAsync(home, "reindex");
        Assert.True(reindex.Exit == 0, reindex.Err);
        Assert.Contains("holds 2 memories", reindex.Out, StringComparison.Ordinal);
        var doctor = await JsonAsync(home, "doctor");
        Assert.All(doctor.EnumerateArray(), c => Assert.True(c.GetProperty("ok").GetBoolean(), c.ToString()));
    }

    [Fact]
    public async Task BadInput_ExitsWithACodeAndSaysWhatToSend()
    {
        var home = temp.NewHome();
        var empty = await RunAsync(home, "recall", " ");
        Assert.Equal(2, empty.Exit);
        Assert.Contains("send non-blank text", empty.Err, StringComparison.Ordinal);
        var limit = await RunAsync(home, "recall", "x", "--limit", "0");
        Assert.Equal(2, limit.Exit);
        Assert.Contains("1 to 100", limit.Err, StringComparison.Ordinal);
        var unknown = await RunAsync(home, "recal", "x");
        Assert.NotEqual(0, unknown.Exit);
        var missing = await RunAsync(home, "import", Path.Combine(home, "nope.jsonl"));
        Assert.Equal(2, missing.Exit);
        Assert.Contains("engram export", missing.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExportThenImport_RoundTripsIdsTimesTagsAndSupersession()
    {
        var home = temp.NewHome();
        var old = (await JsonAsync(home, "remember", "The API listens on port 8080.", "--tag", "api", "--observed-at", "2025-01-02T03:04:05Z")).GetProperty("id").GetString()!;
        var current = (await JsonAsync(home, "remember", "The API listens on port 9090.", "--tag", "api", "--tag", "ports", "--supersedes", old)).GetProperty("id").GetString()!;
        await JsonAsync(home, "remember", "Builds use the Release configuration.");
        var file = Path.Combine(temp.Root, Guid.NewGuid().ToString("N") + ".jsonl");
        Assert.Equal(0, (await RunAsync(home, "export", "-o", file)).Exit);
        Assert.Equal(3, File.ReadAllLines(file).Length);

        var copy = temp.NewHome();
        var imported = await JsonAsync(copy, "import", file);
        Assert.Equal(3, imported.GetProperty("result").GetProperty("created").GetInt32());
        Assert.Equal(1, imported.GetProperty("result").GetProperty("superseded").GetInt32());
        var again = await JsonAsync(copy, "import", file);
        Assert.Equal(3, again.GetProperty("result").GetProperty("alreadyPresent").GetInt32());

        var source = (await JsonAsync(home, "list", "--include-superseded")).EnumerateArray().Select(m => m.GetRawText()).Order().ToList();
        var target = (await JsonAsync(copy, "list", "--include-superseded")).EnumerateArray().Select(m => m.GetRawText()).Order().ToList();
        Assert.Equal(source, target);
        var shown = await JsonAsync(copy, "show", old);
        Assert.Equal(current, shown.GetProperty("supersededBy").GetString());
        Assert.Equal(new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero), shown.GetProperty("observedAt").GetDateTimeOffset());
        Assert.Equal(current, (await JsonAsync(copy, "recall", "which port does the API listen on")).GetProperty("memories")[0].GetProperty("id").GetString());
    }

    [Fact]
    public async Task Import_ReadsTheReferenceMemoryServersFile()
    {
        var file = Path.Combine(temp.Root, Guid.NewGuid().ToString("N") + "-memory.jsonl");
        await File.WriteAllLinesAsync(file,
        [
            """{"type":"entity","name":"Ana_Lopez","entityType":"person","observations":["Prefers tabs over spaces","Owns the billing service"]}""",
            """{"type":"entity","name":"billing-service","entityType":"service","observations":["Written in Go"]}""",
            """{"type":"relation","from":"Ana_Lopez","to":"billing-service","relationType":"maintains"}""",
        ]);
        var home = temp.NewHome();
        var imported = await JsonAsync(home, "import", file);
        Assert.Equal("server-memory", imported.GetProperty("format").GetString());
        Assert.Equal(4, imported.GetProperty("result").GetProperty("created").GetInt32());

        var recall = await JsonAsync(home, "recall", "who prefers tabs");
        var top = recall.GetProperty("memories")[0];
        Assert.Equal("Ana_Lopez: Prefers tabs over spaces", top.GetProperty("content").GetString());
        Assert.Equal(["person", "server-memory"], top.GetProperty("tags").EnumerateArray().Select(t => t.GetString()).Order());
        var relation = await JsonAsync(home, "recall", "who maintains the billing service");
        Assert.Contains(relation.GetProperty("memories").EnumerateArray(), m => m.GetProperty("content").GetString() == "Ana_Lopez maintains billing-service");

        // Importing the same file again adds nothing: the texts are already there.
        var again = await JsonAsync(home, "import", file);
        Assert.Equal(0, again.GetProperty("result").GetProperty("created").GetInt32());
        Assert.Equal(4, again.GetProperty("result").GetProperty("duplicates").GetInt32());
    }

    [Theory]
    [InlineData("", true)]
    [InlineData("serve", true)]
    [InlineData("serve --http", true)]
    [InlineData("--home /tmp/x", true)]
    [InlineData("--home=/tmp/x serve", true)]
    [InlineData("--store /tmp/x --scope user serve --http", true)]
    [InlineData("recall deploys", false)]
    [InlineData("--home /tmp/x stats", false)]
    [InlineData("--help", false)]
    [InlineData("--version", false)]
    public void Serves_TellsAServerFromACommand_PastTheGlobalOptions(string commandLine, bool serves) =>
        Assert.Equal(serves, Engram.Mcp.Commands.EngramCli.Serves(commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries)));
}
