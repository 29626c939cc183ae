using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Engram.Mcp.Tools;

/// <summary>
/// Answers a call to a tool that does not exist with the protocol error the SDK would send (invalid params), logged as
/// one line. Left to the SDK, the same answer costs two log entries with stack traces: it reports the call as a failing
/// tool and then as a failing request.
/// </summary>
internal static partial class UnknownTools
{
    public static IMcpServerBuilder WithUnknownToolErrors(this IMcpServerBuilder builder) =>
        builder.WithMessageFilters(f => f.AddIncomingFilter(next => async (context, cancellationToken) =>
        {
            if (context.JsonRpcMessage is JsonRpcRequest { Method: RequestMethods.ToolsCall } request &&
                context.Server.ServerOptions.ToolCollection is { } tools &&
                ToolName(request) is { } name &&
                !tools.TryGetPrimitive(name, out _))
            {
                if (context.Server.Services?.GetService<ILoggerFactory>() is { } logging)
                {
                    LogUnknownTool(logging.CreateLogger(typeof(UnknownTools).FullName!), Shorten(name));
                }

                throw new McpProtocolException(
                    $"Unknown tool: '{Shorten(name)}'. The tools are: {string.Join(", ", tools.Select(t => t.ProtocolTool.Name))}.", McpErrorCode.InvalidParams);
            }

            await next(context, cancellationToken).ConfigureAwait(false);
        }));

    private static string? ToolName(JsonRpcRequest request) =>
        request.Params?["name"] is { } name && name.GetValueKind() == JsonValueKind.String ? name.GetValue<string>() : null;

    private static string Shorten(string s) => s.Length <= 60 ? s : s[..60] + "…";

    [LoggerMessage(Level = LogLevel.Warning, Message = "tools/call names no tool of this server: '{Tool}'.")]
    private static partial void LogUnknownTool(ILogger logger, string tool);
}
