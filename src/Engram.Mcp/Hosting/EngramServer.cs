using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Engram.Mcp.Tools;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Engram.Mcp.Hosting;

/// <summary>Wires the Engram MCP server into a service collection; the transport is the caller's choice.</summary>
internal static class EngramServer
{
    public static string Version { get; } =
        typeof(EngramServer).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    public const string Instructions = """
        Engram is this user's long-term memory across sessions. Call 'recall' before answering questions that earlier
        sessions may have settled (preferences, decisions, conventions, known issues); call 'remember' when the user
        states something worth knowing next time, one fact per call. Memories belong to the current project unless the
        scope 'user' is given for the person's own cross-project facts.
        """;

    /// <summary>
    /// Registers the store (<see cref="EngramServices.AddEngramStore"/>, its options from <paramref name="settings"/> and
    /// then <paramref name="configure"/>) and the MCP server with Engram's tools.
    /// </summary>
    public static IMcpServerBuilder AddEngramServer(this IServiceCollection services, HostSettings settings, Action<Engram.Core.EngramOptions>? configure = null) =>
        services
            .AddEngramStore(settings, configure)
            .AddMcpServer(o =>
            {
                o.ServerInfo = new Implementation { Name = "engram", Title = "Engram memory", Version = Version };
                o.ServerInstructions = Instructions;
            })
            .WithEngramTools();

    /// <summary>The methods behind the tools.</summary>
    internal static readonly MethodInfo[] ToolMethods =
    [
        typeof(MemoryTools).GetMethod(nameof(MemoryTools.Remember))!, typeof(MemoryTools).GetMethod(nameof(MemoryTools.Recall))!,
        typeof(MemoryTools).GetMethod(nameof(MemoryTools.Forget))!, typeof(MemoryTools).GetMethod(nameof(MemoryTools.Explain))!,
    ];

    /// <summary>
    /// Starts making the tools on the thread pool (see <see cref="AnnouncedTool"/>) before the host is built, for the
    /// first server to take: a process that serves makes them beside its start-up.
    /// </summary>
    public static void PrepareTools() => Ahead.Tools ??= Task.Run(CreateTools);

    /// <summary>
    /// Adds Engram's remember, recall, forget and explain tools: announced from <c>Tools/tools-list.json</c>, run by
    /// the tools <see cref="CreateTools"/> makes once per server (or that <see cref="PrepareTools"/> made) on the
    /// thread pool.
    /// </summary>
    public static IMcpServerBuilder WithEngramTools(this IMcpServerBuilder builder)
    {
        var made = new Lazy<Task<McpServerTool[]>>(() => Interlocked.Exchange(ref Ahead.Tools, null) ?? Task.Run(CreateTools));
        foreach (var tool in AnnouncedTools())
        {
            builder.Services.AddSingleton<McpServerTool>(_ => new AnnouncedTool(tool, ToolMethods, made.Value));
        }

        return builder.WithToolErrors().WithMalformedCallErrors();
    }

    /// <summary>The tools as tools/list shows them, in its order: <c>Tools/tools-list.json</c>, embedded.</summary>
    internal static Tool[] AnnouncedTools()
    {
        using var stream = typeof(EngramServer).Assembly.GetManifestResourceStream(AnnouncedResource)
            ?? throw new InvalidOperationException($"The resource {AnnouncedResource} is missing from this build.");
        using var document = JsonDocument.Parse(stream);
        return [.. document.RootElement.EnumerateArray().Select(t => t.Deserialize<Tool>(McpJsonUtilities.DefaultOptions)!)];
    }

    private const string AnnouncedResource = "Engram.Mcp.Tools.tools-list.json";

    /// <summary>
    /// The tools as the SDK makes them from <see cref="MemoryTools"/> (what <c>WithTools&lt;MemoryTools&gt;</c>
    /// registers), their schemas made portable. The methods take no services, so the options need no service provider.
    /// </summary>
    internal static McpServerTool[] CreateTools() =>
        [.. ToolMethods.Select(method => PortableSchemas.Apply(McpServerTool.Create(
            method,
            static request => ActivatorUtilities.CreateInstance<MemoryTools>(request.Services ?? throw new InvalidOperationException("A tool call came without the server's services.")),
            new McpServerToolCreateOptions { SerializerOptions = ResultJson })))];

    /// <summary>
    /// The SDK's options, but writing nulls: the output schemas list nullable fields (duplicateOf, supersededBy, …)
    /// as required, and clients that validate structured content (the TypeScript SDK does) need them present. The
    /// tools' own types are described by <see cref="ToolJson"/>, first in the chain.
    /// </summary>
    private static readonly JsonSerializerOptions ResultJson = new(McpJsonUtilities.DefaultOptions)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        TypeInfoResolver = JsonTypeInfoResolver.Combine(ToolJson.Default, McpJsonUtilities.DefaultOptions.TypeInfoResolver),
    };

    /// <summary>
    /// The tools made ahead by <see cref="PrepareTools"/>, for the first server to take; a class of its own so that
    /// preparing does not run <see cref="EngramServer"/>'s static initialisers on the caller's thread.
    /// </summary>
    private static class Ahead
    {
        public static Task<McpServerTool[]>? Tools;
    }
}
