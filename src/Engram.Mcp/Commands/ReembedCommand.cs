using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace Engram.Mcp.Commands;

/// <summary><c>engram reembed</c>: embeds every memory that lacks a vector of the configured embedder, with a progress bar.</summary>
internal static class ReembedCommand
{
    public static Command Create(Shell shell)
    {
        var command = new Command("reembed", "Embed every memory that lacks a vector of the configured embedder, with a progress bar");
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var embedder = cli.Settings.Embeddings ?? Engram.Embeddings.EmbeddingProvider.DefaultModel;
            var embedded = await cli.Console.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .StartAsync(async context =>
                {
                    var task = context.AddTask($"Embedding with {embedder}", maxValue: 1);
                    var progress = new Progress<(int Done, int Total)>(p =>
                    {
                        task.MaxValue = Math.Max(1, p.Total);
                        task.Value = p.Done;
                        task.Description = $"Embedding with {embedder}: {p.Done:N0} of {p.Total:N0}";
                    });
                    var count = await service.ReembedAsync(progress, cancellationToken).ConfigureAwait(false);
                    task.Value = task.MaxValue;
                    return count;
                }).ConfigureAwait(false);
            cli.Console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                $"[green]Done:[/] {embedded:N0} memories embedded with {embedder}; every scope's vectors of this model are in use.");
            return ExitCodes.Ok;
        });
        return command;
    }
}
