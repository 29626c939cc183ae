using Engram.Core;
using Engram.Mcp;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

HostSettings settings;
try
{
    settings = HostSettings.Resolve(args, Environment.GetEnvironmentVariable, Directory.GetCurrentDirectory());
}
catch (EngramArgumentException e)
{
    await Console.Error.WriteLineAsync($"engram: {e.Message}");
    return 2;
}

if (settings.ShowHelp)
{
    Console.WriteLine(HostSettings.Usage);
    return 0;
}

if (settings.ShowVersion)
{
    Console.WriteLine(EngramServer.Version);
    return 0;
}

var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
if (settings.Command == "reembed")
{
    return await Commands.ReembedAsync(settings);
}

var level = Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("ENGRAM_LOG_LEVEL"), ignoreCase: true, out var l) ? l : LogLevel.Information;
// stdout carries only the protocol: every log goes to stderr.
builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(level);
// The SDK logs every request at Information; keep that for Debug and below.
builder.Logging.AddFilter("ModelContextProtocol", level <= LogLevel.Debug ? level : LogLevel.Warning);
builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
try
{
    builder.Services.AddEngramServer(settings).WithStdioServerTransport();
}
catch (EngramArgumentException e)
{
    await Console.Error.WriteLineAsync($"engram: {e.Message}");
    return 2;
}

if (!Console.IsInputRedirected || !Console.IsErrorRedirected)
{
    await Console.Error.WriteLineAsync(
        $"engram {EngramServer.Version}: MCP server on stdio; store {Path.Combine(settings.Home, "engram.db")}; default scope {settings.DefaultScope} (from {settings.ScopeSource}).");
}

await builder.Build().RunAsync();
return 0;
