using Engram.Core;

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

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }
}
