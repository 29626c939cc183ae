using System.Net;
using System.Text.Json;
using Engram.Core;
using Engram.Mcp.Commands;
using Engram.Mcp.Hosting;
using Engram.Mcp.Output;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using ModelContextProtocol.Client;

namespace Engram.Mcp.Tests;

/// <summary>
/// A shared server: principals' tokens made with <c>engram token</c>, and a real HTTP server on which a token for one
/// project reads, explains and forgets nothing of another project or of another principal's <c>user</c> scope.
/// </summary>
public sealed class TeamServerTests(TempFolder temp) : IClassFixture<TempFolder>
{
    private const string ProjectA = "project:acme/a";
    private const string ProjectB = "project:acme/b";
    private const string AdminToken = "admin-secret-of-this-test";

    /// <summary>Runs <c>engram</c> in this process on <paramref name="home"/>; returns the exit code and both streams.</summary>
    private async Task<(int Exit, string Out, string Err)> CliAsync(string home, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var shell = new Shell(new Terminal(output, error, Terminal.FallbackWidth, interactive: false), _ => null, temp.Root);
        var exit = await EngramCli.RunAsync([.. args, "--home", home, "--embeddings", "builtin"], shell);
        return (exit, output.ToString(), error.ToString());
    }

    private async Task<string> AddTokenAsync(string home, string principal, string scopes)
    {
        var (exit, output, error) = await CliAsync(home, "token", "add", principal, "--scopes", scopes);
        Assert.True(exit == 0, error);
        return output.Trim();
    }

    private static async Task<(WebApplication App, Uri Endpoint)> StartAsync(string home, string? token = null, TimeProvider? clock = null, bool legacySse = false) =>
        await HttpHost.StartAsync(
            new HostSettings(home, ProjectA, "test") { Embeddings = "builtin" },
            new HttpSettings(IPAddress.Loopback, 0, token, [], legacySse) { RequireToken = true },
            LogLevel.Warning,
            o => o.TimeProvider = clock ?? TimeProvider.System);

    private static async Task<McpClient> ConnectAsync(Uri endpoint, string token, HttpTransportMode mode = HttpTransportMode.StreamableHttp) =>
        await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = endpoint,
            TransportMode = mode,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = $"Bearer {token}" },
        }));

    /// <summary>A tool call that must fail; returns its message.</summary>
    private static async Task<string> ErrorAsync(McpClient client, string tool, Dictionary<string, object?> args)
    {
        var result = await client.CallToolAsync(tool, args);
        Assert.True(result.IsError, $"{tool} should have failed: {McpTestServer.Text(result)}");
        return McpTestServer.Text(result);
    }

    private static string Id(JsonElement result) => result.GetProperty("id").GetString()!;

    private static List<string> Ids(JsonElement recall) => recall.GetProperty("memories").EnumerateArray().Select(Id).ToList();

    [Fact]
    public async Task TokenCommands_PrintTheSecretOnce_ListWithoutIt_AndRevokeByIdOrName()
    {
        var home = temp.NewHome();
        var secret = await AddTokenAsync(home, "alice", "project:github.com/acme/*, user");
        Assert.Matches("^engram_[A-Za-z0-9_-]{43}$", secret);
        var (exit, json, _) = await CliAsync(home, "token", "add", "bob", "--scopes", "user", "--json");
        Assert.Equal(0, exit);
        var bob = JsonSerializer.Deserialize<JsonElement>(json);
        Assert.Equal(["user"], bob.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));

        var listed = await CliAsync(home, "token", "list", "--json");
        Assert.DoesNotContain(secret, listed.Out, StringComparison.Ordinal);
        Assert.DoesNotContain(bob.GetProperty("token").GetString()!, listed.Out, StringComparison.Ordinal);
        var tokens = JsonSerializer.Deserialize<JsonElement>(listed.Out).EnumerateArray().ToList();
        Assert.Equal(["alice", "bob"], tokens.Select(t => t.GetProperty("principal").GetString()));
        Assert.Equal(["project:github.com/acme/*", "user"], tokens[0].GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
        Assert.All(tokens, t => Assert.Equal(["id", "principal", "scopes", "createdAt", "revokedAt"], t.EnumerateObject().Select(p => p.Name)));
        var table = await CliAsync(home, "token", "list");
        Assert.Contains(tokens[0].GetProperty("id").GetString()!, table.Out, StringComparison.Ordinal);

        var byId = await CliAsync(home, "token", "revoke", bob.GetProperty("id").GetString()!);
        Assert.True(byId.Exit == 0, byId.Err);
        Assert.Contains("revoked 1 token", byId.Out, StringComparison.Ordinal);
        Assert.Equal(0, (await CliAsync(home, "token", "revoke", "alice")).Exit);
        var again = await CliAsync(home, "token", "revoke", "alice");
        Assert.Equal(ExitCodes.BadInput, again.Exit);
        Assert.StartsWith("engram token revoke: no live token has the id or principal 'alice'", again.Err, StringComparison.Ordinal);
        var revoked = JsonSerializer.Deserialize<JsonElement>((await CliAsync(home, "token", "list", "--json")).Out);
        Assert.All(revoked.EnumerateArray(), t => Assert.NotEqual(JsonValueKind.Null, t.GetProperty("revokedAt").ValueKind));

        var bad = await CliAsync(home, "token", "add", "carol", "--scopes", "user:alice");
        Assert.Equal(ExitCodes.BadInput, bad.Exit);
        Assert.Contains("cannot be granted", bad.Err, StringComparison.Ordinal);
        Assert.Equal("", bad.Out);
    }

    [Fact]
    public async Task TokenForOneProject_CannotRecallExplainOrForgetAnotherProject_NorAnotherPrincipalsUserScope()
    {
        var home = temp.NewHome();
        var alice = await AddTokenAsync(home, "alice", $"{ProjectA},user");
        var bob = await AddTokenAsync(home, "bob", $"user,{ProjectB}");
        var (app, endpoint) = await StartAsync(home, AdminToken);
        await using var _ = app;
        await using var admin = await ConnectAsync(endpoint, AdminToken);
        await using var asAlice = await ConnectAsync(endpoint, alice);
        await using var asBob = await ConnectAsync(endpoint, bob);

        var projectB = Id(await McpTestServer.CallAsync(admin, "remember", new() { ["content"] = "Project B deploys with Helm on Fridays.", ["scope"] = ProjectB }));
        var bobs = await McpTestServer.CallAsync(asBob, "remember", new() { ["content"] = "I deploy on Fridays only after lunch.", ["scope"] = "user" });
        Assert.Equal("user:bob", bobs.GetProperty("scope").GetString());
        var alices = await McpTestServer.CallAsync(asAlice, "remember", new() { ["content"] = "Project A deploys with Ansible on Fridays." });
        Assert.Equal(ProjectA, alices.GetProperty("scope").GetString());

        var recall = await McpTestServer.CallAsync(asAlice, "recall", new() { ["query"] = "who deploys on Fridays", ["limit"] = 50 });
        Assert.Equal([ProjectA, "user:alice"], recall.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal([Id(alices)], Ids(recall));
        foreach (var scope in new[] { ProjectB, "user:bob" })
        {
            Assert.Contains("is outside what this token may use", await ErrorAsync(asAlice, "recall", new() { ["query"] = "deploys", ["scope"] = scope }), StringComparison.Ordinal);
            Assert.Contains("is outside what this token may use", await ErrorAsync(asAlice, "forget", new() { ["all"] = true, ["scope"] = scope }), StringComparison.Ordinal);
            Assert.Contains("is outside what this token may use", await ErrorAsync(asAlice, "explain", new() { ["query"] = "deploys", ["scope"] = scope }), StringComparison.Ordinal);
        }

        foreach (var other in new[] { projectB, Id(bobs) })
        {
            var explained = await McpTestServer.CallAsync(asAlice, "explain", new() { ["query"] = "deploys on Fridays", ["memoryId"] = other });
            Assert.False(explained.GetProperty("memory").GetProperty("found").GetBoolean());
            Assert.Equal("No memory with this id exists in the searched scopes.", explained.GetProperty("memory").GetProperty("reason").GetString());
            Assert.DoesNotContain(other, explained.GetProperty("hits").EnumerateArray().Concat(explained.GetProperty("filteredOut").EnumerateArray()).Select(Id));
        }

        var bobsRecall = await McpTestServer.CallAsync(asBob, "recall", new() { ["query"] = "deploy after lunch" });
        Assert.StartsWith("No recall with retrievalId", await ErrorAsync(asAlice, "explain", new() { ["retrievalId"] = bobsRecall.GetProperty("retrievalId").GetString() }), StringComparison.Ordinal);

        var forget = await McpTestServer.CallAsync(asAlice, "forget", new() { ["ids"] = new[] { projectB, Id(bobs) } });
        Assert.Equal(0, forget.GetProperty("count").GetInt32());
        Assert.Equal([projectB], Ids(await McpTestServer.CallAsync(admin, "recall", new() { ["query"] = "Helm deploys", ["scope"] = ProjectB })));
        Assert.Equal([Id(bobs)], Ids(await McpTestServer.CallAsync(asBob, "recall", new() { ["query"] = "deploy after lunch", ["scope"] = "user" })));
    }

    [Fact]
    public async Task LegacySseSession_RunsAsThePrincipalThatOpenedIt()
    {
        var home = temp.NewHome();
        var alice = await AddTokenAsync(home, "alice", $"{ProjectA},user");
        var (app, endpoint) = await StartAsync(home, legacySse: true);
        await using var _ = app;
        await using var client = await ConnectAsync(new Uri(endpoint, HttpSettings.LegacySsePath), alice, HttpTransportMode.Sse);
        var mine = await McpTestServer.CallAsync(client, "remember", new() { ["content"] = "Alice reviews on Mondays.", ["scope"] = "user" });
        Assert.Equal("user:alice", mine.GetProperty("scope").GetString());
        Assert.Contains("is outside what this token may use", await ErrorAsync(client, "recall", new() { ["query"] = "reviews", ["scope"] = ProjectB }), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RevokedToken_Gets401_OnceTheCacheWindowHasPassed_AndAnUnknownOneAtOnce()
    {
        var home = temp.NewHome();
        var alice = await AddTokenAsync(home, "alice", "user");
        await AddTokenAsync(home, "bob", "user");
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var (app, endpoint) = await StartAsync(home, clock: clock);
        await using var _ = app;
        using var http = new HttpClient();

        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(HttpTests.Post(endpoint, token: alice))).StatusCode);
        Assert.Equal(0, (await CliAsync(home, "token", "revoke", "alice")).Exit);
        // Another process revoked it: this server's cached answer holds for the window (EngramOptions.TokenCacheDuration), then the store's.
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(HttpTests.Post(endpoint, token: alice))).StatusCode);
        clock.Advance(TimeSpan.FromSeconds(5));
        var refused = await http.SendAsync(HttpTests.Post(endpoint, token: alice));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal("Bearer", refused.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Contains("has been revoked", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(HttpTests.Post(endpoint, token: "engram_" + new string('x', 43)))).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(HttpTests.Post(endpoint))).StatusCode);
    }

    [Fact]
    public async Task RequireToken_WithNoLiveToken_RefusesToStart_AndStartsOnceOneExists()
    {
        var home = temp.NewHome();
        var e = await Assert.ThrowsAsync<EngramArgumentException>(() => StartAsync(home));
        Assert.Contains("engram token add <name> --scopes <patterns>", e.Message, StringComparison.Ordinal);

        await AddTokenAsync(home, "alice", "user");
        Assert.Equal(0, (await CliAsync(home, "token", "revoke", "alice")).Exit);
        await Assert.ThrowsAsync<EngramArgumentException>(() => StartAsync(home));

        var (app, _) = await StartAsync(home, AdminToken); // the shared ENGRAM_TOKEN is enough, as before
        await app.DisposeAsync();
        await AddTokenAsync(home, "bob", "user");
        (app, _) = await StartAsync(home);
        await app.DisposeAsync();
    }
}
