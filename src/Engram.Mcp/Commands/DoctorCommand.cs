using System.CommandLine;
using Engram.Core;
using Engram.Core.Model;
using Engram.Mcp.Output;
using Spectre.Console;

namespace Engram.Mcp.Commands;

/// <summary>
/// <c>engram doctor</c>: checks the store and shows how the project scope resolves from here; with <c>--checks</c> also
/// runs the saved recall checks. Exits 1 on a problem or a failing check.
/// </summary>
internal static class DoctorCommand
{
    public static Command Create(Shell shell)
    {
        var saved = new Option<bool>("--checks") { Description = "Also run the saved recall checks ('engram check add') and list each failing one with the rank it got and why" };
        var command = new Command("doctor", "Check the store and show how the project scope resolves from here") { saved, CommonOptions.Json() };
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var checks = (await service.DoctorAsync(cancellationToken).ConfigureAwait(false)).ToList();
            checks.Insert(0, new DoctorCheck("Scope", true,
                $"writes go to {cli.Settings.DefaultScope} (from {cli.Settings.ScopeSource}); recall searches {string.Join(" + ", service.DefaultRecallScopes)}"));
            var healthy = checks.All(c => c.Ok);
            if (!cli.Get(saved))
            {
                cli.Print(checks, () => Render(cli.Console, checks));
                return healthy ? ExitCodes.Ok : ExitCodes.Failed;
            }

            var outcomes = await RunChecksAsync(cli, service, cancellationToken).ConfigureAwait(false);
            cli.Print(new { doctor = checks, checks = outcomes }, () =>
            {
                Render(cli.Console, checks);
                CheckCommand.Render(cli.Console, outcomes);
            });
            return healthy && outcomes.All(o => o.Passed) ? ExitCodes.Ok : ExitCodes.Failed;
        });
        return command;
    }

    private static async Task<IReadOnlyList<CheckOutcome>> RunChecksAsync(Invocation cli, MemoryService service, CancellationToken cancellationToken)
    {
        if (cli.Json || !cli.Terminal.Interactive)
        {
            return await service.RunChecksAsync(null, null, cancellationToken).ConfigureAwait(false);
        }

        return await cli.Console.Progress().StartAsync(async context =>
        {
            var task = context.AddTask("Running the saved checks");
            var run = await service.RunChecksAsync(null, new Progress<(int Done, int Total)>(p => (task.MaxValue, task.Value) = (Math.Max(1, p.Total), p.Done)), cancellationToken).ConfigureAwait(false);
            task.Value = task.MaxValue;
            return run;
        }).ConfigureAwait(false);
    }

    private static void Render(IAnsiConsole console, List<DoctorCheck> checks)
    {
        var table = Tables.Create("check", "", "detail");
        foreach (var c in checks)
        {
            table.AddRow(Markup.Escape(c.Name), c.Ok ? "[green]ok[/]" : "[red]problem[/]", Markup.Escape(c.Detail));
        }

        console.Write(table);
    }
}
