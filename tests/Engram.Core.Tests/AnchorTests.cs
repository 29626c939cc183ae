using System.Text;
using Engram.Core.Model;

namespace Engram.Core.Tests;

/// <summary>
/// Code-anchored memories: remember records the blob hash of each file a memory names in the work tree; recall and
/// explain mark the memory once the file changed or vanished; remembering the fact again re-anchors it.
/// </summary>
public sealed class AnchorTests(TempStore temp) : IClassFixture<TempStore>
{
    /// <summary>A work tree with one source file, and a service running in it.</summary>
    private (MemoryService Service, string Root) Open()
    {
        var root = Path.Combine(temp.Root, "repo-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(root, "src", "Billing"));
        Directory.CreateDirectory(Path.Combine(root, ".git"));
        File.WriteAllText(Path.Combine(root, "src", "Billing", "RetryPolicy.cs"), "class RetryPolicy { const int Max = 5; }\n");
        var options = TempStore.Options(temp.NewHome(), "project:acme/billing");
        options.ProjectRoot = root;
        return (new MemoryService(options), root);
    }

    [Fact]
    public void BlobHash_IsGits()
    {
        // `printf 'hello\n' | git hash-object --stdin`
        Assert.Equal("ce013625030ba8dba906f756967f9e9ca394464a", CodeAnchors.BlobHash(Encoding.ASCII.GetBytes("hello\n")));
    }

    [Fact]
    public async Task ChangedThenDeleted_AreMarkedInRecallExplainAndStale_AndRememberingAgainReanchors()
    {
        var (service, root) = Open();
        await using var _ = service;
        const string Fact = "The retry logic lives in src/Billing/RetryPolicy.cs and caps at 5 attempts (see https://example.com/docs/retry.html).";
        var fact = await service.RememberAsync(new RememberRequest(Fact));
        var file = Path.Combine(root, "src", "Billing", "RetryPolicy.cs");

        Assert.Null((await service.RecallAsync(new RecallRequest("where is the retry logic"))).Memories[0].Stale);
        Assert.Empty(await service.StaleAsync());

        File.WriteAllText(file, "class RetryPolicy { const int Max = 7; }\n");
        File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddMinutes(1));
        var recalled = (await service.RecallAsync(new RecallRequest("where is the retry logic"))).Memories[0];
        Assert.Equal(fact.Id, recalled.Id);
        var stale = Assert.Single(recalled.Stale!);
        Assert.Equal(("src/Billing/RetryPolicy.cs", "changed"), (stale.Path, stale.State));
        Assert.NotNull(stale.Since);
        var explained = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("where is the retry logic")));
        Assert.Equal("changed", Assert.Single(explained.Hits[0].Stale!).State);
        Assert.Equal([fact.Id], (await service.StaleAsync()).Select(s => s.Memory.Id));

        // Remembering the fact again anchors it to the file as it is now.
        Assert.Equal(RememberStatus.Duplicate, (await service.RememberAsync(new RememberRequest(Fact))).Status);
        Assert.Null((await service.RecallAsync(new RecallRequest("where is the retry logic"))).Memories[0].Stale);

        File.Delete(file);
        Assert.Equal("deleted", Assert.Single((await service.RecallAsync(new RecallRequest("where is the retry logic"))).Memories[0].Stale!).State);
    }

    [Fact]
    public async Task OutsideAWorkTree_OrForFilesThatDoNotExist_NothingIsAnchored()
    {
        var (service, _) = Open();
        await using (service)
        {
            await service.RememberAsync(new RememberRequest("The docs mention src/Nowhere/Missing.cs and ../../etc/passwd.txt, neither in the tree."));
            Assert.Null((await service.RecallAsync(new RecallRequest("docs mention"))).Memories[0].Stale);
        }

        // A link out of the tree is not followed.
        var (linked, linkedRoot) = Open();
        await using (linked)
        {
            var outside = Path.Combine(temp.Root, "outside-" + Guid.NewGuid().ToString("N")[..8] + ".txt");
            File.WriteAllText(outside, "not in the tree\n");
            File.CreateSymbolicLink(Path.Combine(linkedRoot, "notes.txt"), outside);
            await linked.RememberAsync(new RememberRequest("The release notes live in notes.txt."));
            File.WriteAllText(outside, "changed outside the tree\n");
            Assert.Null((await linked.RecallAsync(new RecallRequest("release notes"))).Memories[0].Stale);
        }

        await using var plain = temp.Open();
        await plain.RememberAsync(new RememberRequest("The retry logic lives in src/Billing/RetryPolicy.cs."));
        Assert.Empty(await plain.StaleAsync());
    }

    [Fact]
    public async Task AFileMovedToAnotherFolder_IsRenamed_WithWhereItWent()
    {
        var (service, root) = Open();
        await using var _ = service;
        var fact = await service.RememberAsync(new RememberRequest("The retry logic lives in src/Billing/RetryPolicy.cs and caps at 5 attempts."));
        Directory.CreateDirectory(Path.Combine(root, "src", "Payments"));
        File.Move(Path.Combine(root, "src", "Billing", "RetryPolicy.cs"), Path.Combine(root, "src", "Payments", "RetryPolicy.cs"));

        var stale = Assert.Single((await service.RecallAsync(new RecallRequest("where is the retry logic"))).Memories[0].Stale!);
        Assert.Equal(("src/Billing/RetryPolicy.cs", "renamed", "src/Payments/RetryPolicy.cs"), (stale.Path, stale.State, stale.To));
        Assert.NotNull(stale.Since);
        Assert.Equal("renamed", Assert.Single(Assert.Single(await service.StaleAsync(), s => s.Memory.Id == fact.Id).Stale).State);

        // Changed after the move, it is no longer the same file: deleted (the finder's answer is checked against the file as it is).
        var moved = Path.Combine(root, "src", "Payments", "RetryPolicy.cs");
        File.AppendAllText(moved, "// and more\n");
        File.SetLastWriteTimeUtc(moved, DateTime.UtcNow.AddMinutes(1));
        Assert.Equal("deleted", Assert.Single((await service.RecallAsync(new RecallRequest("where is the retry logic"))).Memories[0].Stale!).State);
    }

    [Fact]
    public async Task AGitMv_ToAnotherName_IsFoundThroughGitsIndex()
    {
        var (service, root) = Open();
        await using var _ = service;
        Git(root, "init", "-q");
        Git(root, "add", "src/Billing/RetryPolicy.cs");
        await service.RememberAsync(new RememberRequest("The retry logic lives in src/Billing/RetryPolicy.cs and caps at 5 attempts."));
        Git(root, "mv", "src/Billing/RetryPolicy.cs", "src/Billing/Retries.cs");

        var stale = Assert.Single((await service.RecallAsync(new RecallRequest("where is the retry logic"))).Memories[0].Stale!);
        Assert.Equal(("renamed", "src/Billing/Retries.cs"), (stale.State, stale.To));
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void GitIndex_ReadsEveryVersion_PathsAndBlobHashes(int version)
    {
        var root = Path.Combine(temp.Root, "index-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(root, "src", "deep", "er"));
        File.WriteAllText(Path.Combine(root, "a.txt"), "hello\n");
        File.WriteAllText(Path.Combine(root, "src", "deep", "er", "b.cs"), "class B {}\n");
        File.WriteAllText(Path.Combine(root, "src", "deep", "c.cs"), "class C {}\n");
        Git(root, "init", "-q");
        Git(root, "add", ".");
        // Version 3 carries extended flags only on entries that need one: an intent-to-add entry does.
        File.WriteAllText(Path.Combine(root, "src", "later.cs"), "class Later {}\n");
        Git(root, "add", "-N", "src/later.cs");
        Git(root, "update-index", "--index-version", version.ToString(System.Globalization.CultureInfo.InvariantCulture));

        var entries = GitIndex.Read(File.ReadAllBytes(Path.Combine(root, ".git", "index")));
        Assert.Contains(("a.txt", "ce013625030ba8dba906f756967f9e9ca394464a"), entries);
        Assert.Contains(("src/deep/er/b.cs", CodeAnchors.BlobHash(Encoding.ASCII.GetBytes("class B {}\n"))), entries);
        Assert.Contains(("src/deep/c.cs", CodeAnchors.BlobHash(Encoding.ASCII.GetBytes("class C {}\n"))), entries);
        Assert.Contains(entries, e => e.Path == "src/later.cs");
        Assert.Empty(GitIndex.Read("not an index"u8));
    }

    private static void Git(string root, params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo("git") { WorkingDirectory = root, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var git = System.Diagnostics.Process.Start(start)!;
        var error = git.StandardError.ReadToEnd();
        git.WaitForExit();
        Assert.True(git.ExitCode == 0, $"git {string.Join(' ', args)}: {error}");
    }
}
