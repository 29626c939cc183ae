using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Engram.Core;
using Engram.Mcp.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Client;

namespace Engram.Mcp.Tests;

/// <summary>Streamable HTTP: the real Kestrel server on a free port, spoken to with HttpClient and the SDK's HTTP client transport.</summary>
public sealed class HttpTests(TempFolder temp) : IClassFixture<TempFolder>
{
    private const string Initialize = """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}""";

    private async Task<(WebApplication App, Uri Endpoint)> StartAsync(string? token = null, string bind = "127.0.0.1", bool legacySse = false, IReadOnlyList<string>? origins = null)
    {
        var settings = new HostSettings(temp.NewHome(), "user", "test");
        return await HttpHost.StartAsync(settings, new HttpSettings(IPAddress.Parse(bind), 0, token, origins ?? [], legacySse), LogLevel.Warning);
    }

    /// <summary>An <c>initialize</c> POST, with the headers given.</summary>
    internal static HttpRequestMessage Post(Uri endpoint, string? origin = null, string? host = null, string? token = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new StringContent(Initialize, Encoding.UTF8, "application/json") };
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (origin is not null) request.Headers.Add("Origin", origin);
        if (host is not null) request.Headers.Host = host;
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    private static async Task<McpClient> ConnectAsync(Uri endpoint, string? token = null) =>
        await McpClient.CreateAsync(new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = endpoint,
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = token is null ? null : new Dictionary<string, string> { ["Authorization"] = $"Bearer {token}" },
        }));


    [Fact]
    public async Task ForeignOrigin_Gets403_LoopbackAndConfiguredOriginsAndNoOriginAreServed()
    {
        var (app, endpoint) = await StartAsync(origins: ["https://notes.example"]);
        await using var _ = app;
        using var http = new HttpClient();

        var foreign = await http.SendAsync(Post(endpoint, origin: "https://evil.example"));
        Assert.Equal(HttpStatusCode.Forbidden, foreign.StatusCode);
        Assert.Contains("evil.example", await foreign.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(Post(endpoint, origin: $"http://localhost:{endpoint.Port}"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(Post(endpoint, origin: "https://notes.example"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(Post(endpoint))).StatusCode);
    }

    [Fact]
    public async Task LoopbackServer_ReachedUnderAForeignHostName_Gets403()
    {
        var (app, endpoint) = await StartAsync();
        await using var _ = app;
        using var http = new HttpClient();
        var rebound = await http.SendAsync(Post(endpoint, host: $"attacker.example:{endpoint.Port}"));
        Assert.Equal(HttpStatusCode.Forbidden, rebound.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(Post(endpoint, host: $"localhost:{endpoint.Port}"))).StatusCode);
    }

    [Fact]
    public async Task BeyondLoopback_ATokenIsRequired_AndChecked()
    {
        await Assert.ThrowsAsync<EngramArgumentException>(() => StartAsync(bind: "0.0.0.0"));

        var (app, any) = await StartAsync(token: "s3cret-token", bind: "0.0.0.0");
        await using var _ = app;
        var endpoint = new UriBuilder(any) { Host = "127.0.0.1" }.Uri;
        using var http = new HttpClient();
        var missing = await http.SendAsync(Post(endpoint));
        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Equal("Bearer", missing.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(Post(endpoint, token: "wrong"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(Post(endpoint, token: "s3cret-token"))).StatusCode);

        await using var client = await ConnectAsync(endpoint, "s3cret-token");
        Assert.Equal(4, (await client.ListToolsAsync()).Count);
    }

    [Fact]
    public async Task TwoClientsAtOnce_ShareOneStore()
    {
        var (app, endpoint) = await StartAsync();
        await using var _ = app;
        await using var first = await ConnectAsync(endpoint);
        await using var second = await ConnectAsync(endpoint);

        async Task WriteAsync(McpClient client, string who)
        {
            for (var i = 0; i < 15; i++)
            {
                await McpTestServer.CallAsync(client, "remember", new() { ["content"] = $"{who} note {i}: service {who}-{i} listens on port {9000 + i}." });
            }
        }

        await Task.WhenAll(WriteAsync(first, "alpha"), WriteAsync(second, "beta"));
        var fromFirst = await McpTestServer.CallAsync(first, "recall", new() { ["query"] = "beta note service port", ["limit"] = 50 });
        var fromSecond = await McpTestServer.CallAsync(second, "recall", new() { ["query"] = "alpha note service port", ["limit"] = 50 });
        Assert.Equal(15, fromFirst.GetProperty("memories").EnumerateArray().Count(m => m.GetProperty("content").GetString()!.StartsWith("beta", StringComparison.Ordinal)));
        Assert.Equal(15, fromSecond.GetProperty("memories").EnumerateArray().Count(m => m.GetProperty("content").GetString()!.StartsWith("alpha", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task LegacySse_IsServedWhereTheBannerAnnouncesIt_AndOnlyWhenAskedFor()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var (plain, plainEndpoint) = await StartAsync();
        await using (plain)
        {
            var response = await http.GetAsync(new Uri(plainEndpoint, HttpSettings.LegacySsePath), HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        var (legacy, legacyEndpoint) = await StartAsync(legacySse: true);
        await using (legacy)
        {
            var banner = HttpHost.Banner(legacyEndpoint, new HttpSettings(IPAddress.Loopback, legacyEndpoint.Port, null, [], LegacySse: true), new HostSettings("/store", "user", "test"));
            var announced = new Uri(Regex.Match(banner, @"HTTP\+SSE transport at (\S+)\)").Groups[1].Value);
            Assert.Equal(HttpSettings.LegacySsePath, announced.AbsolutePath);

            using var response = await http.GetAsync(announced, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);

            // The stream's first event names where messages go: the other announced path.
            using var events = new StreamReader(await response.Content.ReadAsStreamAsync());
            string? line;
            do
            {
                line = await events.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
            }
            while (line is not null && !line.StartsWith("data:", StringComparison.Ordinal));

            Assert.NotNull(line);
            Assert.StartsWith(HttpSettings.LegacyMessagePath, line["data:".Length..].Trim(), StringComparison.Ordinal);

            // A client of the 2026-07-28 revision (no session, no initialize) is still served, not refused into a downgrade.
            using var sessionless = new HttpRequestMessage(HttpMethod.Post, legacyEndpoint)
            {
                Content = new StringContent(
                    """{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}""",
                    Encoding.UTF8, "application/json"),
            };
            sessionless.Headers.Add("Accept", "application/json, text/event-stream");
            sessionless.Headers.Add("MCP-Protocol-Version", "2026-07-28");
            sessionless.Headers.Add("Mcp-Method", "tools/list");
            using var served = await http.SendAsync(sessionless);
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
            Assert.Contains("\"recall\"", await served.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }
}
