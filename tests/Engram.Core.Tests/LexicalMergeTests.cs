using Engram.Core.Model;

namespace Engram.Core.Tests;

/// <summary>
/// The lexical index's segments are merged after a recall, not inside it: a recall right after a <c>remember</c> only
/// adds that memory's segment, and a merge pass in the background brings the segments back down.
/// </summary>
public sealed class LexicalMergeTests(TempStore temp) : IClassFixture<TempStore>
{
    [Fact]
    public async Task ARecallAfterARemember_AddsASegment_AndTheMergePassAfterwardsFoldsThem()
    {
        await using var service = temp.Open();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await service.HoldLexicalMergesAsync(release.Task);
        string[] facts =
        [
            "Deploys go through ArgoCD.",
            "The staging database is Postgres 16.",
            "Feature flags live in Flipper.",
            "Logs are kept in Loki for fourteen days.",
            "The JWT expires after fifteen minutes.",
            "Standup is at 9:30 in the Kepler room.",
            "Releases leave on Tuesdays.",
            "The billing service is written in Go.",
        ];
        var ids = new List<string>();
        var segments = new List<int>();
        foreach (var fact in facts)
        {
            ids.Add((await service.RememberAsync(new RememberRequest(fact))).Id);
            Assert.Equal(ids[^1], (await service.RecallAsync(new RecallRequest(fact))).Memories[0].Id);
            segments.Add(await service.LexicalSegmentsAsync(merged: false));
        }

        // Each catch-up committed its segment without merging (three a tier would have merged by now). A segment goes
        // when all its documents are re-indexed: the memories just before a new one are, for their session context.
        Assert.True(segments.Zip(segments.Skip(1)).All(p => p.Second >= p.First) && segments[^1] > 3, "segments after each recall: " + string.Join(", ", segments));

        release.SetResult();
        var merged = await service.LexicalSegmentsAsync(merged: true);
        Assert.InRange(merged, 1, 3);
        foreach (var (fact, id) in facts.Zip(ids))
        {
            Assert.Equal(id, (await service.RecallAsync(new RecallRequest(fact))).Memories[0].Id);
        }
    }

    [Fact]
    public async Task ProcessesTooShortForTheMergePass_StillKeepTheSegmentsFew()
    {
        // One CLI command per remember and per recall: each process closes before its merge pass would start.
        var home = temp.NewHome();
        var counts = new List<int>();
        for (var i = 0; i < 14; i++)
        {
            await using var service = temp.Open(home);
            var id = (await service.RememberAsync(new RememberRequest($"Note {i}: the runner r{i} was restarted."))).Id;
            Assert.Equal(id, (await service.RecallAsync(new RecallRequest($"runner r{i} restarted"))).Memories[0].Id);
            counts.Add(await service.LexicalSegmentsAsync(merged: false));
        }

        Assert.True(counts.Max() <= Search.LexicalIndex.MaxDeferredSegments + 1, "segments after each command: " + string.Join(", ", counts));
    }
}
