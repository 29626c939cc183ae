using System.CommandLine;
using System.Globalization;
using Engram.Core.Model;
using Engram.Mcp.Output;
using Spectre.Console;

namespace Engram.Mcp.Commands;

/// <summary><c>engram explain</c>: why a recall returned what it did, signal by signal, and what it filtered out.</summary>
internal static class ExplainCommand
{
    private static readonly FlagNames Flags = new(
        ("'retrievalId'", "a retrievalId"), ("'query'", "--query"), ("'memoryId'", "--memory"), ("'scope'", "--in"));

    private const string Legend =
        "Each signal: #rank in its list and its score; - = not in its list; * = found through the memory's session context " +
        "or feedback words, not its own text; s = closest in one of its sentences (--json names it); q = closest together with " +
        "the question asked just before it. recency: #rank by observed " +
        "time (1 = newest), +n = places the near-tie break moved it up.";

    private static readonly string[] SignalNames = ["lexical", "vector", "entities", "time", "recency"];

    public static Command Create(Shell shell)
    {
        var retrieval = new Argument<string?>("retrievalId") { Description = "A recall's retrievalId to replay", Arity = ArgumentArity.ZeroOrOne };
        var query = new Option<string?>("--query") { Description = "Explain a new recall of this query instead" };
        var memory = new Option<string?>("--memory") { Description = "Also account for this memory id" };
        var scope = CommonOptions.In();
        var command = new Command("explain", "Show why a recall returned what it did") { retrieval, query, memory, scope, CommonOptions.Json() };
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var recall = cli.Get(query) is { } text ? new RecallRequest(text, cli.Get(scope)) : null;
            var result = await service.ExplainAsync(new ExplainRequest(cli.Get(retrieval), recall, cli.Get(memory)), cancellationToken).ConfigureAwait(false);
            return cli.Print(result, () =>
            {
                cli.Console.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"[bold]{result.Query}[/] over {string.Join(" + ", result.Scopes)} ({result.ScopeResolution}); vectors: {result.Vectors}");
                var wide = Tables.Wide(cli.Console);
                var table = wide
                    ? Tables.Create("#", "id", "score", "lexical", "vector", "entities", "time", "recency", "status")
                    : Tables.Create("#", "id", "score and signals");
                foreach (var h in result.Hits)
                {
                    string[] signals = [Signal(h.Lexical), Signal(h.Vector, h.Vector?.Note == SignalScore.WithItsQuestion ? " q" : " s"), Signal(h.Entities), Signal(h.Time), Recency(h.Recency)];
                    if (wide)
                    {
                        table.AddRow([Tables.Number(h.Rank), Markup.Escape(h.Id), Tables.Score(h.Score), .. signals, Markup.Escape(h.Supersession)]);
                    }
                    else
                    {
                        var named = string.Join(" · ", SignalNames.Zip(signals, (name, value) => $"{name} {value}"));
                        table.AddRow(Tables.Number(h.Rank), Markup.Escape(h.Id), $"{Tables.Score(h.Score)} {Markup.Escape(h.Supersession)}\n[grey]{named}[/]");
                    }
                }

                cli.Console.Write(table);
                cli.Console.MarkupLine($"[grey]{Markup.Escape(Legend)}[/]");
                foreach (var f in result.FilteredOut)
                {
                    cli.Console.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"[grey]filtered {f.Id}: {WireName.Of(f.Reason)}[/]");
                }

                if (result.Memory is { } account)
                {
                    cli.Console.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"{account.Id}: {account.Reason}");
                }
            });
        }, Flags);
        return command;
    }

    /// <summary>A signal's rank and score, and <paramref name="noted"/> when it carries a note (the lexical signal's: found through context).</summary>
    private static string Signal(SignalScore? s, string noted = " *") =>
        s is null ? "-" : Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"#{s.Rank} {s.Score:0.###}{(s.Note is null ? "" : noted)}"));

    /// <summary>Recency's score is how many places the tie-break moved the memory up.</summary>
    private static string Recency(SignalScore? s) =>
        s is null ? "-" : string.Create(CultureInfo.InvariantCulture, $"#{s.Rank}{(s.Score > 0 ? $" +{s.Score:0}" : "")}");
}
