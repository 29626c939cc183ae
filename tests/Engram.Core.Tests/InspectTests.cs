using Engram.Core.Model;

namespace Engram.Core.Tests;

/// <summary>What the inspector reads beside a memory: its supersession chain both ways, entities, near duplicates, the recalls that returned it; and the recall log.</summary>
public sealed class InspectTests(TempStore temp) : IClassFixture<TempStore>
{
    [Fact]
    public async Task Inspect_FollowsTheChainBothWays_AndListsEntitiesSimilarAndTheRecallsThatReturnedIt()
    {
        await using var service = temp.Open();
        var first = await service.RememberAsync(new RememberRequest("The API listens on port 8080 in ApiHost.cs.", ObservedAt: DateTimeOffset.UtcNow.AddDays(-20)));
        var second = await service.RememberAsync(new RememberRequest("The API listens on port 9090 in ApiHost.cs.", ObservedAt: DateTimeOffset.UtcNow.AddDays(-10), Supersedes: [first.Id]));
        var third = await service.RememberAsync(new RememberRequest("The API now listens on port 7070 in ApiHost.cs.", Supersedes: [second.Id]));
        await service.RememberAsync(new RememberRequest("Invoices are reconciled nightly by InvoiceReconciler."));
        var recall = await service.RecallAsync(new RecallRequest("which port does the API listen on?", IncludeSuperseded: true));
        Assert.Contains(second.Id, recall.Memories.Select(m => m.Id));

        var middle = await service.InspectAsync(second.Id);
        Assert.NotNull(middle);
        Assert.Equal([first.Id], middle.Replaced.Select(m => m.Id));
        Assert.Equal([third.Id], middle.ReplacedBy.Select(m => m.Id));
        Assert.Contains("apihost.cs", middle.Entities);
        Assert.Equal(recall.RetrievalId, Assert.Single(middle.Recalls).RetrievalId);

        var latest = await service.InspectAsync(third.Id);
        Assert.Equal([first.Id, second.Id], latest!.Replaced.Select(m => m.Id));
        Assert.Empty(latest.ReplacedBy);
        Assert.Null(await service.InspectAsync("mem_nosuchmemory"));
    }

    [Fact]
    public async Task RecallLog_ListsNewestFirst_WithQueryScopesAndHits_AndForgetsWhatReturnedAForgottenMemory()
    {
        await using var service = temp.Open();
        var fact = await service.RememberAsync(new RememberRequest("Staging deploys are frozen on Fridays."));
        var older = await service.RecallAsync(new RecallRequest("staging freeze"));
        var newer = await service.RecallAsync(new RecallRequest("nothing like it at all zebra"));
        var log = await service.ListRecallsAsync();
        Assert.Equal([newer.RetrievalId, older.RetrievalId], log.Take(2).Select(r => r.RetrievalId));
        Assert.Equal("staging freeze", log[1].Query);
        Assert.Equal(older.Memories.Count, log[1].Hits);
        Assert.Equal(older.Scopes, log[1].Scopes);
        Assert.Equal([older.RetrievalId], (await service.ListRecallsAsync(fact.Id)).Select(r => r.RetrievalId));

        await service.ForgetAsync(new ForgetRequest([fact.Id]));
        Assert.DoesNotContain(older.RetrievalId, (await service.ListRecallsAsync()).Select(r => r.RetrievalId));
        await Assert.ThrowsAsync<EngramArgumentException>(() => service.ListRecallsAsync(limit: 0));
    }

    [Fact]
    public async Task SetTags_RefilesTheSameMemory_AndTheTagFilterSeesItAtOnce()
    {
        await using var service = temp.Open();
        var fact = await service.RememberAsync(new RememberRequest("Deploys to staging are frozen on Fridays.", Tags: ["ops"]));
        var retagged = await service.SetTagsAsync(fact.Id, ["Release", "freeze", "release"]);
        Assert.Equal(["freeze", "release"], retagged.Tags);
        Assert.Equal(fact.Id, retagged.Id);
        Assert.Equal([fact.Id], (await service.RecallAsync(new RecallRequest("staging deploys", Tags: ["freeze"]))).Memories.Select(m => m.Id));
        Assert.Empty((await service.RecallAsync(new RecallRequest("staging deploys", Tags: ["ops"]))).Memories);
        await Assert.ThrowsAsync<EngramArgumentException>(() => service.SetTagsAsync("mem_nosuchmemory", ["x"]));
        await Assert.ThrowsAsync<EngramArgumentException>(() => service.SetTagsAsync(fact.Id, [.. Enumerable.Range(0, 30).Select(i => $"t{i}")]));
    }

    [Fact]
    public async Task List_ByObservedTimeRange_KeepsWhatWasObservedThen_AndRefusesABackwardRange()
    {
        await using var service = temp.Open();
        var now = DateTimeOffset.UtcNow;
        var old = await service.RememberAsync(new RememberRequest("Sprint 1 chose Postgres.", ObservedAt: now.AddDays(-30)));
        var mid = await service.RememberAsync(new RememberRequest("Sprint 3 added Redis.", ObservedAt: now.AddDays(-10)));
        await service.RememberAsync(new RememberRequest("Sprint 5 dropped Redis.", ObservedAt: now));
        Assert.Equal([old.Id], (await service.ListAsync(observedTo: now.AddDays(-20))).Select(m => m.Id));
        Assert.Equal([mid.Id], (await service.ListAsync(observedFrom: now.AddDays(-20), observedTo: now.AddDays(-1))).Select(m => m.Id));
        Assert.Equal(3, (await service.ListAsync()).Count);
        await Assert.ThrowsAsync<EngramArgumentException>(() => service.ListAsync(observedFrom: now, observedTo: now.AddDays(-1)));
    }

    [Fact]
    public async Task ExplainPicture_NamesTheWordsThatMatchedTheQuery_ByTheIndexsAnalysis()
    {
        await using var service = temp.Open();
        var fact = await service.RememberAsync(new RememberRequest("Deploys to staging are frozen on Fridays; the InvoiceReconciler runs nightly."));
        var picture = await service.ExplainPictureAsync(new ExplainRequest(Recall: new RecallRequest("when is deploying to staging frozen?")));
        Assert.Equal(fact.Id, picture.Explain.Hits[0].Id);
        var words = picture.Words[fact.Id].ToDictionary(w => w.Word, w => w.Term);
        Assert.Contains(words["Deploys"], picture.QueryTerms);
        Assert.Contains("staging", words.Keys);
        Assert.Contains("frozen", words.Keys);
        Assert.DoesNotContain("InvoiceReconciler", words.Keys);
    }
}
