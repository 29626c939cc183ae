using System.Reflection;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Engram.Mcp.Tools;

/// <summary>
/// A tool as tools/list announces it, from the committed description (<c>Tools/tools-list.json</c>), run by the tool the
/// SDK makes from <see cref="MemoryTools"/>. Making that one reflects over the method and writes its JSON schemas, a
/// third of a server's start-up here, so it is made on the thread pool while the server starts and answers tools/list;
/// a call waits for it. <c>ToolsListSnapshotTests</c> checks that the made tools describe themselves exactly as the file does.
/// </summary>
internal sealed class AnnouncedTool(Tool announced, IReadOnlyList<MethodInfo> methods, Task<McpServerTool[]> made) : McpServerTool
{
    private readonly Lazy<IReadOnlyList<object>> metadata = new(() =>
    {
        var method = methods.FirstOrDefault(m => m.GetCustomAttribute<McpServerToolAttribute>()?.Name == announced.Name)
            ?? throw new InvalidOperationException($"Tools/tools-list.json announces '{announced.Name}', which no MemoryTools method is named.");
        return [method, .. method.DeclaringType!.GetCustomAttributes(inherit: true), .. method.GetCustomAttributes(inherit: true)];
    });

    public override Tool ProtocolTool => announced;

    /// <summary>
    /// The method and the attributes of its type and its own, as the SDK's tool lists them, read without waiting for the made tool:
    /// the HTTP transport's authorization filters read them on every tools/list and call.
    /// </summary>
    public override IReadOnlyList<object> Metadata => metadata.Value;

    public override async ValueTask<CallToolResult> InvokeAsync(RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken = default) =>
        await (await MadeAsync().ConfigureAwait(false)).InvokeAsync(request, cancellationToken).ConfigureAwait(false);

    private async Task<McpServerTool> MadeAsync() =>
        (await made.ConfigureAwait(false)).FirstOrDefault(t => t.ProtocolTool.Name == announced.Name)
        ?? throw new InvalidOperationException($"Tools/tools-list.json announces '{announced.Name}', which MemoryTools does not make.");
}
