using Engram.Core.Model;
using Microsoft.Data.Sqlite;

namespace Engram.Core.Tests;

/// <summary>Recall: ranking, scopes, tags, limits, recency and entities.</summary>
public sealed class RecallTests(TempStore temp) : IClassFixture<TempStore>
{
    [Theory]
    [InlineData("Which database does the orders service use?", 0)]
    [InlineData("how do we deploy widgets", 1)]
    [InlineData("what does Ana like for travel", 2)]
    [InlineData("which test is flaky", 3)]
    [InlineData("how many approvals for a code review", 4)]
    [InlineData("package manager for the front end", 5)]
    public async Task Recall_NaturalQuestion_PutsTheStatedFactFirst(string question, int fact)
    {
        await using var service = temp.Open();
        await Seed.FactsAsync(service);
        var result = await service.RecallAsync(new RecallRequest(question));
        Assert.Equal(Seed.Facts[fact], result.Memories[0].Content);
        Assert.Equal(["user"], result.Scopes);
        Assert.StartsWith("rt_", result.RetrievalId, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Recall_NeverReturnsAnotherScopesMemories()
    {
        await using var service = temp.Open(null, "project:github.com/acme/widgets");
        await service.RememberAsync(new RememberRequest("Secret launch codename is Bluebird.", "project:github.com/acme/other"));
        await service.RememberAsync(new RememberRequest("The widgets launch codename is Redwing."));
        var result = await service.RecallAsync(new RecallRequest("launch codename"));
        Assert.Equal(["project:github.com/acme/widgets", "user"], result.Scopes);
        Assert.All(result.Memories, m => Assert.DoesNotContain("Bluebird", m.Content, StringComparison.Ordinal));
        Assert.Single(result.Memories);

        var explain = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("Bluebird launch codename")));
        var other = await service.RecallAsync(new RecallRequest("codename", "project:github.com/acme/other"));
        Assert.DoesNotContain(explain.Hits, h => h.Id == other.Memories[0].Id);
        Assert.DoesNotContain(explain.FilteredOut, f => f.Id == other.Memories[0].Id);
        var account = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("codename"), MemoryId: other.Memories[0].Id));
        Assert.False(account.Memory!.Found);
    }

    [Fact]
    public async Task LexicalRanking_HoldsOnlyTheScopesLiveMemories_WhenOtherScopesComeFirstInTheIndex()
    {
        // 150 stronger matches in another scope are indexed first, so the asked scope's first document lies past Lucene's
        // random-access heuristic (the first 100); the forgotten memory is a deleted document in the same segment.
        await using var service = temp.Open(null, "project:github.com/acme/widgets");
        var random = new Random(3);
        string Word() => string.Concat(Enumerable.Range(0, 6).Select(_ => (char)('a' + random.Next(26))));
        await service.RememberManyAsync(Enumerable.Range(0, 150)
            .Select(_ => new RememberRequest($"Zephyr codename zephyr {Word()} {Word()} {Word()} {Word()}.", "project:github.com/acme/other")).ToList());
        var forgotten = await service.RememberAsync(new RememberRequest("Zephyr codename zephyr rollout zephyr."));
        await service.RememberAsync(new RememberRequest("The zephyr codename was chosen in May."));
        await service.RememberAsync(new RememberRequest("Zephyr builds run on Gradle."));
        await service.ForgetAsync(new ForgetRequest(Ids: [forgotten.Id]));

        var explain = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("zephyr codename", "project:github.com/acme/widgets")));
        Assert.Equal([1, 2], explain.Hits.Select(h => h.Lexical?.Rank ?? 0).Order());
        Assert.DoesNotContain(explain.Hits, h => h.Id == forgotten.Id);
    }

    [Fact]
    public async Task Recall_DefaultScope_IncludesUserMemories()
    {
        await using var service = temp.Open(null, "project:github.com/acme/widgets");
        await service.RememberAsync(new RememberRequest("I prefer tabs over spaces.", "user"));
        var result = await service.RecallAsync(new RecallRequest("tabs or spaces"));
        Assert.Equal("user", Assert.Single(result.Memories).Scope);
    }

    [Fact]
    public async Task Recall_TagFilter_KeepsOnlyTaggedMemories()
    {
        await using var service = temp.Open();
        await service.RememberAsync(new RememberRequest("Deploys go out on Fridays.", Tags: ["Deploy"]));
        await service.RememberAsync(new RememberRequest("Deploys need a change ticket."));
        var result = await service.RecallAsync(new RecallRequest("deploys", Tags: ["deploy"]));
        var only = Assert.Single(result.Memories);
        Assert.Equal(["deploy"], only.Tags);
    }

    [Fact]
    public async Task Recall_ALongQueryOfRareWords_StaysWithinLucenesClauseLimit()
    {
        // Every word rare, so each is searched in the text and all three context fields; plus feedback words.
        static string Word(int i) => "zq" + string.Concat(i.ToString("D4", System.Globalization.CultureInfo.InvariantCulture).Select(c => (char)('a' + c - '0')));
        await using var service = temp.Open();
        await service.RememberManyAsync(Enumerable.Range(0, 105)
            .Select(i => new RememberRequest($"{Word(i * 4)} {Word((i * 4) + 1)} {Word((i * 4) + 2)} {Word((i * 4) + 3)} {Word(5000 + i)} marks note {i}.")).ToList());
        var query = string.Join(' ', Enumerable.Range(0, 280).Select(Word));
        Assert.True(query.Length <= EngramOptions.MaxQueryLength);

        var result = await service.RecallAsync(new RecallRequest(query, Limit: 50));
        Assert.Equal(50, result.Memories.Count);
        var explain = await service.ExplainAsync(new ExplainRequest(result.RetrievalId));
        Assert.NotEmpty(explain.Hits);
    }

    [Fact]
    public async Task Recall_FirstHits_AreTheSameWhateverTheLimit()
    {
        // Many near-ties observed at different times: the recency tie-break and every signal's candidate depth are in
        // play, and a caller asking for more must get the same first hits, then more.
        await using var service = temp.Open();
        var random = new Random(11);
        string[] services = ["orders", "billing", "search", "auth", "media", "mail"];
        string[] stores = ["Postgres", "Redis", "Kafka", "S3", "Elastic"];
        await service.RememberManyAsync(Enumerable.Range(0, 400).Select(i => new RememberRequest(
            $"The {services[random.Next(services.Length)]} service writes to {stores[random.Next(stores.Length)]} every {random.Next(1, 60)} minutes (note {i}).",
            ObservedAt: new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero).AddHours(random.Next(0, 24 * 90)))).ToList());

        foreach (var query in new[] { "billing service Postgres", "which service writes to Kafka", "media S3 minutes", "auth Redis" })
        {
            var ten = (await service.RecallAsync(new RecallRequest(query, Limit: 10))).Memories.Select(m => m.Id).ToList();
            var twentyFive = (await service.RecallAsync(new RecallRequest(query, Limit: 25))).Memories.Select(m => m.Id).ToList();
            var fifty = (await service.RecallAsync(new RecallRequest(query, Limit: 50))).Memories.Select(m => m.Id).ToList();
            Assert.Equal(10, ten.Count);
            Assert.Equal(ten, twentyFive.Take(10));
            Assert.Equal(twentyFive, fifty.Take(25));
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(101)]
    public async Task Recall_LimitOutOfRange_IsRejected(int limit)
    {
        await using var service = temp.Open();
        var e = await Assert.ThrowsAsync<EngramArgumentException>(() => service.RecallAsync(new RecallRequest("x", Limit: limit)));
        Assert.Contains("1 to 100", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Recency_NearIdenticalStatementsAtDifferentDates_PutsTheNewerFirst()
    {
        await using var service = temp.Open();
        var older = await service.RememberAsync(new RememberRequest("The deploy freeze starts on Thursday.", ObservedAt: new DateTimeOffset(2025, 1, 6, 0, 0, 0, TimeSpan.Zero)));
        var newer = await service.RememberAsync(new RememberRequest("The deploy freeze starts on Friday.", ObservedAt: new DateTimeOffset(2025, 3, 3, 0, 0, 0, TimeSpan.Zero)));
        var result = await service.RecallAsync(new RecallRequest("When does the deploy freeze start?"));
        Assert.Equal([newer.Id, older.Id], result.Memories.Select(m => m.Id));

        var explain = await service.ExplainAsync(new ExplainRequest(result.RetrievalId));
        Assert.Equal(1, explain.Hits[0].Recency!.Rank);
        Assert.True(explain.Hits[0].Recency!.Score > explain.Hits[1].Recency!.Score);
    }

    [Fact]
    public async Task Recency_NeverLetsAWeaklyRelatedNewMemoryBeatAStronglyRelevantOldOne()
    {
        await using var service = temp.Open();
        var old = await service.RememberAsync(new RememberRequest("The payments service retries webhooks five times with exponential backoff.", ObservedAt: new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero)));
        await service.RememberAsync(new RememberRequest("The new office has a payments kiosk in the lobby.", ObservedAt: new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)));
        var result = await service.RecallAsync(new RecallRequest("how does the payments service retry webhooks"));
        Assert.Equal(old.Id, result.Memories[0].Id);
    }

    [Fact]
    public async Task Entities_AQueryNamingAnIdentifier_FindsTheMemoryThatNamesIt()
    {
        await using var service = temp.Open();
        for (var i = 0; i < 30; i++)
        {
            await service.RememberAsync(new RememberRequest($"Unrelated note {i} about lunch plans and the weather."));
        }

        var target = await service.RememberAsync(new RememberRequest("Never call InvoiceMapper.Flatten on drafts; it drops line items."));
        var result = await service.RecallAsync(new RecallRequest("is InvoiceMapper.Flatten safe?"));
        Assert.Equal(target.Id, result.Memories[0].Id);
        var explain = await service.ExplainAsync(new ExplainRequest(result.RetrievalId));
        Assert.Equal(1, explain.Hits[0].Entities!.Rank);
        Assert.Equal("current", explain.Hits[0].Supersession);
    }

    [Theory]
    [InlineData("The InvoiceReconciler job runs nightly.", "when does the invoice reconciler run")]
    [InlineData("Raise retry_count to 5 for the webhook sender.", "what retry count should the webhook sender use")]
    [InlineData("OrderTests.Refund_Twice is flaky around midnight.", "which refund test is flaky")]
    [InlineData("The invoice reconciler runs nightly.", "InvoiceReconciler schedule")]
    public async Task Recall_SplitsIdentifiersIntoWords_SoEitherFormFindsTheOther(string content, string query)
    {
        await using var service = temp.Open();
        await service.RememberAsync(new RememberRequest("Lunch is at noon on Fridays."));
        var target = await service.RememberAsync(new RememberRequest(content));
        var result = await service.RecallAsync(new RecallRequest(query));
        Assert.Equal(target.Id, result.Memories[0].Id);
        var explain = await service.ExplainAsync(new ExplainRequest(result.RetrievalId));
        Assert.NotNull(explain.Hits[0].Lexical);
    }
}
