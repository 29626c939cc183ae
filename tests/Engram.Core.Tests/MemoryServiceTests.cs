using Engram.Core.Model;
using Microsoft.Data.Sqlite;

namespace Engram.Core.Tests;

public sealed class MemoryServiceTests(TempStore temp) : IClassFixture<TempStore>
{
    private static readonly string[] Facts =
    [
        "The orders service runs on Postgres 16.",
        "We deploy the widgets service with Helm on Fridays.",
        "Ana prefers trains for trips under six hours.",
        "The flaky test is OrderTests.Refund_Twice; it fails when the clock crosses midnight.",
        "Code review needs two approvals before merging to main.",
        "Use pnpm, not npm, in the web front end.",
    ];

    private static async Task SeedAsync(MemoryService service, string? scope = null)
    {
        foreach (var fact in Facts)
        {
            await service.RememberAsync(new RememberRequest(fact, scope));
        }
    }

    [Theory]
    [InlineData("Which database does the orders service use?", 0)]
    [InlineData("how do we deploy widgets", 1)]
    [InlineData("what does Ana like for travel", 2)]
    [InlineData("which test is flaky", 3)]
    [InlineData("how many approvals for a code review", 4)]
    [InlineData("package manager for the front end", 5)]
    public async Task Recall_NaturalQuestion_PutsTheStatedFactFirst(string question, int fact)
    {
        await using var service = temp.Open();
        await SeedAsync(service);
        var result = await service.RecallAsync(new RecallRequest(question));
        Assert.Equal(Facts[fact], result.Memories[0].Content);
        Assert.Equal(["user"], result.Scopes);
        Assert.StartsWith("rt_", result.RetrievalId, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Remember_SameFactRestated_IsADuplicateOfTheFirst()
    {
        await using var service = temp.Open();
        var first = await service.RememberAsync(new RememberRequest("We use pnpm."));
        var again = await service.RememberAsync(new RememberRequest("  we USE   pnpm "));
        Assert.Equal("created", first.Status);
        Assert.Equal("duplicate", again.Status);
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
        Assert.Equal("created", updated.Status);
        Assert.Contains(updated.Similar, s => s.Id == old.Id);
    }

    [Fact]
    public async Task Recall_NeverReturnsAnotherScopesMemories()
    {
        await using var service = temp.Open(null, "project:github.com/acme/widgets");
        await service.RememberAsync(new RememberRequest("Secret launch codename is Bluebird.", "project:github.com/acme/other"));
        await service.RememberAsync(new RememberRequest("The widgets launch codename is Redwing."));
        var result = await service.RecallAsync(new RecallRequest("launch codename"));
        Assert.Equal(["project:github.com/acme/widgets", "user"], result.Scopes);
        Assert.All(result.Memories, m => Assert.DoesNotContain("Bluebird", m.Content, StringComparison.Ordinal));
        Assert.Single(result.Memories);

        var explain = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("Bluebird launch codename")));
        var other = await service.RecallAsync(new RecallRequest("codename", "project:github.com/acme/other"));
        Assert.DoesNotContain(explain.Hits, h => h.Id == other.Memories[0].Id);
        Assert.DoesNotContain(explain.FilteredOut, f => f.Id == other.Memories[0].Id);
        var account = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("codename"), MemoryId: other.Memories[0].Id));
        Assert.False(account.Memory!.Found);
    }

    [Fact]
    public async Task Recall_DefaultScope_IncludesUserMemories()
    {
        await using var service = temp.Open(null, "project:github.com/acme/widgets");
        await service.RememberAsync(new RememberRequest("I prefer tabs over spaces.", "user"));
        var result = await service.RecallAsync(new RecallRequest("tabs or spaces"));
        Assert.Equal("user", Assert.Single(result.Memories).Scope);
    }

    [Fact]
    public async Task Recall_TagFilter_KeepsOnlyTaggedMemories()
    {
        await using var service = temp.Open();
        await service.RememberAsync(new RememberRequest("Deploys go out on Fridays.", Tags: ["Deploy"]));
        await service.RememberAsync(new RememberRequest("Deploys need a change ticket."));
        var result = await service.RecallAsync(new RecallRequest("deploys", Tags: ["deploy"]));
        var only = Assert.Single(result.Memories);
        Assert.Equal(["deploy"], only.Tags);
    }

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
        Assert.Contains(explain.FilteredOut, f => f.Id == old.Id && f.Reason == "superseded");
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
    public async Task SecondService_OverTheSameStore_SeesWritesAndForgets()
    {
        var home = temp.NewHome();
        await using var a = temp.Open(home);
        await using var b = temp.Open(home);
        var written = await a.RememberAsync(new RememberRequest("The staging cluster is called kestrel."));
        Assert.Equal(written.Id, (await b.RecallAsync(new RecallRequest("staging cluster name"))).Memories[0].Id);

        var fromB = await b.RememberAsync(new RememberRequest("The production cluster is called osprey."));
        Assert.Contains((await a.RecallAsync(new RecallRequest("production cluster name"))).Memories, m => m.Id == fromB.Id);

        await a.ForgetAsync(new ForgetRequest([written.Id]));
        Assert.DoesNotContain((await b.RecallAsync(new RecallRequest("staging cluster name kestrel"))).Memories, m => m.Id == written.Id);
    }

    [Fact]
    public async Task Recall_ALongQueryOfRareWords_StaysWithinLucenesClauseLimit()
    {
        // Every word rare, so each is searched in the text and all three context fields; plus feedback words.
        static string Word(int i) => "zq" + string.Concat(i.ToString("D4", System.Globalization.CultureInfo.InvariantCulture).Select(c => (char)('a' + c - '0')));
        await using var service = temp.Open();
        await service.RememberManyAsync(Enumerable.Range(0, 105)
            .Select(i => new RememberRequest($"{Word(i * 4)} {Word((i * 4) + 1)} {Word((i * 4) + 2)} {Word((i * 4) + 3)} {Word(5000 + i)} marks note {i}.")).ToList());
        var query = string.Join(' ', Enumerable.Range(0, 280).Select(Word));
        Assert.True(query.Length <= EngramOptions.MaxQueryLength);

        var result = await service.RecallAsync(new RecallRequest(query, Limit: 50));
        Assert.Equal(50, result.Memories.Count);
        var explain = await service.ExplainAsync(new ExplainRequest(result.RetrievalId));
        Assert.NotEmpty(explain.Hits);
    }

    [Fact]
    public async Task Recall_FirstHits_AreTheSameWhateverTheLimit()
    {
        // Many near-ties observed at different times: the recency tie-break and every signal's candidate depth are in
        // play, and a caller asking for more must get the same first hits, then more.
        await using var service = temp.Open();
        var random = new Random(11);
        string[] services = ["orders", "billing", "search", "auth", "media", "mail"];
        string[] stores = ["Postgres", "Redis", "Kafka", "S3", "Elastic"];
        await service.RememberManyAsync(Enumerable.Range(0, 400).Select(i => new RememberRequest(
            $"The {services[random.Next(services.Length)]} service writes to {stores[random.Next(stores.Length)]} every {random.Next(1, 60)} minutes (note {i}).",
            ObservedAt: new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero).AddHours(random.Next(0, 24 * 90)))).ToList());

        foreach (var query in new[] { "billing service Postgres", "which service writes to Kafka", "media S3 minutes", "auth Redis" })
        {
            var ten = (await service.RecallAsync(new RecallRequest(query, Limit: 10))).Memories.Select(m => m.Id).ToList();
            var twentyFive = (await service.RecallAsync(new RecallRequest(query, Limit: 25))).Memories.Select(m => m.Id).ToList();
            var fifty = (await service.RecallAsync(new RecallRequest(query, Limit: 50))).Memories.Select(m => m.Id).ToList();
            Assert.Equal(10, ten.Count);
            Assert.Equal(ten, twentyFive.Take(10));
            Assert.Equal(twentyFive, fifty.Take(25));
        }
    }

    [Fact]
    public async Task RowCache_SupersessionByAnotherService_IsSeenAtTheNextRecall()
    {
        var home = temp.NewHome();
        await using var a = temp.Open(home);
        await using var b = temp.Open(home);
        var old = await a.RememberAsync(new RememberRequest("The nightly backup runs at 02:00 UTC."));
        Assert.Equal(old.Id, (await a.RecallAsync(new RecallRequest("nightly backup time"))).Memories[0].Id);
        Assert.Equal(1, await a.CachedRowsAsync([old.Id]));

        // Another process replaces the fact; this one's cached row of the old fact must not survive it.
        var updated = await b.RememberAsync(new RememberRequest("The nightly backup runs at 03:30 UTC.", Supersedes: [old.Id]));
        var current = await a.RecallAsync(new RecallRequest("nightly backup time"));
        Assert.DoesNotContain(current.Memories, m => m.Id == old.Id);
        Assert.Equal(updated.Id, current.Memories[0].Id);
        var history = await a.RecallAsync(new RecallRequest("nightly backup time", IncludeSuperseded: true));
        Assert.Equal(updated.Id, history.Memories.Single(m => m.Id == old.Id).SupersededBy);
    }

    [Fact]
    public async Task RowCache_ForgottenMemory_LeavesEveryProcessCache()
    {
        var home = temp.NewHome();
        await using var a = temp.Open(home);
        await using var b = temp.Open(home);
        var here = await a.RememberAsync(new RememberRequest("The vault token rotates every 12 hours."));
        var there = await a.RememberAsync(new RememberRequest("The vault audit log lives in the secops bucket."));
        await a.RecallAsync(new RecallRequest("vault token audit"));
        await b.RecallAsync(new RecallRequest("vault token audit"));
        Assert.Equal(2, await a.CachedRowsAsync([here.Id, there.Id]));
        Assert.Equal(2, await b.CachedRowsAsync([here.Id, there.Id]));

        // Forgotten here: gone from this process's cache at once, and from the other's at its next recall.
        await a.ForgetAsync(new ForgetRequest([here.Id]));
        Assert.Equal(0, await a.CachedRowsAsync([here.Id]));
        await b.RecallAsync(new RecallRequest("anything at all"));
        Assert.Equal(0, await b.CachedRowsAsync([here.Id]));
        Assert.Equal(there.Id, (await b.RecallAsync(new RecallRequest("vault audit log"))).Memories.Single().Id);
    }

    [Fact]
    public async Task DeletedLexicalIndex_IsRebuiltFromSqlite()
    {
        var home = temp.NewHome();
        await using (var service = temp.Open(home))
        {
            await SeedAsync(service);
            await service.RecallAsync(new RecallRequest("warm the index"));
        }

        Directory.Delete(Path.Combine(home, "index"), recursive: true);
        await using var reopened = temp.Open(home);
        var result = await reopened.RecallAsync(new RecallRequest("Postgres"));
        Assert.Equal(Facts[0], result.Memories[0].Content);
        var explain = await reopened.ExplainAsync(new ExplainRequest(result.RetrievalId));
        Assert.NotNull(explain.Hits[0].Lexical);
    }

    [Fact]
    public async Task CorruptLexicalIndex_IsRebuiltFromSqlite()
    {
        var home = temp.NewHome();
        await using (var service = temp.Open(home))
        {
            await SeedAsync(service);
            await service.RecallAsync(new RecallRequest("warm the index"));
        }

        foreach (var file in Directory.GetFiles(Path.Combine(home, "index"), "segments*"))
        {
            File.WriteAllBytes(file, [1, 2, 3]);
        }

        await using var reopened = temp.Open(home);
        var result = await reopened.RecallAsync(new RecallRequest("Helm deploy"));
        Assert.Equal(Facts[1], result.Memories[0].Content);
    }

    [Fact]
    public async Task Forget_ById_RemovesFromEveryStore_AndReportsZeroResidue()
    {
        await using var service = temp.Open();
        await SeedAsync(service);
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
    public async Task Explain_Replay_ReportsSignalsAndWhetherTheStoreChanged()
    {
        await using var service = temp.Open();
        await SeedAsync(service);
        var recall = await service.RecallAsync(new RecallRequest("Which service runs on Postgres?", Limit: 1));
        var replay = await service.ExplainAsync(new ExplainRequest(recall.RetrievalId));
        Assert.False(replay.StoreChangedSince);
        Assert.Equal(recall.Memories.Select(m => m.Id), replay.Hits.Select(h => h.Id));
        var top = replay.Hits[0];
        Assert.Equal(1, top.Rank);
        Assert.NotNull(top.Lexical);
        Assert.NotNull(top.Vector);
        Assert.Contains(replay.FilteredOut, f => f.Reason == "below cut-off");

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
        await SeedAsync(service);
        var recall = await service.RecallAsync(new RecallRequest("Which service runs on Postgres?"));

        ExplainResult? replay = null;
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (replay is null && waited.Elapsed < TimeSpan.FromSeconds(10))
        {
            try
            {
                replay = await other.ExplainAsync(new ExplainRequest(recall.RetrievalId));
            }
            catch (EngramArgumentException)
            {
                await Task.Delay(20);
            }
        }

        Assert.NotNull(replay);
        Assert.Equal(recall.Memories.Select(m => m.Id), replay.Hits.Select(h => h.Id));
    }

    [Fact]
    public async Task Explain_MemoryId_SaysWhyItDidOrDidNotSurface()
    {
        await using var service = temp.Open();
        await SeedAsync(service);
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

    [Theory]
    [InlineData(0)]
    [InlineData(101)]
    public async Task Recall_LimitOutOfRange_IsRejected(int limit)
    {
        await using var service = temp.Open();
        var e = await Assert.ThrowsAsync<EngramArgumentException>(() => service.RecallAsync(new RecallRequest("x", Limit: limit)));
        Assert.Contains("1 to 100", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Store_WithoutTheObservedAtIndex_OpensWhileAnotherProcessWrites_AndBuildsItLater()
    {
        // A store of the previous release has no (scope, observed_at) index; building it needs the write lock, which
        // a busy writer may hold. Opening must not wait for the lock, nor fail.
        var home = temp.NewHome();
        await using (var service = temp.Open(home))
        {
            await service.RememberAsync(new RememberRequest("The deploy froze on Monday.", ObservedAt: new DateTimeOffset(2026, 3, 9, 10, 0, 0, TimeSpan.Zero)));
        }

        var path = Path.Combine(home, "engram.db");
        async Task<long> IndexCountAsync(SqliteConnection connection)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT COUNT(*) FROM sqlite_master WHERE name = 'ix_memories_scope_observed';";
            return (long)(await command.ExecuteScalarAsync())!;
        }

        await using var writer = new SqliteConnection($"Data Source={path};Pooling=False");
        await writer.OpenAsync();
        await using (var drop = writer.CreateCommand())
        {
            drop.CommandText = "DROP INDEX ix_memories_scope_observed; BEGIN IMMEDIATE; INSERT INTO changes(memory_id, scope, deleted, at) VALUES('none', 'none', 0, 0);";
            await drop.ExecuteNonQueryAsync();
        }

        await using (var service = temp.Open(home))
        {
            var opened = System.Diagnostics.Stopwatch.StartNew();
            var recall = await service.RecallAsync(new RecallRequest("what froze on 9 March 2026"));
            Assert.Single(recall.Memories);
            Assert.True(opened.Elapsed < TimeSpan.FromSeconds(20), $"the first recall took {opened.Elapsed}");
            Assert.Equal(0, await IndexCountAsync(writer));

            // Let the recall log through before the service closes.
            await using var rollback = writer.CreateCommand();
            rollback.CommandText = "ROLLBACK;";
            await rollback.ExecuteNonQueryAsync();
        }

        SqliteConnection.ClearAllPools();
        await using (var service = temp.Open(home))
        {
            Assert.Single((await service.RecallAsync(new RecallRequest("what froze on 9 March 2026"))).Memories);
        }

        Assert.Equal(1, await IndexCountAsync(writer));
    }

    [Fact]
    public async Task Store_FromANewerSchema_IsRefusedWithAClearMessage()
    {
        var home = temp.NewHome();
        await using (var service = temp.Open(home))
        {
            await service.RememberAsync(new RememberRequest("Anything."));
        }

        await using (var connection = new SqliteConnection($"Data Source={Path.Combine(home, "engram.db")}"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA user_version=99;";
            await command.ExecuteNonQueryAsync();
        }

        await using var newer = temp.Open(home);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => newer.RecallAsync(new RecallRequest("x")));
        Assert.Contains("newer Engram", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Store_UsesWalAndRecordsItsSchemaVersion()
    {
        var home = temp.NewHome();
        await using (var service = temp.Open(home))
        {
            await service.RememberAsync(new RememberRequest("Anything."));
        }

        await using var connection = new SqliteConnection($"Data Source={Path.Combine(home, "engram.db")}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", await command.ExecuteScalarAsync());
        command.CommandText = "PRAGMA user_version;";
        Assert.Equal(4L, await command.ExecuteScalarAsync());
        command.CommandText = "SELECT COUNT(*) FROM changes;";
        Assert.Equal(1L, await command.ExecuteScalarAsync());
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
        Assert.Equal(["created", "duplicate", "created"], results.Select(r => r.Status));
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
    public async Task Recency_NearIdenticalStatementsAtDifferentDates_PutsTheNewerFirst()
    {
        await using var service = temp.Open();
        var older = await service.RememberAsync(new RememberRequest("The deploy freeze starts on Thursday.", ObservedAt: new DateTimeOffset(2025, 1, 6, 0, 0, 0, TimeSpan.Zero)));
        var newer = await service.RememberAsync(new RememberRequest("The deploy freeze starts on Friday.", ObservedAt: new DateTimeOffset(2025, 3, 3, 0, 0, 0, TimeSpan.Zero)));
        var result = await service.RecallAsync(new RecallRequest("When does the deploy freeze start?"));
        Assert.Equal([newer.Id, older.Id], result.Memories.Select(m => m.Id));

        var explain = await service.ExplainAsync(new ExplainRequest(result.RetrievalId));
        Assert.Equal(1, explain.Hits[0].Recency!.Rank);
        Assert.True(explain.Hits[0].Recency!.Score > explain.Hits[1].Recency!.Score);
    }

    [Fact]
    public async Task Recency_NeverLetsAWeaklyRelatedNewMemoryBeatAStronglyRelevantOldOne()
    {
        await using var service = temp.Open();
        var old = await service.RememberAsync(new RememberRequest("The payments service retries webhooks five times with exponential backoff.", ObservedAt: new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero)));
        await service.RememberAsync(new RememberRequest("The new office has a payments kiosk in the lobby.", ObservedAt: new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)));
        var result = await service.RecallAsync(new RecallRequest("how does the payments service retry webhooks"));
        Assert.Equal(old.Id, result.Memories[0].Id);
    }

    [Fact]
    public async Task Entities_AQueryNamingAnIdentifier_FindsTheMemoryThatNamesIt()
    {
        await using var service = temp.Open();
        for (var i = 0; i < 30; i++)
        {
            await service.RememberAsync(new RememberRequest($"Unrelated note {i} about lunch plans and the weather."));
        }

        var target = await service.RememberAsync(new RememberRequest("Never call InvoiceMapper.Flatten on drafts; it drops line items."));
        var result = await service.RecallAsync(new RecallRequest("is InvoiceMapper.Flatten safe?"));
        Assert.Equal(target.Id, result.Memories[0].Id);
        var explain = await service.ExplainAsync(new ExplainRequest(result.RetrievalId));
        Assert.Equal(1, explain.Hits[0].Entities!.Rank);
        Assert.Equal("current", explain.Hits[0].Supersession);
    }

    [Fact]
    public async Task Explain_ListsWhatTheTagFilterKeptOut()
    {
        await using var service = temp.Open();
        var tagged = await service.RememberAsync(new RememberRequest("Release notes go out on Mondays.", Tags: ["release"]));
        var untagged = await service.RememberAsync(new RememberRequest("Release candidates are cut on Thursdays."));
        var explain = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("release", Tags: ["release"])));
        Assert.Equal([tagged.Id], explain.Hits.Select(h => h.Id));
        Assert.Contains(explain.FilteredOut, f => f.Id == untagged.Id && f.Reason == "tag filter");
    }

    [Fact]
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
        Assert.Equal("ids", audit.Selector);

        command.CommandText = "DELETE FROM forget_audit;";
        var e = await Assert.ThrowsAsync<SqliteException>(() => command.ExecuteNonQueryAsync());
        Assert.Contains("append-only", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Store_AtSchemaVersion1_IsMigrated_AndItsEntitiesBackfilled()
    {
        var home = temp.NewHome();
        Directory.CreateDirectory(home);
        await using (var connection = new SqliteConnection($"Data Source={Path.Combine(home, "engram.db")}"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = """
                PRAGMA journal_mode=WAL;
                CREATE TABLE memories(id TEXT NOT NULL PRIMARY KEY, scope TEXT NOT NULL, content TEXT NOT NULL, content_hash TEXT NOT NULL,
                    observed_at INTEGER NOT NULL, created_at INTEGER NOT NULL, superseded_by TEXT NULL, superseded_at INTEGER NULL);
                CREATE UNIQUE INDEX ux_memories_scope_hash ON memories(scope, content_hash);
                CREATE INDEX ix_memories_superseded_by ON memories(superseded_by);
                CREATE TABLE memory_tags(memory_id TEXT NOT NULL REFERENCES memories(id) ON DELETE CASCADE, tag TEXT NOT NULL, PRIMARY KEY(memory_id, tag)) WITHOUT ROWID;
                CREATE INDEX ix_memory_tags_tag ON memory_tags(tag);
                CREATE TABLE embeddings(memory_id TEXT NOT NULL PRIMARY KEY REFERENCES memories(id) ON DELETE CASCADE, model TEXT NOT NULL, vector BLOB NOT NULL);
                CREATE TABLE changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, memory_id TEXT NOT NULL, scope TEXT NOT NULL, deleted INTEGER NOT NULL, at INTEGER NOT NULL);
                CREATE TABLE retrievals(id TEXT NOT NULL PRIMARY KEY, at INTEGER NOT NULL, seq INTEGER NOT NULL, request TEXT NOT NULL);
                CREATE TABLE retrieval_hits(retrieval_id TEXT NOT NULL REFERENCES retrievals(id) ON DELETE CASCADE, rank INTEGER NOT NULL, memory_id TEXT NOT NULL,
                    PRIMARY KEY(retrieval_id, rank)) WITHOUT ROWID;
                CREATE INDEX ix_retrieval_hits_memory ON retrieval_hits(memory_id);
                INSERT INTO memories VALUES('mem_old', 'user', 'The legacy importer lives in LegacyImporter.cs.', 'h', 1700000000000, 1700000000000, NULL, NULL);
                INSERT INTO changes(memory_id, scope, deleted, at) VALUES('mem_old', 'user', 0, 1700000000000);
                PRAGMA user_version=1;
                """;
            await command.ExecuteNonQueryAsync();
        }

        await using var service = temp.Open(home);
        var result = await service.RecallAsync(new RecallRequest("Where is LegacyImporter.cs?"));
        Assert.Equal("mem_old", result.Memories[0].Id);
        var explain = await service.ExplainAsync(new ExplainRequest(result.RetrievalId));
        Assert.NotNull(explain.Hits[0].Entities);
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
    public async Task Supersedes_ItselfOrItsOwnSuperseder_IsRejected()
    {
        await using var service = temp.Open();
        var a = await service.RememberAsync(new RememberRequest("Builds use make."));
        var b = await service.RememberAsync(new RememberRequest("Builds use just.", Supersedes: [a.Id]));
        await Assert.ThrowsAsync<EngramArgumentException>(() => service.RememberAsync(new RememberRequest("Builds use just.", Supersedes: [b.Id])));
        await Assert.ThrowsAsync<EngramArgumentException>(() => service.RememberAsync(new RememberRequest("Builds use make.", Supersedes: [b.Id])));
    }

    [Fact]
    public async Task Forget_ByQuery_TakesTheTopMatches_AndListsAtMostTheDocumentedNumber()
    {
        await using var service = temp.Open();
        await SeedAsync(service);
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

    [Theory]
    [InlineData("The InvoiceReconciler job runs nightly.", "when does the invoice reconciler run")]
    [InlineData("Raise retry_count to 5 for the webhook sender.", "what retry count should the webhook sender use")]
    [InlineData("OrderTests.Refund_Twice is flaky around midnight.", "which refund test is flaky")]
    [InlineData("The invoice reconciler runs nightly.", "InvoiceReconciler schedule")]
    public async Task Recall_SplitsIdentifiersIntoWords_SoEitherFormFindsTheOther(string content, string query)
    {
        await using var service = temp.Open();
        await service.RememberAsync(new RememberRequest("Lunch is at noon on Fridays."));
        var target = await service.RememberAsync(new RememberRequest(content));
        var result = await service.RecallAsync(new RecallRequest(query));
        Assert.Equal(target.Id, result.Memories[0].Id);
        var explain = await service.ExplainAsync(new ExplainRequest(result.RetrievalId));
        Assert.NotNull(explain.Hits[0].Lexical);
    }

    [Fact]
    public async Task LexicalIndexDeletedWhileRunning_IsRebuiltAtTheNextRecall()
    {
        var home = temp.NewHome();
        await using var service = temp.Open(home);
        await SeedAsync(service);
        await service.RecallAsync(new RecallRequest("warm the index"));
        Directory.Delete(Path.Combine(home, "index"), recursive: true);
        await service.RememberAsync(new RememberRequest("A fact written after the index vanished: the canary is teal."));
        var result = await service.RecallAsync(new RecallRequest("what colour is the canary"));
        Assert.Contains("teal", result.Memories[0].Content, StringComparison.Ordinal);
        Assert.Equal(Facts[1], (await service.RecallAsync(new RecallRequest("Helm deploy"))).Memories[0].Content);
    }
}
