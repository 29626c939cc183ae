using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace Engram.Mcp.Commands;

/// <summary>
/// <c>engram compact</c>: rewrites the store's tables so no deleted bytes remain in them. On PostgreSQL a forget deletes
/// rows in one transaction, but their bytes stay in the table pages until they are rewritten: this is how an
/// administrator makes a forget reach the disk.
/// </summary>
internal static class CompactCommand
{
    public static Command Create(Shell shell)
    {
        var command = new Command("compact", "Rewrite the store's tables so the bytes of forgotten memories leave the disk (PostgreSQL: VACUUM FULL; other servers wait while it runs)");
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var before = (await service.StatsAsync(cancellationToken).ConfigureAwait(false)).DatabaseBytes;
            var complete = await cli.Console.Status()
                .StartAsync("Waiting for older transactions, then rewriting the store's tables…", _ => service.CompactAsync(cancellationToken)).ConfigureAwait(false);
            var after = (await service.StatsAsync(cancellationToken).ConfigureAwait(false)).DatabaseBytes;
            if (!complete)
            {
                cli.Console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                    $"[yellow]Not complete:[/] a transaction older than the rewrite stayed open through it, so rows it could still see may remain ({after / 1024.0:N0} KiB now). Run 'engram compact' again once it has ended.");
                return ExitCodes.Failed;
            }

            cli.Console.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"[green]Done:[/] the store's tables were rewritten ({before / 1024.0:N0} KiB before, {after / 1024.0:N0} KiB after).");
            return ExitCodes.Ok;
        });
        return command;
    }
}
