using System.CommandLine;
using System.Globalization;
using Engram.Core;
using Engram.Core.Model;
using Engram.Mcp.Output;
using Spectre.Console;

namespace Engram.Mcp.Commands;

/// <summary><c>engram recall "query"</c>: the memories most relevant to a query, best first.</summary>
internal static class RecallCommand
{
    private static readonly FlagNames Flags = new(("'query'", "the query"), ("'tags[]'", "a --tag"), ("'scope'", "--in"));

    public static Command Create(Shell shell)
    {
        var query = new Argument<string>("query") { Description = "What to look for: a question or keywords" };
        var limit = new Option<int>("--limit") { Description = $"How many at most (1–{EngramOptions.MaxRecallLimit})", DefaultValueFactory = _ => 10 };
        var tags = new Option<string[]>("--tag") { Description = "Only memories with any of these tags (repeatable: --tag a --tag b)" };
        var history = new Option<bool>("--include-superseded") { Description = "Also show replaced memories" };
        var asOf = new Option<string?>("--as-of") { Description = "What was current at this time (ISO-8601)" };
        var scope = CommonOptions.In();
        var command = new Command("recall", "Find the memories most relevant to a query") { query, limit, tags, history, asOf, scope, CommonOptions.Json() };
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var request = new RecallRequest(
                cli.Get(query)!, cli.Get(scope), CommonOptions.Count(cli.Get(limit), "--limit", EngramOptions.MaxRecallLimit, 10),
                cli.Get(tags), cli.Get(history), CommonOptions.Time(cli.Get(asOf), "--as-of"));
            var result = await service.RecallAsync(request, cancellationToken).ConfigureAwait(false);
            return cli.Print(result, () =>
            {
                var wide = Tables.Wide(cli.Console);
                var table = wide ? Tables.Create("#", "id", "score", "scope", "observed", "memory") : Tables.Create("#", "id", "memory");
                foreach (var (m, i) in result.Memories.Select((m, i) => (m, i + 1)))
                {
                    var memory = Tables.Short(m.Content) + (m.SupersededBy is null ? "" : $" [grey](superseded by {m.SupersededBy})[/]");
                    var (score, scope, observed) = (Tables.Score(m.Score), Markup.Escape(m.Scope), Tables.Time(m.ObservedAt));
                    if (wide)
                    {
                        table.AddRow(Tables.Number(i), Markup.Escape(m.Id), score, scope, observed, memory);
                    }
                    else
                    {
                        table.AddRow(Tables.Number(i), Markup.Escape(m.Id), $"{memory}\n[grey]score {score} · {scope} · {observed}[/]");
                    }
                }

                cli.Console.Write(table);
                cli.Console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                    $"[grey]{Tables.Count(result.Memories.Count, "memory", "memories")} from {string.Join(" + ", result.Scopes)}; why: engram explain {result.RetrievalId}[/]");
            });
        }, Flags);
        return command;
    }
}
