using System.Text;
using Engram.Core.Model;
using Engram.Core.Storage;
using Engram.Core.Storage.Postgres;
using Npgsql;

namespace Engram.Core.Tests;

/// <summary>
/// What only PostgreSQL needs proving: a change feed that stays safe with concurrent writers, the connection string's
/// rules (no password), a clear retryable error when the server is away, and what a forget leaves on disk until
/// <c>compact</c>. The rest of the suite runs on PostgreSQL too (<c>ENGRAM_TEST_STORE=postgres</c>, as CI does).
/// </summary>
public sealed class PostgresStoreTests(TempStore temp) : IClassFixture<TempStore>
{
    private static PendingMemory Pending(string content, string scope = "user")
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var memory = new StoredMemory(Ids.New("mem_"), scope, content, [], now, now, null, null);
        return new PendingMemory(memory, Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(content))), null, [], []);
    }

    private async Task<(PostgresMemoryStore Store, string Database)> OpenStoreAsync()
    {
        var database = TestPostgres.DatabaseOf(temp.NewHome());
        return (await PostgresMemoryStore.OpenAsync(PostgresLocation.Parse(database)), database);
    }

    /// <summary>Waits until another session of <paramref name="database"/> is blocked on a lock (the feed lock), for at most 30 s.</summary>
    private static async Task WaitForALockWaiterAsync(string database)
    {
        await using var monitor = new NpgsqlConnection(database);
        await monitor.OpenAsync();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            await using var command = new NpgsqlCommand("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'", monitor);
            if ((long)(await command.ExecuteScalarAsync())! > 0)
            {
                return;
            }

            await Task.Yield();
        }

        throw new TimeoutException("No writer waited on the feed lock within 30 s.");
    }

    [Theory]
    [InlineData("57P05", true)] // an idle session closed by the server
    [InlineData("25006", true)] // a write on a primary a failover demoted
    [InlineData("40P01", true)] // a deadlock: the transaction was rolled back
    [InlineData("40001", true)]
    [InlineData("57P01", true)]
    [InlineData("23505", false)] // a unique key: a mistake in the call, not the server away
    [InlineData("42P01", false)]
    public void Failures_ThatPass_AreRetriedAndSaidSo_OthersAreNot(string sqlState, bool unavailable) =>
        Assert.Equal(unavailable, PostgresDatabase.IsUnavailable(new PostgresException("test", "ERROR", "ERROR", sqlState)));

    [PostgresFact]
    public async Task Schema1_IsMigrated_ItsForgetAuditGainsWhoForgot_AndAnchorsAndChecksAreAdded()
    {
        var (store, database) = await OpenStoreAsync();
        var id = store.StoreId;
        await store.DisposeAsync();
        await using (var connection = new NpgsqlConnection(database))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("DROP TABLE anchors; DROP TABLE check_memories; DROP TABLE checks; ALTER TABLE forget_audit DROP COLUMN principal; UPDATE engram_schema SET version = 1;", connection);
            await command.ExecuteNonQueryAsync();
        }

        await using var migrated = await PostgresMemoryStore.OpenAsync(PostgresLocation.Parse(database));
        Assert.Equal(id, migrated.StoreId);
        var pending = Pending("Forgotten by alice.");
        await migrated.InsertAsync([pending], null);
        await migrated.DeleteAsync([pending.Memory.Id], ForgetSelector.Ids, [], "alice");
        Assert.Equal("alice", Assert.Single(await migrated.ReadForgetAuditAsync()).Principal);
        Assert.Empty(await migrated.ChecksAsync(null));
        await using (var connection = new NpgsqlConnection(database))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT version FROM engram_schema", connection);
            Assert.Equal(PostgresMemoryStore.SchemaVersion, (int)(await command.ExecuteScalarAsync())!);
        }
    }

    [PostgresFact]
    public async Task Feed_AWriterHeldOpen_IsNeverPassedOver_ByAReaderOfLaterChanges()
    {
        var (store, database) = await OpenStoreAsync();
        await using var _ = store;
        await store.InsertAsync([Pending("The first fact is already committed.")], null);
        var seen = (await store.ReadChangesAsync(0)).Seq;

        // Writer A appends to the feed the way every write does (the feed lock first), then holds its transaction open.
        await using var a = new NpgsqlConnection(database);
        await a.OpenAsync();
        await using var txA = await a.BeginTransactionAsync();
        await PostgresDatabase.LockFeedAsync(a, txA, CancellationToken.None);
        var held = Pending("Writer A holds this fact in an open transaction.");
        await using (var insert = new NpgsqlCommand("""
            INSERT INTO memories(id, scope, content, content_hash, observed_at, created_at) VALUES($1, 'user', $2, $3, 0, 0);
            """, a, txA))
        {
            insert.Parameters.Add(new NpgsqlParameter { Value = held.Memory.Id });
            insert.Parameters.Add(new NpgsqlParameter { Value = held.Memory.Content });
            insert.Parameters.Add(new NpgsqlParameter { Value = held.ContentHash });
            await insert.ExecuteNonQueryAsync();
        }

        await using (var change = new NpgsqlCommand("INSERT INTO changes(memory_id, scope, deleted, at) VALUES($1, 'user', false, 0)", a, txA))
        {
            change.Parameters.Add(new NpgsqlParameter { Value = held.Memory.Id });
            await change.ExecuteNonQueryAsync();
        }

        // Writer B starts while A is open and must commit after it, never before.
        var b = store.InsertAsync([Pending("Writer B commits its fact while A is still open.")], null);
        await WaitForALockWaiterAsync(database);
        Assert.False(b.IsCompleted);
        var during = await store.ReadChangesAsync(seen);
        Assert.Equal(seen, during.Seq);
        Assert.Empty(during.Upserts);

        await txA.CommitAsync();
        await b;
        var after = await store.ReadChangesAsync(seen);
        Assert.Equal(
            ["Writer A holds this fact in an open transaction.", "Writer B commits its fact while A is still open."],
            after.Upserts.Select(u => u.Memory.Content).Where(c => c.StartsWith("Writer", StringComparison.Ordinal)).ToArray());
    }

    [PostgresFact]
    public async Task Feed_WithoutTheLock_ASequenceAloneWouldLoseTheEarlierWriter()
    {
        // Why the lock: two writers append without it; the one with the lower seq commits last, and a reader that
        // moved past the higher seq never reads the lower one.
        var (store, database) = await OpenStoreAsync();
        await using var _ = store;
        await using var x = new NpgsqlConnection(database);
        await using var y = new NpgsqlConnection(database);
        await x.OpenAsync();
        await y.OpenAsync();
        await using var txX = await x.BeginTransactionAsync();
        await using var txY = await y.BeginTransactionAsync();
        await using (var c = new NpgsqlCommand("INSERT INTO changes(memory_id, scope, deleted, at) VALUES('x', 'user', false, 0)", x, txX)) await c.ExecuteNonQueryAsync();
        await using (var c = new NpgsqlCommand("INSERT INTO changes(memory_id, scope, deleted, at) VALUES('y', 'user', false, 0)", y, txY)) await c.ExecuteNonQueryAsync();
        await txY.CommitAsync();
        var seen = await store.MaxSeqAsync();
        await txX.CommitAsync();

        Assert.Empty(await store.ChangedIdsAsync(seen, long.MaxValue, 10));
        Assert.Contains("x", await store.ChangedIdsAsync(0, long.MaxValue, 10));
    }

    [PostgresFact]
    public async Task ConcurrentWriters_OnThreeServices_AReaderCatchingUpThroughout_MissesNothing()
    {
        var home = temp.NewHome();
        var database = TestPostgres.DatabaseOf(home);
        var services = Enumerable.Range(0, 3).Select(i =>
        {
            var options = TempStore.Options(temp.NewHome());
            options.Store = database;
            return new MemoryService(options);
        }).ToList();
        await using var reader = await PostgresMemoryStore.OpenAsync(PostgresLocation.Parse(database));
        try
        {
            var writing = Task.WhenAll(services.Select((service, s) => Task.Run(async () =>
            {
                for (var i = 0; i < 40; i++)
                {
                    await service.RememberAsync(new RememberRequest($"Service {s} stored fact number {i} about queue q{s}-{i}."));
                }
            })));

            var seen = new HashSet<string>(StringComparer.Ordinal);
            var last = 0L;
            while (true)
            {
                var done = writing.IsCompleted;
                var batch = await reader.ReadChangesAsync(last);
                seen.UnionWith(batch.Upserts.Select(u => u.Memory.Id));
                last = batch.Seq;
                if (done)
                {
                    break;
                }
            }

            await writing;
            var stored = await reader.IdsInScopesAsync(["user"]);
            Assert.Equal(120, stored.Count);
            Assert.Empty(stored.Except(seen));
        }
        finally
        {
            foreach (var service in services)
            {
                await service.DisposeAsync();
            }
        }
    }

    [PostgresFact]
    public async Task Forget_OnPostgres_LeavesTheBytesInThePagesUntilCompact_ThenNone()
    {
        const string Canary = "Engram canary: the team vault passphrase is basalt-orbit-5520.";
        var home = temp.NewHome();
        var database = TestPostgres.DatabaseOf(home);
        var options = TempStore.Options(home);
        options.Store = database;
        await using var service = new MemoryService(options);
        await service.RememberManyAsync(Enumerable.Range(0, 200).Select(i => new RememberRequest($"Filler fact {i}: service s{i} talks to queue q{i}.")).ToList());
        var canary = await service.RememberAsync(new RememberRequest(Canary));
        Assert.Equal(canary.Id, (await service.RecallAsync(new RecallRequest("team vault passphrase"))).Memories[0].Id);
        var forgotten = await service.ForgetAsync(new ForgetRequest([canary.Id]));
        Assert.Equal(1, forgotten.Count);
        Assert.True(forgotten.Residue.IsEmpty);

        var files = await DatabaseFilesAsync(database);
        Assert.NotEmpty(FilesHolding(files, Canary));

        Assert.True(await service.CompactAsync());
        files = await DatabaseFilesAsync(database);
        Assert.Empty(await RelationsOfAsync(database, FilesHolding(files, Canary)));
        Assert.Empty(ErasureTests.FilesContaining(home, Canary));
    }

    [PostgresFact]
    public async Task Compact_WithATransactionOlderThanTheForgetOpen_SaysSo_AndErasesOnceItEnds()
    {
        const string Canary = "Engram canary: the staging root password is marble-comet-8812.";
        var (store, database) = await OpenStoreAsync();
        await using var _ = store;
        var canary = Pending(Canary);
        await store.InsertAsync([canary, Pending("A fact that stays.")], null);

        // A transaction that began before the forget can still see the row, so a rewrite must keep it for that
        // transaction. (This one reads another table: one that read the memories would hold a lock the rewrite waits for.)
        await using var old = new NpgsqlConnection(database);
        await old.OpenAsync();
        var snapshot = await old.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead);
        await using (var read = new NpgsqlCommand("SELECT COUNT(*) FROM scope_embeddings", old, snapshot))
        {
            await read.ExecuteScalarAsync();
        }

        await store.DeleteAsync([canary.Memory.Id], ForgetSelector.Ids, [], null);
        Assert.False(await store.CompactAsync(TimeSpan.FromSeconds(1)));
        Assert.NotEmpty(FilesHolding(await DatabaseFilesAsync(database), Canary)); // kept for the older transaction

        await snapshot.CommitAsync();
        Assert.True(await store.CompactAsync(TimeSpan.FromSeconds(30)));
        Assert.Empty(FilesHolding(await DatabaseFilesAsync(database), Canary));
    }

    /// <summary>The files of the database (its folder under the data directory), after a checkpoint wrote every page out.</summary>
    private static async Task<string> DatabaseFilesAsync(string database)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using (var checkpoint = new NpgsqlCommand("CHECKPOINT", connection))
        {
            await checkpoint.ExecuteNonQueryAsync();
        }

        await using var command = new NpgsqlCommand("SELECT current_setting('data_directory') || '/base/' || oid FROM pg_database WHERE datname = current_database()", connection);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    [PostgresFact]
    public async Task Compact_WithAWritingTransactionOfAnotherDatabaseOpen_SaysSo_AndErasesOnceItEnds()
    {
        // Another team's database on the same server: its open writing transaction holds back what VACUUM FULL may drop here.
        const string Canary = "Engram canary: the build signing key passphrase is cobalt-lantern-3307.";
        var (store, database) = await OpenStoreAsync();
        await using var _ = store;
        var canary = Pending(Canary);
        await store.InsertAsync([canary, Pending("A fact that stays.")], null);

        await using var other = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(database) { Database = "postgres", Pooling = false }.ConnectionString);
        await other.OpenAsync();
        var writing = await other.BeginTransactionAsync();
        await using (var xid = new NpgsqlCommand("SELECT pg_current_xact_id()", other, writing))
        {
            await xid.ExecuteScalarAsync();
        }

        await store.DeleteAsync([canary.Memory.Id], ForgetSelector.Ids, [], null);
        Assert.False(await store.CompactAsync(TimeSpan.FromSeconds(1)));
        Assert.NotEmpty(FilesHolding(await DatabaseFilesAsync(database), Canary)); // kept while that transaction runs

        await writing.RollbackAsync();
        Assert.True(await store.CompactAsync(TimeSpan.FromSeconds(30)));
        Assert.Empty(await RelationsOfAsync(database, FilesHolding(await DatabaseFilesAsync(database), Canary)));
    }

    /// <summary>The relations (by name, with the file) that files of the database's folder belong to, so a failure says which.</summary>
    private static async Task<List<string>> RelationsOfAsync(string database, List<string> files)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        var names = new List<string>();
        foreach (var file in files)
        {
            await using var command = new NpgsqlCommand("SELECT COALESCE(pg_filenode_relation(0, $1::oid)::text, 'no relation')", connection);
            command.Parameters.Add(new NpgsqlParameter { Value = long.Parse(file.Split('.', '_')[0], System.Globalization.CultureInfo.InvariantCulture) });
            names.Add($"{file} ({await command.ExecuteScalarAsync()})");
        }

        return names;
    }

    private static List<string> FilesHolding(string folder, string text)
    {
        Assert.True(Directory.Exists(folder), $"The database's folder {folder} is not readable here: run the tests on the machine of the PostgreSQL server.");
        return ErasureTests.FilesContaining(folder, text);
    }

    [PostgresFact]
    public async Task Export_FromSqlite_ImportedIntoPostgres_AndBack_KeepsIdsTimesTagsAndSupersession()
    {
        await using var personal = new MemoryService(new EngramOptions { HomeDirectory = temp.NewHome() });
        var old = await personal.RememberAsync(new RememberRequest("The team runs Postgres 14.", Tags: ["db"], ObservedAt: new DateTimeOffset(2025, 1, 5, 9, 0, 0, TimeSpan.Zero)));
        await personal.RememberAsync(new RememberRequest("The team moved to Postgres 16.", Tags: ["db", "decision"], Supersedes: [old.Id]));
        await personal.RememberAsync(new RememberRequest("Ana reviews the schema changes.", Scope: "project:github.com/acme/api"));
        var exported = await personal.ExportAsync().ToListAsync();

        var teamHome = temp.NewHome();
        var team = TempStore.Options(teamHome);
        team.Store = TestPostgres.DatabaseOf(teamHome);
        await using (var service = new MemoryService(team))
        {
            var imported = await service.ImportAsync(exported);
            Assert.Equal(3, imported.Created);
            Assert.Equal(1, imported.Superseded);
            Assert.Equal(Sorted(exported), Sorted(await service.ExportAsync().ToListAsync()));
        }

        // And back into a fresh personal store.
        await using var back = new MemoryService(new EngramOptions { HomeDirectory = temp.NewHome() });
        await using (var service = new MemoryService(team))
        {
            await back.ImportAsync(await service.ExportAsync().ToListAsync());
        }

        Assert.Equal(Sorted(exported), Sorted(await back.ExportAsync().ToListAsync()));
    }

    private static List<string> Sorted(IEnumerable<MemoryRecord> records) =>
        records.Select(r => System.Text.Json.JsonSerializer.Serialize(r)).Order(StringComparer.Ordinal).ToList();

    [PostgresFact]
    public async Task ConnectionsCutUnderLoad_CallsFailRetryably_AndNoAcknowledgedWriteIsLost()
    {
        var home = temp.NewHome();
        var options = TempStore.Options(home);
        options.Store = TestPostgres.DatabaseOf(home);
        await using var service = new MemoryService(options);
        await service.RememberAsync(new RememberRequest("Warm-up fact so the store is open."));
        var acknowledged = new System.Collections.Concurrent.ConcurrentBag<string>();
        var unavailable = 0;
        using var stop = new CancellationTokenSource();

        // Every tenth of a second the server drops every connection of this database, as a restart does.
        var cutter = Task.Run(async () =>
        {
            await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(options.Store) { Database = "postgres", Pooling = false }.ConnectionString);
            await admin.OpenAsync();
            var cuts = 0;
            while (!stop.IsCancellationRequested)
            {
                await using var command = new NpgsqlCommand("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", admin);
                command.Parameters.Add(new NpgsqlParameter { Value = new NpgsqlConnectionStringBuilder(options.Store).Database });
                await command.ExecuteScalarAsync();
                cuts++;
                await Task.Delay(100);
            }

            return cuts;
        });

        var writers = Enumerable.Range(0, 2).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 60; i++)
            {
                try
                {
                    var r = await service.RememberAsync(new RememberRequest($"Writer {w} fact {i}: build agent a{w}-{i} runs the nightly job."));
                    acknowledged.Add(r.Id);
                    await service.RecallAsync(new RecallRequest($"build agent a{w}-{i}"));
                }
                catch (EngramUnavailableException)
                {
                    Interlocked.Increment(ref unavailable);
                }
            }
        })).ToList();
        await Task.WhenAll(writers);
        await stop.CancelAsync();
        Assert.True(await cutter > 0);

        // The service recovers by itself, and every acknowledged write is there.
        var stored = (await service.ExportAsync().ToListAsync()).Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
        Assert.DoesNotContain(acknowledged, id => !stored.Contains(id));
        Assert.False(acknowledged.IsEmpty);
        Assert.NotEmpty((await service.RecallAsync(new RecallRequest("build agent nightly job"))).Memories);
    }

    [Fact]
    public async Task Store_UnreachableServer_IsAClearRetryableError_WithoutTheConnectionString()
    {
        var options = TempStore.Options(temp.NewHome());
        options.Store = "postgres://engram@127.0.0.1:1/engram?connect_timeout=2";
        await using var service = new MemoryService(options);
        var e = await Assert.ThrowsAsync<EngramUnavailableException>(() => service.RecallAsync(new RecallRequest("anything")));
        Assert.Contains("cannot be reached right now", e.Message, StringComparison.Ordinal);
        Assert.Contains("Retry", e.Message, StringComparison.Ordinal);
        // The service is not stuck on the failure: the next call tries again (and fails the same way here).
        await Assert.ThrowsAsync<EngramUnavailableException>(() => service.RecallAsync(new RecallRequest("anything")));
    }

    [Theory]
    [InlineData("postgres://engram:s3cr3t-pw@db.example:5432/engram")]
    [InlineData("Host=db.example;Username=engram;Password=s3cr3t-pw;Database=engram")]
    [InlineData("postgresql://engram@db.example/engram?password=s3cr3t-pw")]
    public void ConnectionString_WithAPassword_IsRefused_WithoutRepeatingIt(string store)
    {
        var e = Assert.Throws<EngramArgumentException>(() => EngramOptions.DescribeConnectionString(store));
        Assert.DoesNotContain("s3cr3t-pw", e.Message, StringComparison.Ordinal);
        Assert.Contains("PGPASSWORD", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("postgres://engram@db.example:5433/team", "postgres://engram@db.example:5433/team")]
    [InlineData("postgresql://db.example/team?sslmode=require", "postgres://db.example/team")]
    [InlineData("Host=db.example;Username=engram;Database=team", "postgres://engram@db.example/team")]
    public void ConnectionString_BothForms_AreReadAndShownWithoutSecrets(string store, string shown)
    {
        Assert.True(EngramOptions.IsConnectionString(store));
        Assert.Equal(shown, EngramOptions.DescribeConnectionString(store));
    }

    [Theory]
    [InlineData("/home/ana/.engram")]
    [InlineData("C:\\Users\\ana\\engram")]
    [InlineData("relative/folder")]
    public void Folder_IsNotAConnectionString(string store) => Assert.False(EngramOptions.IsConnectionString(store));

    [Fact]
    public void ConnectionString_Malformed_SaysWhatToSend() =>
        Assert.Contains("postgres://user@host:5432/database", Assert.Throws<EngramArgumentException>(() => EngramOptions.DescribeConnectionString("postgres://")).Message, StringComparison.Ordinal);
}
