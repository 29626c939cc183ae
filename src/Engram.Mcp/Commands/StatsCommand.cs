using System.CommandLine;
using System.Globalization;
using Engram.Mcp.Output;
using Spectre.Console;

namespace Engram.Mcp.Commands;

/// <summary><c>engram stats</c>: memories per scope, vectors per model, sizes on disk.</summary>
internal static class StatsCommand
{
    public static Command Create(Shell shell)
    {
        var command = new Command("stats", "Memories per scope, vectors per model, sizes on disk") { CommonOptions.Json() };
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var stats = await service.StatsAsync(cancellationToken).ConfigureAwait(false);
            return cli.Print(stats, () =>
            {
                cli.Console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                    $"[bold]{stats.Memories}[/] memories in {stats.Home} (database {stats.DatabaseBytes / 1024.0:N0} KiB, index {stats.IndexBytes / 1024.0:N0} KiB); embedder {stats.Embedder}; {stats.Forgets} forgets recorded");
                var scopes = Tables.Create("scope", "memories", "superseded", "last stored");
                foreach (var s in stats.Scopes)
                {
                    scopes.AddRow(Markup.Escape(s.Scope), Tables.Number(s.Memories), Tables.Number(s.Superseded), s.Newest is { } n ? Tables.Time(n) : "-");
                }

                cli.Console.Write(scopes);
                var vectors = Tables.Create("vectors of model", "count");
                foreach (var (model, count) in stats.VectorsByModel)
                {
                    vectors.AddRow(Markup.Escape(model), Tables.Number(count));
                }

                cli.Console.Write(vectors);
            });
        });
        return command;
    }
}
