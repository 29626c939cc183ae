using System.CommandLine;
using System.Globalization;
using Engram.Core;
using Engram.Core.Model;
using Engram.Mcp.Output;
using Spectre.Console;

namespace Engram.Mcp.Commands;

/// <summary><c>engram forget</c>: removes memories from every store, for good; <c>--dry-run</c> lists what would go.</summary>
internal static class ForgetCommand
{
    private static readonly FlagNames Flags = new(
        ("'id' or 'ids' (from recall)", "memory ids (from recall)"), ("'id'/'ids'", "ids"), ("'ids[]'", "an id"),
        ("'tag'", "--tag"), ("'query'", "--query"), ("'all: true'", "--all"), ("'scope'", "--in"));

    public static Command Create(Shell shell)
    {
        var ids = new Argument<string[]>("id") { Description = "Ids of memories to forget", Arity = ArgumentArity.ZeroOrMore };
        var tag = new Option<string?>("--tag") { Description = "Forget every memory with this tag" };
        var query = new Option<string?>("--query") { Description = "Forget the best matches of this query (with --limit, default 1)" };
        var limit = new Option<int?>("--limit") { Description = $"How many matches of --query (1–{EngramOptions.MaxRecallLimit}, default 1)" };
        var all = new Option<bool>("--all") { Description = "Forget every memory of the scope named with --in" };
        var dryRun = new Option<bool>("--dry-run") { Description = "List what would be forgotten, forget nothing" };
        var scope = CommonOptions.In();
        var command = new Command("forget", "Remove memories from every store, for good") { ids, tag, query, limit, all, dryRun, scope, CommonOptions.Json() };
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var given = cli.Get(ids) ?? [];
            var count = cli.Get(limit) is { } n ? CommonOptions.Count(n, "--limit", EngramOptions.MaxRecallLimit, 1) : (int?)null;
            var request = new ForgetRequest(
                given.Length == 0 ? null : given, cli.Get(tag), cli.Get(query), cli.Get(all), cli.Get(scope), count, cli.Get(dryRun));
            var result = await service.ForgetAsync(request, cancellationToken).ConfigureAwait(false);
            return cli.Print(result, () =>
            {
                var memories = Tables.Count(result.Count, "memory", "memories");
                cli.Console.MarkupLine((result.DryRun ? "[yellow]would forget[/] " : "[red]forgot[/] ") + memories + (result.Truncated ? " (list truncated)" : ""));
                foreach (var id in result.Forgotten)
                {
                    cli.Terminal.Out.WriteLine("  " + id);
                }

                if (result.Checks > 0)
                {
                    cli.Console.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"{(result.DryRun ? "would remove" : "removed")} {Tables.Count(result.Checks, "saved check", "saved checks")} too: each expected a forgotten memory or lived in the forgotten scope");
                }

                if (!result.DryRun)
                {
                    cli.Console.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"[grey]left anywhere: {(result.Residue.IsEmpty ? "nothing" : result.Residue.ToString())}[/]");
                }
            });
        }, Flags);
        return command;
    }
}
