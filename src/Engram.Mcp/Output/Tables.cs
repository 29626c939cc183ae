using System.Globalization;
using Spectre.Console;

namespace Engram.Mcp.Output;

/// <summary>The pieces the commands' tables share: columns whose ids never wrap, and how times, scores and text are shown.</summary>
internal static class Tables
{
    /// <summary>A table with these columns; one named <c>id</c> is never wrapped, so an id stays on one line to copy.</summary>
    public static Table Create(params string[] headers)
    {
        var table = new Table();
        foreach (var header in headers)
        {
            var column = new TableColumn(header);
            table.AddColumn(header == "id" ? column.NoWrap() : column);
        }

        return table;
    }

    /// <summary>
    /// Whether a row of id, score, scope, time and memory fits side by side; narrower, commands fold the details under the
    /// memory text rather than squeeze it into a column a few letters wide.
    /// </summary>
    public static bool Wide(IAnsiConsole console) => console.Profile.Width >= 110;

    /// <summary>Text cut to <paramref name="length"/> characters, escaped for markup.</summary>
    public static string Short(string text, int length = 90) => Markup.Escape(text.Length <= length ? text : text[..(length - 1)] + "…");

    public static string Time(DateTimeOffset t) => t.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);

    public static string Score(double score) => score.ToString("0.0000", CultureInfo.InvariantCulture);

    public static string Number(int n) => n.ToString(CultureInfo.InvariantCulture);

    /// <summary>"1 memory", "2 memories".</summary>
    public static string Count(int n, string one, string many) => $"{Number(n)} {(n == 1 ? one : many)}";
}
