using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Engram.Mcp.Commands;
using Engram.Mcp.Output;
using Npgsql;

namespace Engram.Mcp.Tests;

/// <summary>
/// The team server's faults with real processes: three <c>engram serve --http</c> on one PostgreSQL database, clients
/// writing on all of them at once, one server killed with SIGKILL and PostgreSQL itself restarted mid-run. The cluster
/// is this test's own (<c>tests/postgres/cluster.sh</c>), so restarting it disturbs no other test.
/// </summary>
public sealed partial class TeamFaultTests(TempFolder temp) : IClassFixture<TempFolder>
{
    private const string Scope = "project:github.com/acme/api";

    /// <summary>The repository's <c>tests/postgres/cluster.sh</c>, found above the test's output folder.</summary>
    private static string ClusterScript()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var script = Path.Combine(dir.FullName, "tests", "postgres", "cluster.sh");
            if (File.Exists(script))
            {
                return script;
            }
        }

        throw new InvalidOperationException("tests/postgres/cluster.sh was not found above " + AppContext.BaseDirectory);
    }

    private static async Task<string> ClusterAsync(params string[] args)
    {
        var start = new ProcessStartInfo("bash", [ClusterScript(), .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"cluster.sh {string.Join(' ', args)} failed: {await error}");
        return (await output).Trim();
    }

    /// <summary>A real server process: <c>engram serve --http</c> on a free port, its own cache folder, the shared database.</summary>
    private static Task<EngramProcess> StartServerAsync(string home, string store) =>
        EngramProcess.StartAsync(["serve", "--http", "--port", "0"],
            new Dictionary<string, string> { ["ENGRAM_HOME"] = home, ["ENGRAM_STORE"] = store, ["ENGRAM_SCOPE"] = Scope }, EndpointPattern());

    [GeneratedRegex(@"http://\S+/mcp")]
    private static partial Regex EndpointPattern();

    /// <summary>One tools/call over Streamable HTTP; the tool's result (text parsed as JSON), or its error text.</summary>
    private static async Task<(JsonElement? Result, string? Error)> CallAsync(HttpClient http, EngramProcess server, string token, string tool, object arguments)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, server.Address)
        {
            Content = new StringContent(JsonSerializer.Serialize(new { jsonrpc = "2.0", id = 1, method = "tools/call", @params = new { name = tool, arguments } }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        if (response.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable)
        {
            // The store could not be asked who the token is: a retryable refusal, in words.
            return (null, body);
        }

        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {body}");
        var data = body.Split('\n').FirstOrDefault(l => l.StartsWith("data:", StringComparison.Ordinal))?[5..] ?? body;
        var result = JsonSerializer.Deserialize<JsonElement>(data).GetProperty("result");
        var text = result.GetProperty("content")[0].GetProperty("text").GetString()!;
        return result.TryGetProperty("isError", out var isError) && isError.GetBoolean()
            ? (null, text)
            : (JsonSerializer.Deserialize<JsonElement>(text), null);
    }

    private async Task<string> AddTokenAsync(string store)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var shell = new Shell(new Terminal(output, error, Terminal.FallbackWidth, interactive: false), _ => null, temp.Root);
        var exit = await EngramCli.RunAsync(["token", "add", "team", "--scopes", "project:github.com/acme/*", "--store", store, "--home", temp.NewHome(), "--embeddings", "builtin"], shell);
        Assert.True(exit == 0, error.ToString());
        return output.ToString().Trim();
    }

    [PostgresFact]
    [Trait("Store", "SqliteOnly")] // Its own cluster and processes: once per CI run (the SQLite pass) is enough.
    public async Task ThreeServers_WritingAtOnce_OneKilled_AndPostgresRestarted_LoseNoAcknowledgedWrite_AndAgree()
    {
        var cluster = Path.Combine(Path.GetTempPath(), "engram-faults-" + Guid.NewGuid().ToString("N")[..8]);
        var port = 56000 + Random.Shared.Next(0, 900);
        var server = await ClusterAsync("start", cluster, port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var servers = new EngramProcess?[3];
        try
        {
            var store = new NpgsqlConnectionStringBuilder(server) { Database = "postgres" }.ConnectionString;
            var token = await AddTokenAsync(store);
            var homes = Enumerable.Range(0, 3).Select(_ => temp.NewHome()).ToArray();
            await Task.WhenAll(Enumerable.Range(0, 3).Select(async i => servers[i] = await StartServerAsync(homes[i], store)));
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };

            // Six clients write on all three servers at once until told to stop. A write is acknowledged when a server
            // answers it; one that fails is retried elsewhere (a memory stored twice is one memory).
            var acknowledged = new ConcurrentDictionary<string, string>();
            var refusals = new ConcurrentBag<string>();
            using var stop = new CancellationTokenSource();
            var clients = Enumerable.Range(0, 6).Select(c => Task.Run(async () =>
            {
                for (var n = 0; !stop.IsCancellationRequested; n++)
                {
                    var fact = $"Team fact {c}-{n}: the pipeline marker is zeta{c}x{n}q.";
                    for (var attempt = 0; ; attempt++)
                    {
                        var target = servers[(c + n + attempt) % 3];
                        try
                        {
                            var (result, error) = await CallAsync(http, target!, token, "remember", new { content = fact });
                            if (result is { } stored)
                            {
                                acknowledged[fact] = stored.GetProperty("id").GetString()!;
                                break;
                            }

                            refusals.Add(error!);
                        }
                        catch (HttpRequestException)
                        {
                            // The server was killed: the client goes to another one.
                        }

                        await Task.Delay(100);
                    }
                }
            })).ToList();

            async Task WaitForWritesAsync(int more)
            {
                var until = acknowledged.Count + more;
                var deadline = Stopwatch.StartNew();
                while (acknowledged.Count < until)
                {
                    Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(90), $"writes stalled at {acknowledged.Count}; refusals: {string.Join(" | ", refusals.Take(3))}");
                    await Task.Delay(50);
                }
            }

            await WaitForWritesAsync(150);
            servers[1]!.Kill();
            await WaitForWritesAsync(100);
            Assert.DoesNotContain("\n   at ", await servers[1]!.Log, StringComparison.Ordinal);
            servers[1]!.Dispose();
            servers[1] = await StartServerAsync(homes[1], store);
            await WaitForWritesAsync(100);

            await ClusterAsync("halt", cluster);
            await Task.Delay(2000);
            var beforeResume = acknowledged.Count;
            await ClusterAsync("resume", cluster);
            // The servers recover by themselves: writes are acknowledged again, on every server.
            await WaitForWritesAsync(150);
            await stop.CancelAsync();
            await Task.WhenAll(clients);

            // While PostgreSQL was down, servers said so in words a client can act on.
            Assert.NotEmpty(refusals);
            Assert.All(refusals, r => Assert.Contains("cannot be reached right now", r, StringComparison.Ordinal));
            Assert.True(acknowledged.Count > beforeResume);

            // Nothing acknowledged is lost: every id is in the database.
            await using (var connection = new NpgsqlConnection(store))
            {
                await connection.OpenAsync();
                await using var command = new NpgsqlCommand("SELECT id FROM memories", connection);
                var stored = new HashSet<string>(StringComparer.Ordinal);
                await using var reader = await command.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                {
                    stored.Add(reader.GetString(0));
                }

                var lost = acknowledged.Values.Where(id => !stored.Contains(id)).ToList();
                Assert.True(lost.Count == 0, $"{lost.Count} acknowledged writes are missing: {string.Join(", ", lost.Take(5))}");
                Assert.Equal(acknowledged.Count, stored.Count);
            }

            // Every server, caught up, finds each sampled fact and ranks the same memories in the same order.
            foreach (var fact in acknowledged.Keys.Order(StringComparer.Ordinal).Where((_, i) => i % 25 == 0))
            {
                var marker = Regex.Match(fact, @"zeta\d+x\d+q").Value;
                var rankings = new List<string>();
                foreach (var s in servers)
                {
                    var (result, error) = await CallAsync(http, s!, token, "recall", new { query = marker, limit = 5 });
                    Assert.True(error is null, error);
                    var ids = result!.Value.GetProperty("memories").EnumerateArray().Select(m => m.GetProperty("id").GetString()!).ToList();
                    Assert.Contains(acknowledged[fact], ids);
                    rankings.Add(string.Join(",", ids));
                }

                Assert.Single(rankings.Distinct());
            }

            // Through all of it, no server printed a stack trace.
            var logs = new List<string>();
            foreach (var s in servers)
            {
                s!.Kill();
                logs.Add(await s.Log);
            }

            Assert.DoesNotContain(logs, l => l.Contains("\n   at ", StringComparison.Ordinal));
        }
        finally
        {
            foreach (var s in servers)
            {
                s?.Dispose();
            }

            await ClusterAsync("stop", cluster);
        }
    }
}
