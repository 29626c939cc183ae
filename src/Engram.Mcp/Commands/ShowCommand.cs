using System.CommandLine;
using System.Globalization;
using Engram.Core;
using Spectre.Console;

namespace Engram.Mcp.Commands;

/// <summary><c>engram show &lt;id&gt;</c>: one memory with everything kept of it.</summary>
internal static class ShowCommand
{
    public static Command Create(Shell shell)
    {
        var id = new Argument<string>("id") { Description = "A memory id" };
        var command = new Command("show", "Show one memory with everything kept of it") { id, CommonOptions.Json() };
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var memory = await service.GetAsync(cli.Get(id)!, cancellationToken).ConfigureAwait(false)
                ?? throw new EngramArgumentException($"no memory with id '{cli.Get(id)}'. 'engram list' shows ids.");
            return cli.Print(memory, () =>
            {
                var grid = new Grid().AddColumn(new GridColumn().NoWrap()).AddColumn();
                grid.AddRow("id", Markup.Escape(memory.Id));
                grid.AddRow("scope", Markup.Escape(memory.Scope));
                grid.AddRow("content", Markup.Escape(memory.Content));
                grid.AddRow("tags", Markup.Escape(string.Join(", ", memory.Tags)));
                grid.AddRow("observed", memory.ObservedAt.ToString("o", CultureInfo.InvariantCulture));
                grid.AddRow("stored", memory.CreatedAt.ToString("o", CultureInfo.InvariantCulture));
                grid.AddRow("superseded by", Markup.Escape(memory.SupersededBy ?? "-"));
                cli.Console.Write(grid);
            });
        });
        return command;
    }
}
