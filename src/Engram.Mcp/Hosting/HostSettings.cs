using Engram.Core;
using Engram.Core.Scopes;

namespace Engram.Mcp.Hosting;

/// <summary>
/// What the host was asked for on the command line and in the environment: where the store is and which scope is
/// the default. The project scope resolves in PRODUCT.md's order: <c>--scope</c>/<c>ENGRAM_SCOPE</c>,
/// <c>--project</c>/<c>ENGRAM_PROJECT_ROOT</c>, <c>CLAUDE_PROJECT_DIR</c>, then the git root of the working directory.
/// </summary>
internal sealed record HostSettings(string Home, string DefaultScope, string ScopeSource)
{
    /// <summary>
    /// A PostgreSQL connection string (<c>--store</c>/<c>ENGRAM_STORE</c>), or <see langword="null"/> for the SQLite store
    /// in <see cref="Home"/>. With PostgreSQL, <see cref="Home"/> holds only this machine's caches of it.
    /// </summary>
    public string? Store { get; init; }

    /// <summary>The store as the servers' banners name it: the SQLite file, or the PostgreSQL database without a password.</summary>
    public string StoreDisplay => Store is null ? Path.Combine(Home, "engram.db") : EngramOptions.DescribeConnectionString(Store);

    /// <summary>The embedder: <c>builtin</c>, <c>ollama:&lt;model&gt;</c>, <c>openai:&lt;model&gt;</c> or <c>onnx:&lt;folder&gt;</c>.</summary>
    public string? Embeddings { get; init; }

    /// <summary>The embedding endpoint (<c>ENGRAM_EMBEDDINGS_URL</c>).</summary>
    public string? EmbeddingsUrl { get; init; }

    /// <summary>How long one embedding call may take (<c>ENGRAM_EMBEDDINGS_TIMEOUT</c>, seconds; default 5).</summary>
    public TimeSpan? EmbeddingsTimeout { get; init; }

    /// <summary>How long a failed embedder is left alone (<c>ENGRAM_EMBEDDINGS_RETRY</c>, seconds; default 30).</summary>
    public TimeSpan? EmbeddingsRetry { get; init; }

    /// <summary>The git work tree the server runs in (the project folder's, else the working directory's), or null.</summary>
    public string? ProjectRoot { get; init; }

    /// <summary>What remember does with a secret (<c>ENGRAM_SECRETS</c>: refuse, redact or off; default refuse).</summary>
    public SecretPolicy? Secrets { get; init; }

    /// <summary>The embedding API key (<c>ENGRAM_EMBEDDINGS_KEY</c>; environment only, so it never shows in a process list).</summary>
    public string? EmbeddingsKey { get; init; }

    /// <summary>Parses the global options in <paramref name="args"/> (as the command line does) and resolves the settings.</summary>
    /// <exception cref="EngramArgumentException">An unknown or malformed option, or a bad value; the message says what to send.</exception>
    public static HostSettings Resolve(IReadOnlyList<string> args, Func<string, string?> environment, string workingDirectory)
    {
        var parse = GlobalOptions.RootOnly().Parse(args);
        if (parse.Errors.Count > 0)
        {
            throw new EngramArgumentException($"{parse.Errors[0].Message} {UsageHint}");
        }

        return From(parse, environment, workingDirectory);
    }

    /// <summary>Resolves the settings from parsed options, the environment and the working directory.</summary>
    public static HostSettings From(System.CommandLine.ParseResult parse, Func<string, string?> environment, string workingDirectory)
    {
        var homeFlag = NonEmpty(GlobalOptions.Value(parse, GlobalOptions.Home));
        var storeFlag = NonEmpty(GlobalOptions.Value(parse, GlobalOptions.Store));
        var home = homeFlag ?? NonEmpty(environment("ENGRAM_HOME")) ?? EngramOptions.DefaultHomeDirectory;
        // --store names a folder (the SQLite store, as --home does) or a PostgreSQL database (the home then holds its
        // local index). A folder from ENGRAM_STORE yields to --home: a flag beats the environment.
        string? postgres = null;
        if ((storeFlag ?? NonEmpty(environment("ENGRAM_STORE"))) is { } store)
        {
            if (EngramOptions.IsConnectionString(store))
            {
                EngramOptions.DescribeConnectionString(store); // A malformed string, or one with a password, fails here with what to send.
                postgres = store;
            }
            else if (storeFlag is not null || homeFlag is null)
            {
                home = store;
            }
        }

        var (defaultScope, source) = ResolveScope(GlobalOptions.Value(parse, GlobalOptions.Scope), GlobalOptions.Value(parse, GlobalOptions.Project), environment, workingDirectory);
        return new HostSettings(Path.GetFullPath(home), defaultScope, source)
        {
            Store = postgres,
            ProjectRoot = WorkTree(parse, environment, workingDirectory),
            Embeddings = NonEmpty(GlobalOptions.Value(parse, GlobalOptions.Embeddings)) ?? NonEmpty(environment("ENGRAM_EMBEDDINGS")),
            EmbeddingsUrl = NonEmpty(environment("ENGRAM_EMBEDDINGS_URL")),
            EmbeddingsKey = NonEmpty(environment("ENGRAM_EMBEDDINGS_KEY")),
            EmbeddingsTimeout = Seconds(environment, "ENGRAM_EMBEDDINGS_TIMEOUT"),
            EmbeddingsRetry = Seconds(environment, "ENGRAM_EMBEDDINGS_RETRY"),
            Secrets = NonEmpty(environment("ENGRAM_SECRETS")) switch
            {
                null => null,
                var v when v.Equals("refuse", StringComparison.OrdinalIgnoreCase) => SecretPolicy.Refuse,
                var v when v.Equals("redact", StringComparison.OrdinalIgnoreCase) => SecretPolicy.Redact,
                var v when v.Equals("off", StringComparison.OrdinalIgnoreCase) => SecretPolicy.Off,
                var v => throw new EngramArgumentException($"ENGRAM_SECRETS is '{v}': send refuse (the default), redact or off."),
            },
        };
    }

    private const string UsageHint = "Run 'engram --help' for the options.";

    /// <summary>The git work tree the server runs in: the project folder's (as the scope resolves it), else the working directory's.</summary>
    private static string? WorkTree(System.CommandLine.ParseResult parse, Func<string, string?> environment, string workingDirectory) =>
        ProjectIdentity.FindGitRoot(ProjectFolder(GlobalOptions.Value(parse, GlobalOptions.Project), environment) is { Folder: var folder } && Directory.Exists(folder) ? folder : workingDirectory);

    /// <summary>The project folder named by <c>--project</c>, <c>ENGRAM_PROJECT_ROOT</c> or <c>CLAUDE_PROJECT_DIR</c> (first wins), and which named it.</summary>
    private static (string Folder, string Source)? ProjectFolder(string? project, Func<string, string?> environment) =>
        NonEmpty(project) is { } p ? (p, "--project")
        : NonEmpty(environment("ENGRAM_PROJECT_ROOT")) is { } ep ? (ep, "ENGRAM_PROJECT_ROOT")
        : NonEmpty(environment("CLAUDE_PROJECT_DIR")) is { } cp ? (cp, "CLAUDE_PROJECT_DIR")
        : null;

    private static (string Scope, string Source) ResolveScope(string? scope, string? project, Func<string, string?> environment, string workingDirectory)
    {
        if (NonEmpty(scope) is { } s) return (ScopeName.Normalize(s), "--scope");
        if (NonEmpty(environment("ENGRAM_SCOPE")) is { } es) return (ScopeName.Normalize(es), "ENGRAM_SCOPE");
        if (ProjectFolder(project, environment) is { } named) return FromFolder(named.Folder, named.Source);
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

    private static TimeSpan? Seconds(Func<string, string?> environment, string name)
    {
        if (NonEmpty(environment(name)) is not { } text)
        {
            return null;
        }

        return double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds) && seconds is >= 0.1 and <= 3600
            ? TimeSpan.FromSeconds(seconds)
            : throw new EngramArgumentException($"{name} is '{text}': send a number of seconds from 0.1 to 3600.");
    }

    /// <summary>Applies the settings to a service's options, in <c>AddEngram</c>'s configure callback.</summary>
    public void Apply(EngramOptions o)
    {
        o.HomeDirectory = Home;
        o.Store = Store;
        o.DefaultScope = DefaultScope;
        o.DefaultScopeSource = ScopeSource;
        o.EmbeddingTimeout = EmbeddingsTimeout ?? o.EmbeddingTimeout;
        o.EmbeddingRetryDelay = EmbeddingsRetry ?? o.EmbeddingRetryDelay;
        o.Secrets = Secrets ?? o.Secrets;
        o.ProjectRoot = ProjectRoot;
    }

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s.Trim();
}
