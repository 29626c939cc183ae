using System.Diagnostics;
using System.Text.Json;
using ModelContextProtocol.Client;

namespace Engram.Mcp.Tests;

/// <summary>Launches the built executable over stdio, as MCP hosts do.</summary>
public sealed class StdioTests(TempFolder temp) : IClassFixture<TempFolder>
{
    private static readonly string ServerDll = Path.Combine(AppContext.BaseDirectory, "engram.dll");

    private static readonly string[] ScopeVariables = ["ENGRAM_SCOPE", "ENGRAM_PROJECT_ROOT", "CLAUDE_PROJECT_DIR"];

    private string Repo(string path, string remote)
    {
        var dir = Path.Combine(temp.Root, path);
        Directory.CreateDirectory(Path.Combine(dir, ".git"));
        File.WriteAllText(Path.Combine(dir, ".git", "config"), $"[remote \"origin\"]\n\turl = {remote}\n");
        return dir;
    }

    private static async Task<McpClient> ConnectAsync(string home, string workingDirectory)
    {
        var options = new StdioClientTransportOptions
        {
            Name = "engram",
            Command = "dotnet",
            Arguments = [ServerDll],
            WorkingDirectory = workingDirectory,
            EnvironmentVariables = new Dictionary<string, string?> { ["ENGRAM_HOME"] = home },
        };
        foreach (var variable in ScopeVariables)
        {
            options.EnvironmentVariables[variable] = "";
        }

        return await McpClient.CreateAsync(new StdioClientTransport(options));
    }


    [Fact]
    public async Task Executable_ServesTheToolsOverStdio_AndDefaultScopeFollowsRepositoryIdentity()
    {
        var home = temp.NewHome();
        var clone = Repo("one/widgets", "https://github.com/acme/widgets.git");
        var otherClone = Repo("two/widgets-copy", "git@github.com:acme/widgets.git");
        var sameName = Repo("three/widgets", "https://github.com/someone-else/widgets.git");

        await using (var client = await ConnectAsync(home, clone))
        {
            var tools = await client.ListToolsAsync();
            Assert.Equal(4, tools.Count);
            var written = await McpTestServer.CallAsync(client, "remember", new() { ["content"] = "Widgets releases are cut from the release/* branches." });
            Assert.Equal("project:github.com/acme/widgets", written.GetProperty("scope").GetString());
        }

        await using (var client = await ConnectAsync(home, otherClone))
        {
            var recalled = await McpTestServer.CallAsync(client, "recall", new() { ["query"] = "where are widgets releases cut from" });
            Assert.Equal("Widgets releases are cut from the release/* branches.", recalled.GetProperty("memories")[0].GetProperty("content").GetString());
        }

        await using (var client = await ConnectAsync(home, sameName))
        {
            var recalled = await McpTestServer.CallAsync(client, "recall", new() { ["query"] = "where are widgets releases cut from" });
            Assert.Equal(["project:github.com/someone-else/widgets", "user"], recalled.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
            Assert.Equal(0, recalled.GetProperty("memories").GetArrayLength());
        }
    }

    /// <summary>The server as a bare process with redirected stdio, on a fresh store, at a log level.</summary>
    private Process StartRaw(string logLevel)
    {
        var start = new ProcessStartInfo("dotnet", [ServerDll])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = temp.Root,
        };
        start.Environment["ENGRAM_HOME"] = temp.NewHome();
        start.Environment["ENGRAM_LOG_LEVEL"] = logLevel;
        foreach (var variable in ScopeVariables)
        {
            start.Environment[variable] = "";
        }

        return Process.Start(start)!;
    }

    private const string InitializeRequest = """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}""";

    /// <summary>Sends each request and reads stdout up to its response, checking every stdout line is JSON-RPC; returns the responses by id.</summary>
    private static async Task<Dictionary<int, JsonElement>> ExchangeAsync(Process process, params string[] requests)
    {
        var responses = new Dictionary<int, JsonElement>();
        foreach (var request in requests)
        {
            await process.StandardInput.WriteLineAsync(request);
            await process.StandardInput.FlushAsync();
            if (!request.Contains("\"id\"", StringComparison.Ordinal))
            {
                continue;
            }

            var id = JsonDocument.Parse(request).RootElement.GetProperty("id").GetInt32();
            while (!responses.ContainsKey(id))
            {
                var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
                Assert.NotNull(line);
                var message = JsonSerializer.Deserialize<JsonElement>(line);
                Assert.Equal("2.0", message.GetProperty("jsonrpc").GetString());
                if (message.TryGetProperty("id", out var responseId))
                {
                    responses[responseId.GetInt32()] = message;
                }
            }
        }

        return responses;
    }

    [Fact]
    public async Task Executable_WritesOnlyJsonRpcToStdout_AndLogsToStderr()
    {
        using var process = StartRaw("Trace");
        var stderr = process.StandardError.ReadToEndAsync();
        await ExchangeAsync(process,
            InitializeRequest,
            """{"jsonrpc":"2.0","method":"notifications/initialized"}""",
            """{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"remember","arguments":{"content":"The secret word is marmalade."}}}""",
            """{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"recall","arguments":{"query":"secret word"}}}""",
            """{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"recall","arguments":{"query":""}}}""");

        process.StandardInput.Close();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, process.ExitCode);
        var log = await stderr;
        Assert.Contains("Engram store opened", log, StringComparison.Ordinal);
        Assert.Contains("marmalade", log, StringComparison.Ordinal); // memory text appears only because the level is Trace
    }

    [Fact]
    public async Task Executable_NullArgumentsAndAnUnknownTool_AreAnsweredWithoutAStackTrace()
    {
        var (responses, log) = await CallsAsync(
            """{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"recall","arguments":{"query":"x","limit":null,"includeSuperseded":null}}}""",
            """{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"memorize","arguments":{"content":"x"}}}""");

        Assert.False(responses[2].GetProperty("result").TryGetProperty("isError", out var isError) && isError.GetBoolean(), responses[2].ToString());
        Assert.Equal(-32602, responses[3].GetProperty("error").GetProperty("code").GetInt32());
        Assert.DoesNotMatch(@"(?m)^\s+at \S+\(", log); // no stack frame
        Assert.Single(log.Split('\n'), l => l.Contains("memorize", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Executable_CallsItCannotRead_AreInvalidParamsThatSayWhatToSend_WithoutAStackTrace()
    {
        var (responses, log) = await CallsAsync(
            """{"jsonrpc":"2.0","id":2,"method":"tools/call","params":[]}""",
            """{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"remember","arguments":{"content":"deploy notes \ud83d"}}}""",
            """{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"remember","arguments":{"content":"fine","tags":["ok","a\udc00"]}}}""",
            """{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"recall","arguments":{"query":"what broke \uff13 days ago"}}}""",
            """{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"remember","arguments":{"content":"A whole emoji \ud83d\ude80 is fine."}}}""");

        Assert.Equal(-32602, responses[2].GetProperty("error").GetProperty("code").GetInt32());
        Assert.Contains("params as an object", responses[2].GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(-32602, responses[3].GetProperty("error").GetProperty("code").GetInt32());
        Assert.Contains("'params.arguments.content' is not well-formed text", responses[3].GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("'params.arguments.tags[1]'", responses[4].GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        // Digits of another script are not read as a date, and the recall answers.
        Assert.False(responses[5].GetProperty("result").TryGetProperty("isError", out var failed) && failed.GetBoolean(), responses[5].ToString());
        Assert.Equal("created", responses[6].GetProperty("result").GetProperty("structuredContent").GetProperty("status").GetString());
        Assert.DoesNotMatch(@"(?m)^\s+at \S+\(", log); // no stack frame
    }

    /// <summary>Starts the server at Information, shakes hands, sends <paramref name="calls"/>, closes its input: the answers by id and what it logged.</summary>
    private async Task<(Dictionary<int, JsonElement> Responses, string Log)> CallsAsync(params string[] calls)
    {
        using var process = StartRaw("Information");
        var stderr = process.StandardError.ReadToEndAsync();
        var responses = await ExchangeAsync(process, [InitializeRequest, """{"jsonrpc":"2.0","method":"notifications/initialized"}""", .. calls]);
        process.StandardInput.Close();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        return (responses, await stderr);
    }

    [Fact]
    public async Task Executable_AtInformationLevel_NeverLogsMemoryText()
    {
        using var process = StartRaw("Debug");
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteLineAsync(InitializeRequest);
        await process.StandardInput.WriteLineAsync("""{"jsonrpc":"2.0","method":"notifications/initialized"}""");
        await process.StandardInput.WriteLineAsync("""{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"remember","arguments":{"content":"The secret word is quince."}}}""");
        await process.StandardInput.FlushAsync();
        string? line;
        do
        {
            line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        while (line is not null && !line.Contains("\"id\":2", StringComparison.Ordinal));

        Assert.NotNull(line);
        process.StandardInput.Close();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var log = await stderr;
        Assert.Contains("remember: mem_", log, StringComparison.Ordinal);
        Assert.DoesNotContain("quince", log, StringComparison.Ordinal);
    }
}
