using Engram.Core.Model;
using Microsoft.Data.Sqlite;

namespace Engram.Core.Tests;

/// <summary>Supersession: replaced facts are hidden, kept, and never form a cycle.</summary>
public sealed class SupersessionTests(TempStore temp) : IClassFixture<TempStore>
{
    [Fact]
    public async Task Supersedes_HidesTheOldFactByDefault_AndShowsItOnRequest()
    {
        await using var service = temp.Open();
        var old = await service.RememberAsync(new RememberRequest("The orders service runs on Postgres 14.", ObservedAt: new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero)));
        var updated = await service.RememberAsync(new RememberRequest("The orders service runs on Postgres 16.", ObservedAt: new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero), Supersedes: [old.Id]));
        Assert.Equal([old.Id], updated.Supersedes);

        var current = await service.RecallAsync(new RecallRequest("orders postgres version"));
        Assert.Equal([updated.Id], current.Memories.Select(m => m.Id));

        var history = await service.RecallAsync(new RecallRequest("orders postgres version", IncludeSuperseded: true));
        Assert.Equal(updated.Id, history.Memories.Single(m => m.Id == old.Id).SupersededBy);

        var asOf2024 = await service.RecallAsync(new RecallRequest("orders postgres version", AsOf: new DateTimeOffset(2024, 6, 1, 0, 0, 0, TimeSpan.Zero)));
        Assert.Equal([old.Id], asOf2024.Memories.Select(m => m.Id));

        // asOf with includeSuperseded: the history up to then, and still nothing observed after it.
        var mid2025 = new DateTimeOffset(2025, 6, 1, 0, 0, 0, TimeSpan.Zero);
        Assert.Equal([updated.Id], (await service.RecallAsync(new RecallRequest("orders postgres version", AsOf: mid2025))).Memories.Select(m => m.Id));
        Assert.Equal(new[] { old.Id, updated.Id }.Order(), (await service.RecallAsync(new RecallRequest("orders postgres version", IncludeSuperseded: true, AsOf: mid2025))).Memories.Select(m => m.Id).Order());
        Assert.Equal([old.Id], (await service.RecallAsync(new RecallRequest("orders postgres version", IncludeSuperseded: true, AsOf: new DateTimeOffset(2024, 6, 1, 0, 0, 0, TimeSpan.Zero)))).Memories.Select(m => m.Id));

        var explain = await service.ExplainAsync(new ExplainRequest(current.RetrievalId));
        Assert.Contains(explain.FilteredOut, f => f.Id == old.Id && f.Reason == FilterReason.Superseded);
    }

    [Fact]
    public async Task ASupersededMatch_YieldsItsPlaceToWhatReplacedIt_EvenWithNoWordInCommon()
    {
        await using var service = temp.Open();
        const string scope = "project:supersession/successor";
        var day = new DateTimeOffset(2025, 3, 10, 9, 0, 0, TimeSpan.Zero);
        var airflow = await service.RememberAsync(new RememberRequest("Batch jobs are scheduled by Airflow on MWAA.", scope, ["orchestration"], day.AddYears(-1)));
        var dagster = await service.RememberAsync(new RememberRequest("That is retired: Dagster+ runs the pipelines now.", scope, ["orchestration"], day, [airflow.Id]));
        await service.RememberAsync(new RememberRequest("Lunch on Fridays is at noon.", scope, ObservedAt: day));

        // The query matches only the replaced memory's words; the one that replaced it answers, in its place.
        const string Query = "what schedules our batch jobs?";
        var recalled = await service.RecallAsync(new RecallRequest(Query, scope));
        Assert.Equal(dagster.Id, recalled.Memories[0].Id);
        Assert.DoesNotContain(airflow.Id, recalled.Memories.Select(m => m.Id));
        var explain = await service.ExplainAsync(new ExplainRequest(recalled.RetrievalId));
        Assert.Equal($"current; in the place of {airflow.Id}, which it superseded and whose words the query matched", explain.Hits[0].Supersession);
        var account = (await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest(Query, scope), MemoryId: dagster.Id))).Memory!;
        Assert.True(account.Surfaced);
        Assert.StartsWith($"It surfaced at rank 1 in the place of {airflow.Id}", account.Reason, StringComparison.Ordinal);
        Assert.Contains(explain.FilteredOut, f => f.Id == airflow.Id && f.Reason == FilterReason.Superseded);
        Assert.DoesNotContain(explain.FilteredOut, f => f.Id == dagster.Id);

        // Along a chain, to the memory that is current; before the replacement, the old one itself; with history asked
        // for, the old one and nothing in its place; and never past the tags asked for.
        var kestra = await service.RememberAsync(new RememberRequest("Kestra took over from Dagster+.", scope, ObservedAt: day.AddMonths(1), Supersedes: [dagster.Id]));
        Assert.Equal(kestra.Id, (await service.RecallAsync(new RecallRequest(Query, scope))).Memories[0].Id);
        Assert.Equal(airflow.Id, (await service.RecallAsync(new RecallRequest(Query, scope, AsOf: day.AddDays(-1)))).Memories[0].Id);
        Assert.Equal(dagster.Id, (await service.RecallAsync(new RecallRequest(Query, scope, AsOf: day.AddDays(1)))).Memories[0].Id);
        var asOf = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest(Query, scope, AsOf: day.AddDays(1))));
        Assert.Equal($"superseded later by {kestra.Id}; current as of asOf; in the place of {airflow.Id}, which it superseded and whose words the query matched", asOf.Hits[0].Supersession);
        var history = await service.RecallAsync(new RecallRequest(Query, scope, IncludeSuperseded: true));
        Assert.Equal(airflow.Id, history.Memories[0].Id);
        Assert.DoesNotContain(kestra.Id, (await service.RecallAsync(new RecallRequest(Query, scope, Tags: ["orchestration"]))).Memories.Select(m => m.Id));

        // A memory replaced on the way need not carry the tag: only the one returned does.
        var flyte = await service.RememberAsync(new RememberRequest("Flyte replaced Kestra.", scope, ["orchestration"], day.AddMonths(2), [kestra.Id]));
        Assert.Equal(flyte.Id, (await service.RecallAsync(new RecallRequest(Query, scope, Tags: ["orchestration"]))).Memories[0].Id);
    }

    [Fact]
    public async Task ASupersededMemoryFoundByMeaningAlone_DoesNotPassItsPlaceOn()
    {
        // A model that sees every query as the shell memory, and nothing else alike.
        using var model = new FixedVectorModel([1, 0, 0], text => text.Contains("zsh", StringComparison.Ordinal) ? [1, 0, 0] : [0, 1, 0]);
        await using var service = new MemoryService(TempStore.Options(temp.NewHome()), model);
        var zsh = await service.RememberAsync(new RememberRequest("My shell is zsh with oh-my-zsh.", ObservedAt: new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero)));
        var fish = await service.RememberAsync(new RememberRequest("Switched to fish.", ObservedAt: new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero), Supersedes: [zsh.Id]));

        // The old memory resembles the question only by its vector: not evidence enough that the question is about it.
        var recalled = await service.RecallAsync(new RecallRequest("which keyboard layout do I type on?"));
        Assert.DoesNotContain(fish.Id, recalled.Memories.Select(m => m.Id));
        var explain = await service.ExplainAsync(new ExplainRequest(recalled.RetrievalId));
        Assert.Contains(explain.FilteredOut, f => f.Id == zsh.Id && f.Reason == FilterReason.Superseded);

        // Asked in its words, it yields its place.
        Assert.Equal(fish.Id, (await service.RecallAsync(new RecallRequest("which shell, zsh?"))).Memories[0].Id);
    }

    [Fact]
    public async Task Supersedes_AnIdOfAnotherScope_IsRejected()
    {
        await using var service = temp.Open();
        var other = await service.RememberAsync(new RememberRequest("Fact in a project.", "project:x"));
        var e = await Assert.ThrowsAsync<EngramArgumentException>(() => service.RememberAsync(new RememberRequest("Fact for the user.", "user", Supersedes: [other.Id])));
        Assert.Contains("supersedes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Supersedes_ItselfOrItsOwnSuperseder_IsRejected()
    {
        await using var service = temp.Open();
        var a = await service.RememberAsync(new RememberRequest("Builds use make."));
        var b = await service.RememberAsync(new RememberRequest("Builds use just.", Supersedes: [a.Id]));
        await Assert.ThrowsAsync<EngramArgumentException>(() => service.RememberAsync(new RememberRequest("Builds use just.", Supersedes: [b.Id])));
        await Assert.ThrowsAsync<EngramArgumentException>(() => service.RememberAsync(new RememberRequest("Builds use make.", Supersedes: [b.Id])));
    }
}
