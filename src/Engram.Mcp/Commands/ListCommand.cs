using System.CommandLine;
using Engram.Core;
using Engram.Mcp.Output;
using Spectre.Console;

namespace Engram.Mcp.Commands;

/// <summary><c>engram list</c>: memories, newest first.</summary>
internal static class ListCommand
{
    public static Command Create(Shell shell)
    {
        var limit = new Option<int>("--limit") { Description = $"How many (1–{MemoryService.MaxListLimit})", DefaultValueFactory = _ => 50 };
        var offset = new Option<int>("--offset") { Description = "Skip this many", DefaultValueFactory = _ => 0 };
        var history = new Option<bool>("--include-superseded") { Description = "Also list replaced memories" };
        var scope = CommonOptions.In();
        var command = new Command("list", "List memories, newest first") { limit, offset, history, scope, CommonOptions.Json() };
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var skip = cli.Get(offset) is >= 0 and var o ? o : throw new EngramArgumentException($"--offset {cli.Get(offset)} is negative: send 0 or more.");
            var count = CommonOptions.Count(cli.Get(limit), "--limit", MemoryService.MaxListLimit, 50);
            var rows = await service.ListAsync(cli.Get(scope), count, skip, cli.Get(history), cancellationToken: cancellationToken).ConfigureAwait(false);
            return cli.Print(rows, () =>
            {
                var wide = Tables.Wide(cli.Console);
                var table = wide ? Tables.Create("id", "scope", "stored", "tags", "memory") : Tables.Create("id", "memory");
                foreach (var m in rows)
                {
                    var memory = Tables.Short(m.Content) + (m.SupersededBy is null ? "" : " [grey](superseded)[/]");
                    var (scope, stored, tags) = (Markup.Escape(m.Scope), Tables.Time(m.CreatedAt), Markup.Escape(string.Join(", ", m.Tags)));
                    if (wide)
                    {
                        table.AddRow(Markup.Escape(m.Id), scope, stored, tags, memory);
                    }
                    else
                    {
                        table.AddRow(Markup.Escape(m.Id), $"{memory}\n[grey]{scope} · {stored}{(tags.Length == 0 ? "" : " · " + tags)}[/]");
                    }
                }

                cli.Console.Write(table);
            });
        }, new FlagNames(("'scope'", "--in")));
        return command;
    }
}
