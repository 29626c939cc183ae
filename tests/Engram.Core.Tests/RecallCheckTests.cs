using Engram.Core.Model;

namespace Engram.Core.Tests;

/// <summary>
/// Saved recall checks: kept in the store, run against it as it is now, reporting the rank each expected memory got and
/// why a missing one was not returned, and removed (and counted on the receipt) when a memory they expect is forgotten.
/// </summary>
public sealed class RecallCheckTests(TempStore temp) : IClassFixture<TempStore>
{
    private static async Task<string> IdOfAsync(MemoryService service, string query) =>
        (await service.RecallAsync(new RecallRequest(query))).Memories[0].Id;

    [Fact]
    public async Task Add_List_Run_Remove()
    {
        await using var service = temp.Open(defaultScope: "project:acme/orders");
        await Seed.FactsAsync(service);
        var flaky = await IdOfAsync(service, "flaky test");

        var check = await service.AddCheckAsync("  which test is flaky  ", [flaky, flaky]);
        Assert.StartsWith("chk_", check.Id, StringComparison.Ordinal);
        Assert.Equal(("project:acme/orders", "which test is flaky", 3), (check.Scope, check.Query, check.Within));
        Assert.Equal(["project:acme/orders", "user"], check.Scopes);
        Assert.Equal([flaky], check.Expect);
        Assert.Equal([check.Id], (await service.ListChecksAsync()).Select(c => c.Id));
        Assert.Equal([check.Id], (await service.ListChecksAsync("project:acme/orders")).Select(c => c.Id));
        Assert.Empty(await service.ListChecksAsync("user"));

        var progress = new List<(int, int)>();
        var outcome = Assert.Single(await service.RunChecksAsync(progress: new SyncProgress(progress)));
        Assert.True(outcome.Passed);
        var expected = Assert.Single(outcome.Expected);
        Assert.Equal((flaky, true, 1), (expected.Id, expected.Passed, expected.Rank));
        Assert.Contains("rank 1", expected.Why, StringComparison.Ordinal);
        Assert.Equal([(0, 1), (1, 1)], progress);

        Assert.True(await service.RemoveCheckAsync(check.Id));
        Assert.False(await service.RemoveCheckAsync(check.Id));
        Assert.Empty(await service.ListChecksAsync());
        Assert.Empty(await service.RunChecksAsync());
    }

    [Fact]
    public async Task AMemorySuperseded_FailsTheCheck_WithTheReason()
    {
        await using var service = temp.Open();
        var old = await service.RememberAsync(new RememberRequest("Builds run on Jenkins."));
        var check = await service.AddCheckAsync("where do builds run", [old.Id], within: 1);
        Assert.True(Assert.Single(await service.RunChecksAsync()).Passed);

        var newer = await service.RememberAsync(new RememberRequest("Builds run on GitHub Actions.", Supersedes: [old.Id]));
        var outcome = Assert.Single(await service.RunChecksAsync());
        Assert.Equal(check.Id, outcome.Check.Id);
        Assert.False(outcome.Passed);
        var expected = Assert.Single(outcome.Expected);
        Assert.Null(expected.Rank);
        Assert.Contains("superseded", expected.Why, StringComparison.Ordinal);

        // A superseded memory cannot be expected by a new check; the message names the one to expect instead.
        var refused = await Assert.ThrowsAsync<EngramArgumentException>(() => service.AddCheckAsync("where do builds run", [old.Id]));
        Assert.Contains(newer.Id, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARankWorseThanWithin_Fails_AndSaysTheRankItGot()
    {
        await using var service = temp.Open();
        await Seed.FactsAsync(service);
        var all = (await service.RecallAsync(new RecallRequest("the orders service and its flaky test"))).Memories;
        Assert.True(all.Count >= 2);
        var second = all[1].Id;

        var outcome = await RunOneAsync(service, await service.AddCheckAsync("the orders service and its flaky test", [all[0].Id, second], within: 1));
        Assert.False(outcome.Passed);
        Assert.True(outcome.Expected[0].Passed);
        Assert.Equal((false, 2), (outcome.Expected[1].Passed, outcome.Expected[1].Rank));
        Assert.Contains("rank 2", outcome.Expected[1].Why, StringComparison.Ordinal);
    }

    private static async Task<CheckOutcome> RunOneAsync(MemoryService service, RecallCheck check) =>
        Assert.Single(await service.RunChecksAsync(), o => o.Check.Id == check.Id);

    [Fact]
    public async Task BadChecks_AreRefused_WithWhatToSend()
    {
        await using var service = temp.Open(defaultScope: "project:acme/orders");
        var other = await service.RememberAsync(new RememberRequest("The shop front uses Vue.", "project:acme/shop"));
        var mine = await service.RememberAsync(new RememberRequest("The orders service runs on Postgres 16."));

        async Task<string> RefusedAsync(Func<Task> add) => (await Assert.ThrowsAsync<EngramArgumentException>(add)).Message;

        Assert.Contains("No memory with id 'mem_nope'", await RefusedAsync(() => service.AddCheckAsync("q", ["mem_nope"])), StringComparison.Ordinal);
        Assert.Contains("scope project:acme/shop", await RefusedAsync(() => service.AddCheckAsync("shop front", [other.Id])), StringComparison.Ordinal);
        Assert.Contains("1 to 20", await RefusedAsync(() => service.AddCheckAsync("q", [])), StringComparison.Ordinal);
        Assert.Contains("from 1 to 50", await RefusedAsync(() => service.AddCheckAsync("q", [mine.Id], within: 0)), StringComparison.Ordinal);
        Assert.Contains("from 1 to 50", await RefusedAsync(() => service.AddCheckAsync("q", [mine.Id], within: 51)), StringComparison.Ordinal);
        await RefusedAsync(() => service.AddCheckAsync("   ", [mine.Id]));
        await RefusedAsync(() => service.AddCheckAsync("q", [mine.Id], scope: "no such:scope kind"));
        Assert.Empty(await service.ListChecksAsync());

        // Saved with the other scope it is fine.
        await service.AddCheckAsync("shop front", [other.Id], scope: "project:acme/shop");
        Assert.Single(await service.ListChecksAsync("project:acme/shop"));
    }

    [Fact]
    public async Task ForgettingAnExpectedMemory_RemovesItsChecks_AndTheReceiptCountsThem()
    {
        await using var service = temp.Open();
        await Seed.FactsAsync(service);
        var flaky = await IdOfAsync(service, "flaky test");
        var pnpm = await IdOfAsync(service, "pnpm");
        await service.AddCheckAsync("which test is flaky", [flaky]);
        await service.AddCheckAsync("flaky test and pnpm", [flaky, pnpm], within: 5);
        var kept = await service.AddCheckAsync("use pnpm in the web front end", [pnpm]);

        var preview = await service.ForgetAsync(new ForgetRequest([flaky], DryRun: true));
        Assert.Equal(2, preview.Checks);
        Assert.Equal(2, preview.Residue.Checks);
        Assert.Equal(3, (await service.ListChecksAsync()).Count);

        var receipt = await service.ForgetAsync(new ForgetRequest([flaky]));
        Assert.Equal(2, receipt.Checks);
        Assert.True(receipt.Residue.IsEmpty, receipt.Residue.ToString());
        Assert.Equal([kept.Id], (await service.ListChecksAsync()).Select(c => c.Id));
        Assert.True(Assert.Single(await service.RunChecksAsync()).Passed);
    }

    [Fact]
    public async Task ForgettingAllOfAScope_RemovesTheChecksLivingThere()
    {
        await using var service = temp.Open(defaultScope: "project:acme/orders");
        var user = await service.RememberAsync(new RememberRequest("Ana prefers trains for trips under six hours.", "user"));
        await service.RememberAsync(new RememberRequest("The orders service runs on Postgres 16."));
        // Lives in the project but expects only a user memory: forgetting the project's memories still takes it.
        await service.AddCheckAsync("how does Ana travel", [user.Id]);
        var userCheck = await service.AddCheckAsync("how does Ana travel", [user.Id], scope: "user");

        var preview = await service.ForgetAsync(new ForgetRequest(All: true, Scope: "project:acme/orders", DryRun: true));
        Assert.Equal((1, 1), (preview.Count, preview.Checks));
        Assert.Equal(2, (await service.ListChecksAsync()).Count);
        var receipt = await service.ForgetAsync(new ForgetRequest(All: true, Scope: "project:acme/orders"));
        Assert.Equal((1, 1), (receipt.Count, receipt.Checks));
        Assert.Equal([userCheck.Id], (await service.ListChecksAsync()).Select(c => c.Id));
    }

    [Fact]
    public async Task Import_AddsChecks_SkipsKnownIds_AndChecksForMissingMemories()
    {
        await using var source = temp.Open();
        await Seed.FactsAsync(source);
        var flaky = await IdOfAsync(source, "flaky test");
        var check = await source.AddCheckAsync("which test is flaky", [flaky]);
        var orphan = check with { Id = "chk_orphan", Expect = ["mem_gone"] };

        await using var target = temp.Open();
        // The same memories under the same ids, as an import of an export would bring them.
        await target.ImportAsync(await source.ExportAsync().ToListAsync());
        // A hand-written file may name a scope twice; the recall searches it once.
        var twice = check with { Id = "chk_twice", Scopes = ["user", "User"] };
        var result = await target.ImportChecksAsync([check, orphan, twice]);
        Assert.Equal(new CheckImport(2, 0, 1), result);
        Assert.Equal(new CheckImport(0, 2, 1), await target.ImportChecksAsync([check, orphan, twice]));
        var imported = (await target.ListChecksAsync()).Single(c => c.Id == check.Id);
        Assert.Equal((check.Query, check.Scope, check.Within), (imported.Query, imported.Scope, imported.Within));
        Assert.Equal(check.Scopes, imported.Scopes);
        Assert.Equal(["user"], (await target.ListChecksAsync()).Single(c => c.Id == twice.Id).Scopes);
        Assert.All(await target.RunChecksAsync(), o => Assert.True(o.Passed));

        var bad = await Assert.ThrowsAsync<EngramArgumentException>(() => target.ImportChecksAsync([check with { Id = "chk_bad", Within = 99 }]));
        Assert.StartsWith("Check 1 ('chk_bad')", bad.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Checks_AreAnAdministratorsOperation()
    {
        await using var service = temp.Open();
        using var _ = service.ActAs(new Principal("ana", ["user"]));
        await Assert.ThrowsAsync<InvalidOperationException>(() => service.ListChecksAsync());
    }

    /// <summary>Reports synchronously (Progress&lt;T&gt; posts to the thread pool, so its order is not the order of reports).</summary>
    private sealed class SyncProgress(List<(int, int)> seen) : IProgress<(int Done, int Total)>
    {
        public void Report((int Done, int Total) value) => seen.Add(value);
    }
}
