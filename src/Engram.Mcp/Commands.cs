using Engram.Core;
using Engram.Embeddings;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Engram.Mcp;

/// <summary>The commands a person runs from a terminal (the MCP server is the default).</summary>
internal static class Commands
{
    /// <summary><c>engram reembed</c>: embeds every memory that lacks a vector of the configured embedder, with a progress bar.</summary>
    public static async Task<int> ReembedAsync(HostSettings settings)
    {
        IDisposable? owned = null;
        try
        {
            var embedder = EmbeddingProvider.Create(settings.Embeddings, settings.EmbeddingsUrl, settings.EmbeddingsKey);
            owned = embedder;
            using var logging = LoggerFactory.Create(b => b.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(LogLevel.Warning));
            var options = new EngramOptions();
            settings.Apply(options);
            await using var service = new MemoryService(options, embedder, logging);
            var embedded = 0;
            await AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .StartAsync(async context =>
                {
                    var task = context.AddTask($"Embedding with {settings.Embeddings}", maxValue: 1);
                    var progress = new Progress<(int Done, int Total)>(p =>
                    {
                        task.MaxValue = Math.Max(1, p.Total);
                        task.Value = p.Done;
                        task.Description = $"Embedding with {settings.Embeddings}: {p.Done:N0} of {p.Total:N0}";
                    });
                    embedded = await service.ReembedAsync(progress);
                    task.Value = task.MaxValue;
                });
            AnsiConsole.MarkupLineInterpolated(System.Globalization.CultureInfo.InvariantCulture, $"[green]Done:[/] {embedded:N0} memories embedded with {settings.Embeddings}; every scope's vectors of this model are in use.");
            return 0;
        }
        catch (EngramArgumentException e)
        {
            await Console.Error.WriteLineAsync($"engram: {e.Message}");
            return 2;
        }
        catch (InvalidOperationException e)
        {
            await Console.Error.WriteLineAsync($"engram reembed: {e.Message}");
            return 1;
        }
        finally
        {
            owned?.Dispose();
        }
    }
}
