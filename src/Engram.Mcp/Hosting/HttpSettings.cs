using System.Net;

namespace Engram.Mcp.Hosting;

/// <summary>How <c>engram serve --http</c> listens and whom it lets in.</summary>
/// <param name="Bind">The address to listen on; loopback (127.0.0.1) unless asked otherwise.</param>
/// <param name="Port">The port; 0 picks a free one.</param>
/// <param name="Token">
/// The shared bearer token (<c>ENGRAM_TOKEN</c>): whoever sends it is an unrestricted caller. Beyond loopback, requests
/// need it or a principal's token from <c>engram token add</c>.
/// </param>
/// <param name="AllowedOrigins">Browser origins allowed besides loopback ones (<c>ENGRAM_ALLOWED_ORIGINS</c>, comma-separated).</param>
/// <param name="LegacySse">Also map the deprecated HTTP+SSE transport (<see cref="LegacySsePath"/>, <see cref="LegacyMessagePath"/>).</param>
internal sealed record HttpSettings(IPAddress Bind, int Port, string? Token, IReadOnlyList<string> AllowedOrigins, bool LegacySse)
{
    public const int DefaultPort = 8765;

    /// <summary>Where Streamable HTTP is served.</summary>
    public const string Path = "/mcp";

    /// <summary>Where the deprecated HTTP+SSE transport opens its event stream: the SDK maps it under <see cref="Path"/>.</summary>
    public const string LegacySsePath = Path + "/sse";

    /// <summary>Where the deprecated HTTP+SSE transport takes the client's messages.</summary>
    public const string LegacyMessagePath = Path + "/message";

    public bool IsLoopback => IPAddress.IsLoopback(Bind);

    /// <summary>
    /// Require a token even on loopback: the server refuses to start unless <see cref="Token"/> is set or the store holds
    /// a live principal's token, and every request must carry one. For a store shared by a team (PostgreSQL).
    /// </summary>
    public bool RequireToken { get; init; }

    /// <summary>Whether every request must carry a bearer token: with <see cref="Token"/>, with <see cref="RequireToken"/>, or beyond loopback.</summary>
    public bool RequiresToken => !string.IsNullOrEmpty(Token) || RequireToken || !IsLoopback;
}
