using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Engram.Mcp.Tests;

/// <summary>The tool package: what <c>dotnet pack</c> makes of the repository, and that it installs and runs.</summary>
public sealed partial class PackagingTests(TempFolder temp) : IClassFixture<TempFolder>
{
    internal static readonly string RepositoryRoot = FindRepositoryRoot();

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

    /// <summary>The platforms whose packages carry the model (ONNX Runtime ships a build for them), and the others.</summary>
    private static readonly string[] ModelPlatforms = ["linux-x64", "linux-arm64", "osx-arm64", "win-x64", "win-arm64"];

    private static readonly string[] PlatformsWithoutModel = ["linux-musl-x64", "linux-musl-arm64", "any"];

    /// <summary>The platforms the project precompiles (ReadyToRun), a fixed list: those whose .NET runtime packs the NuGet copy it is built against serves.</summary>
    private static readonly string[] ReadyToRunPlatforms = ["linux-x64", "linux-arm64", "osx-arm64", "win-x64", "linux-musl-x64"];

    private static string Read(ZipArchive zip, string entry) => new StreamReader(zip.GetEntry(entry)?.Open() ?? throw new InvalidOperationException($"no {entry} in the package")).ReadToEnd();

    /// <summary>
    /// <c>dotnet pack</c> makes a pointer package (the MCP server entry, a list of platform packages) and a package per
    /// platform with that platform's native libraries only; installing the pointer fetches this machine's package, whose
    /// model is found beside engram.dll.
    /// </summary>
    [Fact]
    public async Task Pack_ProducesAPointerPackage_AndOnePackagePerPlatform_ThatInstallsAndRuns()
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

        // The pointer: typed DotnetTool and McpServer, with server.json and the list of platform packages, and no code.
        var pointer = Assert.Single(Directory.GetFiles(output, "Engram.Mcp.*.nupkg"), f => char.IsDigit(Path.GetFileName(f)["Engram.Mcp.".Length]));
        string version;
        using (var zip = ZipFile.OpenRead(pointer))
        {
            var nuspec = Read(zip, "Engram.Mcp.nuspec");
            Assert.Contains("<packageType name=\"DotnetTool\" />", nuspec, StringComparison.Ordinal);
            Assert.Contains("<packageType name=\"McpServer\" />", nuspec, StringComparison.Ordinal);
            version = Regex.Match(nuspec, "<version>([^<]+)</version>").Groups[1].Value;
            var settings = XDocument.Parse(Read(zip, "tools/any/any/DotnetToolSettings.xml"));
            Assert.Equal("engram", settings.Descendants("Command").Single().Attribute("Name")?.Value);
            var listed = settings.Descendants("RuntimeIdentifierPackage").ToDictionary(e => e.Attribute("RuntimeIdentifier")!.Value, e => e.Attribute("Id")!.Value);
            Assert.Equal(ModelPlatforms.Concat(PlatformsWithoutModel).Order(), listed.Keys.Order());
            Assert.All(listed, p => Assert.Equal("Engram.Mcp." + p.Key, p.Value));
            Assert.DoesNotContain(zip.Entries, e => e.FullName.EndsWith(".dll", StringComparison.Ordinal));

            using var server = JsonDocument.Parse(zip.GetEntry(".mcp/server.json")!.Open());
            Assert.Equal(version, server.RootElement.GetProperty("version").GetString());
            var entry = server.RootElement.GetProperty("packages")[0];
            Assert.Equal("nuget", entry.GetProperty("registryType").GetString());
            Assert.Equal("Engram.Mcp", entry.GetProperty("identifier").GetString());
            Assert.Equal(version, entry.GetProperty("version").GetString());
            Assert.Equal("stdio", entry.GetProperty("transport").GetProperty("type").GetString());
        }

        // Each platform's package: the tool started by `dotnet engram.dll`, that platform's natives only, and the model
        // beside engram.dll where ONNX Runtime can run it.
        foreach (var rid in ModelPlatforms.Concat(PlatformsWithoutModel))
        {
            using var zip = ZipFile.OpenRead(Path.Combine(output, $"Engram.Mcp.{rid}.{version}.nupkg"));
            var root = $"tools/net10.0/{rid}/";
            Assert.Contains("<packageType name=\"DotnetToolRidPackage\" />", Read(zip, $"Engram.Mcp.{rid}.nuspec"), StringComparison.Ordinal);
            Assert.Contains("EntryPoint=\"engram.dll\" Runner=\"dotnet\"", Read(zip, root + "DotnetToolSettings.xml"), StringComparison.Ordinal);
            Assert.NotNull(zip.GetEntry(root + "engram.dll"));
            Assert.DoesNotContain(zip.Entries, e => e.FullName.Contains("/runtimes/ios", StringComparison.Ordinal) || e.FullName.Contains("/runtimes/android", StringComparison.Ordinal));
            var model = ModelPlatforms.Contains(rid);
            foreach (var file in new[] { "model.onnx", "vocab.txt", "1_Pooling/config.json" })
            {
                Assert.True(model == (zip.GetEntry(root + "models/all-MiniLM-L6-v2/" + file) is not null), $"{rid}: models/all-MiniLM-L6-v2/{file}");
            }

            Assert.True(model == zip.Entries.Any(e => Path.GetFileName(e.FullName).Contains("onnxruntime.", StringComparison.Ordinal)), $"{rid}: ONNX Runtime's native library");
            Assert.True((rid == "any") == zip.Entries.Any(e => e.FullName.StartsWith(root + "runtimes/", StringComparison.Ordinal)), $"{rid}: natives of other platforms");

            // Precompiled for the platform where its runtime packs are published (the server starts faster), else plain IL.
            foreach (var assembly in new[] { "engram.dll", "Engram.Core.dll", "Lucene.Net.dll" })
            {
                Assert.True(ReadyToRunPlatforms.Contains(rid) == IsReadyToRun(zip, root + assembly), $"{rid}: {assembly} precompiled");
            }
        }

        // And the pointer installs into a clean folder, with this machine's package, and runs.
        var tools = Path.Combine(temp.Root, "tools-" + Guid.NewGuid().ToString("N"));
        var install = new ProcessStartInfo("dotnet", ["tool", "install", "--tool-path", tools, "--add-source", output, "Engram.Mcp", "--version", version]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using (var process = Process.Start(install)!)
        {
            var log = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, await log + await errors);
        }

        var engram = Path.Combine(tools, OperatingSystem.IsWindows() ? "engram.exe" : "engram");
        var (printed, _) = await Run(engram, "--version");
        Assert.StartsWith(version, printed.Trim(), StringComparison.Ordinal);

        // On a platform with a package of its own that carries the model, the installed tool finds and runs it.
        var here = System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier;
        if (ModelPlatforms.Contains(here))
        {
            Assert.True(Directory.Exists(Path.Combine(tools, ".store", "engram.mcp", version, "engram.mcp." + here)), $"the package for {here} was not installed");
            var (stats, warnings) = await Run(engram, "stats");
            // The console wraps long lines (the store's path comes first).
            Assert.Contains("embedder engram/all-MiniLM-L6-v2-int7-smoothed-vocab8-unaccented+sentences+replies/384", Regex.Replace(stats, @"\s+", " "), StringComparison.Ordinal);
            Assert.DoesNotContain("cannot run", warnings, StringComparison.Ordinal);
        }
    }

    private static bool IsReadyToRun(ZipArchive zip, string path)
    {
        using var copy = new MemoryStream();
        using (var entry = zip.GetEntry(path)!.Open())
        {
            entry.CopyTo(copy);
        }

        copy.Position = 0;
        using var pe = new System.Reflection.PortableExecutable.PEReader(copy);
        return pe.PEHeaders.CorHeader!.ManagedNativeHeaderDirectory.Size > 0;
    }

    private async Task<(string Output, string Errors)> Run(string engram, string argument)
    {
        var start = new ProcessStartInfo(engram, [argument]) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = temp.Root };
        start.Environment["ENGRAM_HOME"] = Path.Combine(temp.Root, "home-" + Guid.NewGuid().ToString("N"));
        start.Environment.Remove("ENGRAM_EMBEDDINGS");
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"engram {argument} exited with {process.ExitCode}: {await errors}");
        return (await output, await errors);
    }
}
