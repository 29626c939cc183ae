using System.Text.Json.Serialization;

namespace Engram.Mcp.Tools;

/// <summary>
/// The tools' arguments and results, described at build time: making the tools writes their JSON schemas from this
/// metadata instead of reflecting over each type at start-up, and each call's result is written from it.
/// </summary>
[JsonSerializable(typeof(RememberToolResult))]
[JsonSerializable(typeof(RecallToolResult))]
[JsonSerializable(typeof(ForgetToolResult))]
[JsonSerializable(typeof(ExplainToolResult))]
[JsonSerializable(typeof(string[]))]
internal sealed partial class ToolJson : JsonSerializerContext;
