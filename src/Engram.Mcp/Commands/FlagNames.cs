namespace Engram.Mcp.Commands;

/// <summary>
/// Puts a library message in a command's terms. The library speaks the MCP tools' argument names (<c>'all: true'</c>,
/// <c>'scope'</c>); a person at the command line typed flags (<c>--all</c>, <c>--in</c>), and is told about those.
/// </summary>
internal sealed class FlagNames(params (string Argument, string Flag)[] names)
{
    public static readonly FlagNames None = new();

    public string Translate(string message)
    {
        foreach (var (argument, flag) in names)
        {
            message = message.Replace(argument, flag, StringComparison.Ordinal);
        }

        return message;
    }
}
