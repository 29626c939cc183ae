using System.CommandLine;
using System.Text.Json;
using Engram.Mcp.Hosting;
using Engram.Mcp.Output;
using Spectre.Console;

namespace Engram.Mcp.Commands;

/// <summary>One run of a command: what was parsed, the settings it resolved to, and where to write.</summary>
internal sealed class Invocation(ParseResult parse, Shell shell, HostSettings settings)
{
    public HostSettings Settings { get; } = settings;

    public Shell Shell { get; } = shell;

    public Terminal Terminal => Shell.Terminal;

    /// <summary>Tables, markup and progress, on stdout.</summary>
    public IAnsiConsole Console => Shell.Terminal.Console;

    public T? Get<T>(Option<T> option) => parse.GetValue(option);

    public T? Get<T>(Argument<T> argument) => parse.GetValue(argument);

    /// <summary>Whether <c>--json</c> was given.</summary>
    public bool Json => parse.GetValue<bool>(CommonOptions.JsonName);

    /// <summary>Writes <paramref name="value"/> as JSON with <c>--json</c>, else renders it for people.</summary>
    public int Print<T>(T value, Action render)
    {
        if (Json)
        {
            Terminal.Out.WriteLine(JsonSerializer.Serialize(value, JsonOutput.Indented));
        }
        else
        {
            render();
        }

        return ExitCodes.Ok;
    }
}
