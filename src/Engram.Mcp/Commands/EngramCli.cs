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
            StatsCommand.Create(shell), DoctorCommand.Create(shell), ReindexCommand.Create(shell), ReembedCommand.Create(shell),
        ];
        foreach (var command in commands)
        {
            root.Subcommands.Add(command);
        }

        return root;
    }

    /// <summary>Parses <paramref name="args"/> and runs what they ask for; a malformed command line exits 2 with what was wrong.</summary>
    public static async Task<int> RunAsync(string[] args, Shell shell)
    {
        var parse = Build(shell).Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors)
            {
                await shell.Terminal.Error.WriteLineAsync($"engram: {error.Message}").ConfigureAwait(false);
            }

            var command = parse.CommandResult.Command is RootCommand ? "engram" : $"engram {parse.CommandResult.Command.Name}";
            await shell.Terminal.Error.WriteLineAsync($"Run '{command} --help' for its options.").ConfigureAwait(false);
            return ExitCodes.BadInput;
        }

        return await parse.InvokeAsync(new InvocationConfiguration { Output = shell.Terminal.Out, Error = shell.Terminal.Error }).ConfigureAwait(false);
    }
}
