using System.CommandLine;
using System.Text.Json;
using Engram.Core;
using Engram.Mcp.Output;

namespace Engram.Mcp.Commands;

/// <summary><c>engram export</c>: every memory as JSON Lines, to stdout or a file; <c>import</c> reads it back.</summary>
internal static class ExportCommand
{
    public static Command Create(Shell shell)
    {
        var output = new Option<string?>("--output", "-o") { Description = "Write to this file (default: stdout)" };
        var scope = CommonOptions.In();
        var command = new Command("export", "Write every memory as JSON Lines (ids, times, tags and supersession kept), then the saved recall checks") { output, scope };
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var path = cli.Get(output);
            var file = path is null ? null : Create(path);
            await using (file)
            {
                // stdout is the process's, not this command's to close.
                var (memories, checks) = await JsonlExport.WriteAsync(service, cli.Get(scope), file ?? cli.Terminal.Out, cancellationToken).ConfigureAwait(false);
                if (path is not null)
                {
                    await cli.Terminal.Error.WriteLineAsync($"{Tables.Count(memories, "memory", "memories")} and {Tables.Count(checks, "saved check", "saved checks")} written to {path}.").ConfigureAwait(false);
                }
            }

            return ExitCodes.Ok;
        }, new FlagNames(("'scope'", "--in")));
        return command;
    }

    private static StreamWriter Create(string path)
    {
        try
        {
            return new StreamWriter(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            var why = e switch
            {
                DirectoryNotFoundException => "its folder does not exist",
                UnauthorizedAccessException => "writing there is not allowed",
                _ => e.Message,
            };
            throw new EngramArgumentException($"cannot write '{path}': {why}. Send -o a file in a folder you may write to, or leave -o out for stdout.", e);
        }
    }
}
