using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Engram.Mcp.Tools;

/// <summary>
/// Answers a tools/call the SDK cannot read, with an invalid-params error that says what to send, logged as one line:
/// params that are not an object, text that is not well-formed (half of a UTF-16 surrogate pair, as a client leaves when
/// it cuts a string inside an emoji), and a tool that does not exist. Left to the SDK, the first two are answered as an
/// internal error, and each costs log entries with stack traces.
/// </summary>
internal static partial class MalformedCalls
{
    public static IMcpServerBuilder WithMalformedCallErrors(this IMcpServerBuilder builder) =>
        builder.WithMessageFilters(f => f.AddIncomingFilter(next => async (context, cancellationToken) =>
        {
            if (context.JsonRpcMessage is JsonRpcRequest { Method: RequestMethods.ToolsCall } request &&
                Problem(request, context.Server.ServerOptions.ToolCollection) is { } problem)
            {
                if (context.Server.Services?.GetService<ILoggerFactory>() is { } logging)
                {
                    LogMalformedCall(logging.CreateLogger(typeof(MalformedCalls).FullName!), problem);
                }

                throw new McpProtocolException(problem, McpErrorCode.InvalidParams);
            }

            await next(context, cancellationToken).ConfigureAwait(false);
        }));

    /// <summary>What is wrong with a tools/call that cannot be run as sent, or null.</summary>
    internal static string? Problem(JsonRpcRequest request, McpServerPrimitiveCollection<McpServerTool>? tools)
    {
        if (request.Params is not JsonObject call)
        {
            return """tools/call takes its params as an object: {"name": "<tool>", "arguments": {…}}.""";
        }

        if (Unreadable(call) is { } where)
        {
            return $"'params{where}' is not well-formed text: it holds half of a UTF-16 surrogate pair (a string cut inside an emoji or another character outside the Basic Multilingual Plane). Send whole characters.";
        }

        try
        {
            if (tools is not null && call["name"] is JsonValue name && name.GetValueKind() == JsonValueKind.String &&
                name.GetValue<string>() is var tool && !tools.TryGetPrimitive(tool, out _))
            {
                return $"Unknown tool: '{Shorten(tool)}'. The tools are: {string.Join(", ", tools.Select(t => t.ProtocolTool.Name))}.";
            }
        }
        catch (ArgumentException)
        {
            // params naming a property twice ("name" and "Name"): the SDK's binding answers it.
        }

        return null;
    }

    /// <summary>
    /// Where in <paramref name="node"/> a name or string cannot be read as text, as a path below it ("" for the node
    /// itself), or null when all can. Paths are made only on the way out of a failure: a well-formed call, every call but
    /// a rare one, builds none.
    /// </summary>
    private static string? Unreadable(JsonNode? node)
    {
        try
        {
            switch (node)
            {
                case JsonObject o:
                    foreach (var (key, value) in o)
                    {
                        if (Unreadable(value) is { } inside)
                        {
                            return "." + key + inside;
                        }
                    }

                    break;
                case JsonArray a:
                    for (var i = 0; i < a.Count; i++)
                    {
                        if (Unreadable(a[i]) is { } inside)
                        {
                            return $"[{i}]{inside}";
                        }
                    }

                    break;
                case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                    _ = v.GetValue<string>();
                    break;
            }
        }
        catch (InvalidOperationException)
        {
            // System.Text.Json refuses to unescape a lone surrogate (a value's, or a property name's).
            return "";
        }
        catch (ArgumentException)
        {
            // Not a text problem (an object naming one property twice, which the SDK's binding answers): left to it.
            return null;
        }

        return null;
    }

    private static string Shorten(string s) => s.Length <= 60 ? s : s[..60] + "…";

    [LoggerMessage(Level = LogLevel.Warning, Message = "tools/call refused: {Problem}")]
    private static partial void LogMalformedCall(ILogger logger, string problem);
}
