using System.Text.Json;
using Engram.Mcp.Commands;
using Engram.Mcp.Hosting;
using Engram.Mcp.Output;

namespace Engram.Mcp.Tests;

/// <summary>
/// The command line run in this process, with its stdout and stderr captured: exit codes, one-line errors in the
/// commands' own flags, and what the tables and JSON look like.
/// </summary>
public sealed class CliCommandTests(TempFolder temp) : IClassFixture<TempFolder>
{
    private sealed record Run(int Exit, string Out, string Err, StringWriter Output);

    private async Task<Run> RunAsync(string home, int width, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var shell = new Shell(new Terminal(output, error, width, interactive: false), _ => null, temp.Root);
        var exit = await EngramCli.RunAsync([.. args, "--home", home, "--scope", "user"], shell);
        return new Run(exit, output.ToString(), error.ToString(), output);
    }

    private Task<Run> RunAsync(string home, params string[] args) => RunAsync(home, Terminal.FallbackWidth, args);

    private async Task<string> RememberAsync(string home, string content)
    {
        var run = await RunAsync(home, "remember", content, "--json");
        Assert.True(run.Exit == 0, run.Err);
        return JsonSerializer.Deserialize<JsonElement>(run.Out).GetProperty("id").GetString()!;
    }

    /// <summary>A failure is one line on stderr: no stack trace, nothing on stdout.</summary>
    private static void AssertOneLineError(Run run, int exit, string expected)
    {
        Assert.True(run.Exit == exit, $"exit {run.Exit}: {run.Err}");
        Assert.Contains(expected, run.Err, StringComparison.Ordinal);
        Assert.Single(run.Err.TrimEnd().Split('\n'));
        Assert.DoesNotMatch(@"(?m)^\s+at \S+\(", run.Err);
        Assert.Equal("", run.Out);
    }

    [Fact]
    public async Task ExportToStdout_LeavesStdoutOpen()
    {
        var home = temp.NewHome();
        await RememberAsync(home, "Exports go to stdout when no file is named.");
        var run = await RunAsync(home, "export");
        Assert.Equal(0, run.Exit);
        Assert.Single(run.Out.TrimEnd().Split('\n'));
        run.Output.Write("still open"); // a disposed writer throws here
    }

    [Fact]
    public async Task ExportToAFolderThatDoesNotExist_ExitsTwoWithOneLine()
    {
        var run = await RunAsync(temp.NewHome(), "export", "-o", Path.Combine(temp.Root, "no", "such", "dir", "f.jsonl"));
        AssertOneLineError(run, 2, "its folder does not exist");
    }

    [Fact]
    public async Task Remember_AFlagBeforeTheText_TakesOneValue_AndRepeats()
    {
        var home = temp.NewHome();
        var remembered = await RunAsync(home, "remember", "--tag", "decision", "--tag", "deploy", "Deploys go through ArgoCD.", "--json");
        Assert.Equal(0, remembered.Exit);
        var id = System.Text.Json.JsonDocument.Parse(remembered.Out).RootElement.GetProperty("id").GetString()!;
        var recalled = await RunAsync(home, "recall", "--tag", "deploy", "how do we deploy", "--json");
        Assert.Equal(0, recalled.Exit);
        Assert.Contains(id, recalled.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExportThatFails_LeavesTheFileItWouldReplaceAsItWas()
    {
        var home = temp.NewHome();
        Assert.Equal(0, (await RunAsync(home, "remember", "The release train leaves on Tuesdays.")).Exit);
        var folder = Path.Combine(temp.Root, "backups-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(folder);
        var backup = Path.Combine(folder, "backup.jsonl");
        File.WriteAllText(backup, "yesterday's export\n");

        var failed = await RunAsync(home, "export", "-o", backup, "--in", "no such scope!");
        Assert.NotEqual(0, failed.Exit);
        Assert.Equal("yesterday's export\n", File.ReadAllText(backup));
        Assert.Equal([backup], Directory.GetFiles(folder));

        Assert.Equal(0, (await RunAsync(home, "export", "-o", backup)).Exit);
        Assert.Contains("release train", File.ReadAllText(backup), StringComparison.Ordinal);
        Assert.Equal([backup], Directory.GetFiles(folder));

        AssertOneLineError(await RunAsync(home, "export", "-o", folder), 2, "is a folder");

        // A link stays a link, and the file it names keeps its permissions.
        var linked = Path.Combine(folder, "latest.jsonl");
        File.CreateSymbolicLink(linked, backup);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(backup, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        Assert.Equal(0, (await RunAsync(home, "remember", "The release train leaves from platform 9.")).Exit);
        Assert.Equal(0, (await RunAsync(home, "export", "-o", linked)).Exit);
        Assert.NotNull(new FileInfo(linked).LinkTarget);
        Assert.Contains("platform 9", File.ReadAllText(backup), StringComparison.Ordinal);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(backup));
        }
    }

    [Fact]
    public async Task Stale_ListsTheMemoriesWhoseFilesChangedSince()
    {
        var root = Path.Combine(temp.Root, "repo-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(root, ".git"));
        File.WriteAllText(Path.Combine(root, "Makefile.mk"), "build:\n\tdotnet build\n");
        var home = temp.NewHome();
        var remembered = await RunAsync(home, "remember", "The build target lives in Makefile.mk.", "--project", root, "--json");
        Assert.Equal(0, remembered.Exit);
        var id = System.Text.Json.JsonDocument.Parse(remembered.Out).RootElement.GetProperty("id").GetString()!;
        Assert.DoesNotContain(id, (await RunAsync(home, "stale", "--project", root, "--json")).Out, StringComparison.Ordinal);

        Directory.CreateDirectory(Path.Combine(root, "make"));
        File.Move(Path.Combine(root, "Makefile.mk"), Path.Combine(root, "make", "Makefile.mk"));
        Assert.Contains("Makefile.mk: renamed to make/Makefile.mk", (await RunAsync(home, 200, "stale", "--project", root)).Out, StringComparison.Ordinal);

        File.Delete(Path.Combine(root, "make", "Makefile.mk"));
        var stale = await RunAsync(home, "stale", "--project", root, "--json");
        Assert.Equal(0, stale.Exit);
        Assert.Contains(id, stale.Out, StringComparison.Ordinal);
        Assert.Contains("\"deleted\"", stale.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RememberASecret_ExitsTwoNamingItsKind_NeverItsValue()
    {
        var secret = "xoxb-" + string.Concat(Enumerable.Repeat("4821", 3)) + "-" + string.Concat(Enumerable.Repeat("73a9Qz", 4));
        var run = await RunAsync(temp.NewHome(), "remember", $"The alerts bot uses {secret} to post.");
        AssertOneLineError(run, 2, "a Slack token at character 21");
        Assert.DoesNotContain(secret, run.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--observed-at 'last tuesday' is not an ISO-8601 time", "remember", "A fact.", "--observed-at", "last tuesday")]
    [InlineData("--as-of 'yesterday' is not an ISO-8601 time", "recall", "anything", "--as-of", "yesterday")]
    public async Task TimesThatAreNotIso8601_ExitTwoWithOneLine(string expected, params string[] args)
    {
        AssertOneLineError(await RunAsync(temp.NewHome(), args), 2, expected);
    }

    [Theory]
    [InlineData("Did you mean 'engram recall'?", "recal", "x")]
    [InlineData("Required argument missing", "recall")]
    [InlineData("'ten'", "recall", "x", "--limit", "ten")]
    [InlineData("--bogus", "list", "--bogus")]
    [InlineData("Option '--expect' is required", "check", "add", "when are releases tagged")]
    [InlineData("no memory with id 'mem_nope'", "show", "mem_nope")]
    public async Task ParseErrorsAndUnknownIds_AreBadInput_ExitTwo(string expected, params string[] args)
    {
        var run = await RunAsync(temp.NewHome(), args);
        Assert.True(run.Exit == 2, $"exit {run.Exit}: {run.Err}");
        Assert.Contains(expected, run.Err, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"(?m)^\s+at \S+\(", run.Err);
    }

    [Theory]
    [InlineData(new[] { "forget", "--all" }, new[] { "--all forgets a whole scope", "explicit --in" })]
    [InlineData(new[] { "forget" }, new[] { "--tag", "--query", "--all with an explicit --in" })]
    [InlineData(new[] { "forget", "x", "--tag", "t" }, new[] { "only one of ids, --tag, --query, or --all with --in" })]
    [InlineData(new[] { "forget", "--query", "q", "--limit", "0" }, new[] { "--limit 0 is out of range", "(default 1)" })]
    [InlineData(new[] { "recall", "x", "--limit", "0" }, new[] { "--limit 0 is out of range", "(default 10)" })]
    [InlineData(new[] { "recall", " " }, new[] { "the query is empty" })]
    [InlineData(new[] { "explain" }, new[] { "a retrievalId", "--query" })]
    [InlineData(new[] { "list", "--limit", "0" }, new[] { "--limit 0 is out of range" })]
    [InlineData(new[] { "recall", "x", "--in", "../etc" }, new[] { "'../etc' is not a valid scope" })]
    public async Task LibraryMessages_SpeakTheCommandsFlags_NotTheToolsArguments(string[] args, string[] expected)
    {
        var run = await RunAsync(temp.NewHome(), args);
        AssertOneLineError(run, 2, expected[0]);
        Assert.All(expected, e => Assert.Contains(e, run.Err, StringComparison.Ordinal));
        Assert.DoesNotContain("all: true", run.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("'scope'", run.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("'query'", run.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("'limit'", run.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Forget_CountsInWords()
    {
        var home = temp.NewHome();
        var one = await RememberAsync(home, "The staging database is called stg-main.");
        var two = await RememberAsync(home, "Releases are tagged on Thursdays.");
        Assert.StartsWith("would forget 2 memories", (await RunAsync(home, "forget", one, two, "--dry-run")).Out, StringComparison.Ordinal);
        Assert.StartsWith("forgot 1 memory\n", (await RunAsync(home, "forget", one)).Out.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.StartsWith("forgot 0 memories", (await RunAsync(home, "forget", one)).Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_AddListRemove_AndDoctorChecks_ListsAFailureWithItsRankAndWhy()
    {
        var home = temp.NewHome();
        var jenkins = await RememberAsync(home, "Builds run on Jenkins.");
        var added = await RunAsync(home, "check", "add", "where do builds run", "--expect", jenkins, "--within", "1", "--json");
        Assert.True(added.Exit == 0, added.Err);
        var check = JsonSerializer.Deserialize<JsonElement>(added.Out).GetProperty("id").GetString()!;
        Assert.Contains(check, (await RunAsync(home, 200, "check", "list")).Out, StringComparison.Ordinal);
        Assert.Equal(1, JsonSerializer.Deserialize<JsonElement>((await RunAsync(home, "check", "list", "--json")).Out).GetArrayLength());

        var passing = await RunAsync(home, 200, "doctor", "--checks");
        Assert.True(passing.Exit == 0, passing.Out + passing.Err);
        Assert.Contains("1 of 1 saved check passed", passing.Out, StringComparison.Ordinal);

        var actions = await RunAsync(home, "remember", "Builds run on GitHub Actions.", "--supersedes", jenkins);
        Assert.Equal(0, actions.Exit);
        var failing = await RunAsync(home, 240, "doctor", "--checks");
        Assert.Equal(1, failing.Exit);
        Assert.Contains(check, failing.Out, StringComparison.Ordinal);
        Assert.Contains("not returned", failing.Out, StringComparison.Ordinal);
        Assert.Contains("superseded", failing.Out, StringComparison.Ordinal);
        Assert.Contains("0 of 1 saved check passed", failing.Out, StringComparison.Ordinal);
        var json = JsonSerializer.Deserialize<JsonElement>((await RunAsync(home, "doctor", "--checks", "--json")).Out);
        var outcome = json.GetProperty("checks")[0];
        Assert.False(outcome.GetProperty("passed").GetBoolean());
        Assert.Equal(jenkins, outcome.GetProperty("expected")[0].GetProperty("id").GetString());
        Assert.Contains("superseded", outcome.GetProperty("expected")[0].GetProperty("why").GetString(), StringComparison.Ordinal);
        Assert.True(json.GetProperty("doctor").GetArrayLength() > 0);

        Assert.Equal(0, (await RunAsync(home, "check", "remove", check)).Exit);
        AssertOneLineError(await RunAsync(home, "check", "remove", check), 2, $"No check with id '{check}'");
        var none = await RunAsync(home, "doctor", "--checks");
        Assert.True(none.Exit == 0, none.Out);
    }

    [Fact]
    public async Task CheckAdd_BadInput_IsOneLineInTheCommandsFlags()
    {
        var home = temp.NewHome();
        var id = await RememberAsync(home, "Releases are tagged on Thursdays.");
        AssertOneLineError(await RunAsync(home, "check", "add", "when are releases tagged", "--expect", "mem_nope"), 2, "No memory with id 'mem_nope'");
        var within = await RunAsync(home, "check", "add", "when are releases tagged", "--expect", id, "--within", "0");
        AssertOneLineError(within, 2, "--within");
        Assert.DoesNotContain("'within'", within.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Checks_TravelWithExportAndImport_AndGoWithTheirMemories()
    {
        var home = temp.NewHome();
        var stg = await RememberAsync(home, "The staging database is called stg-main.");
        Assert.Equal(0, (await RunAsync(home, "check", "add", "staging database name", "--expect", stg)).Exit);
        var file = Path.Combine(temp.Root, Guid.NewGuid().ToString("N") + ".jsonl");
        var export = await RunAsync(home, "export", "-o", file);
        Assert.Contains("1 memory and 1 saved check written", export.Err, StringComparison.Ordinal);

        var other = temp.NewHome();
        var imported = await RunAsync(other, "import", file);
        Assert.True(imported.Exit == 0, imported.Err);
        Assert.Contains("Imported 1 saved check;", imported.Out, StringComparison.Ordinal);
        Assert.Contains("1 of 1 saved check passed", (await RunAsync(other, 200, "doctor", "--checks")).Out, StringComparison.Ordinal);

        var forgot = await RunAsync(other, "forget", stg);
        Assert.Contains("removed 1 saved check too", forgot.Out, StringComparison.Ordinal);
        Assert.Equal(0, JsonSerializer.Deserialize<JsonElement>((await RunAsync(other, "check", "list", "--json")).Out).GetArrayLength());
    }

    [Theory]
    [InlineData("\"scopes\":[\"user\"],\"within\":\"three\"", "wrong type at $.within")]
    [InlineData("\"scopes\":[null],\"within\":3", "'scopes' is empty or holds an empty scope")]
    [InlineData("\"scopes\":[\"user\"],\"within\":99", "'within' 99 is out of range")]
    public async Task Import_AMalformedCheck_IsRefusedBeforeAnyMemoryIsImported(string fields, string expected)
    {
        var file = Path.Combine(temp.Root, Guid.NewGuid().ToString("N") + ".jsonl");
        File.WriteAllLines(file,
        [
            """{"id":"mem_a","scope":"user","content":"The staging database is called stg-main.","tags":[],"observedAt":"2026-01-01T00:00:00Z","createdAt":"2026-01-01T00:00:00Z"}""",
            """{"id":"chk_a","scope":"user","query":"staging database","expect":["mem_a"],""" + fields + "}",
        ]);
        var home = temp.NewHome();
        var run = await RunAsync(home, "import", file);
        AssertOneLineError(run, 2, "Line 2 of");
        Assert.Contains(expected, run.Err, StringComparison.Ordinal);
        Assert.Equal("", (await RunAsync(home, "export")).Out);
    }

    [Fact]
    public async Task IdsWithMarkup_AreShownAsTheyAre()
    {
        var file = Path.Combine(temp.Root, Guid.NewGuid().ToString("N") + ".jsonl");
        File.WriteAllLines(file,
        [
            """{"id":"mem_[red]x","scope":"user","content":"The staging database is called stg-main.","tags":[],"observedAt":"2026-01-01T00:00:00Z","createdAt":"2026-01-01T00:00:00Z"}""",
            """{"id":"chk_[/]","scope":"user","query":"staging database name","scopes":["user"],"expect":["mem_[red]x"],"within":3,"createdAt":"2026-01-01T00:00:00Z"}""",
        ]);
        var home = temp.NewHome();
        Assert.Equal(0, (await RunAsync(home, "import", file)).Exit);
        foreach (var args in new[] { new[] { "check", "list" }, ["list"], ["recall", "staging database"], ["show", "mem_[red]x"] })
        {
            var run = await RunAsync(home, 200, args);
            Assert.True(run.Exit == 0, $"{string.Join(' ', args)}: {run.Err}");
            Assert.Contains(args[0] == "check" ? "chk_[/]" : "mem_[red]x", run.Out, StringComparison.Ordinal);
        }

        Assert.Equal(0, (await RunAsync(home, "remember", "The staging database is now called stg-two.", "--supersedes", "mem_[red]x")).Exit);
        var failing = await RunAsync(home, 240, "doctor", "--checks");
        Assert.True(failing.Exit == 1, failing.Err);
        Assert.Contains("chk_[/]", failing.Out, StringComparison.Ordinal);
        Assert.Contains("mem_[red]x", failing.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_WritesPlusAndApostrophesAsTheyAre()
    {
        var home = temp.NewHome();
        await RememberAsync(home, "Ana's build needs C++20 and a+b <= c.");
        var run = await RunAsync(home, "recall", "Ana's build", "--json");
        Assert.Contains("Ana's build needs C++20 and a+b <= c.", run.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u00", run.Out, StringComparison.Ordinal);
        var export = await RunAsync(home, "export");
        Assert.Contains("Ana's build needs C++20", export.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WireValues_ReadAsTheyAlwaysHave_InJsonAndInTheTerminal()
    {
        var home = temp.NewHome();
        const string Jenkins = "Deploys go through Jenkins.";
        var created = JsonSerializer.Deserialize<JsonElement>((await RunAsync(home, "remember", Jenkins, "--json")).Out);
        Assert.Equal("created", created.GetProperty("status").GetString());
        var old = created.GetProperty("id").GetString()!;
        Assert.StartsWith($"duplicate {old} in user", (await RunAsync(home, "remember", Jenkins)).Out, StringComparison.Ordinal);
        Assert.StartsWith("created ", (await RunAsync(home, "remember", "Deploys go through ArgoCD.", "--supersedes", old)).Out, StringComparison.Ordinal);

        var explain = JsonSerializer.Deserialize<JsonElement>((await RunAsync(home, "explain", "--query", "deploys go through", "--json")).Out);
        Assert.Contains(explain.GetProperty("filteredOut").EnumerateArray(), f => f.GetProperty("id").GetString() == old && f.GetProperty("reason").GetString() == "superseded");
        Assert.Contains($"filtered {old}: superseded\n", (await RunAsync(home, 200, "explain", "--query", "deploys go through")).Out.ReplaceLineEndings("\n"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("200", null, 200)]
    [InlineData(null, 132, 132)]
    [InlineData("200", 132, 200)]
    [InlineData(null, null, Terminal.FallbackWidth)]
    [InlineData("wide", null, Terminal.FallbackWidth)]
    public void Width_IsColumns_ElseTheWindow_ElseTheFallback(string? columns, int? window, int expected)
    {
        Assert.Equal(expected, Terminal.Width(name => name == "COLUMNS" ? columns : null, window));
    }

    [Theory]
    [InlineData(60)]
    [InlineData(80)]
    [InlineData(200)]
    public async Task Tables_FitTheWidth_ShowScores_AndNeverWrapAnId(int width)
    {
        var home = temp.NewHome();
        var id = await RememberAsync(home, "The payments service retries a failed charge three times, with exponential back-off between attempts.");
        foreach (var args in new[] { new[] { "recall", "how does payments retry a charge" }, ["list"], ["explain", "--query", "payments retry"] })
        {
            var run = await RunAsync(home, width, args);
            Assert.True(run.Exit == 0, run.Err);
            Assert.Contains(id, run.Out, StringComparison.Ordinal);
            Assert.All(run.Out.ReplaceLineEndings("\n").TrimEnd().Split('\n'), line => Assert.True(line.Length <= width, $"{line.Length} > {width}: {line}"));

            if (args[0] == "recall")
            {
                Assert.Contains("score", run.Out, StringComparison.Ordinal);
                Assert.Matches(@"[01]\.\d{4}", run.Out);
            }
        }
    }

    [Fact]
    public async Task Explain_SaysWhatItsMarksMean()
    {
        var home = temp.NewHome();
        await RememberAsync(home, "The nightly build runs at 02:00 UTC.");
        var run = await RunAsync(home, 200, "explain", "--query", "when does the nightly build run");
        Assert.True(run.Exit == 0, run.Err);
        Assert.Contains("* = found through", run.Out, StringComparison.Ordinal);
        Assert.Contains("recency: #rank by observed time", run.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServeHelp_NamesTheLegacySsePathThatIsServed()
    {
        var run = await RunAsync(temp.NewHome(), "serve", "--help");
        Assert.Equal(0, run.Exit);
        Assert.Contains(HttpSettings.LegacySsePath, run.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("(/sse", run.Out, StringComparison.Ordinal);
    }
}
