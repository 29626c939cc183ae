using System.CommandLine;
using Engram.Core;
using Engram.Mcp.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Engram.Mcp.Commands;

/// <summary>
/// Runs a command's action: resolves the settings, opens the store when the command needs it, and turns every failure
/// into one line on stderr and an exit code (<see cref="ExitCodes"/>). No stack trace reaches the person unless
/// <c>ENGRAM_LOG_LEVEL</c> asks for Debug.
/// </summary>
internal static class CommandRunner
{
    /// <summary>Sets an action that needs the settings only (the servers).</summary>
    public static void SetAction(this Command command, Shell shell, Func<Invocation, CancellationToken, Task<int>> action, FlagNames? flags = null) =>
        command.SetAction((parse, cancellationToken) => RunAsync(command, parse, shell, flags ?? FlagNames.None, cli => action(cli, cancellationToken)));

    /// <summary>Sets an action on the store: the service comes from the container, built as the server builds it.</summary>
    public static void SetAction(this Command command, Shell shell, Func<Invocation, MemoryService, CancellationToken, Task<int>> action, FlagNames? flags = null) =>
        command.SetAction(shell, async (cli, cancellationToken) =>
        {
            await using var services = OpenStore(cli);
            return await action(cli, services.GetRequiredService<MemoryService>(), cancellationToken).ConfigureAwait(false);
        }, flags);

    private static ServiceProvider OpenStore(Invocation cli)
    {
        var services = new ServiceCollection();
        services.AddLogging(logging => logging.AddEngramConsole(HostLogging.Level(cli.Shell.Environment, LogLevel.Warning)));

        // A command runs once and exits: no background embedder (reembed embeds in the foreground).
        services.AddEngramStore(cli.Settings, options => options.BackgroundEmbedding = false);
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
    }

    /// <summary>A command as typed: <c>engram</c>, <c>engram recall</c>, <c>engram token add</c>.</summary>
    public static string Path(Command command) =>
        command is RootCommand ? "engram" : $"{(command.Parents.OfType<Command>().FirstOrDefault() is { } parent ? Path(parent) : "engram")} {command.Name}";

    private static async Task<int> RunAsync(Command command, ParseResult parse, Shell shell, FlagNames flags, Func<Invocation, Task<int>> action)
    {
        var name = Path(command);
        try
        {
            var settings = HostSettings.From(parse, shell.Environment, shell.WorkingDirectory);
            return await action(new Invocation(parse, shell, settings)).ConfigureAwait(false);
        }
        catch (EngramArgumentException e)
        {
            await shell.Terminal.Error.WriteLineAsync($"{name}: {flags.Translate(e.Message)}").ConfigureAwait(false);
            return ExitCodes.BadInput;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            await shell.Terminal.Error.WriteLineAsync($"{name}: {e.Message}").ConfigureAwait(false);
            if (HostLogging.Level(shell.Environment) <= LogLevel.Debug)
            {
                await shell.Terminal.Error.WriteLineAsync(e.ToString()).ConfigureAwait(false);
            }

            return ExitCodes.Failed;
        }
    }
}
