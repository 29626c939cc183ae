using System.CommandLine;

namespace Engram.Mcp.Hosting;

/// <summary>
/// The options every mode and command takes: where the store is, the default scope, and the embedder. Each root command
/// gets its own instances (an option records the commands it belongs to), and values are read back by name.
/// </summary>
internal static class GlobalOptions
{
    public const string Home = "--home";
    public const string Store = "--store";
    public const string Scope = "--scope";
    public const string Project = "--project";
    public const string Embeddings = "--embeddings";

    /// <summary>New instances of the options, for a root command; they apply to its subcommands too.</summary>
    public static IEnumerable<Option> Create() =>
    [
        new Option<string?>(Home) { Description = "Store folder (default: $ENGRAM_HOME, else ~/.engram)", Recursive = true },
        new Option<string?>(Store) { Description = "The store: a folder (SQLite, like --home) or a PostgreSQL connection string, postgres://user@host:5432/engram, password from PGPASSWORD or ~/.pgpass (default: $ENGRAM_STORE, else the home folder)", Recursive = true },
        new Option<string?>(Scope) { Description = "Default scope: 'user' or 'project:<key>' (default: $ENGRAM_SCOPE, else the project's)", Recursive = true },
        new Option<string?>(Project) { Description = "Project folder whose repository names the scope (default: $ENGRAM_PROJECT_ROOT, $CLAUDE_PROJECT_DIR, the working directory's git root)", Recursive = true },
        new Option<string?>(Embeddings) { Description = "Embedder: minilm (the shipped model), builtin (hashed words), ollama:<model>, openai:<model> or onnx:<folder> (default: $ENGRAM_EMBEDDINGS, else minilm)", Recursive = true },
    ];

    /// <summary>A root command with the global options alone: what <see cref="HostSettings.Resolve"/> parses.</summary>
    public static RootCommand RootOnly() => AddTo(new RootCommand("engram"));

    public static RootCommand AddTo(RootCommand root)
    {
        foreach (var option in Create())
        {
            root.Options.Add(option);
        }

        return root;
    }

    /// <summary>A global option's value in a parse of a command line built with <see cref="AddTo"/>.</summary>
    public static string? Value(ParseResult parse, string name) => parse.GetValue<string?>(name);
}
