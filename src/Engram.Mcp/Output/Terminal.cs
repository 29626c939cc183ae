using System.Globalization;
using Spectre.Console;

namespace Engram.Mcp.Output;

/// <summary>
/// Where a command writes: results to <see cref="Out"/> (tables for people, JSON for scripts), errors to
/// <see cref="Error"/>, and tables and progress through <see cref="Console"/>, which is <see cref="Out"/> at a known width.
/// </summary>
internal sealed class Terminal
{
    /// <summary>
    /// The width of output that goes to neither a terminal nor a <c>COLUMNS</c> setting (piped, where shells do not export
    /// <c>COLUMNS</c>): wide enough that a row of id, score, scope, time and memory stays one line for <c>grep</c>.
    /// </summary>
    public const int FallbackWidth = 160;

    public Terminal(TextWriter output, TextWriter error, int width, bool interactive)
    {
        Out = output;
        Error = error;
        Interactive = interactive;
        // Made when first written to: the MCP server on stdio never is, and making it costs its start-up ~20 ms.
        console = new Lazy<IAnsiConsole>(() =>
        {
            var made = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(output),
                Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No,
                ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
                Interactive = interactive ? InteractionSupport.Detect : InteractionSupport.No,
            });
            made.Profile.Width = width;
            return made;
        });
    }

    private readonly Lazy<IAnsiConsole> console;

    public TextWriter Out { get; }

    public TextWriter Error { get; }

    /// <summary>Whether a person watches the output (not piped): progress bars are drawn only then.</summary>
    public bool Interactive { get; }

    public IAnsiConsole Console => console.Value;

    /// <summary>This process's stdout and stderr.</summary>
    public static Terminal ForProcess(Func<string, string?> environment)
    {
        var interactive = !System.Console.IsOutputRedirected;
        return new Terminal(System.Console.Out, System.Console.Error, Width(environment, interactive ? WindowWidth() : null), interactive);
    }

    /// <summary><c>COLUMNS</c> when set, else the window's width, else <see cref="FallbackWidth"/>.</summary>
    public static int Width(Func<string, string?> environment, int? windowWidth) =>
        int.TryParse(environment("COLUMNS"), NumberStyles.None, CultureInfo.InvariantCulture, out var columns) && columns is >= 20 and <= 10_000
            ? columns
            : windowWidth is > 0 ? windowWidth.Value : FallbackWidth;

    private static int? WindowWidth()
    {
        try
        {
            return System.Console.WindowWidth;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
