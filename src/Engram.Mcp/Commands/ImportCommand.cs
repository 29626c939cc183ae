using System.CommandLine;
using System.Globalization;
using Engram.Core;
using Engram.Core.Model;
using Engram.Mcp.Output;
using Spectre.Console;

namespace Engram.Mcp.Commands;

/// <summary><c>engram import file.jsonl</c>: an Engram export, or the reference MCP memory server's <c>memory.jsonl</c>.</summary>
internal static class ImportCommand
{
    public static Command Create(Shell shell)
    {
        var file = new Argument<string>("file") { Description = "A JSON Lines file: an Engram export, or the reference MCP memory server's memory.jsonl" };
        var command = new Command("import", "Import memories from an Engram export or a server-memory file") { file, CommonOptions.Json() };
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var path = cli.Get(file)!;
            if (!File.Exists(path))
            {
                throw new EngramArgumentException($"No file at {path}. Send an Engram export (engram export -o file.jsonl) or server-memory's memory.jsonl.");
            }

            var (records, checks, format) = JsonlImport.Read(path, cli.Settings.DefaultScope);
            ImportResult result;
            if (cli.Json || !cli.Terminal.Interactive)
            {
                result = await service.ImportAsync(records, null, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                result = await cli.Console.Progress().StartAsync(async context =>
                {
                    var task = context.AddTask($"Importing {records.Count:N0} records ({format})", maxValue: Math.Max(1, records.Count));
                    var imported = await service.ImportAsync(records, new Progress<(int Done, int Total)>(p => task.Value = p.Done), cancellationToken).ConfigureAwait(false);
                    task.Value = task.MaxValue;
                    return imported;
                }).ConfigureAwait(false);
            }

            var saved = await service.ImportChecksAsync(checks, cancellationToken).ConfigureAwait(false);
            return cli.Print(new { format, result, checks = saved }, () =>
            {
                cli.Console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                    $"[green]Imported[/] {result.Created} memories from {format}; {result.AlreadyPresent} already present, {result.Duplicates} duplicates skipped, {result.Superseded} supersession links.");
                if (checks.Count > 0)
                {
                    cli.Console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                        $"[green]Imported[/] {Tables.Count(saved.Added, "saved check", "saved checks")}; {saved.AlreadyPresent} already present, {saved.Skipped} skipped (they expect a memory the store does not hold).");
                }
            });
        });
        return command;
    }
}
