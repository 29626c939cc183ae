using Engram.Core.Model;
using Microsoft.Data.Sqlite;

namespace Engram.Core.Tests;

/// <summary>Explain: replays, one memory's account, and what was filtered out.</summary>
public sealed class ExplainTests(TempStore temp) : IClassFixture<TempStore>
{
    [Fact]
    public async Task Explain_Replay_ReportsSignalsAndWhetherTheStoreChanged()
    {
        await using var service = temp.Open();
        await Seed.FactsAsync(service);
        var recall = await service.RecallAsync(new RecallRequest("Which service runs on Postgres?", Limit: 1));
        var replay = await service.ExplainAsync(new ExplainRequest(recall.RetrievalId));
        Assert.False(replay.StoreChangedSince);
        Assert.Equal(recall.Memories.Select(m => m.Id), replay.Hits.Select(h => h.Id));
        var top = replay.Hits[0];
        Assert.Equal(1, top.Rank);
        Assert.NotNull(top.Lexical);
        Assert.NotNull(top.Vector);
        Assert.Contains(replay.FilteredOut, f => f.Reason == FilterReason.BelowCutOff);

        await service.RememberAsync(new RememberRequest("A new fact arrives."));
        Assert.True((await service.ExplainAsync(new ExplainRequest(recall.RetrievalId))).StoreChangedSince);
    }

    [Fact]
    public async Task Explain_ByAnotherProcess_FindsARecallOnceRecallsPause()
    {
        // The log is written off the recall's path, after a pause in recalls; nothing in the recalling process flushes it.
        var home = temp.NewHome();
        await using var service = temp.Open(home);
        await using var other = temp.Open(home);
        await Seed.FactsAsync(service);
        var recall = await service.RecallAsync(new RecallRequest("Which service runs on Postgres?"));

        // Nothing asks the log to hurry: the recalling service writes it once recalls pause, and then the other sees it.
        await service.RecallLogWrittenAsync(1).WaitAsync(TimeSpan.FromSeconds(10));
        var replay = await other.ExplainAsync(new ExplainRequest(recall.RetrievalId));
        Assert.NotNull(replay);
        Assert.Equal(recall.Memories.Select(m => m.Id), replay.Hits.Select(h => h.Id));
    }

    [Fact]
    public async Task Explain_MemoryId_SaysWhyItDidOrDidNotSurface()
    {
        await using var service = temp.Open();
        await Seed.FactsAsync(service);
        var all = await service.RecallAsync(new RecallRequest("service", Limit: 100));
        var helm = all.Memories.Single(m => m.Content.Contains("Helm", StringComparison.Ordinal));
        var explained = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("Postgres orders", Limit: 1), MemoryId: helm.Id));
        Assert.True(explained.Memory!.Found);
        Assert.False(explained.Memory.Surfaced);
        Assert.False(string.IsNullOrWhiteSpace(explained.Memory.Reason));
    }

    [Fact]
    public async Task Explain_UnknownRetrievalId_IsAClearError()
    {
        await using var service = temp.Open();
        var e = await Assert.ThrowsAsync<EngramArgumentException>(() => service.ExplainAsync(new ExplainRequest("rt_nope")));
        Assert.Contains("retrievalId", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Explain_ListsWhatTheTagFilterKeptOut()
    {
        await using var service = temp.Open();
        var tagged = await service.RememberAsync(new RememberRequest("Release notes go out on Mondays.", Tags: ["release"]));
        var untagged = await service.RememberAsync(new RememberRequest("Release candidates are cut on Thursdays."));
        var explain = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("release", Tags: ["release"])));
        Assert.Equal([tagged.Id], explain.Hits.Select(h => h.Id));
        Assert.Contains(explain.FilteredOut, f => f.Id == untagged.Id && f.Reason == FilterReason.TagFilter);
    }
}
