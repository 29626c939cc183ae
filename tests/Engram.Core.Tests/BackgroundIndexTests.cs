using Engram.Core.Model;
using Engram.Core.Search;

namespace Engram.Core.Tests;

/// <summary>
/// A server joining a store far ahead of its own lexical index (a new teammate's server on the team's PostgreSQL) builds
/// the index in the background and answers meanwhile, finding words with the store's own full-text search.
/// </summary>
public sealed class BackgroundIndexTests(TempStore temp) : IClassFixture<TempStore>
{
    private const string Scope = "project:acme/api";

    [PostgresFact]
    public async Task NewServer_FarBehindTheStore_AnswersFromTheStoresTextSearch_WhileItsIndexBuilds_ThenFromTheIndex()
    {
        var database = TestPostgres.DatabaseOf(temp.NewHome());
        var first = TempStore.Options(temp.NewHome(), Scope);
        first.Store = database;
        first.BackgroundEmbedding = false;
        string target;
        await using (var writer = new MemoryService(first))
        {
            var filler = Enumerable.Range(0, 600).Select(i => new RememberRequest($"Note {i}: the build of module m{i} passed on runner r{i % 7}."));
            await writer.RememberManyAsync([.. filler]);
            target = (await writer.RememberAsync(new RememberRequest("Deploys to staging are frozen on Fridays after 3pm."))).Id;
            await writer.RememberAsync(new RememberRequest("Deploys of the billing service need RetryPolicy.cs reviewed first.", Tags: ["billing"]));
            await writer.RememberManyAsync([.. Enumerable.Range(0, 300).Select(i => new RememberRequest($"Later note {i}: cache warmed for service s{i}."))]);
        }

        var joining = TempStore.Options(temp.NewHome(), Scope);
        joining.Store = database;
        joining.BackgroundEmbedding = false;
        joining.BackgroundIndexLag = 100;
        await using var server = new MemoryService(joining);
        var release = new TaskCompletionSource();
        await server.HoldLexicalBuildAsync(release.Task);

        // While the build is held, the index is empty: what is found by its words comes from the store.
        var recall = await server.RecallAsync(new RecallRequest("when are staging deploys frozen?"));
        Assert.Equal(target, recall.Memories[0].Id);
        var explained = await server.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("when are staging deploys frozen?")));
        Assert.Equal(LexicalSignal.StoreSearchNote, explained.Hits[0].Lexical?.Note);
        // A tag filter applies inside the store's search, and file names match by their parts.
        var tagged = await server.RecallAsync(new RecallRequest("deploys", Tags: ["billing"]));
        Assert.Equal("Deploys of the billing service need RetryPolicy.cs reviewed first.", Assert.Single(tagged.Memories).Content);
        Assert.Equal(tagged.Memories[0].Id, (await server.RecallAsync(new RecallRequest("who reviews RetryPolicy.cs"))).Memories[0].Id);

        // A memory written now is found at once, as always (the store is the truth).
        var fresh = (await server.RememberAsync(new RememberRequest("The staging freeze was lifted for the hotfix."))).Id;
        Assert.Contains(fresh, (await server.RecallAsync(new RecallRequest("staging freeze hotfix"))).Memories.Select(m => m.Id));

        release.SetResult();
        await server.LexicalBuiltAsync();
        var afterwards = await server.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("when are staging deploys frozen?")));
        Assert.Equal(target, afterwards.Hits[0].Id);
        Assert.NotEqual(LexicalSignal.StoreSearchNote, afterwards.Hits[0].Lexical?.Note);
        Assert.Contains(fresh, (await server.RecallAsync(new RecallRequest("staging freeze hotfix"))).Memories.Select(m => m.Id));
    }

    [PostgresFact]
    public async Task Closing_WhileTheIndexBuildsInTheBackground_StopsTheBuild_AndTheNextStartFinishesIt()
    {
        var database = TestPostgres.DatabaseOf(temp.NewHome());
        var options = TempStore.Options(temp.NewHome(), Scope);
        options.Store = database;
        options.BackgroundEmbedding = false;
        options.BackgroundIndexLag = 10;
        await using (var writer = new MemoryService(options))
        {
            await writer.RememberManyAsync([.. Enumerable.Range(0, 400).Select(i => new RememberRequest($"Fact {i} about queue q{i}."))]);
        }

        // The same folder (the writer's index is current) and a new one (empty) both close cleanly mid-build.
        var joining = TempStore.Options(temp.NewHome(), Scope);
        joining.Store = database;
        joining.BackgroundEmbedding = false;
        joining.BackgroundIndexLag = 10;
        await using (var server = new MemoryService(joining))
        {
            await server.HoldLexicalBuildAsync(Task.Delay(Timeout.Infinite));
            Assert.NotEmpty((await server.RecallAsync(new RecallRequest("queue q17"))).Memories);
        }

        await using var again = new MemoryService(joining);
        await again.RecallAsync(new RecallRequest("queue q17"));
        await again.LexicalBuiltAsync();
        var explained = await again.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("queue q17")));
        Assert.Contains(explained.Hits, h => h.Lexical is { Note: null });
    }
}
