using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Engram.Mcp.Tests;

/// <summary>
/// The built <c>engram</c> run as a real process that announces an address on its first stderr line (<c>serve --http</c>,
/// <c>ui</c>): started, its banner read for the address, the rest of stderr kept, and killed with SIGKILL.
/// </summary>
internal sealed class EngramProcess : IDisposable
{
    private static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "engram.dll");

    private EngramProcess(Process process, Uri address, Task<string> log)
    {
        Process = process;
        Address = address;
        Log = log;
    }

    public Process Process { get; }

    /// <summary>The address the banner announced (what <c>address</c> matched).</summary>
    public Uri Address { get; }

    /// <summary>What it wrote to stderr after its banner, complete once it has exited.</summary>
    public Task<string> Log { get; }

    /// <summary>Starts <c>engram <paramref name="args"/></c> with <paramref name="environment"/> (builtin embeddings, warnings only, unless set) and waits for its banner.</summary>
    public static async Task<EngramProcess> StartAsync(string[] args, IReadOnlyDictionary<string, string> environment, Regex address)
    {
        var start = new ProcessStartInfo("dotnet", [Dll, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["ENGRAM_EMBEDDINGS"] = "builtin";
        start.Environment["ENGRAM_LOG_LEVEL"] = "Warning";
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var process = Process.Start(start)!;
        _ = process.StandardOutput.ReadToEndAsync();
        // The banner is written once it listens; it names the address.
        var banner = await process.StandardError.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        var log = process.StandardError.ReadToEndAsync();
        var match = banner is null ? null : address.Match(banner);
        Assert.True(match is { Success: true }, $"engram {string.Join(' ', args)} did not start: {banner}");
        return new EngramProcess(process, new Uri(match.Value), log);
    }

    public void Kill()
    {
        if (!Process.HasExited)
        {
            Process.Kill(); // SIGKILL on Unix
        }

        Process.WaitForExit();
    }

    public void Dispose()
    {
        Kill();
        Process.Dispose();
    }
}
