using Engram.Core;
using Engram.Core.Scopes;

namespace Engram.Mcp;

/// <summary>
/// What the host was asked for on the command line and in the environment: where the store is and which scope is
/// the default. The project scope resolves in PRODUCT.md's order: <c>--scope</c>/<c>ENGRAM_SCOPE</c>,
/// <c>--project</c>/<c>ENGRAM_PROJECT_ROOT</c>, <c>CLAUDE_PROJECT_DIR</c>, then the git root of the working directory.
/// </summary>
internal sealed record HostSettings(string Home, string DefaultScope, string ScopeSource, bool ShowHelp, bool ShowVersion)
{
    public const string Usage = """
        engram: long-term memory for coding assistants, served over MCP (stdio).

        Usage: engram [options]

        Options:
          --home <dir>       Store folder (default: $ENGRAM_HOME, else ~/.engram)
          --scope <scope>    Default scope: 'user' or 'project:<key>' (default: $ENGRAM_SCOPE, else resolved from the project)
          --project <dir>    Project folder whose repository identity names the scope (default: $ENGRAM_PROJECT_ROOT,
                             else $CLAUDE_PROJECT_DIR, else the working directory's git root)
          --version          Print the version
          -h, --help         Print this help

        With no options it serves MCP over stdio: stdout carries only the protocol, logs go to stderr
        (level from $ENGRAM_LOG_LEVEL: Trace, Debug, Information, Warning, Error; default Information).
        """;

    /// <summary>Parses arguments and environment; throws <see cref="EngramArgumentException"/> with a usable message.</summary>
    public static HostSettings Resolve(IReadOnlyList<string> args, Func<string, string?> environment, string workingDirectory)
    {
        string? home = null, scope = null, project = null;
        bool help = false, version = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string Value() => i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal)
                ? args[++i]
                : throw new EngramArgumentException($"{arg} needs a value. {UsageHint}");
            switch (arg)
            {
                case "--home": home = Value(); break;
                case "--scope": scope = Value(); break;
                case "--project": project = Value(); break;
                case "-h" or "--help": help = true; break;
                case "--version": version = true; break;
                default: throw new EngramArgumentException($"Unknown argument '{arg}'. {UsageHint}");
            }
        }

        home = NonEmpty(home) ?? NonEmpty(environment("ENGRAM_HOME")) ?? EngramOptions.DefaultHomeDirectory;
        var (defaultScope, source) = ResolveScope(scope, project, environment, workingDirectory);
        return new HostSettings(Path.GetFullPath(home), defaultScope, source, help, version);
    }

    private const string UsageHint = "Run 'engram --help' for the options.";

    private static (string Scope, string Source) ResolveScope(string? scope, string? project, Func<string, string?> environment, string workingDirectory)
    {
        if (NonEmpty(scope) is { } s) return (ScopeName.Normalize(s), "--scope");
        if (NonEmpty(environment("ENGRAM_SCOPE")) is { } es) return (ScopeName.Normalize(es), "ENGRAM_SCOPE");
        if (NonEmpty(project) is { } p) return FromFolder(p, "--project");
        if (NonEmpty(environment("ENGRAM_PROJECT_ROOT")) is { } ep) return FromFolder(ep, "ENGRAM_PROJECT_ROOT");
        if (NonEmpty(environment("CLAUDE_PROJECT_DIR")) is { } cp) return FromFolder(cp, "CLAUDE_PROJECT_DIR");
        return ProjectIdentity.ScopeFor(workingDirectory) is { } git
            ? (git, "the working directory's git repository")
            : (ScopeName.User, "no git repository at the working directory");
    }

    private static (string Scope, string Source) FromFolder(string folder, string source)
    {
        var full = Path.GetFullPath(folder);
        if (!Directory.Exists(full))
        {
            throw new EngramArgumentException($"{source} names a folder that does not exist. Point it at the project's folder.");
        }

        // A project folder outside git is still a project: name it by its path.
        return ProjectIdentity.ScopeFor(full) is { } scope
            ? (scope, $"{source} (repository identity)")
            : (ProjectIdentity.ScopeForLocalRoot(full), $"{source} (folder, not a git repository)");
    }

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s.Trim();
}
