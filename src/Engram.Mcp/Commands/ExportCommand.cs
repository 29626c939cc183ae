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
            if (path is null)
            {
                // stdout is the process's, not this command's to close.
                await JsonlExport.WriteAsync(service, cli.Get(scope), cli.Terminal.Out, cancellationToken).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            if (Directory.Exists(path))
            {
                throw new EngramArgumentException($"'{path}' is a folder. Send -o a file name in it, e.g. {Path.Combine(path, "engram-export.jsonl")}.");
            }

            // Written beside the file and moved over it once whole: a failure (a wrong --in, the store away, Ctrl+C)
            // leaves an earlier export there as it was.
            var partial = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.partial");
            try
            {
                (int Memories, int Checks) written;
                await using (var file = Create(partial, path))
                {
                    written = await JsonlExport.WriteAsync(service, cli.Get(scope), file, cancellationToken).ConfigureAwait(false);
                }

                File.Move(partial, path, overwrite: true);
                await cli.Terminal.Error.WriteLineAsync($"{Tables.Count(written.Memories, "memory", "memories")} and {Tables.Count(written.Checks, "saved check", "saved checks")} written to {path}.").ConfigureAwait(false);
            }
            finally
            {
                if (File.Exists(partial))
                {
                    File.Delete(partial);
                }
            }

            return ExitCodes.Ok;
        }, new FlagNames(("'scope'", "--in")));
        return command;
    }

    /// <summary>The file <paramref name="partial"/>, to be moved over <paramref name="path"/>, which errors name.</summary>
    private static StreamWriter Create(string partial, string path)
    {
        try
        {
            return new StreamWriter(partial);
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
