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

            if (!Directory.Exists(Path.GetDirectoryName(Path.GetFullPath(path))))
            {
                throw Unwritable(path, "its folder does not exist", null);
            }

            // Written to a private temporary file first and copied into the target once whole: a failure (a wrong --in,
            // the store away, Ctrl+C) leaves an earlier export there as it was, and the target stays what it is (its
            // permissions, a link, a device such as /dev/stdout, a pipe).
            var partial = Path.Combine(Path.GetTempPath(), $"engram-export-{Guid.NewGuid():N}.jsonl");
            try
            {
                (int Memories, int Checks) written;
                var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.ReadWrite };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }

                await using var buffer = new FileStream(partial, options);
                await using (var writer = new StreamWriter(buffer, leaveOpen: true))
                {
                    written = await JsonlExport.WriteAsync(service, cli.Get(scope), writer, cancellationToken).ConfigureAwait(false);
                }

                buffer.Position = 0;
                await using (var target = Open(path))
                {
                    await buffer.CopyToAsync(target, cancellationToken).ConfigureAwait(false);
                }

                await cli.Terminal.Error.WriteLineAsync($"{Tables.Count(written.Memories, "memory", "memories")} and {Tables.Count(written.Checks, "saved check", "saved checks")} written to {path}.").ConfigureAwait(false);
            }
            finally
            {
                File.Delete(partial);
            }

            return ExitCodes.Ok;
        }, new FlagNames(("'scope'", "--in")));
        return command;
    }

    /// <summary>The export's target, opened to be written from its start.</summary>
    private static FileStream Open(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Create, FileAccess.Write);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Unwritable(path, e switch
            {
                DirectoryNotFoundException => "its folder does not exist",
                UnauthorizedAccessException => "writing there is not allowed",
                _ => e.Message,
            }, e);
        }
    }

    private static EngramArgumentException Unwritable(string path, string why, Exception? cause)
    {
        var message = $"cannot write '{path}': {why}. Send -o a file in a folder you may write to, or leave -o out for stdout.";
        return cause is null ? new(message) : new(message, cause);
    }
}
