using System.Text.Json;
using Engram.Core;
using Engram.Mcp.Output;

namespace Engram.Mcp;

/// <summary>
/// Writes an Engram export, as <c>engram export</c> and the inspector's download do: one memory per JSON line, then one
/// saved recall check per line (after the memories, since an import saves a check only once the memories it expects are
/// in). <see cref="JsonlImport"/> reads it back.
/// </summary>
internal static class JsonlExport
{
    /// <summary>Writes the memories and checks of <paramref name="scope"/> (all when null); returns how many of each.</summary>
    public static async Task<(int Memories, int Checks)> WriteAsync(MemoryService memory, string? scope, TextWriter writer, CancellationToken cancellationToken)
    {
        var count = 0;
        await foreach (var record in memory.ExportAsync(scope, cancellationToken).ConfigureAwait(false))
        {
            await writer.WriteLineAsync(JsonSerializer.Serialize(record, JsonOutput.Line)).ConfigureAwait(false);
            count++;
        }

        var checks = await memory.ListChecksAsync(scope, cancellationToken).ConfigureAwait(false);
        foreach (var check in checks)
        {
            await writer.WriteLineAsync(JsonSerializer.Serialize(check, JsonOutput.Line)).ConfigureAwait(false);
        }

        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        return (count, checks.Count);
    }
}
