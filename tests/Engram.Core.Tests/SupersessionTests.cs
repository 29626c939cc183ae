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

        var explain = await service.ExplainAsync(new ExplainRequest(current.RetrievalId));
        Assert.Contains(explain.FilteredOut, f => f.Id == old.Id && f.Reason == FilterReason.Superseded);
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
