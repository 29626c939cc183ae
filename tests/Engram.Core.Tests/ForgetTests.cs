using Engram.Core.Model;
using Microsoft.Data.Sqlite;

namespace Engram.Core.Tests;

/// <summary>Forget: every selector, every store emptied, the audit, and logs that never bring a forgotten id back.</summary>
public sealed class ForgetTests(TempStore temp) : IClassFixture<TempStore>
{
    [Fact]
    public async Task Forget_ById_RemovesFromEveryStore_AndReportsZeroResidue()
    {
        await using var service = temp.Open();
        await Seed.FactsAsync(service);
        var target = (await service.RecallAsync(new RecallRequest("flaky test"))).Memories[0];

        var preview = await service.ForgetAsync(new ForgetRequest([target.Id], DryRun: true));
        Assert.True(preview.DryRun);
        Assert.Equal([target.Id], preview.Forgotten);
        Assert.Equal(1, preview.Residue.Memories);
        Assert.Equal(1, preview.Residue.LexicalIndex);
        Assert.Equal(target.Id, (await service.RecallAsync(new RecallRequest("flaky test"))).Memories[0].Id);

        var result = await service.ForgetAsync(new ForgetRequest([target.Id]));
        Assert.Equal(1, result.Count);
        Assert.True(result.Residue.IsEmpty, result.Residue.ToString());
        Assert.DoesNotContain((await service.RecallAsync(new RecallRequest("flaky test OrderTests"))).Memories, m => m.Id == target.Id);

        var twice = await service.ForgetAsync(new ForgetRequest([target.Id]));
        Assert.Equal(0, twice.Count);
    }

    [Fact]
    public async Task Forget_NewerMemory_MakesTheSupersededOneCurrentAgain()
    {
        await using var service = temp.Open();
        var old = await service.RememberAsync(new RememberRequest("Builds run on Jenkins."));
        var updated = await service.RememberAsync(new RememberRequest("Builds run on GitHub Actions.", Supersedes: [old.Id]));
        await service.ForgetAsync(new ForgetRequest([updated.Id]));
        var result = await service.RecallAsync(new RecallRequest("where do builds run"));
        var back = Assert.Single(result.Memories);
        Assert.Equal(old.Id, back.Id);
        Assert.Null(back.SupersededBy);
    }

    [Fact]
    public async Task Forget_ByTag_AndAllOfAScope()
    {
        await using var service = temp.Open();
        await service.RememberAsync(new RememberRequest("Temp fact one.", Tags: ["scratch"]));
        await service.RememberAsync(new RememberRequest("Temp fact two.", Tags: ["scratch"]));
        await service.RememberAsync(new RememberRequest("Keep this fact."));
        await service.RememberAsync(new RememberRequest("Project fact.", "project:p"));

        Assert.Equal(2, (await service.ForgetAsync(new ForgetRequest(Tag: "scratch"))).Count);
        await Assert.ThrowsAsync<EngramArgumentException>(() => service.ForgetAsync(new ForgetRequest(All: true)));
        var all = await service.ForgetAsync(new ForgetRequest(All: true, Scope: "project:p"));
        Assert.Equal(1, all.Count);
        Assert.Single((await service.RecallAsync(new RecallRequest("fact"))).Memories);
    }

    [Fact]
    [Trait("Store", "SqliteOnly")]
    public async Task RecallLog_WrittenLateByAnotherService_NeverRestoresAForgottenId()
    {
        var home = temp.NewHome();
        await using var a = temp.Open(home);
        var b = temp.Open(home);
        var fact = await a.RememberAsync(new RememberRequest("The on-call rotation changes on Mondays."));
        for (var i = 0; i < 20; i++)
        {
            await b.RecallAsync(new RecallRequest("on-call rotation"));
        }

        var forgotten = await a.ForgetAsync(new ForgetRequest([fact.Id]));
        await b.DisposeAsync(); // flushes b's queued recall logs after the forget

        Assert.True(forgotten.Residue.IsEmpty);
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(home, "engram.db")}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM retrieval_hits WHERE memory_id=$id;";
        command.Parameters.AddWithValue("$id", fact.Id);
        Assert.Equal(0L, await command.ExecuteScalarAsync());
        // Recall logs that returned a forgotten memory are removed whole (their queries may quote it).
        command.CommandText = "SELECT COUNT(*) FROM retrievals;";
        Assert.Equal(0L, await command.ExecuteScalarAsync());
    }

    [Fact]
    [Trait("Store", "SqliteOnly")]
    public async Task Forget_IsRecordedInTheAppendOnlyAudit_WithIdsAndNoContent()
    {
        var home = temp.NewHome();
        await using var service = temp.Open(home);
        var fact = await service.RememberAsync(new RememberRequest("The audit canary phrase is periwinkle."));
        await service.ForgetAsync(new ForgetRequest([fact.Id], DryRun: true));
        await service.ForgetAsync(new ForgetRequest([fact.Id]));

        await using var connection = new SqliteConnection($"Data Source={Path.Combine(home, "engram.db")}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT selector, ids, count FROM forget_audit;";
        await using (var reader = await command.ExecuteReaderAsync())
        {
            Assert.True(await reader.ReadAsync());
            Assert.Equal("ids", reader.GetString(0));
            Assert.Contains(fact.Id, reader.GetString(1), StringComparison.Ordinal);
            Assert.Equal(1, reader.GetInt32(2));
            Assert.False(await reader.ReadAsync());
        }

        var audit = Assert.Single(await service.ReadForgetAuditAsync());
        Assert.Equal([fact.Id], audit.Ids);
        Assert.Equal(ForgetSelector.Ids, audit.Selector);

        command.CommandText = "DELETE FROM forget_audit;";
        var e = await Assert.ThrowsAsync<SqliteException>(() => command.ExecuteNonQueryAsync());
        Assert.Contains("append-only", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Forget_ByQuery_TakesTheTopMatches_AndListsAtMostTheDocumentedNumber()
    {
        await using var service = temp.Open();
        await Seed.FactsAsync(service);
        var preview = await service.ForgetAsync(new ForgetRequest(Query: "flaky test", DryRun: true));
        Assert.Equal(1, preview.Count);
        Assert.Contains("Refund_Twice", (await service.RecallAsync(new RecallRequest("flaky test"))).Memories.Single(m => m.Id == preview.Forgotten[0]).Content, StringComparison.Ordinal);
        var two = await service.ForgetAsync(new ForgetRequest(Query: "service", Limit: 2));
        Assert.Equal(2, two.Count);
        Assert.True(two.Residue.IsEmpty);

        await service.RememberManyAsync(Enumerable.Range(0, EngramOptions.MaxForgetIdsListed + 5).Select(i => new RememberRequest($"Bulk fact {i}.", "project:bulk")).ToList());
        var all = await service.ForgetAsync(new ForgetRequest(All: true, Scope: "project:bulk", DryRun: true));
        Assert.Equal(EngramOptions.MaxForgetIdsListed + 5, all.Count);
        Assert.Equal(EngramOptions.MaxForgetIdsListed, all.Forgotten.Count);
        Assert.True(all.Truncated);
    }
}
