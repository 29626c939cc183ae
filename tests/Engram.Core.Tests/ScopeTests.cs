using Engram.Core.Curation;
using Engram.Core.Scopes;

namespace Engram.Core.Tests;

public class RemoteUrlTests
{
    [Theory]
    [InlineData("https://github.com/acme/widgets.git", "github.com/acme/widgets")]
    [InlineData("git@github.com:acme/widgets.git", "github.com/acme/widgets")]
    [InlineData("ssh://git@github.com/acme/widgets", "github.com/acme/widgets")]
    [InlineData("ssh://git@github.com:22/acme/widgets.git/", "github.com/acme/widgets")]
    [InlineData("https://user:token@GitHub.com/Acme/Widgets", "github.com/acme/widgets")]
    [InlineData("git://gitlab.example.org/group/sub/repo.git", "gitlab.example.org/group/sub/repo")]
    [InlineData("gitlab.example.org:group/repo", "gitlab.example.org/group/repo")]
    public void NormalizeRemoteUrl_GivesHostAndPath(string url, string expected)
    {
        Assert.Equal(expected, ProjectIdentity.NormalizeRemoteUrl(url));
    }

    [Theory]
    [InlineData("/srv/git/widgets.git")]
    [InlineData("../widgets")]
    [InlineData("file:///srv/git/widgets.git")]
    [InlineData("C:/repos/widgets")]
    [InlineData("")]
    public void NormalizeRemoteUrl_LocalPaths_GiveNull(string url)
    {
        Assert.Null(ProjectIdentity.NormalizeRemoteUrl(url));
    }
}

public class ScopeNameTests
{
    [Theory]
    [InlineData("user", "user")]
    [InlineData(" USER ", "user")]
    [InlineData("project:github.com/acme/widgets", "project:github.com/acme/widgets")]
    [InlineData("Project:GitHub.com/Acme/Widgets", "project:github.com/acme/widgets")]
    public void Normalize_AcceptsValidScopes(string scope, string expected)
    {
        Assert.Equal(expected, ScopeName.Normalize(scope));
    }

    [Theory]
    [InlineData("")]
    [InlineData("project:")]
    [InlineData("../etc")]
    [InlineData("/etc/passwd")]
    [InlineData("project:../../etc")]
    [InlineData("project:/abs")]
    [InlineData("project:a//b")]
    [InlineData("project:a b")]
    [InlineData("team:x")]
    [InlineData("C:\\Users\\x")]
    public void Normalize_RejectsAnythingElse_WithTheSyntaxInTheMessage(string scope)
    {
        var e = Assert.Throws<EngramArgumentException>(() => ScopeName.Normalize(scope));
        Assert.Contains("'user' or 'project:<key>'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Project_CleansAKeyIntoTheSyntax()
    {
        Assert.Equal("project:my-repo/x", ScopeName.Project("My Repo//x"));
    }
}

public class ContentHashTests
{
    [Theory]
    [InlineData("We use pnpm.", "we use pnpm")]
    [InlineData("  We   use\tpnpm!!  ", "WE USE PNPM")]
    public void Compute_IgnoresCaseSpacingAndTrailingPunctuation(string a, string b)
    {
        Assert.Equal(ContentHash.Compute(a), ContentHash.Compute(b));
    }

    [Fact]
    public void Compute_DifferentWords_DifferentHash()
    {
        Assert.NotEqual(ContentHash.Compute("We use pnpm"), ContentHash.Compute("We use npm"));
    }
}

public sealed class ProjectIdentityTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "engram-git-" + Guid.NewGuid().ToString("N"));

    private string Repo(string path, string? remote)
    {
        var dir = Path.Combine(_root, path);
        Directory.CreateDirectory(Path.Combine(dir, ".git"));
        File.WriteAllText(Path.Combine(dir, ".git", "config"), remote is null
            ? "[core]\n\tbare = false\n"
            : $"[core]\n\tbare = false\n[remote \"origin\"]\n\turl = {remote}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n");
        return dir;
    }

    [Fact]
    public void ScopeFor_ClonesWithHttpsAndSshRemotes_ShareTheScope()
    {
        var a = Repo("a/widgets", "https://github.com/acme/widgets.git");
        var b = Repo("b/widgets-clone", "git@github.com:acme/widgets.git");
        Directory.CreateDirectory(Path.Combine(b, "src", "deep"));
        Assert.Equal("project:github.com/acme/widgets", ProjectIdentity.ScopeFor(a));
        Assert.Equal(ProjectIdentity.ScopeFor(a), ProjectIdentity.ScopeFor(Path.Combine(b, "src", "deep")));
    }

    [Fact]
    public void ScopeFor_SameFolderNameDifferentRepos_DoNotShare()
    {
        var a = Repo("x/app", "https://github.com/acme/app.git");
        var b = Repo("y/app", "https://github.com/other/app.git");
        var c = Repo("z/app", null);
        var d = Repo("w/app", null);
        Assert.NotEqual(ProjectIdentity.ScopeFor(a), ProjectIdentity.ScopeFor(b));
        Assert.NotEqual(ProjectIdentity.ScopeFor(c), ProjectIdentity.ScopeFor(d));
        Assert.StartsWith("project:local/app-", ProjectIdentity.ScopeFor(c), StringComparison.Ordinal);
    }

    [Fact]
    public void ScopeFor_Worktree_SharesTheMainRepositorysScope()
    {
        var main = Repo("main/repo", null);
        var gitDir = Path.Combine(main, ".git", "worktrees", "feature");
        Directory.CreateDirectory(gitDir);
        File.WriteAllText(Path.Combine(gitDir, "commondir"), "../..\n");
        var worktree = Path.Combine(_root, "elsewhere", "feature");
        Directory.CreateDirectory(worktree);
        File.WriteAllText(Path.Combine(worktree, ".git"), $"gitdir: {gitDir}\n");
        Assert.Equal(ProjectIdentity.ScopeFor(main), ProjectIdentity.ScopeFor(worktree));
    }

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }
}

/// <summary>Clones whose <c>origin</c> is a folder on this machine, made with the real git in a temp folder.</summary>
public sealed class LocalCloneIdentityTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "engram-clones-" + Guid.NewGuid().ToString("N"));

    public LocalCloneIdentityTests() => Directory.CreateDirectory(_root);

    private void Git(params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo("git") { WorkingDirectory = _root, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main", .. args])
        {
            start.ArgumentList.Add(a);
        }

        start.Environment["GIT_TERMINAL_PROMPT"] = "0";
        using var git = System.Diagnostics.Process.Start(start)!;
        var errors = git.StandardError.ReadToEndAsync();
        git.StandardOutput.ReadToEnd();
        git.WaitForExit();
        Assert.True(git.ExitCode == 0, $"git {string.Join(' ', args)}: {errors.Result}");
    }

    private string NewRepository(string name, string? remote = null)
    {
        Git("init", "-q", name);
        Git("-C", name, "commit", "-q", "--allow-empty", "-m", "first");
        if (remote is not null)
        {
            Git("-C", name, "remote", "add", "origin", remote);
        }

        return Path.Combine(_root, name);
    }

    private string Clone(string source, string name)
    {
        Git("clone", "-q", source, name);
        return Path.Combine(_root, name);
    }

    [Fact]
    public void ScopeFor_ClonesOfALocalRepository_ShareItsScope_HoweverTheyNamedIt()
    {
        var origin = NewRepository("widgets");
        var byPath = Clone(origin, "clone-by-path");
        var byRelativePath = Clone("./widgets", "clone-by-relative-path");
        var byFileUrl = Clone(new Uri(origin).AbsoluteUri, "clone-by-file-url");
        var bare = Clone(origin, "widgets-bare.git");
        Git("clone", "-q", "--bare", origin, "mirror.git");
        var throughBare = Clone(Path.Combine(_root, "mirror.git"), "clone-of-bare");

        var scope = ProjectIdentity.ScopeFor(origin);
        Assert.StartsWith("project:local/widgets-", scope, StringComparison.Ordinal);
        Assert.All(new[] { byPath, byRelativePath, byFileUrl, bare, throughBare }, clone => Assert.Equal(scope, ProjectIdentity.ScopeFor(clone)));
        var clone2 = Clone(byPath, "clone-of-clone");
        Directory.CreateDirectory(Path.Combine(clone2, "src"));
        Assert.Equal(scope, ProjectIdentity.ScopeFor(Path.Combine(clone2, "src")));
    }

    [Fact]
    public void ScopeFor_LocalCloneOfAHostedRepository_TakesTheHostedIdentity()
    {
        var checkout = NewRepository("checkout", "git@github.com:acme/widgets.git");
        Assert.Equal("project:github.com/acme/widgets", ProjectIdentity.ScopeFor(Clone(checkout, "local-clone")));
    }

    [Fact]
    public void ScopeFor_ClonesOfDifferentLocalRepositoriesWithOneName_DoNotShare()
    {
        Directory.CreateDirectory(Path.Combine(_root, "x"));
        Directory.CreateDirectory(Path.Combine(_root, "y"));
        var a = Clone(NewRepository("x/app"), "a-app");
        var b = Clone(NewRepository("y/app"), "b-app");
        Assert.NotEqual(ProjectIdentity.ScopeFor(a), ProjectIdentity.ScopeFor(b));
    }

    [Fact]
    public void ScopeFor_ClonesOfARepositoryThatIsGone_StillShare()
    {
        var origin = NewRepository("gone");
        var a = Clone(origin, "a");
        var b = Clone(origin, "b");
        Directory.Delete(origin, recursive: true);
        Assert.Equal(ProjectIdentity.ScopeFor(a), ProjectIdentity.ScopeFor(b));
        Assert.NotEqual(ProjectIdentity.ScopeFor(a), ProjectIdentity.ScopeFor(Clone(NewRepository("other"), "c")));
    }

    [Theory]
    [InlineData("/srv/git/widgets.git", "/srv/git/widgets.git")]
    [InlineData("../widgets/", "/work/widgets")]
    [InlineData("file:///srv/git/widgets.git", "/srv/git/widgets.git")]
    [InlineData("https://github.com/acme/widgets.git", null)]
    [InlineData("git@github.com:acme/widgets.git", null)]
    public void LocalRemotePath_ReadsPathsAndFileUrls_Only(string url, string? expected)
    {
        Assert.Equal(expected is null ? null : Path.GetFullPath(expected), ProjectIdentity.LocalRemotePath(url, Path.GetFullPath("/work/repo")));
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            // git writes its objects read-only.
            foreach (var file in Directory.EnumerateFiles(_root, "*", SearchOption.AllDirectories))
            {
                File.SetAttributes(file, FileAttributes.Normal);
            }

            Directory.Delete(_root, recursive: true);
        }
    }
}
