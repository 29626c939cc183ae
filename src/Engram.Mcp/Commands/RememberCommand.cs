using System.CommandLine;
using System.Globalization;
using Engram.Core.Model;
using Engram.Mcp.Output;
using Spectre.Console;

namespace Engram.Mcp.Commands;

/// <summary><c>engram remember "fact"</c>: stores a fact in the default scope.</summary>
internal static class RememberCommand
{
    private static readonly FlagNames Flags = new(
        ("'content'", "the fact"), ("'tags[]'", "a --tag"), ("'supersedes[]'", "a --supersedes id"), ("supersedes names", "--supersedes names"));

    public static Command Create(Shell shell)
    {
        var content = new Argument<string>("content") { Description = "The fact to remember (one self-contained statement)" };
        var tags = new Option<string[]>("--tag") { Description = "A tag (repeatable: --tag a --tag b)" };
        var observed = new Option<string?>("--observed-at") { Description = "When it was said or became true (ISO-8601; default now)" };
        var supersedes = new Option<string[]>("--supersedes") { Description = "The id of an older memory this one replaces (repeatable)" };
        var command = new Command("remember", "Store a fact") { content, tags, observed, supersedes, CommonOptions.Json() };
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var request = new RememberRequest(cli.Get(content)!, null, cli.Get(tags), CommonOptions.Time(cli.Get(observed), "--observed-at"), cli.Get(supersedes));
            var result = await service.RememberAsync(request, cancellationToken).ConfigureAwait(false);
            return cli.Print(result, () =>
            {
                cli.Console.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"[green]{WireName.Of(result.Status)}[/] {result.Id} in {result.Scope}");
                if (result.Similar.Count == 0)
                {
                    return;
                }

                var similar = Tables.Create("id", "score", "similar memory");
                foreach (var s in result.Similar)
                {
                    similar.AddRow(Markup.Escape(s.Id), Tables.Score(s.Score), Tables.Short(s.Content));
                }

                cli.Console.Write(similar);
                cli.Console.MarkupLine("[grey]If this fact replaces one of these, remember it again with --supersedes <id>.[/]");
            });
        }, Flags);
        return command;
    }
}
