using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Engram.Core;
using Engram.Core.Model;

namespace Engram.Mcp.Tests;

/// <summary>
/// <c>engram ui</c> as a real process: its guard (one-time link, cookie, Host, Origin, CSRF) over plain HTTP, and the
/// whole page in a real browser (tests/ui/inspector.mjs: Playwright driving Debian's Chromium).
/// </summary>
public sealed partial class InspectorTests(TempFolder temp) : IClassFixture<TempFolder>
{
    private const string Scope = "project:acme/api";

    /// <summary>A store with a fact to find, a superseded fact, and a memory whose text is an injected script.</summary>
    private async Task<string> SeedAsync()
    {
        var home = temp.NewHome();
        await using var service = new MemoryService(new EngramOptions { HomeDirectory = home, DefaultScope = Scope, BackgroundEmbedding = false });
        var frozen = await service.RememberAsync(new RememberRequest("Deploys to staging are frozen on Fridays after 3pm.", Tags: ["release"]));
        await service.AddCheckAsync("when are staging deploys frozen", [frozen.Id]);
        var old = await service.RememberAsync(new RememberRequest("The API listens on port 8080.", ObservedAt: DateTimeOffset.UtcNow.AddDays(-30)));
        await service.RememberAsync(new RememberRequest("The API now listens on port 9090.", Supersedes: [old.Id]));
        await service.RememberAsync(new RememberRequest("<script>window.__pwned=1</script> and <img src=x onerror=\"window.__pwned=1\"> in a note."));
        for (var i = 0; i < 30; i++)
        {
            await service.RememberAsync(new RememberRequest($"Build note {i}: module m{i} compiled on runner r{i % 4}."));
        }

        return home;
    }

    /// <summary>Starts <c>engram ui</c> on <paramref name="home"/>; its address is the URL it printed.</summary>
    private static Task<EngramProcess> StartAsync(string home) =>
        EngramProcess.StartAsync(["ui", "--scope", Scope], new Dictionary<string, string> { ["ENGRAM_HOME"] = home }, UrlPattern());

    [GeneratedRegex(@"http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_-]+")]
    private static partial Regex UrlPattern();

    [Fact]
    public async Task Guard_TheLinkWorksOnce_ThenTheCookie_AndForeignHostsOriginsAndChangesWithoutCsrfAreRefused()
    {
        using var ui = await StartAsync(await SeedAsync());
        var url = ui.Address;
        var base_ = new Uri(url.GetLeftPart(UriPartial.Authority));
        using var handler = new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true };
        using var http = new HttpClient(handler) { BaseAddress = base_ };

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/api/overview")).StatusCode);
        var exchanged = await http.GetAsync(url);
        Assert.Equal(HttpStatusCode.Redirect, exchanged.StatusCode);
        Assert.Equal("/", exchanged.Headers.Location?.OriginalString);
        Assert.Contains("HttpOnly", string.Join(";", exchanged.Headers.GetValues("Set-Cookie")), StringComparison.OrdinalIgnoreCase);

        // The same link again (another browser, or someone who read it) gets nothing.
        using (var other = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await other.GetAsync(url)).StatusCode);
        }

        var overview = JsonSerializer.Deserialize<JsonElement>(await http.GetStringAsync("/api/overview"));
        Assert.Equal(Scope, overview.GetProperty("scopes")[0].GetProperty("scope").GetString());
        var page = await http.GetAsync("/");
        Assert.Contains("script-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        var csrf = CsrfPattern().Match(await page.Content.ReadAsStringAsync()).Groups[1].Value;
        Assert.NotEmpty(csrf);

        using (var foreignHost = new HttpRequestMessage(HttpMethod.Get, "/api/overview"))
        {
            foreignHost.Headers.Host = "attacker.example";
            Assert.Equal(HttpStatusCode.Forbidden, (await http.SendAsync(foreignHost)).StatusCode);
        }

        using (var foreignOrigin = new HttpRequestMessage(HttpMethod.Get, "/api/overview"))
        {
            foreignOrigin.Headers.Add("Origin", "http://attacker.example");
            Assert.Equal(HttpStatusCode.Forbidden, (await http.SendAsync(foreignOrigin)).StatusCode);
        }

        var search = new StringContent("""{"query":"staging freeze","scope":"project:acme/api"}""", Encoding.UTF8, "application/json");
        Assert.Equal(HttpStatusCode.Forbidden, (await http.PostAsync("/api/search", search)).StatusCode);
        using (var withCsrf = new HttpRequestMessage(HttpMethod.Post, "/api/search") { Content = new StringContent("""{"query":"staging freeze","scope":"project:acme/api"}""", Encoding.UTF8, "application/json") })
        {
            withCsrf.Headers.Add("X-Engram-Csrf", csrf);
            var found = JsonSerializer.Deserialize<JsonElement>(await (await http.SendAsync(withCsrf)).Content.ReadAsStringAsync());
            Assert.StartsWith("Deploys to staging", found.GetProperty("memories")[0].GetProperty("content").GetString(), StringComparison.Ordinal);
        }

        // The download is what 'engram export' writes: the memories, then the saved checks.
        var export = (await http.GetStringAsync("/api/export")).TrimEnd('\n').Split('\n');
        Assert.Equal(35, export.Length);
        Assert.Equal("when are staging deploys frozen", JsonSerializer.Deserialize<JsonElement>(export[^1]).GetProperty("query").GetString());

        // A bad request is a clear error, not a stack trace.
        using (var bad = new HttpRequestMessage(HttpMethod.Post, "/api/search") { Content = new StringContent("""{"query":""}""", Encoding.UTF8, "application/json") })
        {
            bad.Headers.Add("X-Engram-Csrf", csrf);
            var answer = await http.SendAsync(bad);
            Assert.Equal(HttpStatusCode.BadRequest, answer.StatusCode);
            Assert.DoesNotContain("   at ", await answer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var untagged = new HttpRequestMessage(HttpMethod.Post, "/api/tags") { Content = new StringContent("""{"tags":["release"]}""", Encoding.UTF8, "application/json") })
        {
            untagged.Headers.Add("X-Engram-Csrf", csrf);
            var answer = await http.SendAsync(untagged);
            Assert.Equal(HttpStatusCode.BadRequest, answer.StatusCode);
            Assert.Contains("'id'", await answer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // The largest page is served whole; past it, the limit sent is the one the error names.
        var largest = JsonSerializer.Deserialize<JsonElement>(await http.GetStringAsync($"/api/memories?limit={MemoryService.MaxListLimit}"));
        Assert.Equal(33, largest.GetProperty("memories").GetArrayLength());
        Assert.False(largest.GetProperty("more").GetBoolean());
        var tooMany = await http.GetAsync($"/api/memories?limit={int.MaxValue}");
        Assert.Equal(HttpStatusCode.BadRequest, tooMany.StatusCode);
        Assert.Contains($"got {int.MaxValue}", await tooMany.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [GeneratedRegex("""name="engram-csrf" content="([A-Za-z0-9_-]+)""")]
    private static partial Regex CsrfPattern();

    /// <summary>The repository folder (above the test's output folder).</summary>
    private static string Repository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "tests", "ui", "inspector.mjs")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("tests/ui/inspector.mjs was not found above " + AppContext.BaseDirectory);
    }

    [BrowserFact]
    public async Task Browser_SearchExplainWhyNotFoundForget_AndNoScriptRuns_AndNothingLeavesTheMachine()
    {
        using var ui = await StartAsync(await SeedAsync());
        var url = ui.Address;
        var shots = Path.Combine(temp.Root, "screenshots");
        var start = new ProcessStartInfo("node", [Path.Combine(Repository(), "tests", "ui", "inspector.mjs"), url.ToString(), shots])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.Combine(Repository(), "tests", "ui"),
        };
        using var node = Process.Start(start)!;
        var output = node.StandardOutput.ReadToEndAsync();
        var error = node.StandardError.ReadToEndAsync();
        await node.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3));
        Assert.True(node.ExitCode == 0, $"{await output}\n{await error}");
        Assert.True(File.Exists(Path.Combine(shots, "explain.png")));
        if (Environment.GetEnvironmentVariable("ENGRAM_UI_SCREENSHOTS") is { Length: > 0 } keep)
        {
            Directory.CreateDirectory(keep);
            foreach (var file in Directory.GetFiles(shots))
            {
                File.Copy(file, Path.Combine(keep, Path.GetFileName(file)), overwrite: true);
            }
        }
    }
}

/// <summary>
/// A test that needs a browser: Chromium (CHROMIUM, else /usr/bin/chromium), Node and tests/ui's packages
/// (<c>cd tests/ui &amp;&amp; npm ci</c>). Without them it is skipped with a message saying so, except in CI, where it runs
/// (and fails if they are missing).
/// </summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public BrowserFactAttribute()
    {
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            return;
        }

        var chromium = Environment.GetEnvironmentVariable("CHROMIUM") is { Length: > 0 } c ? c : "/usr/bin/chromium";
        var modules = Enumerable.Range(0, 8).Select(up => Path.Combine([AppContext.BaseDirectory, .. Enumerable.Repeat("..", up), "tests", "ui", "node_modules", "playwright-core"]))
            .Any(Directory.Exists);
        if (!File.Exists(chromium) || !modules)
        {
            Skip = "Browser tests not run: they need Chromium (apt-get install chromium, or CHROMIUM=<path>), Node, and 'cd tests/ui && npm ci' (CI always runs them).";
        }
    }
}
