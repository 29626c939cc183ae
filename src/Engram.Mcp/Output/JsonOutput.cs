using System.Text.Encodings.Web;
using System.Text.Json;

namespace Engram.Mcp.Output;

/// <summary>
/// JSON for the command line's <c>--json</c> and <c>export</c>. The relaxed encoder writes <c>+</c>, <c>'</c>, <c>&lt;</c>
/// and non-ASCII letters as they are: this output goes to terminals, files and scripts, never into an HTML page (the
/// case the default encoder's <c>\u002B</c> and <c>\u0027</c> guard against). The MCP server keeps the SDK's encoder.
/// </summary>
internal static class JsonOutput
{
    /// <summary>One indented document (<c>--json</c>).</summary>
    public static readonly JsonSerializerOptions Indented = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>One object per line (<c>export</c>'s JSON Lines).</summary>
    public static readonly JsonSerializerOptions Line = new(JsonSerializerDefaults.Web)
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
