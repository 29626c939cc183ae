using Engram.Core.Model;
using Microsoft.Data.Sqlite;

namespace Engram.Core.Tests;

/// <summary>The store and its derived indexes: schema, WAL, migrations, rebuilds, and several services on one store.</summary>
public sealed class StoreTests(TempStore temp) : IClassFixture<TempStore>
{
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
    public async Task ARefusalFromAnotherProcess_DoesNotReplaceAVectorMadeMeanwhile()
    {
        var home = temp.NewHome();
        await using (var service = temp.Open(home))
        {
            var stored = await service.RememberAsync(new RememberRequest("The nightly backup runs at 02:00 on the replica."));
            // Another process, whose provider refused the same text, saves its empty marker after this one's vector.
            await service.SaveVectorAsync(stored.Id, []);
        }

        await using var fresh = temp.Open(home);
        var explained = await fresh.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("nightly backup replica")));
        Assert.NotNull(Assert.Single(explained.Hits).Vector);
    }

    [Fact]
    [Trait("Store", "SqliteOnly")]
    public async Task AnIndexLeftBesideADeletedStore_IsBuiltAgain_NotTakenAsCurrent()
    {
        var home = temp.NewHome();
        await using (var old = temp.Open(home))
        {
            for (var i = 0; i < 5; i++)
            {
                await old.RememberAsync(new RememberRequest($"Old fact {i} about the legacy billing cron."));
            }

            Assert.NotEmpty((await old.RecallAsync(new RecallRequest("legacy billing cron"))).Memories); // the index on disk is written
        }

        // Starting over: the database goes, the index folder beside it stays.
        SqliteConnection.ClearAllPools();
        foreach (var file in Directory.GetFiles(home, "engram.db*"))
        {
            File.Delete(file);
        }

        await using var fresh = temp.Open(home);
        var stored = await fresh.RememberAsync(new RememberRequest("The deploy window is Tuesday morning."));
        var explained = await fresh.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("deploy window")));
        Assert.NotNull(Assert.Single(explained.Hits, h => h.Id == stored.Id).Lexical);
    }

    [Fact]
    public async Task Export_AMemoryForgottenElsewhereWhileExporting_LeavesNoOtherOut()
    {
        var home = temp.NewHome();
        await using var exporter = temp.Open(home);
        await using var other = temp.Open(home);
        var now = DateTimeOffset.UtcNow;
        var records = Enumerable.Range(1, 2100).Select(n => new MemoryRecord($"mem_export{n}", "user", $"Exported fact number {n}.", [], now, now, null, null)).ToList();
        await exporter.ImportAsync(records);

        var exported = new List<string>();
        await foreach (var record in exporter.ExportAsync())
        {
            exported.Add(record.Id);
            if (exported.Count == 1)
            {
                // Another process forgets a memory of the first page, already read: the pages after it must not shift.
                await other.ForgetAsync(new ForgetRequest(["mem_export5"]));
            }
        }

        Assert.Equal(records.Select(r => r.Id), exported);
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
            await Seed.FactsAsync(service);
            await service.RecallAsync(new RecallRequest("warm the index"));
        }

        Directory.Delete(TempStore.IndexFolder(home), recursive: true);
        await using var reopened = temp.Open(home);
        var result = await reopened.RecallAsync(new RecallRequest("Postgres"));
        Assert.Equal(Seed.Facts[0], result.Memories[0].Content);
        var explain = await reopened.ExplainAsync(new ExplainRequest(result.RetrievalId));
        Assert.NotNull(explain.Hits[0].Lexical);
    }

    [Fact]
    public async Task CorruptLexicalIndex_IsRebuiltFromSqlite()
    {
        var home = temp.NewHome();
        await using (var service = temp.Open(home))
        {
            await Seed.FactsAsync(service);
            await service.RecallAsync(new RecallRequest("warm the index"));
        }

        foreach (var file in Directory.GetFiles(TempStore.IndexFolder(home), "segments*"))
        {
            File.WriteAllBytes(file, [1, 2, 3]);
        }

        await using var reopened = temp.Open(home);
        var result = await reopened.RecallAsync(new RecallRequest("Helm deploy"));
        Assert.Equal(Seed.Facts[1], result.Memories[0].Content);
    }

    [Fact]
    [Trait("Store", "SqliteOnly")]
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
    [Trait("Store", "SqliteOnly")]
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
    [Trait("Store", "SqliteOnly")]
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
        Assert.Equal(8L, await command.ExecuteScalarAsync());
        command.CommandText = "SELECT COUNT(*) FROM changes;";
        Assert.Equal(1L, await command.ExecuteScalarAsync());
    }

    [Fact]
    [Trait("Store", "SqliteOnly")]
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
        // Saved checks arrived with schema 8.
        await service.AddCheckAsync("Where is LegacyImporter.cs?", ["mem_old"]);
        Assert.True(Assert.Single(await service.RunChecksAsync()).Passed);
    }

    [Fact]
    public async Task LexicalIndexDeletedWhileRunning_IsRebuiltAtTheNextRecall()
    {
        var home = temp.NewHome();
        await using var service = temp.Open(home);
        await Seed.FactsAsync(service);
        await service.RecallAsync(new RecallRequest("warm the index"));
        Directory.Delete(TempStore.IndexFolder(home), recursive: true);
        await service.RememberAsync(new RememberRequest("A fact written after the index vanished: the canary is teal."));
        var result = await service.RecallAsync(new RecallRequest("what colour is the canary"));
        Assert.Contains("teal", result.Memories[0].Content, StringComparison.Ordinal);
        Assert.Equal(Seed.Facts[1], (await service.RecallAsync(new RecallRequest("Helm deploy"))).Memories[0].Content);
    }
}
