using System.Diagnostics;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using ModelContextProtocol.Client;

namespace Engram.Mcp.Tests;

/// <summary>Several real server processes on one store, and a server killed with SIGKILL mid-burst.</summary>
public sealed class MultiProcessTests(TempFolder temp) : IClassFixture<TempFolder>
{
    private static readonly string ServerDll = Path.Combine(AppContext.BaseDirectory, "engram.dll");

    private static async Task<McpClient> StartAsync(string home)
    {
        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "engram",
            Command = "dotnet",
            Arguments = [ServerDll],
            EnvironmentVariables = new Dictionary<string, string?> { ["ENGRAM_HOME"] = home, ["ENGRAM_SCOPE"] = "user", ["ENGRAM_LOG_LEVEL"] = "Warning" },
        });
        return await McpClient.CreateAsync(transport);
    }


    private static async Task<long> CountAsync(string home)
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(home, "engram.db")};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM memories;";
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task TwoServers_OneStore_SeeEachOthersWritesAndForgets()
    {
        var home = temp.NewHome();
        await using var a = await StartAsync(home);
        await using var b = await StartAsync(home);

        // 200 writes, interleaved between the two processes, two at a time.
        for (var i = 0; i < 200; i += 2)
        {
            await Task.WhenAll(
                McpTestServer.CallAsync(a, "remember", new() { ["content"] = $"Interleaved fact {i} carries marker alpha{i}x." }),
                McpTestServer.CallAsync(b, "remember", new() { ["content"] = $"Interleaved fact {i + 1} carries marker alpha{i + 1}x." }));
        }

        Assert.Equal(200, await CountAsync(home));
        foreach (var i in new[] { 0, 1, 57, 98, 199 })
        {
            var fromA = await McpTestServer.CallAsync(a, "recall", new() { ["query"] = $"alpha{i}x", ["limit"] = 1 });
            var fromB = await McpTestServer.CallAsync(b, "recall", new() { ["query"] = $"alpha{i}x", ["limit"] = 1 });
            Assert.Contains($"alpha{i}x", fromA.GetProperty("memories")[0].GetProperty("content").GetString(), StringComparison.Ordinal);
            Assert.Equal(fromA.GetProperty("memories")[0].GetProperty("id").GetString(), fromB.GetProperty("memories")[0].GetProperty("id").GetString());
        }

        var target = await McpTestServer.CallAsync(a, "recall", new() { ["query"] = "alpha42x", ["limit"] = 1 });
        var id = target.GetProperty("memories")[0].GetProperty("id").GetString();
        var forgotten = await McpTestServer.CallAsync(b, "forget", new() { ["id"] = id });
        Assert.Equal(1, forgotten.GetProperty("count").GetInt32());
        var after = await McpTestServer.CallAsync(a, "recall", new() { ["query"] = "alpha42x marker", ["limit"] = 100 });
        Assert.DoesNotContain(after.GetProperty("memories").EnumerateArray(), m => m.GetProperty("id").GetString() == id);
        Assert.Equal(199, await CountAsync(home));
    }

    [Fact]
    public async Task ServerKilledWithSigkill_LosesNoAcknowledgedWrite_AndTheNextStartCatchesUp()
    {
        var home = temp.NewHome();
        var start = new ProcessStartInfo("dotnet", [ServerDll]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["ENGRAM_HOME"] = home;
        start.Environment["ENGRAM_SCOPE"] = "user";
        using var process = Process.Start(start)!;
        _ = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteLineAsync("""{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}""");
        await process.StandardInput.WriteLineAsync("""{"jsonrpc":"2.0","method":"notifications/initialized"}""");
        await process.StandardInput.FlushAsync();

        // Keep ten writes in flight; kill the process the moment the 150th acknowledgement arrives.
        var sent = 0;
        async Task SendAsync()
        {
            sent++;
            var request = JsonSerializer.Serialize(new
            {
                jsonrpc = "2.0",
                id = sent,
                method = "tools/call",
                @params = new { name = "remember", arguments = new { content = $"Burst fact {sent} with marker kappa{sent}z." } },
            });
            await process.StandardInput.WriteLineAsync(request);
            await process.StandardInput.FlushAsync();
        }

        for (var i = 0; i < 10; i++) await SendAsync();
        var acknowledged = new List<int>();
        while (acknowledged.Count < 150)
        {
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.NotNull(line);
            using var message = JsonDocument.Parse(line);
            if (message.RootElement.TryGetProperty("id", out var id) && id.GetInt32() > 0)
            {
                Assert.False(message.RootElement.GetProperty("result").TryGetProperty("isError", out var isError) && isError.GetBoolean(), line);
                acknowledged.Add(id.GetInt32());
                await SendAsync();
            }
        }

        process.Kill(); // SIGKILL on Unix
        await process.WaitForExitAsync();

        await using var restarted = await StartAsync(home);
        foreach (var n in acknowledged)
        {
            // Durability, not ranking: the fact is there (kappa11z's neighbours kappa110z..kappa119z may come close).
            var recalled = await McpTestServer.CallAsync(restarted, "recall", new() { ["query"] = $"kappa{n}z", ["limit"] = 3 });
            Assert.Contains(recalled.GetProperty("memories").EnumerateArray(), m => m.GetProperty("content").GetString()!.Contains($"kappa{n}z.", StringComparison.Ordinal));
        }
    }
}
