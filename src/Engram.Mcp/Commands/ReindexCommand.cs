using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace Engram.Mcp.Commands;

/// <summary><c>engram reindex</c>: rebuilds the lexical (BM25) index from SQLite, the source of truth.</summary>
internal static class ReindexCommand
{
    public static Command Create(Shell shell)
    {
        var command = new Command("reindex", "Rebuild the lexical (BM25) index from SQLite");
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var documents = await cli.Console.Status()
                .StartAsync("Rebuilding the lexical index from SQLite…", _ => service.ReindexAsync(cancellationToken)).ConfigureAwait(false);
            cli.Console.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"[green]Done:[/] the lexical index holds {documents} memories.");
            return ExitCodes.Ok;
        });
        return command;
    }
}
