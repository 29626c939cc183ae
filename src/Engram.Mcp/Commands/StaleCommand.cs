using System.CommandLine;
using System.Globalization;
using Engram.Mcp.Output;
using Spectre.Console;

namespace Engram.Mcp.Commands;

/// <summary><c>engram stale</c>: the project's memories whose files changed or vanished since they were stored.</summary>
internal static class StaleCommand
{
    public static Command Create(Shell shell)
    {
        var scope = CommonOptions.In();
        var command = new Command("stale", "List memories whose files changed or vanished since they were remembered (inside a git work tree)") { scope, CommonOptions.Json() };
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var rows = await service.StaleAsync(cli.Get(scope), cancellationToken).ConfigureAwait(false);
            return cli.Print(rows, () =>
            {
                if (service.Options.ProjectRoot is null)
                {
                    cli.Console.MarkupLine("[grey]Not inside a git work tree: no memory is anchored to files here.[/]");
                    return;
                }

                var table = Tables.Create("id", "memory", "files");
                foreach (var s in rows)
                {
                    var files = string.Join("\n", s.Stale.Select(f => Markup.Escape($"{f.Path}: {f.State}{(f.To is null ? "" : " to " + f.To)}{(f.Since is { } since ? " " + since.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) : "")}")));
                    table.AddRow(Markup.Escape(s.Memory.Id), Tables.Short(s.Memory.Content), files);
                }

                cli.Console.Write(table);
                cli.Console.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"{rows.Count} stale; remember the fact again (corrected if need be) to re-anchor it.");
            });
        }, new FlagNames(("'scope'", "--in")));
        return command;
    }
}
