using System.CommandLine;
using System.Diagnostics;
using Engram.Mcp.Hosting;

namespace Engram.Mcp.Commands;

/// <summary><c>engram ui</c>: the inspector in a browser, served from this process on 127.0.0.1.</summary>
internal static class UiCommand
{
    public static Command Create(Shell shell)
    {
        var port = new Option<int>("--port") { Description = "Port on 127.0.0.1 (default 0: a free one, new each time)", DefaultValueFactory = _ => 0 };
        var open = new Option<bool>("--open") { Description = "Open the inspector in the default browser" };
        var command = new Command("ui", "Inspect the memory in a browser: scopes, memories, why a recall found what it found; remember and forget") { port, open };
        command.SetAction(shell, async (cli, cancellationToken) =>
        {
            var (app, url) = await UiHost.StartAsync(cli.Settings, cli.Get(port), HostLogging.Level(shell.Environment), cancellationToken).ConfigureAwait(false);
            await using (app.ConfigureAwait(false))
            {
                await shell.Terminal.Error.WriteLineAsync(UiHost.Banner(url, cli.Settings)).ConfigureAwait(false);
                if (cli.Get(open))
                {
                    OpenBrowser(url);
                }

                await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
            }

            return ExitCodes.Ok;
        });
        return command;
    }

    private static void OpenBrowser(Uri url)
    {
        try
        {
            using var _ = OperatingSystem.IsWindows() ? Process.Start(new ProcessStartInfo(url.ToString()) { UseShellExecute = true })
                : Process.Start(OperatingSystem.IsMacOS() ? "open" : "xdg-open", url.ToString());
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // No browser to open here: the URL is printed above.
        }
    }
}
