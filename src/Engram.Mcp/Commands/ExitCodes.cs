namespace Engram.Mcp.Commands;

/// <summary>How the command line exits (the README's table).</summary>
internal static class ExitCodes
{
    /// <summary>Done.</summary>
    public const int Ok = 0;

    /// <summary>Something other than the input failed: a doctor check, the embedder, the disk, an unexpected error.</summary>
    public const int Failed = 1;

    /// <summary>Bad input, with a message saying what to send: an unknown command or option, a malformed value, an unknown id or path.</summary>
    public const int BadInput = 2;
}
