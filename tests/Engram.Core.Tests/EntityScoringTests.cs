using Engram.Core.Search;
using Engram.Core.Storage;

namespace Engram.Core.Tests;

public class EntityScoringTests
{
    /// <summary>Entity data held in memory; records which entities the links were asked for.</summary>
    private sealed class FakeEntityLinks(Dictionary<string, long> frequencies, params EntityLink[] links) : IEntityLinks
    {
        public List<string>? LinksAskedFor { get; private set; }

        public Task<List<EntityFrequency>> EntityFrequenciesAsync(IReadOnlyList<string> scopes, IReadOnlyCollection<string> entities, CancellationToken cancellationToken = default) =>
            Task.FromResult(entities.Where(frequencies.ContainsKey).Select(e => new EntityFrequency(e, frequencies[e])).ToList());

        public Task<List<EntityLink>> EntityLinksAsync(IReadOnlyList<string> scopes, IReadOnlyCollection<string> entities, CancellationToken cancellationToken = default)
        {
            LinksAskedFor = [.. entities];
            return Task.FromResult(links.Where(l => entities.Contains(l.Entity)).ToList());
        }
    }

    [Fact]
    public async Task Search_SumsSharedEntities_RarerOnesWeighMore()
    {
        var store = new FakeEntityLinks(new() { ["nats"] = 1, ["kafka"] = 4 },
            new("m1", "nats", 1), new("m2", "kafka", 2), new("m3", "nats", 3), new("m3", "kafka", 3));

        var found = await EntityScoring.SearchAsync(store, ["s"], ["nats", "kafka"], k: 10, maxFrequency: 10);

        Assert.Equal(["m3", "m1", "m2"], found.Select(x => x.Id));
        Assert.Equal(1f + (1f / (1f + MathF.Log(4))), found[0].Score);
        Assert.Equal(1f, found[1].Score);
    }

    [Fact]
    public async Task Search_EntityAboveTheFrequencyCap_IsIgnored()
    {
        var store = new FakeEntityLinks(new() { ["alice"] = 50, ["nats"] = 2 }, new("m1", "alice", 1), new("m2", "nats", 2));

        var found = await EntityScoring.SearchAsync(store, ["s"], ["alice", "nats"], k: 10, maxFrequency: 10);

        Assert.Equal(["m2"], found.Select(x => x.Id));
        Assert.Equal(["nats"], store.LinksAskedFor);
    }

    [Fact]
    public async Task Search_EqualScores_RankInInsertionOrder_AndKeepTheBestK()
    {
        var store = new FakeEntityLinks(new() { ["nats"] = 3 }, new("late", "nats", 9), new("early", "nats", 1), new("middle", "nats", 5));

        var found = await EntityScoring.SearchAsync(store, ["s"], ["nats"], k: 2, maxFrequency: 10);

        Assert.Equal(["early", "middle"], found.Select(x => x.Id));
    }

    [Fact]
    public async Task Search_QueryWithoutEntities_FindsNothing_WithoutAskingTheStore()
    {
        var store = new FakeEntityLinks([]);

        Assert.Empty(await EntityScoring.SearchAsync(store, ["s"], [], k: 10, maxFrequency: 10));
        Assert.Null(store.LinksAskedFor);
    }
}
