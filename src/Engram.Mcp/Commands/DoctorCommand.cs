using System.CommandLine;
using Engram.Core.Model;
using Engram.Mcp.Output;
using Spectre.Console;

namespace Engram.Mcp.Commands;

/// <summary><c>engram doctor</c>: checks the store and shows how the project scope resolves from here; exits 1 on a problem.</summary>
internal static class DoctorCommand
{
    public static Command Create(Shell shell)
    {
        var command = new Command("doctor", "Check the store and show how the project scope resolves from here") { CommonOptions.Json() };
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var checks = (await service.DoctorAsync(cancellationToken).ConfigureAwait(false)).ToList();
            checks.Insert(0, new DoctorCheck("Scope", true,
                $"writes go to {cli.Settings.DefaultScope} (from {cli.Settings.ScopeSource}); recall searches {string.Join(" + ", service.DefaultRecallScopes)}"));
            cli.Print(checks, () =>
            {
                var table = Tables.Create("check", "", "detail");
                foreach (var c in checks)
                {
                    table.AddRow(Markup.Escape(c.Name), c.Ok ? "[green]ok[/]" : "[red]problem[/]", Markup.Escape(c.Detail));
                }

                cli.Console.Write(table);
            });
            return checks.All(c => c.Ok) ? ExitCodes.Ok : ExitCodes.Failed;
        });
        return command;
    }
}
