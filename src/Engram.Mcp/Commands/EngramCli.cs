using System.CommandLine;
using Engram.Mcp.Hosting;

namespace Engram.Mcp.Commands;

/// <summary>
/// The command line. With no command, the MCP server on stdio (what clients launch); <c>serve</c> for stdio or, with
/// <c>--http</c>, Streamable HTTP; every other command is for people, one file each in this folder.
/// </summary>
internal static class EngramCli
{
    public static RootCommand Build(Shell shell)
    {
        var root = GlobalOptions.AddTo(new RootCommand("Engram: long-term memory for coding assistants. With no command it serves MCP over stdio."));

        root.SetAction(shell, (cli, cancellationToken) => StdioHost.RunAsync(cli.Settings, HostLogging.Level(shell.Environment), shell.Terminal.Error, cancellationToken));
        Command[] commands =
        [
            ServeCommand.Create(shell),
            RememberCommand.Create(shell), RecallCommand.Create(shell), ForgetCommand.Create(shell), ExplainCommand.Create(shell),
            ListCommand.Create(shell), ShowCommand.Create(shell), ExportCommand.Create(shell), ImportCommand.Create(shell),
            StatsCommand.Create(shell), DoctorCommand.Create(shell), ReindexCommand.Create(shell), ReembedCommand.Create(shell), CompactCommand.Create(shell),
            TokenCommand.Create(shell), UiCommand.Create(shell), StaleCommand.Create(shell), CheckCommand.Create(shell),
        ];
        foreach (var command in commands)
        {
            root.Subcommands.Add(command);
        }

        return root;
    }

    /// <summary>
    /// Whether <paramref name="args"/> start an MCP server (no command, or <c>serve</c>, after any global options, which
    /// all take a value), judged before parsing so that the server's tools can be made beside it.
    /// </summary>
    public static bool Serves(string[] args)
    {
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg is "-h" or "-?" or "--help" or "--version")
            {
                return false;
            }

            if (arg.StartsWith('-'))
            {
                i += arg.Contains('=', StringComparison.Ordinal) ? 0 : 1;
                continue;
            }

            return arg == "serve";
        }

        return true;
    }

    /// <summary>Parses <paramref name="args"/> and runs what they ask for; a malformed command line exits 2 with what was wrong.</summary>
    public static async Task<int> RunAsync(string[] args, Shell shell)
    {
        var root = Build(shell);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // A malformed command line is bad input: exit 2 (the parser's own report would exit 1, and print to stdout).
            foreach (var error in parse.Errors)
            {
                await shell.Terminal.Error.WriteLineAsync($"engram: {error.Message}").ConfigureAwait(false);
            }

            var command = parse.CommandResult.Command;
            if (command is RootCommand && parse.UnmatchedTokens is [var first, ..] && Closest(first, root.Subcommands.Select(c => c.Name)) is { } meant)
            {
                await shell.Terminal.Error.WriteLineAsync($"Did you mean 'engram {meant}'?").ConfigureAwait(false);
            }

            await shell.Terminal.Error.WriteLineAsync($"Run '{CommandRunner.Path(command)} --help' for its options.").ConfigureAwait(false);
            return ExitCodes.BadInput;
        }

        var configuration = new InvocationConfiguration { Output = shell.Terminal.Out, Error = shell.Terminal.Error };
        return await parse.InvokeAsync(configuration).ConfigureAwait(false);
    }

    /// <summary>The command a mistyped word most likely meant: at most two letters added, dropped or changed.</summary>
    private static string? Closest(string word, IEnumerable<string> names) =>
        names.Select(n => (Name: n, Distance: Distance(word.ToLowerInvariant(), n))).Where(x => x.Distance <= 2).OrderBy(x => x.Distance).Select(x => x.Name).FirstOrDefault();

    private static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var diagonal = row[0];
            row[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }

        return row[b.Length];
    }
}
