using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Engram.Mcp.Tests;

/// <summary>The tool package: what <c>dotnet pack</c> makes of the repository, and that it installs and runs.</summary>
public sealed partial class PackagingTests(TempFolder temp) : IClassFixture<TempFolder>
{
    private static readonly string RepositoryRoot = FindRepositoryRoot();

    private static string FindRepositoryRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "Engram.Mcp.sln")))
            {
                return d.FullName;
            }
        }

        throw new InvalidOperationException("The tests run outside the repository: no Engram.Mcp.sln above " + AppContext.BaseDirectory);
    }

    [GeneratedRegex(@"^Project\(""[^""]+""\) = ""[^""]+"", ""([^""]+\.csproj)""", RegexOptions.Multiline)]
    private static partial Regex SolutionProject();

    /// <summary><c>dotnet pack</c> at the root packs every packable project of the solution: only the tool may be one.</summary>
    [Fact]
    public void EveryProjectOfTheSolution_ButTheTool_IsNotPackable()
    {
        var projects = SolutionProject().Matches(File.ReadAllText(Path.Combine(RepositoryRoot, "Engram.Mcp.sln")))
            .Select(m => m.Groups[1].Value.Replace('\\', Path.DirectorySeparatorChar))
            .ToList();
        Assert.Contains(projects, p => p.EndsWith("Engram.Mcp.csproj", StringComparison.Ordinal));
        foreach (var project in projects)
        {
            var packable = XDocument.Load(Path.Combine(RepositoryRoot, project)).Descendants("IsPackable").LastOrDefault()?.Value;
            var tool = Path.GetFileName(project) == "Engram.Mcp.csproj";
            Assert.True(packable == (tool ? "true" : "false"), $"{project}: IsPackable is {packable ?? "unset (packable)"}; only the tool is packed.");
        }
    }

    [Fact]
    public async Task Pack_ProducesAToolPackage_ThatIsAnMcpServer()
    {
        var project = Path.Combine(RepositoryRoot, "src", "Engram.Mcp", "Engram.Mcp.csproj");
        Assert.True(File.Exists(project), project);
        var output = Path.Combine(temp.Root, "pack-" + Guid.NewGuid().ToString("N"));
        var start = new ProcessStartInfo("dotnet", ["pack", project, "-c", "Release", "-o", output, "-p:ContinuousIntegrationBuild=true"]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using (var process = Process.Start(start)!)
        {
            var log = process.StandardOutput.ReadToEndAsync();
            await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, await log);
        }

        var package = Assert.Single(Directory.GetFiles(output, "Engram.Mcp.*.nupkg"));
        using var zip = ZipFile.OpenRead(package);
        var nuspec = new StreamReader(zip.GetEntry("Engram.Mcp.nuspec")!.Open()).ReadToEnd();
        Assert.Contains("<packageType name=\"DotnetTool\" />", nuspec, StringComparison.Ordinal);
        Assert.Contains("<packageType name=\"McpServer\" />", nuspec, StringComparison.Ordinal);
        Assert.NotNull(zip.GetEntry("tools/net10.0/any/engram.dll"));
        Assert.NotNull(zip.GetEntry("tools/net10.0/any/DotnetToolSettings.xml"));
        Assert.Contains("Command Name=\"engram\"", new StreamReader(zip.GetEntry("tools/net10.0/any/DotnetToolSettings.xml")!.Open()).ReadToEnd(), StringComparison.Ordinal);
        Assert.DoesNotContain(zip.Entries, e => e.FullName.Contains("/runtimes/ios", StringComparison.Ordinal) || e.FullName.Contains("/runtimes/android", StringComparison.Ordinal));

        using var server = JsonDocument.Parse(zip.GetEntry(".mcp/server.json")!.Open());
        var version = Regex.Match(nuspec, "<version>([^<]+)</version>").Groups[1].Value;
        Assert.Equal(version, server.RootElement.GetProperty("version").GetString());
        var entry = server.RootElement.GetProperty("packages")[0];
        Assert.Equal("nuget", entry.GetProperty("registryType").GetString());
        Assert.Equal("Engram.Mcp", entry.GetProperty("identifier").GetString());
        Assert.Equal(version, entry.GetProperty("version").GetString());
        Assert.Equal("stdio", entry.GetProperty("transport").GetProperty("type").GetString());

        // And it installs into a clean folder and runs.
        var tools = Path.Combine(temp.Root, "tools-" + Guid.NewGuid().ToString("N"));
        var install = new ProcessStartInfo("dotnet", ["tool", "install", "--tool-path", tools, "--add-source", output, "Engram.Mcp", "--version", version]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using (var process = Process.Start(install)!)
        {
            var log = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, await log + await errors);
        }

        var run = new ProcessStartInfo(Path.Combine(tools, OperatingSystem.IsWindows() ? "engram.exe" : "engram"), ["--version"]) { RedirectStandardOutput = true };
        using var engram = Process.Start(run)!;
        var printed = await engram.StandardOutput.ReadToEndAsync();
        await engram.WaitForExitAsync();
        Assert.StartsWith(version, printed.Trim(), StringComparison.Ordinal);
    }
}
