using System.CommandLine;
using System.Globalization;
using Engram.Core;
using Engram.Core.Model;
using Engram.Mcp.Output;
using Spectre.Console;

namespace Engram.Mcp.Commands;

/// <summary>
/// <c>engram check add|list|remove</c>: saved recall checks, the recalls a person depends on, kept in the store;
/// <c>engram doctor --checks</c> runs them.
/// </summary>
internal static class CheckCommand
{
    private static readonly FlagNames Flags = new(("'scope'", "--in"), ("'within'", "--within"), ("'expect'", "--expect"), ("'query'", "the query"));

    public static Command Create(Shell shell) =>
        new("check", "Saved recall checks: add one, list them, remove one; 'engram doctor --checks' runs them") { Add(shell), List(shell), Remove(shell) };

    private static Command Add(Shell shell)
    {
        var query = new Argument<string>("query") { Description = "The question, as you would ask it" };
        var expect = new Option<string[]>("--expect")
        {
            Description = "The id of a memory the recall must return (repeatable)",
            AllowMultipleArgumentsPerToken = true,
            Required = true,
        };
        var within = new Option<int>("--within") { Description = "The worst rank each may have (default 3)", DefaultValueFactory = _ => 3 };
        var scope = new Option<string?>("--in") { Description = "The scope the check lives in and searches (default: as recall from here: the project and user)" };
        var command = new Command("add", "Save a check: this query must return these memories near the top") { query, expect, within, scope, CommonOptions.Json() };
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var check = await service.AddCheckAsync(cli.Get(query)!, cli.Get(expect) ?? [], cli.Get(within), cli.Get(scope), cancellationToken).ConfigureAwait(false);
            return cli.Print(check, () => cli.Console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                $"[green]saved[/] {check.Id} in {check.Scope}: searches {string.Join(" + ", check.Scopes)}, expects {check.Expect.Count} within rank {check.Within}. Run it with 'engram doctor --checks'."));
        }, Flags);
        return command;
    }

    private static Command List(Shell shell)
    {
        var scope = CommonOptions.In();
        var command = new Command("list", "List the saved checks") { scope, CommonOptions.Json() };
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var checks = await service.ListChecksAsync(cli.Get(scope), cancellationToken).ConfigureAwait(false);
            return cli.Print(checks, () =>
            {
                var table = Tables.Create("id", "query", "expects", "within", "scope");
                foreach (var c in checks)
                {
                    table.AddRow(Markup.Escape(c.Id), Tables.Short(c.Query, 60), Markup.Escape(string.Join("\n", c.Expect)), Tables.Number(c.Within), Markup.Escape(c.Scope));
                }

                cli.Console.Write(table);
                cli.Console.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"{Tables.Count(checks.Count, "check", "checks")}.");
            });
        }, Flags);
        return command;
    }

    private static Command Remove(Shell shell)
    {
        var id = new Argument<string>("id") { Description = "The check's id (from 'engram check list')" };
        var command = new Command("remove", "Remove a saved check") { id, CommonOptions.Json() };
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var removed = await service.RemoveCheckAsync(cli.Get(id)!, cancellationToken).ConfigureAwait(false);
            if (!removed)
            {
                throw new EngramArgumentException($"No check with id '{cli.Get(id)}'. Send an id from 'engram check list'.");
            }

            return cli.Print(new { removed = cli.Get(id) }, () => cli.Console.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"[green]removed[/] {cli.Get(id)}"));
        }, Flags);
        return command;
    }

    /// <summary>The failing checks of a run, as <c>doctor --checks</c> shows them: each miss with the rank it got and why.</summary>
    public static void Render(IAnsiConsole console, IReadOnlyList<CheckOutcome> outcomes)
    {
        var failed = outcomes.Where(o => !o.Passed).ToList();
        if (failed.Count > 0)
        {
            var table = Tables.Create("check", "query", "expected", "rank", "why");
            foreach (var o in failed)
            {
                foreach (var e in o.Expected.Where(e => !e.Passed))
                {
                    table.AddRow(Markup.Escape(o.Check.Id), Tables.Short(o.Check.Query, 50), Markup.Escape(e.Id),
                        e.Rank is { } rank ? $"{Tables.Number(rank)} (want ≤ {Tables.Number(o.Check.Within)})" : "not returned", Markup.Escape(e.Why));
                }
            }

            console.Write(table);
        }

        var colour = failed.Count == 0 ? "green" : "red";
        console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
            $"[{colour}]{outcomes.Count - failed.Count} of {Tables.Count(outcomes.Count, "saved check", "saved checks")} passed[/]");
    }
}
