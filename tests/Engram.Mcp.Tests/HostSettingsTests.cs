using Engram.Core;
using Engram.Mcp.Hosting;

namespace Engram.Mcp.Tests;

public sealed class HostSettingsTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "engram-host-" + Guid.NewGuid().ToString("N"));

    private string Repo(string path, string remote)
    {
        var dir = Path.Combine(_root, path);
        Directory.CreateDirectory(Path.Combine(dir, ".git"));
        File.WriteAllText(Path.Combine(dir, ".git", "config"), $"[remote \"origin\"]\n\turl = {remote}\n");
        return dir;
    }

    private static Func<string, string?> Env(params (string Key, string Value)[] vars) =>
        key => vars.FirstOrDefault(v => v.Key == key).Value;

    [Fact]
    public void Secrets_FromTheEnvironment_RefuseRedactOff_AndAnythingElseSaysWhatToSend()
    {
        Directory.CreateDirectory(_root);
        Assert.Null(HostSettings.Resolve([], Env(), _root).Secrets);
        Assert.Equal(Engram.Core.SecretPolicy.Redact, HostSettings.Resolve([], Env(("ENGRAM_SECRETS", "Redact")), _root).Secrets);
        Assert.Equal(Engram.Core.SecretPolicy.Off, HostSettings.Resolve([], Env(("ENGRAM_SECRETS", "off")), _root).Secrets);
        var e = Assert.Throws<Engram.Core.EngramArgumentException>(() => HostSettings.Resolve([], Env(("ENGRAM_SECRETS", "warn")), _root));
        Assert.Contains("refuse (the default), redact or off", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_Precedence_ScopeThenProjectThenClaudeDirThenGitRoot()
    {
        var cwd = Repo("cwd", "https://github.com/acme/cwd.git");
        var project = Repo("proj", "https://github.com/acme/proj.git");
        var claude = Repo("claude", "https://github.com/acme/claude.git");

        Assert.Equal("project:github.com/acme/cwd", HostSettings.Resolve([], Env(), cwd).DefaultScope);
        Assert.Equal("project:github.com/acme/claude", HostSettings.Resolve([], Env(("CLAUDE_PROJECT_DIR", claude)), cwd).DefaultScope);
        Assert.Equal("project:github.com/acme/proj", HostSettings.Resolve([], Env(("CLAUDE_PROJECT_DIR", claude), ("ENGRAM_PROJECT_ROOT", project)), cwd).DefaultScope);
        Assert.Equal("project:github.com/acme/claude", HostSettings.Resolve(["--project", claude], Env(("ENGRAM_PROJECT_ROOT", project)), cwd).DefaultScope);
        Assert.Equal("project:explicit", HostSettings.Resolve([], Env(("ENGRAM_SCOPE", "project:explicit"), ("ENGRAM_PROJECT_ROOT", project)), cwd).DefaultScope);
        Assert.Equal("user", HostSettings.Resolve(["--scope", "user"], Env(("ENGRAM_SCOPE", "project:explicit")), cwd).DefaultScope);
    }

    [Fact]
    public void Resolve_OutsideARepository_DefaultsToUser()
    {
        var plain = Path.Combine(_root, "plain");
        Directory.CreateDirectory(plain);
        var settings = HostSettings.Resolve([], Env(), plain);
        // /tmp is not inside a git work tree on the machines this runs on.
        Assert.Equal("user", settings.DefaultScope);
    }

    [Fact]
    public void Resolve_Home_FromFlagThenEnvironment()
    {
        Assert.Equal(Path.GetFullPath("/tmp/a"), HostSettings.Resolve(["--home", "/tmp/a"], Env(("ENGRAM_HOME", "/tmp/b")), _root).Home);
        Assert.Equal(Path.GetFullPath("/tmp/b"), HostSettings.Resolve([], Env(("ENGRAM_HOME", "/tmp/b")), _root).Home);

        // A store folder from the environment yields to --home; --store, a flag too, names the store.
        Assert.Equal(Path.GetFullPath("/tmp/a"), HostSettings.Resolve(["--home", "/tmp/a"], Env(("ENGRAM_STORE", "/tmp/team")), _root).Home);
        Assert.Equal(Path.GetFullPath("/tmp/team"), HostSettings.Resolve([], Env(("ENGRAM_STORE", "/tmp/team"), ("ENGRAM_HOME", "/tmp/b")), _root).Home);
        Assert.Equal(Path.GetFullPath("/tmp/team"), HostSettings.Resolve(["--home", "/tmp/a", "--store", "/tmp/team"], Env(), _root).Home);
    }

    [Theory]
    [InlineData("--scope", "../etc")]
    [InlineData("--bogus", "x")]
    [InlineData("--project", "/definitely/not/here")]
    public void Resolve_BadArguments_GiveAClearMessage(string flag, string value)
    {
        var e = Assert.Throws<EngramArgumentException>(() => HostSettings.Resolve([flag, value], Env(), _root));
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
    }

    [Fact]
    public void Embeddings_ComeFromTheFlagThenTheEnvironment_AndTimesAreChecked()
    {
        Assert.Null(HostSettings.Resolve([], Env(), _root).Embeddings); // unset: the shipped model
        var env = Env(("ENGRAM_EMBEDDINGS", "ollama:nomic-embed-text"), ("ENGRAM_EMBEDDINGS_URL", "http://gpu:11434"), ("ENGRAM_EMBEDDINGS_KEY", "k"), ("ENGRAM_EMBEDDINGS_TIMEOUT", "2.5"));
        var fromEnv = HostSettings.Resolve([], env, _root);
        Assert.Equal(("ollama:nomic-embed-text", "http://gpu:11434", "k", TimeSpan.FromSeconds(2.5)), (fromEnv.Embeddings, fromEnv.EmbeddingsUrl, fromEnv.EmbeddingsKey, fromEnv.EmbeddingsTimeout));
        Assert.Equal("openai:text-embedding-3-small", HostSettings.Resolve(["--embeddings", "openai:text-embedding-3-small"], env, _root).Embeddings);
        var e = Assert.Throws<EngramArgumentException>(() => HostSettings.Resolve([], Env(("ENGRAM_EMBEDDINGS_RETRY", "soon")), _root));
        Assert.Contains("ENGRAM_EMBEDDINGS_RETRY", e.Message, StringComparison.Ordinal);

        // Below the stated 0.1 s: no pause between failed attempts, or no time to embed at all.
        foreach (var (name, value) in new[] { ("ENGRAM_EMBEDDINGS_RETRY", "0.00000001"), ("ENGRAM_EMBEDDINGS_TIMEOUT", "0.05"), ("ENGRAM_EMBEDDINGS_TIMEOUT", "3601") })
        {
            var tooSmall = Assert.Throws<EngramArgumentException>(() => HostSettings.Resolve([], Env((name, value)), _root));
            Assert.Contains("from 0.1 to 3600", tooSmall.Message, StringComparison.Ordinal);
        }

        Assert.Equal(TimeSpan.FromSeconds(0.1), HostSettings.Resolve([], Env(("ENGRAM_EMBEDDINGS_RETRY", "0.1")), _root).EmbeddingsRetry);
    }

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }
}
