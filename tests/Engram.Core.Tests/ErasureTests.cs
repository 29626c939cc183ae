using System.Text;
using Engram.Core.Model;

namespace Engram.Core.Tests;

/// <summary>Forget means gone: no byte of a forgotten memory's text is left in any file under the store.</summary>
public sealed class ErasureTests(TempStore temp) : IClassFixture<TempStore>
{
    private const string Secret = "Engram canary: the vault passphrase is quartz-nebula-7741, rotate it monthly.";

    internal static List<string> FilesContaining(string home, params string[] needles)
    {
        var patterns = needles.SelectMany(n => new[] { Encoding.UTF8.GetBytes(n), Encoding.Unicode.GetBytes(n) }).ToList();
        var hits = new List<string>();
        foreach (var file in Directory.EnumerateFiles(home, "*", SearchOption.AllDirectories))
        {
            byte[] bytes;
            try
            {
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var copy = new MemoryStream();
                stream.CopyTo(copy);
                bytes = copy.ToArray();
            }
            catch (FileNotFoundException)
            {
                // Gone between listing and opening (SQLite removes its -shm and -wal files when the last connection closes,
                // Lucene its old segments): a file that no longer exists holds nothing.
                continue;
            }

            if (patterns.Any(p => bytes.AsSpan().IndexOf(p) >= 0))
            {
                hits.Add(Path.GetRelativePath(home, file));
            }
        }

        return hits;
    }

    [Fact]
    [Trait("Store", "SqliteOnly")]
    public async Task Forget_LeavesNoCopyOfTheTextInAnyFileUnderTheStore()
    {
        var home = temp.NewHome();
        var service = temp.Open(home);
        var random = new Random(5);
        await service.RememberManyAsync(Enumerable.Range(0, 400)
            .Select(i => new RememberRequest($"Filler fact {i}: the {random.Next(1000)} service talks to queue {random.Next(1000)} over gRPC.", Tags: ["filler"]))
            .ToList());
        var secret = await service.RememberAsync(new RememberRequest(Secret, Tags: ["secret"]));
        await service.RememberManyAsync(Enumerable.Range(400, 400).Select(i => new RememberRequest($"Filler fact {i}: nightly job {i} archives logs.")).ToList());
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(secret.Id, (await service.RecallAsync(new RecallRequest("vault passphrase quartz-nebula-7741"))).Memories[0].Id);
        }

        await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("vault passphrase")));
        Assert.NotEmpty(FilesContaining(home, "quartz-nebula-7741"));
        Assert.NotEmpty(FilesContaining(TempStore.IndexFolder(home), "quartz"));

        var forgotten = await service.ForgetAsync(new ForgetRequest([secret.Id]));
        Assert.Equal(1, forgotten.Count);
        Assert.True(forgotten.Residue.IsEmpty, forgotten.Residue.ToString());

        // While the service still runs (as a client would check right after forget) and after it closes. The index
        // holds analysed words, so its files are searched for those too.
        Assert.Empty(FilesContaining(home, Secret, "quartz-nebula-7741"));
        Assert.Empty(FilesContaining(TempStore.IndexFolder(home), "quartz", "nebula", "passphras"));
        await service.DisposeAsync();
        Assert.Empty(FilesContaining(home, Secret, "quartz-nebula-7741"));

        await using var reopened = temp.Open(home);
        Assert.DoesNotContain((await reopened.RecallAsync(new RecallRequest("vault passphrase quartz-nebula-7741", Limit: 100))).Memories, m => m.Id == secret.Id);
        Assert.Equal(100, (await reopened.RecallAsync(new RecallRequest("filler fact", Limit: 100))).Memories.Count);
    }

    [Fact(Timeout = 120_000)]
    [Trait("Store", "SqliteOnly")]
    public async Task Forget_WhileAnotherConnectionHoldsAnOldSnapshot_ReturnsAndLeavesTheWalForLater()
    {
        var home = temp.NewHome();
        await using var service = temp.Open(home);
        var fact = await service.RememberAsync(new RememberRequest("The staging password rotates on the first Monday."));
        await service.RecallAsync(new RecallRequest("staging password"));

        // Another process mid-read, on a snapshot from before the forget: the WAL cannot be emptied while it lasts.
        await using var reader = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(home, "engram.db")};Pooling=False");
        await reader.OpenAsync();
        await using var snapshot = reader.BeginTransaction(deferred: true);
        await using (var read = reader.CreateCommand())
        {
            read.Transaction = snapshot;
            read.CommandText = "SELECT COUNT(*) FROM memories;";
            Assert.Equal(1L, await read.ExecuteScalarAsync());
        }

        // The forget itself is done and acknowledged; the checkpoint gives up after a few seconds (it waited 30 s an
        // attempt, twenty attempts, before).
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = await service.ForgetAsync(new ForgetRequest([fact.Id]));
        Assert.Equal(1, result.Count);
        Assert.True(result.Residue.IsEmpty, result.Residue.ToString());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"forget took {clock.Elapsed}");

        // Once the reader is gone the next forget empties the WAL.
        await snapshot.RollbackAsync();
        await reader.CloseAsync();
        await service.ForgetAsync(new ForgetRequest(All: true, Scope: "user"));
        Assert.Empty(FilesContaining(home, "staging password rotates"));
    }

    [Fact]
    public async Task Forget_AWholeScope_LeavesNoCopyOfAnyOfItsTexts()
    {
        var home = temp.NewHome();
        await using var service = temp.Open(home);
        var texts = Enumerable.Range(0, 50).Select(i => $"Project secret {i}: token zircon{i:D3}-lattice").ToList();
        await service.RememberManyAsync(texts.Select(t => new RememberRequest(t, "project:acme/vault")).ToList());
        await service.RememberAsync(new RememberRequest("A user fact that stays.", "user"));
        await service.RecallAsync(new RecallRequest("zircon lattice token", "project:acme/vault"));

        var result = await service.ForgetAsync(new ForgetRequest(All: true, Scope: "project:acme/vault"));
        Assert.Equal(50, result.Count);
        Assert.True(result.Residue.IsEmpty);
        Assert.Empty(FilesContaining(home, texts.Select(t => t[t.IndexOf("zircon", StringComparison.Ordinal)..]).ToArray()));
        Assert.Single((await service.RecallAsync(new RecallRequest("user fact", "user"))).Memories);
    }
}
