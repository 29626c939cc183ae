using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Engram.Mcp.Tools;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

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

    /// <summary>Adds Engram's remember, recall, forget and explain tools.</summary>
    public static IMcpServerBuilder WithEngramTools(this IMcpServerBuilder builder) =>
        builder.WithTools<MemoryTools>(ResultJson).WithToolErrors().WithUnknownToolErrors().WithPortableSchemas();

    /// <summary>
    /// The SDK's options, but writing nulls: the output schemas list nullable fields (duplicateOf, supersededBy, …)
    /// as required, and clients that validate structured content (the TypeScript SDK does) need them present.
    /// </summary>
    private static readonly JsonSerializerOptions ResultJson = new(McpJsonUtilities.DefaultOptions)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };
}
