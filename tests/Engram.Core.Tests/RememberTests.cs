using Engram.Core.Model;
using Microsoft.Data.Sqlite;

namespace Engram.Core.Tests;

/// <summary>Remember: validation, duplicates, batches and the similar offers.</summary>
public sealed class RememberTests(TempStore temp) : IClassFixture<TempStore>
{
    [Fact]
    public async Task Remember_SameFactRestated_IsADuplicateOfTheFirst()
    {
        await using var service = temp.Open();
        var first = await service.RememberAsync(new RememberRequest("We use pnpm."));
        var again = await service.RememberAsync(new RememberRequest("  we USE   pnpm "));
        Assert.Equal(RememberStatus.Created, first.Status);
        Assert.Equal(RememberStatus.Duplicate, again.Status);
        Assert.Equal(first.Id, again.DuplicateOf);
        Assert.Equal(first.Id, again.Id);
        var recalled = await service.RecallAsync(new RecallRequest("pnpm"));
        Assert.Single(recalled.Memories);
    }

    [Fact]
    public async Task Remember_CloseRestatement_IsOfferedAsSimilar()
    {
        await using var service = temp.Open();
        var old = await service.RememberAsync(new RememberRequest("The orders service runs on Postgres 14."));
        var updated = await service.RememberAsync(new RememberRequest("The orders service now runs on Postgres 16."));
        Assert.Equal(RememberStatus.Created, updated.Status);
        Assert.Contains(updated.Similar, s => s.Id == old.Id);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public async Task Remember_BlankContent_IsRejected(string content)
    {
        await using var service = temp.Open();
        await Assert.ThrowsAsync<EngramArgumentException>(() => service.RememberAsync(new RememberRequest(content)));
    }

    [Fact]
    public async Task Remember_OversizedContent_SaysMemoriesAreFactsNotDocuments()
    {
        await using var service = temp.Open();
        var e = await Assert.ThrowsAsync<EngramArgumentException>(() => service.RememberAsync(new RememberRequest(new string('x', EngramOptions.MaxContentLength + 1))));
        Assert.Contains("not a document", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RememberMany_StoresABatch_ReportingDuplicatesWithinIt()
    {
        await using var service = temp.Open();
        var results = await service.RememberManyAsync(
        [
            new RememberRequest("Fact alpha about the build."),
            new RememberRequest("fact ALPHA about the build"),
            new RememberRequest("Fact beta about the deploy.", Tags: ["deploy"]),
        ]);
        Assert.Equal([RememberStatus.Created, RememberStatus.Duplicate, RememberStatus.Created], results.Select(r => r.Status));
        Assert.Equal(results[0].Id, results[1].DuplicateOf);
        Assert.Equal(2, (await service.RecallAsync(new RecallRequest("fact build deploy"))).Memories.Count);
    }

    [Fact]
    public async Task RememberMany_WithAnInvalidRequest_StoresNothing_AndNamesTheRequest()
    {
        await using var service = temp.Open();
        var e = await Assert.ThrowsAsync<EngramArgumentException>(() => service.RememberManyAsync(
        [
            new RememberRequest("A valid fact."),
            new RememberRequest("Another fact.", Supersedes: ["mem_missing"]),
        ]));
        Assert.Contains("supersedes", e.Message, StringComparison.Ordinal);
        var blank = await Assert.ThrowsAsync<EngramArgumentException>(() => service.RememberManyAsync([new RememberRequest("ok"), new RememberRequest(" ")]));
        Assert.StartsWith("Request 1:", blank.Message, StringComparison.Ordinal);
        Assert.Empty((await service.RecallAsync(new RecallRequest("valid fact"))).Memories);
    }

    [Fact]
    public async Task Similar_OffersTheCurrentVersion_WhenANewChangeArrivesWithoutSupersedes()
    {
        await using var service = temp.Open();
        var v14 = await service.RememberAsync(new RememberRequest("The orders service runs on Postgres 14.", ObservedAt: new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero)));
        var v15 = await service.RememberAsync(new RememberRequest("The orders service runs on Postgres 15.", ObservedAt: new DateTimeOffset(2024, 6, 1, 0, 0, 0, TimeSpan.Zero), Supersedes: [v14.Id]));
        var v16 = await service.RememberAsync(new RememberRequest("The orders service runs on Postgres 16.", ObservedAt: new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero)));
        Assert.Equal(v15.Id, Assert.Single(v16.Similar).Id);
    }

    [Theory]
    [InlineData("The orders service runs on Postgres 16.", "The orders service uses Redis for caching.")]
    [InlineData("Ana prefers trains for trips under six hours.", "Ana prefers window seats.")]
    [InlineData("We deploy the widgets service with Helm.", "The widgets service has three owners.")]
    public async Task Similar_SameTopicButDifferentSubject_IsNotOffered(string first, string second)
    {
        await using var service = temp.Open();
        await service.RememberAsync(new RememberRequest(first));
        var result = await service.RememberAsync(new RememberRequest(second));
        Assert.Empty(result.Similar);
    }

    [Fact]
    public async Task Remember_WithANulCharacter_InTextOrTags_IsAClearError_OnEveryStore()
    {
        await using var service = temp.Open();
        var e = await Assert.ThrowsAsync<EngramArgumentException>(() => service.RememberAsync(new RememberRequest("A fact\u0000 with a NUL.")));
        Assert.Contains("'content' contains a NUL character", e.Message, StringComparison.Ordinal);
        e = await Assert.ThrowsAsync<EngramArgumentException>(() => service.RememberAsync(new RememberRequest("A fact.", Tags: ["\u0000"])));
        Assert.Contains("'tags[]' contains a NUL character", e.Message, StringComparison.Ordinal);
    }
}
