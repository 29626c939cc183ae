using System.Text.Json;
using Engram.Core;
using Engram.Core.Model;
using Engram.Embeddings;
using Microsoft.Extensions.Time.Testing;
using ModelContextProtocol.Client;

namespace Engram.Mcp.Tests;

/// <summary>
/// Embedding providers against real HTTP fakes on loopback and a real ONNX model: the server calls them, recall uses
/// their vectors, and when they stop, slow down or die, remember and recall keep working and nothing is lost.
/// </summary>
public sealed class EmbeddingProviderTests(TempFolder temp) : IClassFixture<TempFolder>
{
    private static readonly string ServerDll = Path.Combine(AppContext.BaseDirectory, "engram.dll");

    private static readonly string[] Fillers =
    [
        "The release checklist lives in docs/release.md.",
        "Nightly builds run at 02:00 UTC on the shared runner.",
        "Lint rules come from the shared editorconfig file.",
        "Staging deploys need a green smoke test first.",
        "The on-call rota is kept in PagerDuty.",
    ];

    private const string Taekwondo = "Ana goes to taekwondo class every Tuesday evening.";

    /// <summary>Long enough for any wait on the machine under load; a test that gets no signal fails instead of hanging.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static EngramOptions Options(string home, TimeProvider? time = null) => new()
    {
        HomeDirectory = home,
        Store = TestPostgres.IsDefaultStore ? TestPostgres.DatabaseOf(home) : null,
        EmbeddingTimeout = TimeSpan.FromSeconds(2),
        EmbeddingRetryDelay = TimeSpan.FromMilliseconds(300),
        TimeProvider = time ?? TimeProvider.System,
    };

    private static async Task<McpClient> ConnectAsync(string home, Dictionary<string, string?> environment, Action<string>? stderr = null)
    {
        var options = new StdioClientTransportOptions
        {
            Name = "engram",
            Command = "dotnet",
            Arguments = [ServerDll],
            WorkingDirectory = home,
            EnvironmentVariables = new Dictionary<string, string?>(environment)
            {
                ["ENGRAM_HOME"] = home, ["ENGRAM_SCOPE"] = "user", ["ENGRAM_PROJECT_ROOT"] = "", ["CLAUDE_PROJECT_DIR"] = "",
            },
            StandardErrorLines = stderr,
        };
        return await McpClient.CreateAsync(new StdioClientTransport(options));
    }

    /// <summary>A store holding <paramref name="count"/> memories embedded by the built-in embedder, as before a switch.</summary>
    private async Task<string> SeedWithBuiltinAsync(int count, Func<int, string> text)
    {
        var home = temp.NewHome();
        await using var builtin = new MemoryService(Options(home));
        await builtin.RememberManyAsync(Enumerable.Range(0, count).Select(i => new RememberRequest(text(i))).ToList());
        return home;
    }

    [Fact]
    public async Task Server_WithOllama_CallsTheFake_RecallsBySynonym_AndKeepsWorkingWhenTheFakeStops()
    {
        using var fake = new FakeEmbeddingServer();
        var home = temp.NewHome();
        Directory.CreateDirectory(home);
        // The server's background embedder logs each batch it has stored (at Debug): once the fake is back, its first
        // batch holds every memory stored meanwhile.
        var backfill = new BackfillWatch($"memories with ollama/fake-embed/{FakeEmbeddingServer.Dimensions}.");
        await using var client = await ConnectAsync(home, new()
        {
            ["ENGRAM_EMBEDDINGS"] = "ollama:fake-embed", ["ENGRAM_EMBEDDINGS_URL"] = fake.OllamaUrl,
            ["ENGRAM_EMBEDDINGS_TIMEOUT"] = "2", ["ENGRAM_EMBEDDINGS_RETRY"] = "0.3", ["ENGRAM_LOG_LEVEL"] = "Debug",
        }, backfill.Line);
        foreach (var text in Fillers.Append(Taekwondo))
        {
            await McpTestServer.CallAsync(client, "remember", new() { ["content"] = text });
        }

        Assert.Contains(fake.Requests, r => r.Path == "/api/embed" && r.Model == "fake-embed");
        // "martial arts" shares no word with the memory: only the provider's vectors can find it.
        var recalled = await McpTestServer.CallAsync(client, "recall", new() { ["query"] = "martial arts", ["limit"] = 3 });
        Assert.Equal(Taekwondo, recalled.GetProperty("memories")[0].GetProperty("content").GetString());
        var explained = await McpTestServer.CallAsync(client, "explain", new() { ["query"] = "martial arts" });
        Assert.Equal($"ready (ollama/fake-embed/{FakeEmbeddingServer.Dimensions})", explained.GetProperty("vectors").GetString());

        fake.Stop();
        var stored = await McpTestServer.CallAsync(client, "remember", new() { ["content"] = "Ben practises kickboxing on Mondays." });
        Assert.Equal("created", stored.GetProperty("status").GetString());
        var lexical = await McpTestServer.CallAsync(client, "recall", new() { ["query"] = "kickboxing Mondays" });
        Assert.Equal("Ben practises kickboxing on Mondays.", lexical.GetProperty("memories")[0].GetProperty("content").GetString());
        var degraded = await McpTestServer.CallAsync(client, "explain", new() { ["query"] = "kickboxing Mondays" });
        Assert.StartsWith("unavailable", degraded.GetProperty("vectors").GetString(), StringComparison.Ordinal);

        // Back up: the memory stored meanwhile is embedded in the background and found by meaning.
        var backfilled = backfill.Arm();
        fake.Start();
        await backfilled.WaitAsync(Patience);
        var ready = await McpTestServer.CallAsync(client, "explain", new() { ["query"] = "martial arts" });
        Assert.Equal($"ready (ollama/fake-embed/{FakeEmbeddingServer.Dimensions})", ready.GetProperty("vectors").GetString());
        var both = await McpTestServer.CallAsync(client, "recall", new() { ["query"] = "martial arts", ["limit"] = 2 });
        Assert.Equal(
            new[] { "Ana goes to taekwondo class every Tuesday evening.", "Ben practises kickboxing on Mondays." }.Order(),
            both.GetProperty("memories").EnumerateArray().Select(m => m.GetProperty("content").GetString()!).Order());
    }

    [Fact]
    public async Task OpenAiCompatible_SendsTheKey_AndRecallsBySynonym()
    {
        using var fake = new FakeEmbeddingServer();
        using var embedder = EmbeddingProvider.Create("openai:text-embedding-fake", fake.OpenAiUrl, "sk-test-123")!;
        await using var service = new MemoryService(Options(temp.NewHome()), embedder);
        foreach (var text in Fillers.Append("The orders service runs on Postgres 16."))
        {
            await service.RememberAsync(new RememberRequest(text));
        }

        Assert.All(fake.Requests, r => Assert.Equal("Bearer sk-test-123", r.Authorization));
        Assert.All(fake.Requests, r => Assert.Equal("/v1/embeddings", r.Path));
        var result = await service.RecallAsync(new RecallRequest("which database", Limit: 1));
        Assert.Equal("The orders service runs on Postgres 16.", result.Memories[0].Content);
    }

    [Fact]
    public async Task Switching_BuiltinToProviderAndBack_LosesNothing_AndEachModelIsUsedOnlyWhenReady()
    {
        using var fake = new FakeEmbeddingServer();
        var home = temp.NewHome();
        var texts = Enumerable.Range(0, 40).Select(i => $"Fact {i}: component {i} is owned by team {i % 7}.").Append(Taekwondo).ToList();
        await using (var builtin = new MemoryService(Options(home)))
        {
            await builtin.RememberManyAsync(texts.Select(t => new RememberRequest(t)).ToList());
        }

        // The background embedder starts with the service: its batch is held until the early explain has run.
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        fake.HoldBatches = release.Task;
        using (var embedder = EmbeddingProvider.Create("ollama:fake-embed", fake.OllamaUrl, null)!)
        await using (var provider = new MemoryService(Options(home), embedder))
        {
            // Before the re-embed: recall answers from the other signals, and explain says the vectors are on their way.
            var early = await provider.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("component 3 owner")));
            Assert.NotEmpty(early.Hits);
            Assert.DoesNotContain("ready (", early.Vectors, StringComparison.Ordinal);
            release.SetResult();

            var embedded = await provider.ReembedAsync();
            Assert.True(embedded <= texts.Count);
            var ready = await provider.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("martial arts")));
            Assert.Equal($"ready (ollama/fake-embed/{FakeEmbeddingServer.Dimensions})", ready.Vectors);
            Assert.Equal(Taekwondo, (await provider.RecallAsync(new RecallRequest("martial arts", Limit: 1))).Memories[0].Content);
            await provider.RememberAsync(new RememberRequest("Ben practises kickboxing on Mondays."));
        }

        await using (var back = new MemoryService(Options(home)))
        {
            // The memory stored under the provider gets its built-in vector (here, or already by the background
            // embedder); the rest were kept.
            Assert.InRange(await back.ReembedAsync(), 0, 1);
            var ben = await back.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("kickboxing Mondays")));
            Assert.NotNull(Assert.Single(ben.Hits, h => h.Lexical?.Rank == 1).Vector);
            var all = await back.RecallAsync(new RecallRequest("component owned team fact", Limit: 100));
            Assert.Equal(40, all.Memories.Count(m => m.Content.StartsWith("Fact ", StringComparison.Ordinal)));
            Assert.Single((await back.RecallAsync(new RecallRequest("kickboxing Mondays"))).Memories, m => m.Content.Contains("kickboxing", StringComparison.Ordinal));
            Assert.StartsWith("ready (engram-builtin/", (await back.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("component")))).Vectors, StringComparison.Ordinal);
        }

        // And forward again: nothing to embed, the provider's vectors are swapped in at once.
        var before = fake.EmbeddedTexts;
        using (var embedder = EmbeddingProvider.Create("ollama:fake-embed", fake.OllamaUrl, null)!)
        await using (var again = new MemoryService(Options(home), embedder))
        {
            Assert.Equal(0, await again.ReembedAsync());
            var martial = (await again.RecallAsync(new RecallRequest("martial arts", Limit: 2))).Memories.Select(m => m.Content).Order();
            Assert.Equal(new[] { Taekwondo, "Ben practises kickboxing on Mondays." }.Order(), martial);
        }

        Assert.True(fake.EmbeddedTexts - before <= 3, "switching back re-embedded memories whose vectors were kept");
    }

    [Fact]
    public async Task Reembedding_WhileRecallsRun_NeverFailsARecall()
    {
        using var fake = new FakeEmbeddingServer { Delay = TimeSpan.FromMilliseconds(40) };
        var home = await SeedWithBuiltinAsync(400, i => $"Note {i}: job {i} writes to bucket {i % 13}.");

        using var embedder = EmbeddingProvider.Create("ollama:fake-embed", fake.OllamaUrl, null)!;
        await using var service = new MemoryService(Options(home), embedder);
        var reembed = service.ReembedAsync();
        var recalls = 0;
        var sawWaiting = false;
        while (!reembed.IsCompleted)
        {
            var explain = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest($"bucket {recalls % 13} job")));
            Assert.NotEmpty(explain.Hits);
            sawWaiting |= explain.Vectors.Contains("waiting", StringComparison.Ordinal);
            recalls++;
        }

        await reembed;
        Assert.True(recalls > 0);
        Assert.True(sawWaiting, "no recall saw the scope waiting for its new vectors");
        Assert.StartsWith("ready (ollama/", (await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("bucket")))).Vectors, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProviderDyingMidReembed_LosesNothing_AndTheNextRunFinishes()
    {
        using var fake = new FakeEmbeddingServer();
        var home = await SeedWithBuiltinAsync(300, i => $"Record {i}: host {i} sits in rack {i % 9}.");

        using var embedder = EmbeddingProvider.Create("ollama:fake-embed", fake.OllamaUrl, null)!;
        // The back-off's clock is the test's: the pause after the failure lasts until the test ends it, so no call
        // reaches the fake before it works again (the background embedder would find it down and pause once more).
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = Options(home, clock);
        await using var service = new MemoryService(options, embedder);
        fake.FailAfter = fake.Requests.Count + 2;
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => service.ReembedAsync());
        Assert.Contains("Run reembed again", error.Message, StringComparison.Ordinal);

        // Meanwhile every memory is there and recall answers.
        var all = await service.RecallAsync(new RecallRequest("record host rack", Limit: 100));
        Assert.Equal(100, all.Memories.Count);
        var waiting = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("rack 3")));
        Assert.DoesNotContain("ready (", waiting.Vectors, StringComparison.Ordinal);

        fake.FailAfter = null;
        clock.Advance(options.EmbeddingRetryDelay); // the pause after the failure is over
        await service.ReembedAsync().WaitAsync(Patience);
        Assert.Equal($"ready (ollama/fake-embed/{FakeEmbeddingServer.Dimensions})", (await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("rack 3")))).Vectors);
    }

    [Fact]
    public async Task ATextTheProviderRefuses_DoesNotHoldUpTheRest()
    {
        using var fake = new FakeEmbeddingServer { Refuse = "POISON" };
        var home = await SeedWithBuiltinAsync(100, i => i == 37 ? "Entry 37: POISON text the provider will not take." : $"Entry {i}: cron job {i} prunes table {i % 7}.");
        using var embedder = EmbeddingProvider.Create("ollama:fake-embed", fake.OllamaUrl, null)!;
        // As 'engram reembed' runs it: without the background embedder, which would otherwise take a first batch before
        // the reembed starts (under load it did), and the count below would miss it.
        var options = Options(home);
        options.BackgroundEmbedding = false;
        await using var service = new MemoryService(options, embedder);
        Assert.Equal(100, await service.ReembedAsync());
        var explain = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("cron job prunes table")));
        Assert.StartsWith($"ollama/fake-embed/{FakeEmbeddingServer.Dimensions}: 1 memories of scope user", explain.Vectors, StringComparison.Ordinal);
        Assert.All(explain.Hits.Take(5), h => Assert.NotNull(h.Vector));
        Assert.NotEmpty((await service.RecallAsync(new RecallRequest("POISON text"))).Memories);
    }

    [Fact]
    public async Task ATextTheProviderIsTooBusyFor_IsAskedAgainLater_NotMarkedRefused()
    {
        using var fake = new FakeEmbeddingServer { Busy = "BUSY" };
        var home = await SeedWithBuiltinAsync(100, i => i == 37 ? "Entry 37: BUSY text that meets a rate limit." : $"Entry {i}: cron job {i} prunes table {i % 7}.");
        using var embedder = EmbeddingProvider.Create("openai:fake-embed", fake.OpenAiUrl, null)!;
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = Options(home, clock);
        options.BackgroundEmbedding = false;
        await using var service = new MemoryService(options, embedder);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => service.ReembedAsync());
        Assert.Contains("429", error.Message, StringComparison.Ordinal);

        fake.Busy = null;
        clock.Advance(options.EmbeddingRetryDelay);
        await service.ReembedAsync().WaitAsync(Patience);
        Assert.Equal($"ready (openai/fake-embed/{FakeEmbeddingServer.Dimensions})", (await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("rate limit")))).Vectors);
        var busy = (await service.RecallAsync(new RecallRequest("BUSY text that meets a rate limit", Limit: 1))).Memories.Single();
        Assert.StartsWith("Entry 37:", busy.Content, StringComparison.Ordinal);
        var found = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("BUSY text that meets a rate limit")));
        Assert.NotNull(found.Hits.Single(h => h.Id == busy.Id).Vector);
    }

    [Fact]
    public async Task AnErrorThatQuotesTheTextSent_IsReportedWithoutIt()
    {
        using var fake = new FakeEmbeddingServer { Refuse = "POISON" };
        using var embedder = EmbeddingProvider.Create("openai:fake-embed", fake.OpenAiUrl, null)!;
        var e = await Assert.ThrowsAsync<HttpRequestException>(() => embedder.GenerateAsync(["Entry 37: POISON text the provider will not take."]));
        Assert.StartsWith("400", e.Message, StringComparison.Ordinal);
        Assert.Contains("left out", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("POISON", e.Message, StringComparison.Ordinal);

        // The body escapes the text's quotes and accents (as \u0022, \u00E9): it is still recognised.
        var quoted = await Assert.ThrowsAsync<HttpRequestException>(() => embedder.GenerateAsync(["\"Café\" POISON: deploy with helm upgrade."]));
        Assert.Contains("left out", quoted.Message, StringComparison.Ordinal);
        Assert.True(OpenAiEmbeddingGenerator.Quotes("""{"detail":"bad input: \"We use pnpm\" is refused"}""", ["We use pnpm"]));
        Assert.False(OpenAiEmbeddingGenerator.Quotes("""{"error":{"message":"Incorrect API key provided"}}""", ["We use pnpm for packages."]));
    }

    [Fact]
    public async Task Onnx_ATinyModelBuiltByTheTest_EmbedsEndToEnd()
    {
        var folder = Path.Combine(temp.Root, "tiny-onnx-" + Guid.NewGuid().ToString("N"));
        TinyOnnxModel.Write(folder);
        using var embedder = EmbeddingProvider.Create($"onnx:{folder}", null, null)!;
        var vectors = await embedder.GenerateAsync(["taekwondo", "karate", "postgres"]);
        Assert.All(vectors, v => Assert.Equal(TinyOnnxModel.Dimensions, v.Vector.Length));
        Assert.Equal(1f, System.Numerics.Tensors.TensorPrimitives.Dot(vectors[0].Vector.Span, vectors[1].Vector.Span), 3);
        Assert.Equal(0f, System.Numerics.Tensors.TensorPrimitives.Dot(vectors[0].Vector.Span, vectors[2].Vector.Span), 3);

        await using var service = new MemoryService(Options(temp.NewHome()), embedder);
        await service.RememberAsync(new RememberRequest("Ana does karate weekly."));
        await service.RememberAsync(new RememberRequest("The billing service uses sqlite."));
        var result = await service.RecallAsync(new RecallRequest("martial arts practice", Limit: 1));
        Assert.Equal("Ana does karate weekly.", result.Memories[0].Content);
        var explain = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("database")));
        Assert.StartsWith($"ready (onnx/tiny-onnx-", explain.Vectors, StringComparison.Ordinal);
        Assert.EndsWith($"/{TinyOnnxModel.Dimensions})", explain.Vectors, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Store", "SqliteOnly")] // The command runs on the store folder (SQLite) the in-process seed wrote.
    public async Task ReembedCommand_EmbedsTheWholeStoreWithTheProvider()
    {
        using var fake = new FakeEmbeddingServer();
        var home = await SeedWithBuiltinAsync(150, i => $"Entry {i}: queue {i} drains into topic {i % 5}.");

        var start = new System.Diagnostics.ProcessStartInfo("dotnet", [ServerDll, "reembed", "--home", home, "--scope", "user", "--embeddings", "ollama:fake-embed"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment = { ["ENGRAM_EMBEDDINGS_URL"] = fake.OllamaUrl },
        };
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, await errors);
        Assert.Contains("150 memories embedded", await output, StringComparison.Ordinal);
        Assert.True(fake.EmbeddedTexts >= 150);

        using var embedder = EmbeddingProvider.Create("ollama:fake-embed", fake.OllamaUrl, null)!;
        await using var service = new MemoryService(Options(home), embedder);
        Assert.Equal(0, await service.ReembedAsync());

        // Unreachable: a clear message and a failing exit code, nothing changed.
        fake.Stop();
        await using (var more = new MemoryService(Options(home)))
        {
            await more.RememberAsync(new RememberRequest("One more entry for the provider to embed."));
        }

        using var failing = System.Diagnostics.Process.Start(start)!;
        var failed = failing.StandardError.ReadToEndAsync();
        await failing.StandardOutput.ReadToEndAsync();
        await failing.WaitForExitAsync();
        Assert.Equal(1, failing.ExitCode);
        Assert.Contains("unreachable", await failed, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ollama", "names no model")]
    [InlineData("cohere:embed", "Unknown embeddings provider")]
    [InlineData("onnx:/nonexistent/folder", "No model.onnx")]
    public void BadSettings_AreRefusedWithWhatToSend(string spec, string expected)
    {
        var error = Assert.Throws<EngramArgumentException>(() => EmbeddingProvider.Create(spec, null, null));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    /// <summary>Watches the server's stderr for the background embedder's batch log, from when it is armed.</summary>
    private sealed class BackfillWatch(string batchLog)
    {
        private TaskCompletionSource? _stored;

        /// <summary>A task that completes at the first batch logged from now on.</summary>
        public Task Arm()
        {
            var stored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _stored, stored);
            return stored.Task;
        }

        public void Line(string line)
        {
            if (line.Contains("Embedded ", StringComparison.Ordinal) && line.Contains(batchLog, StringComparison.Ordinal))
            {
                Volatile.Read(ref _stored)?.TrySetResult();
            }
        }
    }
}
