using Engram.Core.Model;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;

namespace Engram.Core.Tests;

/// <summary>
/// Who may see what: calls made as a principal (<see cref="MemoryService.ActAs"/>) read, explain, write and forget only
/// within its scope patterns; its 'user' is its own. The service's default project is project:acme/a.
/// </summary>
public sealed class AccessTests(TempStore temp) : IClassFixture<TempStore>
{
    private const string ProjectA = "project:acme/a";
    private const string ProjectB = "project:acme/b";

    private static readonly Principal Alice = new("alice", [ProjectA, "user"]);
    private static readonly Principal Bob = new("bob", ["user", ProjectB]);
    private static readonly Principal Ci = new("ci", ["project:acme/*"]);

    private MemoryService Open(string? home = null) => temp.Open(home, ProjectA);

    private static async Task<T> AsAsync<T>(MemoryService service, Principal principal, Func<Task<T>> call)
    {
        using (service.ActAs(principal))
        {
            return await call();
        }
    }

    /// <summary>One memory in each project, and one in bob's own user scope; returns their ids.</summary>
    private static async Task<(string A, string B, string BobsOwn)> SeedAsync(MemoryService service)
    {
        var a = await service.RememberAsync(new RememberRequest("Project A builds with Gradle.", ProjectA, ["shared"]));
        var b = await service.RememberAsync(new RememberRequest("Project B builds with Bazel.", ProjectB, ["shared"]));
        var bobs = await AsAsync(service, Bob, () => service.RememberAsync(new RememberRequest("I like builds with verbose logs.", "user", ["shared"])));
        return (a.Id, b.Id, bobs.Id);
    }

    [Fact]
    public async Task Principal_User_IsItsOwnUserScope_AndResultsNameIt()
    {
        await using var service = Open();
        var (_, _, bobs) = await SeedAsync(service);
        var mine = await AsAsync(service, Alice, () => service.RememberAsync(new RememberRequest("I like builds to be quiet.", "user")));
        Assert.Equal("user:alice", mine.Scope);

        var alices = await AsAsync(service, Alice, () => service.RecallAsync(new RecallRequest("builds", "user")));
        Assert.Equal(["user:alice"], alices.Scopes);
        Assert.Equal([mine.Id], alices.Memories.Select(m => m.Id));
        var bobsRecall = await AsAsync(service, Bob, () => service.RecallAsync(new RecallRequest("builds", "user")));
        Assert.Equal([bobs], bobsRecall.Memories.Select(m => m.Id));
        // The unrestricted caller's 'user' is the local person's, neither of theirs.
        Assert.Empty((await service.RecallAsync(new RecallRequest("builds", "user"))).Memories);
    }

    [Fact]
    public async Task Principal_DefaultScopes_AreTheDefaultProjectWhenAllowed_PlusItsUserScope()
    {
        await using var service = Open();
        Assert.Equal([ProjectA, "user:alice"], (await AsAsync(service, Alice, () => service.RecallAsync(new RecallRequest("x")))).Scopes);
        Assert.Equal(["user:bob"], (await AsAsync(service, Bob, () => service.RecallAsync(new RecallRequest("x")))).Scopes);
        Assert.Equal([ProjectA], (await AsAsync(service, Ci, () => service.RecallAsync(new RecallRequest("x")))).Scopes);
        Assert.Equal("user:bob", (await AsAsync(service, Bob, () => service.RememberAsync(new RememberRequest("Bob's default write.")))).Scope);

        var none = new Principal("b-only", [ProjectB]);
        var e = await Assert.ThrowsAsync<EngramArgumentException>(() => AsAsync(service, none, () => service.RecallAsync(new RecallRequest("x"))));
        Assert.Contains($"send 'scope' as one of its scopes ({ProjectB})", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Principal_NamingAScopeOutsideItsPatterns_IsAnError_OnEveryPath()
    {
        await using var service = Open();
        await SeedAsync(service);
        Func<Task>[] calls =
        [
            () => service.RecallAsync(new RecallRequest("builds", ProjectB)),
            () => service.RecallAsync(new RecallRequest("builds", "user:bob")),
            () => service.RememberAsync(new RememberRequest("Sneaking into B.", ProjectB)),
            () => service.RememberAsync(new RememberRequest("Sneaking into bob's.", "user:bob")),
            () => service.ForgetAsync(new ForgetRequest(All: true, Scope: ProjectB)),
            () => service.ForgetAsync(new ForgetRequest(All: true, Scope: "user:bob")),
            () => service.ForgetAsync(new ForgetRequest(Tag: "shared", Scope: ProjectB)),
            () => service.ForgetAsync(new ForgetRequest(Query: "builds", Scope: ProjectB)),
            () => service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("builds", ProjectB))),
            () => service.ListAsync(ProjectB),
        ];
        using (service.ActAs(Alice))
        {
            foreach (var call in calls)
            {
                var e = await Assert.ThrowsAsync<EngramArgumentException>(call);
                Assert.Contains($"is outside what this token may use ({ProjectA}, user)", e.Message, StringComparison.Ordinal);
            }
        }

        Assert.Equal(3, (await service.StatsAsync()).Memories);
    }

    [Fact]
    public async Task ForgetAudit_RecordsWhichPrincipalForgot_AndNoneForTheStoresOwnUser()
    {
        await using var service = Open();
        var (a, b, _) = await SeedAsync(service);
        using (service.ActAs(Alice))
        {
            Assert.Equal(1, (await service.ForgetAsync(new ForgetRequest([a]))).Count);
        }

        Assert.Equal(1, (await service.ForgetAsync(new ForgetRequest([b]))).Count);
        var audit = await service.ReadForgetAuditAsync();
        Assert.Equal([(a, "alice"), (b, null)], audit.Select(e => (e.Ids.Single(), e.Principal)));
    }

    [Fact]
    public async Task Principal_IdsOfOtherScopes_AreLikeUnknownIds()
    {
        await using var service = Open();
        var (a, b, bobs) = await SeedAsync(service);
        using (service.ActAs(Alice))
        {
            var forget = await service.ForgetAsync(new ForgetRequest([b, bobs]));
            Assert.Equal(0, forget.Count);
            Assert.Empty(forget.Forgotten);
            Assert.Null(await service.GetAsync(b));
            Assert.NotNull(await service.GetAsync(a));

            var explain = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("Bazel builds"), MemoryId: b));
            Assert.False(explain.Memory!.Found);
            Assert.Equal("No memory with this id exists in the searched scopes.", explain.Memory.Reason);
            Assert.DoesNotContain(explain.FilteredOut, f => f.Id == b || f.Id == bobs);
            Assert.DoesNotContain(explain.Hits, h => h.Id == b || h.Id == bobs);
        }

        Assert.NotNull(await service.GetAsync(b));
        Assert.NotNull(await service.GetAsync(bobs));
    }

    [Fact]
    public async Task Principal_ForgetByTagOrQuery_TouchesOnlyItsOwnScopes()
    {
        await using var service = Open();
        var (a, b, bobs) = await SeedAsync(service);
        var byTag = await AsAsync(service, Alice, () => service.ForgetAsync(new ForgetRequest(Tag: "shared", DryRun: true)));
        Assert.Equal([a], byTag.Forgotten);
        var byQuery = await AsAsync(service, Alice, () => service.ForgetAsync(new ForgetRequest(Query: "builds with Bazel verbose logs", Scope: "user", Limit: 10)));
        Assert.Equal(0, byQuery.Count);
        var all = await AsAsync(service, Bob, () => service.ForgetAsync(new ForgetRequest(All: true, Scope: "user")));
        Assert.Equal([bobs], all.Forgotten);
        Assert.NotNull(await service.GetAsync(a));
        Assert.NotNull(await service.GetAsync(b));
    }

    [Fact]
    public async Task Principal_CannotExplainARecallAnotherPrincipalMade()
    {
        await using var service = Open();
        await SeedAsync(service);
        var bobs = await AsAsync(service, Bob, () => service.RecallAsync(new RecallRequest("verbose logs")));
        var alices = await AsAsync(service, Alice, () => service.RecallAsync(new RecallRequest("Gradle")));

        var e = await Assert.ThrowsAsync<EngramArgumentException>(() => AsAsync(service, Alice, () => service.ExplainAsync(new ExplainRequest(bobs.RetrievalId))));
        Assert.StartsWith($"No recall with retrievalId '{bobs.RetrievalId}' was found", e.Message, StringComparison.Ordinal);
        Assert.Equal(alices.Memories.Select(m => m.Id), (await AsAsync(service, Alice, () => service.ExplainAsync(new ExplainRequest(alices.RetrievalId)))).Hits.Select(h => h.Id));
        // Nor one the unrestricted caller made; that caller replays any.
        var local = await service.RecallAsync(new RecallRequest("Gradle", ProjectA));
        await Assert.ThrowsAsync<EngramArgumentException>(() => AsAsync(service, Alice, () => service.ExplainAsync(new ExplainRequest(local.RetrievalId))));
        Assert.Equal(["user:bob"], (await service.ExplainAsync(new ExplainRequest(bobs.RetrievalId))).Scopes);
    }

    [Fact]
    public async Task ActAs_EndsWhenDisposed_AndAdministrationIsRefusedWithin()
    {
        await using var service = Open();
        using (service.ActAs(Alice))
        {
            Assert.Equal("alice", service.Caller?.Name);
            await Assert.ThrowsAsync<InvalidOperationException>(() => service.StatsAsync());
            await Assert.ThrowsAsync<InvalidOperationException>(() => service.AddTokenAsync("mallory", ["project:*"]));
            await Assert.ThrowsAsync<EngramArgumentException>(() => service.ListAsync());
        }

        Assert.Null(service.Caller);
        Assert.Throws<EngramArgumentException>(() => service.ActAs(new Principal("alice", ["user:bob"])));
    }

    [Fact]
    [Trait("Store", "SqliteOnly")]
    public async Task Tokens_AreShownOnce_StoredAsHashes_AndRevokedByIdOrName()
    {
        var home = temp.NewHome();
        await using var service = Open(home);
        var first = await service.AddTokenAsync("Alice", ["project:acme/*", "User"]);
        var second = await service.AddTokenAsync("alice", ["user"]);
        var bobs = await service.AddTokenAsync("bob", ["user"]);
        Assert.Matches("^engram_[A-Za-z0-9_-]{43}$", first.Token);
        Assert.Matches("^tok_[0-9a-f]{10}$", first.Id);
        var principal = await service.AuthenticateAsync(first.Token);
        Assert.Equal("alice", principal?.Name);
        Assert.Equal(["project:acme/*", "user"], principal?.ScopePatterns);
        Assert.Null(await service.AuthenticateAsync("engram_not-a-token"));
        Assert.Null(await service.AuthenticateAsync("s3cret"));

        await using (var connection = new SqliteConnection($"Data Source={service.DatabasePath}"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT group_concat(hash || scopes, ' ') FROM tokens;";
            var stored = (string)(await command.ExecuteScalarAsync())!;
            Assert.DoesNotContain(first.Token, stored, StringComparison.Ordinal);
            Assert.DoesNotContain(first.Token["engram_".Length..], stored, StringComparison.Ordinal);
        }

        Assert.Equal(1, await service.RevokeTokensAsync(first.Id));
        Assert.Null(await service.AuthenticateAsync(first.Token));
        Assert.NotNull(await service.AuthenticateAsync(second.Token));
        Assert.Equal(1, await service.RevokeTokensAsync("alice"));
        Assert.Equal(0, await service.RevokeTokensAsync("alice"));
        Assert.Null(await service.AuthenticateAsync(second.Token));
        Assert.True(await service.HasLiveTokensAsync());

        var listed = await service.ListTokensAsync();
        Assert.Equal([first.Id, second.Id, bobs.Id], listed.Select(t => t.Id));
        Assert.Equal([true, true, false], listed.Select(t => t.RevokedAt is not null));

        Assert.Contains("not a valid principal", (await Assert.ThrowsAsync<EngramArgumentException>(() => service.AddTokenAsync("Ana María", ["user"]))).Message, StringComparison.Ordinal);
        Assert.Contains("looks like a token id", (await Assert.ThrowsAsync<EngramArgumentException>(() => service.AddTokenAsync("tok_1", ["user"]))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RevokedToken_IsRefusedByAnotherServiceOfTheStore_OnceItsCacheWindowPasses()
    {
        var home = temp.NewHome();
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var admin = Open(home);
        var options = TempStore.Options(home);
        options.TimeProvider = clock;
        options.TokenCacheDuration = TimeSpan.FromSeconds(5);
        await using var server = new MemoryService(options);
        var token = await admin.AddTokenAsync("alice", ["user"]);
        Assert.NotNull(await server.AuthenticateAsync(token.Token));

        await admin.RevokeTokensAsync(token.Id);
        clock.Advance(TimeSpan.FromSeconds(4));
        Assert.NotNull(await server.AuthenticateAsync(token.Token)); // still within the window
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(await server.AuthenticateAsync(token.Token));
    }
}
