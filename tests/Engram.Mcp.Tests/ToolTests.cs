using System.Text.Json;
using ModelContextProtocol.Protocol;

namespace Engram.Mcp.Tests;

public sealed class ToolTests(TempFolder temp) : IClassFixture<TempFolder>
{
    [Fact]
    public async Task ToolsList_HasTheFourTools_WithEveryAnnotationSetExplicitly()
    {
        await using var server = await McpTestServer.StartAsync(temp.NewHome());
        var tools = await server.Client.ListToolsAsync();
        Assert.Equal(["explain", "forget", "recall", "remember"], tools.Select(t => t.Name).Order(StringComparer.Ordinal));
        var byName = tools.ToDictionary(t => t.Name, t => t.ProtocolTool.Annotations!);
        foreach (var a in byName.Values)
        {
            Assert.NotNull(a.ReadOnlyHint);
            Assert.NotNull(a.DestructiveHint);
            Assert.NotNull(a.IdempotentHint);
            Assert.False(a.OpenWorldHint);
        }

        Assert.True(byName["recall"].ReadOnlyHint);
        Assert.True(byName["explain"].ReadOnlyHint);
        Assert.False(byName["remember"].ReadOnlyHint);
        Assert.False(byName["remember"].DestructiveHint);
        Assert.True(byName["forget"].DestructiveHint);
        Assert.All(tools, t => Assert.NotNull(t.ProtocolTool.OutputSchema));
    }

    [Fact]
    public async Task ToolsList_SchemasUseNoTypeLists_AndAnExplicitNullArgumentCountsAsOmitted()
    {
        await using var server = await McpTestServer.StartAsync(temp.NewHome());
        foreach (var tool in await server.Client.ListToolsAsync())
        {
            var text = tool.ProtocolTool.InputSchema.GetRawText() + tool.ProtocolTool.OutputSchema!.Value.GetRawText();
            Assert.DoesNotContain("\"type\":[", text.Replace(" ", "", StringComparison.Ordinal), StringComparison.Ordinal);
        }

        var remembered = await server.CallOkAsync("remember", new Dictionary<string, object?> { ["content"] = "Schemas stay portable.", ["scope"] = null, ["tags"] = null });
        Assert.Equal("created", remembered.GetProperty("status").GetString());
        var recalled = await server.CallOkAsync("recall", new Dictionary<string, object?> { ["query"] = "portable schemas", ["asOf"] = null });
        Assert.Equal(1, recalled.GetProperty("memories").GetArrayLength());
    }

    [Fact]
    public async Task ToolsList_ArgumentNamesFollowTheContract()
    {
        await using var server = await McpTestServer.StartAsync(temp.NewHome());
        var tools = (await server.Client.ListToolsAsync()).ToDictionary(t => t.Name, t => t.ProtocolTool.InputSchema.GetProperty("properties").EnumerateObject().Select(p => p.Name).ToHashSet());
        Assert.Superset(new HashSet<string> { "content", "scope", "tags", "observedAt", "supersedes" }, tools["remember"]);
        Assert.Superset(new HashSet<string> { "query", "scope", "limit", "tags", "includeSuperseded", "asOf" }, tools["recall"]);
        Assert.Superset(new HashSet<string> { "id", "ids", "query", "tag", "all", "scope", "dryRun" }, tools["forget"]);
        Assert.Superset(new HashSet<string> { "retrievalId", "query", "memoryId" }, tools["explain"]);
    }

    [Fact]
    public async Task Remember_ASecret_IsAToolErrorNamingItsKind_AndNothingIsStored()
    {
        await using var server = await McpTestServer.StartAsync(temp.NewHome(), "project:github.com/acme/widgets");
        var secret = "-----BEGIN OPENSSH PRIVATE KEY-----";
        var refused = await server.CallAsync("remember", new { content = $"The deploy key: {secret} b3BlbnNzaC1rZXktdjE" });
        Assert.True(refused.IsError);
        Assert.Contains("a private key at character 17", McpTestServer.Text(refused), StringComparison.Ordinal);
        Assert.DoesNotContain("b3BlbnNzaC1rZXktdjE", McpTestServer.Text(refused), StringComparison.Ordinal);
        var recalled = await server.CallOkAsync("recall", new { query = "deploy key" });
        Assert.Equal(0, recalled.GetProperty("memories").GetArrayLength());
    }

    [Fact]
    public async Task Recall_MarksAMemoryWhoseFileChanged_AsStale_AndStillReturnsIt()
    {
        var root = Path.Combine(temp.Root, "repo-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(root, ".git"));
        File.WriteAllText(Path.Combine(root, "deploy.sh"), "kubectl apply -f k8s/\n");
        await using var server = await McpTestServer.StartAsync(temp.NewHome(), "project:github.com/acme/widgets", root);
        await server.CallOkAsync("remember", new { content = "Deploys run deploy.sh, which applies the k8s folder." });
        var fresh = (await server.CallOkAsync("recall", new { query = "how do deploys run" })).GetProperty("memories")[0];
        Assert.False(fresh.TryGetProperty("stale", out _));

        File.WriteAllText(Path.Combine(root, "deploy.sh"), "helm upgrade widgets ./chart\n");
        var marked = (await server.CallOkAsync("recall", new { query = "how do deploys run" })).GetProperty("memories")[0];
        var stale = marked.GetProperty("stale")[0];
        Assert.Equal("deploy.sh", stale.GetProperty("path").GetString());
        Assert.Equal("changed", stale.GetProperty("state").GetString());
        Assert.False(stale.TryGetProperty("to", out _));

        // Moved to another folder as it is: renamed, saying where to.
        await server.CallOkAsync("remember", new { content = "Deploys run deploy.sh, which runs helm upgrade on the chart." });
        Directory.CreateDirectory(Path.Combine(root, "ops"));
        File.Move(Path.Combine(root, "deploy.sh"), Path.Combine(root, "ops", "deploy.sh"));
        var renamed = (await server.CallOkAsync("recall", new { query = "deploys helm upgrade chart" })).GetProperty("memories")[0];
        Assert.Contains("helm upgrade", renamed.GetProperty("content").GetString(), StringComparison.Ordinal);
        var moved = renamed.GetProperty("stale")[0];
        Assert.Equal(("deploy.sh", "renamed", "ops/deploy.sh"), (moved.GetProperty("path").GetString(), moved.GetProperty("state").GetString(), moved.GetProperty("to").GetString()));
    }

    [Fact]
    public async Task RememberRecallForget_RoundTrip_WithStructuredContent()
    {
        await using var server = await McpTestServer.StartAsync(temp.NewHome(), "project:github.com/acme/widgets");
        var remembered = await server.CallOkAsync("remember", new { content = "The widgets API uses cursor pagination.", tags = new[] { "api" }, observedAt = "2025-03-14T09:30:00Z" });
        Assert.Equal("created", remembered.GetProperty("status").GetString());
        Assert.Equal("project:github.com/acme/widgets", remembered.GetProperty("scope").GetString());
        var id = remembered.GetProperty("id").GetString();

        var again = await server.CallOkAsync("remember", new { content = "the widgets API uses cursor pagination" });
        Assert.Equal("duplicate", again.GetProperty("status").GetString());
        Assert.Equal(id, again.GetProperty("duplicateOf").GetString());

        var recalled = await server.CallOkAsync("recall", new { query = "How does the widgets API paginate?" });
        Assert.Equal(["project:github.com/acme/widgets", "user"], recalled.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
        var first = recalled.GetProperty("memories")[0];
        Assert.Equal(id, first.GetProperty("id").GetString());
        Assert.Equal("The widgets API uses cursor pagination.", first.GetProperty("content").GetString());
        Assert.Equal(["api"], first.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal(new DateTimeOffset(2025, 3, 14, 9, 30, 0, TimeSpan.Zero), first.GetProperty("observedAt").GetDateTimeOffset());
        Assert.True(first.GetProperty("score").GetDouble() > 0);

        var explained = await server.CallOkAsync("explain", new { retrievalId = recalled.GetProperty("retrievalId").GetString(), memoryId = id });
        var hit = explained.GetProperty("hits")[0];
        Assert.Equal(1, hit.GetProperty("rank").GetInt32());
        Assert.Equal(1, hit.GetProperty("lexical").GetProperty("rank").GetInt32());
        Assert.Equal(1, hit.GetProperty("vector").GetProperty("rank").GetInt32());
        Assert.True(explained.GetProperty("memory").GetProperty("surfaced").GetBoolean());

        var preview = await server.CallOkAsync("forget", new { id, dryRun = true });
        Assert.True(preview.GetProperty("dryRun").GetBoolean());
        Assert.Equal(1, preview.GetProperty("count").GetInt32());

        var forgotten = await server.CallOkAsync("forget", new { id });
        Assert.Equal(1, forgotten.GetProperty("count").GetInt32());
        foreach (var store in forgotten.GetProperty("residue").EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Number))
        {
            Assert.Equal(0, store.Value.GetInt32());
        }

        var after = await server.CallOkAsync("recall", new { query = "widgets API pagination" });
        Assert.Equal(0, after.GetProperty("memories").GetArrayLength());
        Assert.Equal(0, (await server.CallOkAsync("forget", new { id })).GetProperty("count").GetInt32());
    }

    [Fact]
    public async Task Recall_OtherScope_NeverShowsInResultsOrExplain()
    {
        await using var server = await McpTestServer.StartAsync(temp.NewHome(), "project:github.com/acme/widgets");
        await server.CallOkAsync("remember", new { content = "The billing launch codename is Bluebird.", scope = "project:github.com/acme/billing" });
        await server.CallOkAsync("remember", new { content = "The widgets launch codename is Redwing." });
        var recalled = await server.CallOkAsync("recall", new { query = "Bluebird launch codename", limit = 100 });
        Assert.DoesNotContain("Bluebird", recalled.GetRawText(), StringComparison.Ordinal);
        var explained = await server.CallOkAsync("explain", new { query = "Bluebird launch codename" });
        Assert.DoesNotContain("Bluebird", explained.GetRawText().Replace("\"query\":\"Bluebird launch codename\"", "", StringComparison.Ordinal), StringComparison.Ordinal);
        var billing = await server.CallOkAsync("recall", new { query = "codename", scope = "project:github.com/acme/billing" });
        var billingId = billing.GetProperty("memories")[0].GetProperty("id").GetString()!;
        Assert.DoesNotContain(billingId, explained.GetRawText(), StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string> BadCalls => new()
    {
        { "remember", """{"content":""}""", "'content' is empty" },
        { "remember", """{"content":"   "}""", "'content' is empty" },
        { "remember", "{}", "needs 'content'" },
        { "remember", """{"text":"x"}""", "has no argument 'text'" },
        { "remember", """{"content":"x","tags":"one"}""", "'tags' must be an array of strings" },
        { "remember", """{"content":"x","observedAt":"last tuesday"}""", "not an ISO-8601 time" },
        { "remember", """{"content":"x","scope":"../../etc/passwd"}""", "not a valid scope" },
        { "remember", """{"content":"x","scope":"/home/me"}""", "not a valid scope" },
        { "remember", $$"""{"content":"{{new string('a', 4001)}}"}""", "not a document" },
        { "recall", """{"query":""}""", "'query' is empty" },
        { "recall", """{"query":"x","limit":0}""", "1 to 100" },
        { "recall", """{"query":"x","limit":1000}""", "1 to 100" },
        { "recall", """{"query":"x","limit":"ten"}""", "'limit' must be a whole number" },
        { "recall", """{"query":"x","limit":2.5}""", "'limit' must be a whole number" },
        { "recall", """{"query":"x","asOf":"2025-13-45"}""", "not an ISO-8601 time" },
        { "recall", """{"query":42}""", "'query' must be a string" },
        { "forget", "{}", "forget needs something to select" },
        { "forget", """{"all":true}""", "explicit 'scope'" },
        { "forget", """{"ids":[]}""", "'ids' is empty" },
        { "forget", """{"id":"x","tag":"y"}""", "exactly one selector" },
        { "forget", """{"query":"x","limit":0}""", "1 to 100 (default 1)" },
        { "explain", "{}", "explain needs 'retrievalId'" },
        { "explain", """{"retrievalId":"rt_unknown"}""", "No recall with retrievalId" },
    };

    [Theory]
    [MemberData(nameof(BadCalls))]
    public async Task BadInput_GetsAnErrorResultThatSaysWhatToSend_AndTheServerKeepsServing(string tool, string json, string expected)
    {
        await using var server = await McpTestServer.StartAsync(temp.NewHome());
        var arguments = JsonSerializer.Deserialize<Dictionary<string, object?>>(json)!;
        var result = await server.Client.CallToolAsync(tool, arguments);
        Assert.True(result.IsError);
        Assert.Contains(expected, McpTestServer.Text(result), StringComparison.Ordinal);
        Assert.DoesNotContain("/tmp", McpTestServer.Text(result), StringComparison.Ordinal);

        await server.CallOkAsync("remember", new { content = "Still serving after a bad call." });
        var recalled = await server.CallOkAsync("recall", new { query = "still serving" });
        Assert.Equal(1, recalled.GetProperty("memories").GetArrayLength());
    }

    [Fact]
    public async Task UnknownTool_IsAnError_NotACrash()
    {
        await using var server = await McpTestServer.StartAsync(temp.NewHome());
        var error = await Assert.ThrowsAsync<ModelContextProtocol.McpProtocolException>(() => server.CallAsync("memorize", new { content = "x" }));
        Assert.Equal(ModelContextProtocol.McpErrorCode.InvalidParams, error.ErrorCode);
        Assert.Contains("Unknown tool: 'memorize'", error.Message, StringComparison.Ordinal);
        await server.CallOkAsync("recall", new { query = "anything" });
    }

    [Fact]
    public async Task ExplicitNull_ForEveryOptionalArgumentOfEveryTool_CountsAsOmitted()
    {
        await using var server = await McpTestServer.StartAsync(temp.NewHome());
        var baselines = new Dictionary<string, Dictionary<string, object?>>
        {
            ["remember"] = new() { ["content"] = "An explicit null counts as an omitted argument." },
            ["recall"] = new() { ["query"] = "explicit null omitted" },
            ["forget"] = new() { ["id"] = "mem_none" },
            ["explain"] = new() { ["query"] = "explicit null omitted" },
        };
        foreach (var tool in await server.Client.ListToolsAsync())
        {
            var schema = tool.ProtocolTool.InputSchema;
            var required = schema.TryGetProperty("required", out var r) ? r.EnumerateArray().Select(x => x.GetString()!).ToList() : [];
            var optional = schema.GetProperty("properties").EnumerateObject().Select(p => p.Name)
                .Where(n => !required.Contains(n) && !baselines[tool.Name].ContainsKey(n)).ToList();
            Assert.NotEmpty(optional);
            foreach (var nulls in optional.Select(n => new[] { n }).Append([.. optional]))
            {
                var arguments = new Dictionary<string, object?>(baselines[tool.Name]);
                foreach (var name in nulls)
                {
                    arguments[name] = null;
                }

                var result = await server.Client.CallToolAsync(tool.Name, arguments);
                Assert.True(result.IsError is not true, $"{tool.Name} with {string.Join(", ", nulls)}: null: {McpTestServer.Text(result)}");
            }
        }
    }

    [Fact]
    public async Task Supersession_ThroughMcp_HidesTheOldFactAndListsItAsFilteredOut()
    {
        await using var server = await McpTestServer.StartAsync(temp.NewHome());
        var old = await server.CallOkAsync("remember", new { content = "The orders database is Postgres 14.", observedAt = "2024-01-10" });
        var oldId = old.GetProperty("id").GetString();
        var updated = await server.CallOkAsync("remember", new { content = "The orders database is Postgres 16.", observedAt = "2025-02-01", supersedes = new[] { oldId } });
        Assert.Equal([oldId], updated.GetProperty("supersedes").EnumerateArray().Select(x => x.GetString()));

        var recalled = await server.CallOkAsync("recall", new { query = "orders database version" });
        Assert.Equal(1, recalled.GetProperty("memories").GetArrayLength());
        var explained = await server.CallOkAsync("explain", new { retrievalId = recalled.GetProperty("retrievalId").GetString() });
        Assert.Contains(explained.GetProperty("filteredOut").EnumerateArray(), f => f.GetProperty("id").GetString() == oldId && f.GetProperty("reason").GetString() == "superseded");

        var history = await server.CallOkAsync("recall", new { query = "orders database version", includeSuperseded = true });
        Assert.Equal(2, history.GetProperty("memories").GetArrayLength());
        var past = await server.CallOkAsync("recall", new { query = "orders database version", asOf = "2024-06-01" });
        Assert.Equal(oldId, past.GetProperty("memories")[0].GetProperty("id").GetString());
    }

    [Fact]
    public async Task VersionThatChangesTwice_HistoryAsOfAndTheOfferedCandidate()
    {
        await using var server = await McpTestServer.StartAsync(temp.NewHome());
        var v14 = (await server.CallOkAsync("remember", new { content = "The orders service runs on Postgres 14.", observedAt = "2024-01-15" })).GetProperty("id").GetString();
        var v15 = (await server.CallOkAsync("remember", new { content = "The orders service runs on Postgres 15.", observedAt = "2024-07-01", supersedes = new[] { v14 } })).GetProperty("id").GetString();
        var third = await server.CallOkAsync("remember", new { content = "The orders service runs on Postgres 16.", observedAt = "2025-02-01" });
        var v16 = third.GetProperty("id").GetString();
        Assert.Equal([v15], third.GetProperty("similar").EnumerateArray().Select(x => x.GetProperty("id").GetString()));

        // As the tool description says: remember the same fact again with 'supersedes'. Nothing new is stored; the link is.
        var superseding = await server.CallOkAsync("remember", new { content = "The orders service runs on Postgres 16.", supersedes = new[] { v15 } });
        Assert.Equal("duplicate", superseding.GetProperty("status").GetString());
        Assert.Equal(v16, superseding.GetProperty("duplicateOf").GetString());
        Assert.Equal([v15], superseding.GetProperty("supersedes").EnumerateArray().Select(x => x.GetString()));
        var v16Linked = v16;

        var current = await server.CallOkAsync("recall", new { query = "Which Postgres version does the orders service run?" });
        Assert.Equal([v16Linked], current.GetProperty("memories").EnumerateArray().Select(m => m.GetProperty("id").GetString()));

        var history = await server.CallOkAsync("recall", new { query = "Which Postgres version does the orders service run?", includeSuperseded = true });
        var all = history.GetProperty("memories").EnumerateArray().ToDictionary(m => m.GetProperty("id").GetString()!, m => m.GetProperty("supersededBy"));
        Assert.Equal(v15, all[v14!].GetString());
        Assert.Equal(v16Linked, all[v15!].GetString());
        Assert.Equal(JsonValueKind.Null, all[v16Linked!].ValueKind);

        var past = await server.CallOkAsync("recall", new { query = "Which Postgres version does the orders service run?", asOf = "2024-03-01" });
        Assert.Equal([v14], past.GetProperty("memories").EnumerateArray().Select(m => m.GetProperty("id").GetString()));
        var middle = await server.CallOkAsync("recall", new { query = "Which Postgres version does the orders service run?", asOf = "2024-12-31T23:59:59Z" });
        Assert.Equal([v15], middle.GetProperty("memories").EnumerateArray().Select(m => m.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task RecencyEntitiesAndTagFilter_ThroughMcp()
    {
        await using var server = await McpTestServer.StartAsync(temp.NewHome());
        var older = (await server.CallOkAsync("remember", new { content = "The release train leaves on Tuesdays.", observedAt = "2025-01-06", tags = new[] { "release" } })).GetProperty("id").GetString();
        var newer = (await server.CallOkAsync("remember", new { content = "The release train leaves on Wednesdays.", observedAt = "2025-04-07", tags = new[] { "release" } })).GetProperty("id").GetString();
        var untagged = (await server.CallOkAsync("remember", new { content = "Release notes are drafted by the on-call engineer." })).GetProperty("id").GetString();
        var named = (await server.CallOkAsync("remember", new { content = "Never call ReleaseGate.Override outside an incident." })).GetProperty("id").GetString();

        var recalled = await server.CallOkAsync("recall", new { query = "When does the release train leave?", tags = new[] { "release" } });
        Assert.Equal([newer, older], recalled.GetProperty("memories").EnumerateArray().Select(m => m.GetProperty("id").GetString()));

        var explained = await server.CallOkAsync("explain", new { retrievalId = recalled.GetProperty("retrievalId").GetString() });
        var top = explained.GetProperty("hits")[0];
        Assert.Equal(1, top.GetProperty("recency").GetProperty("rank").GetInt32());
        Assert.Equal("current", top.GetProperty("supersession").GetString());
        Assert.Contains(explained.GetProperty("filteredOut").EnumerateArray(), f => f.GetProperty("id").GetString() == untagged && f.GetProperty("reason").GetString() == "tag filter");

        var byName = await server.CallOkAsync("explain", new { query = "is ReleaseGate.Override allowed?" });
        var hit = byName.GetProperty("hits")[0];
        Assert.Equal(named, hit.GetProperty("id").GetString());
        Assert.Equal(1, hit.GetProperty("entities").GetProperty("rank").GetInt32());
    }

    [Fact]
    public async Task Forget_PreviewTagScopeQueryAndTwice_ThroughMcp()
    {
        await using var server = await McpTestServer.StartAsync(temp.NewHome(), "project:acme/app");
        for (var i = 0; i < 3; i++)
        {
            await server.CallOkAsync("remember", new { content = $"Scratch note {i} for the spike.", tags = new[] { "scratch" } });
        }

        await server.CallOkAsync("remember", new { content = "The spike concluded that gRPC streaming is fine.", scope = "user" });
        await server.CallOkAsync("remember", new { content = "Keep the feature flags in flags.yaml." });

        var preview = await server.CallOkAsync("forget", new { tag = "scratch", dryRun = true });
        Assert.Equal(3, preview.GetProperty("count").GetInt32());
        Assert.Equal(3, (await server.CallOkAsync("recall", new { query = "scratch note spike", tags = new[] { "scratch" } })).GetProperty("memories").GetArrayLength());

        var byTag = await server.CallOkAsync("forget", new { tag = "scratch" });
        Assert.Equal(3, byTag.GetProperty("count").GetInt32());
        Assert.Equal(0, (await server.CallOkAsync("forget", new { tag = "scratch" })).GetProperty("count").GetInt32());

        var byQuery = await server.CallOkAsync("forget", new { query = "where are the feature flags kept", limit = 1 });
        Assert.Equal(1, byQuery.GetProperty("count").GetInt32());

        var scope = await server.CallOkAsync("forget", new { all = true, scope = "user", dryRun = true });
        Assert.Equal(1, scope.GetProperty("count").GetInt32());
        Assert.Equal(1, (await server.CallOkAsync("forget", new { all = true, scope = "user" })).GetProperty("count").GetInt32());
        Assert.Equal(0, (await server.CallOkAsync("recall", new { query = "spike gRPC feature flags scratch", limit = 100 })).GetProperty("memories").GetArrayLength());
    }

    [Fact]
    public async Task Forget_ThroughMcp_CountsTheSavedChecksThatGoWithTheMemory()
    {
        await using var server = await McpTestServer.StartAsync(temp.NewHome(), "project:acme/app");
        var id = (await server.CallOkAsync("remember", new { content = "Keep the feature flags in flags.yaml." })).GetProperty("id").GetString()!;
        await server.Memory.AddCheckAsync("where are the feature flags kept", [id]);

        var preview = await server.CallOkAsync("forget", new { id, dryRun = true });
        Assert.Equal(1, preview.GetProperty("checks").GetInt32());
        Assert.Single(await server.Memory.ListChecksAsync());
        var forgotten = await server.CallOkAsync("forget", new { id });
        Assert.Equal(1, forgotten.GetProperty("checks").GetInt32());
        Assert.Equal(0, forgotten.GetProperty("residue").GetProperty("checks").GetInt32());
        Assert.Contains("1 saved recall check was removed too", forgotten.GetProperty("summary").GetString(), StringComparison.Ordinal);
        Assert.Empty(await server.Memory.ListChecksAsync());
    }

    [Fact]
    public async Task Outputs_StayWithinTheirDocumentedBounds_WhateverTheStoreHolds()
    {
        await using var server = await McpTestServer.StartAsync(temp.NewHome());
        var ids = new List<string>();
        for (var i = 0; i < 160; i++)
        {
            ids.Add((await server.CallOkAsync("remember", new { content = $"Bound check fact {i}: the bounded widget {i} is blue.", tags = new[] { "bound" } })).GetProperty("id").GetString()!);
        }

        var recalled = await server.CallOkAsync("recall", new { query = "bounded widget blue", limit = 100 });
        Assert.Equal(100, recalled.GetProperty("memories").GetArrayLength());
        var explained = await server.CallOkAsync("explain", new { query = "bounded widget blue", limit = 100 });
        Assert.Equal(100, explained.GetProperty("hits").GetArrayLength());
        Assert.InRange(explained.GetProperty("filteredOut").GetArrayLength(), 1, 50);
        var preview = await server.CallOkAsync("forget", new { tag = "bound", dryRun = true });
        Assert.Equal(160, preview.GetProperty("count").GetInt32());
        Assert.Equal(160, preview.GetProperty("forgotten").GetArrayLength());
        Assert.False(preview.GetProperty("truncated").GetBoolean());
    }
}
