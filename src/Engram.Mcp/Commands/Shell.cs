using Engram.Mcp.Output;

namespace Engram.Mcp.Commands;

/// <summary>What one run of the command line sees of the world: where it writes, its environment and working directory.</summary>
internal sealed record Shell(Terminal Terminal, Func<string, string?> Environment, string WorkingDirectory)
{
    /// <summary>This process's.</summary>
    public static Shell Current() =>
        new(Terminal.ForProcess(System.Environment.GetEnvironmentVariable), System.Environment.GetEnvironmentVariable, Directory.GetCurrentDirectory());
}
