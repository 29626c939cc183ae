using Engram.Core.Model;

namespace Engram.Core.Tests;

/// <summary>
/// Session context: the lexical index adds the text of the memories stored just before and after a memory (same scope,
/// same session) at a lower weight, so a statement whose subject is named by its neighbour is found; forgetting a memory
/// takes its text out of its neighbours' context too.
/// </summary>
public sealed class SessionContextTests(TempStore temp) : IClassFixture<TempStore>
{
    private static readonly DateTimeOffset Monday = new(2026, 3, 2, 9, 0, 0, TimeSpan.Zero);

    private static async Task<List<string>> RememberInOrderAsync(MemoryService service, DateTimeOffset observedAt, params string[] texts)
    {
        var ids = new List<string>();
        foreach (var text in texts)
        {
            ids.Add((await service.RememberAsync(new RememberRequest(text, ObservedAt: observedAt))).Id);
        }

        return ids;
    }

    [Fact]
    public async Task Recall_FindsAStatementThroughTheMemoryStoredBeforeIt_AndExplainSaysSo()
    {
        await using var service = temp.Open();
        await RememberInOrderAsync(service, Monday.AddDays(-7), "The release checklist lives in docs/release.md.", "Nightly builds run at 02:00 UTC.");
        var ids = await RememberInOrderAsync(service, Monday,
            "Which message broker should the billing service use?",
            "We picked NATS over Kafka because ops already runs it.");
        await RememberInOrderAsync(service, Monday.AddDays(7), "Lint rules come from the shared editorconfig.", "Staging deploys need a green smoke test.");

        var result = await service.RecallAsync(new RecallRequest("billing service message broker"));
        Assert.Contains(ids[1], result.Memories.Take(2).Select(m => m.Id));

        var explain = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("billing service message broker"), MemoryId: ids[1]));
        var lexical = Assert.IsType<SignalScore>(explain.Memory!.Lexical);
        Assert.Contains("session context", lexical.Note, StringComparison.Ordinal);
        Assert.Null(explain.Hits.Single(h => h.Id == ids[0]).Lexical!.Note);
    }

    [Fact]
    public async Task AReply_IsFoundThroughTheQuestionItAnswers_AboveAMereNeighbour()
    {
        await using var service = temp.Open();
        // The note before the question and the reply after it are both next to it; only the reply answers it.
        var ids = await RememberInOrderAsync(service, Monday,
            "Lunch orders close at eleven.",
            "Which message broker does the billing service use?",
            "NATS, since ops already runs it.",
            "The office plants need water on Fridays.");

        var result = await service.RecallAsync(new RecallRequest("billing service message broker"));
        var ranked = result.Memories.Select(m => m.Id).ToList();
        Assert.Equal(ids[1], ranked[0]);
        Assert.True(ranked.IndexOf(ids[2]) == 1, $"the reply should come right after the question: {string.Join(", ", ranked)}");
    }

    [Theory]
    [InlineData("Which broker does billing use?", true)]
    [InlineData("Got any favourite styles? [shared a photo: a dance class]", true)]
    [InlineData("Did you read \"Dune\"?", true)]
    [InlineData("Use a ?? b for the default.", false)]
    [InlineData("The ternary x ? y : z reads badly here.", false)]
    [InlineData("The list is at /orders?page=2 now.", false)]
    [InlineData("We picked NATS.", false)]
    [InlineData("Make it a string? name stays optional.", false)]
    [InlineData("Really?! That changes the plan.", true)]
    [InlineData("どのブローカーを使いますか？", true)]
    public void AsksQuestion_TellsQuestionsFromCode(string text, bool asks) =>
        Assert.Equal(asks, Engram.Core.Search.SessionContext.AsksQuestion(text));

    [Fact]
    public async Task Memories_ObservedInAnotherSession_AreNotContext()
    {
        await using var service = temp.Open();
        await RememberInOrderAsync(service, Monday, "Which message broker should the billing service use?");
        var later = await RememberInOrderAsync(service, Monday.AddHours(3), "We picked NATS over Kafka because ops already runs it.");

        var explain = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("billing service message broker"), MemoryId: later[0]));
        Assert.Null(explain.Memory!.Lexical);
    }

    [Fact]
    public async Task Forget_TakesTheTextOutOfItsNeighboursContext_InEveryProcess()
    {
        var home = temp.NewHome();
        await using var service = temp.Open(home);
        await using var other = temp.Open(home);
        var ids = await RememberInOrderAsync(service, Monday,
            "The staging cluster is called fjord.",
            "Its admin password is zeppelin-marmalade.",
            "Rotate it every quarter.",
            "The on-call rota is in PagerDuty.");
        var before = await other.RecallAsync(new RecallRequest("zeppelin marmalade", Limit: 10));
        Assert.Equal(ids[1], before.Memories[0].Id);
        Assert.Contains(ids[0], before.Memories.Select(m => m.Id));
        Assert.Contains(ids[2], before.Memories.Select(m => m.Id));

        var forgotten = await service.ForgetAsync(new ForgetRequest([ids[1]]));
        Assert.True(forgotten.Residue.IsEmpty, forgotten.Residue.ToString());

        foreach (var reader in new[] { service, other })
        {
            var explain = await reader.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("zeppelin marmalade", Limit: 10)));
            Assert.All(explain.Hits, h => Assert.Null(h.Lexical));
        }

        // Not a term of it is left in the index files (the analyzer indexes the words separately).
        var index = TempStore.IndexFolder(home);
        Assert.Empty(ErasureTests.FilesContaining(index, "marmalad"));

        // The neighbours now carry each other as context.
        var explainAfter = await other.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("quarter rotation fjord"), MemoryId: ids[0]));
        Assert.NotNull(explainAfter.Memory!.Lexical);
    }
}

/// <summary>Two processes with different embedders on one store: each keeps its own model's vectors current.</summary>
public sealed class MixedEmbedderTests(TempStore temp) : IClassFixture<TempStore>
{
    /// <summary>The built-in vectors under another name: a second model as far as the store is concerned.</summary>
    private sealed class OtherModel : Microsoft.Extensions.AI.DelegatingEmbeddingGenerator<string, Microsoft.Extensions.AI.Embedding<float>>
    {
        public OtherModel()
            : base(new Embeddings.HashingEmbeddingGenerator())
        {
        }

        public override object? GetService(Type serviceType, object? serviceKey = null) =>
            serviceType == typeof(Microsoft.Extensions.AI.EmbeddingGeneratorMetadata) ? new Microsoft.Extensions.AI.EmbeddingGeneratorMetadata("other", defaultModelId: "other-model") : base.GetService(serviceType, serviceKey);
    }

    [Fact]
    public async Task AMemoryStoredByAnotherModel_ReachesAProcessThatLoadedTheScopeWhileEmpty()
    {
        var home = temp.NewHome();
        await using var builtin = temp.Open(home);
        using var other = new OtherModel();
        await using var otherService = new MemoryService(TempStore.Options(home), other);

        // The built-in process loads the (empty) scope first.
        Assert.Empty((await builtin.RecallAsync(new RecallRequest("anything", "project:mixed/scope"))).Memories);
        await otherService.RememberManyAsync(Enumerable.Range(0, 150).Select(i => new RememberRequest($"Mixed fact {i}: worker {i} drains queue {i % 11}.", "project:mixed/scope")).ToList());
        var stored = await otherService.RememberAsync(new RememberRequest("The mixed scope keeps its release notes in CHANGES.md.", "project:mixed/scope"));
        // It catches up with the change feed before the memories have vectors of its model.
        Assert.Equal(stored.Id, (await builtin.RecallAsync(new RecallRequest("release notes", "project:mixed/scope"))).Memories[0].Id);

        // The built-in process embeds it with its own model (as its background embedder would) and uses the vector.
        Assert.InRange(await builtin.ReembedAsync(), 0, 151);
        var explain = await builtin.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("release notes file", "project:mixed/scope"), MemoryId: stored.Id));
        Assert.NotNull(explain.Memory!.Vector);
        Assert.StartsWith("ready (engram-builtin/", explain.Vectors, StringComparison.Ordinal);
        var early = await builtin.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("Mixed fact 3: worker 3 drains queue 3", "project:mixed/scope")));
        Assert.All(early.Hits.Take(3), h => Assert.NotNull(h.Vector));
    }
}

/// <summary>Supersession never closes a cycle, whether by remember or by import.</summary>
public sealed class SupersessionCycleTests(TempStore temp) : IClassFixture<TempStore>
{
    [Fact]
    public async Task Remember_RefusesToCloseALongerCycle()
    {
        await using var service = temp.Open();
        var a = await service.RememberAsync(new RememberRequest("CI runs on Jenkins."));
        var b = await service.RememberAsync(new RememberRequest("CI runs on GitLab.", Supersedes: [a.Id]));
        var c = await service.RememberAsync(new RememberRequest("CI runs on GitHub Actions.", Supersedes: [b.Id]));
        await Assert.ThrowsAsync<EngramArgumentException>(() => service.RememberAsync(new RememberRequest("CI runs on Jenkins.", Supersedes: [c.Id])));
        Assert.Equal(c.Id, (await service.RecallAsync(new RecallRequest("where does CI run", Limit: 1))).Memories[0].Id);
    }

    [Fact]
    public async Task Import_SkipsALinkThatWouldCloseACycle()
    {
        await using var service = temp.Open();
        var at = new DateTimeOffset(2025, 5, 1, 0, 0, 0, TimeSpan.Zero);
        var result = await service.ImportAsync(
        [
            new MemoryRecord("mem_a", "user", "Releases ship on Mondays.", [], at, at, SupersededBy: "mem_b"),
            new MemoryRecord("mem_b", "user", "Releases ship on Tuesdays.", [], at, at, SupersededBy: "mem_c"),
            new MemoryRecord("mem_c", "user", "Releases ship on Wednesdays.", [], at, at, SupersededBy: "mem_a"),
        ]);
        Assert.Equal(3, result.Created);
        Assert.Equal(2, result.Superseded);
        Assert.NotEmpty((await service.RecallAsync(new RecallRequest("when do releases ship"))).Memories);
    }
}
