using System.Runtime.InteropServices;
using Engram.Core;
using Microsoft.Extensions.AI;
using Microsoft.ML.OnnxRuntime;
using OllamaSharp;

namespace Engram.Embeddings;

/// <summary>
/// Builds the embedder named by <c>ENGRAM_EMBEDDINGS</c> / <c>--embeddings</c>: <c>minilm</c> (the default: the
/// sentence-embedding model shipped beside Engram, run locally), <c>builtin</c> (hashed words, no model),
/// <c>ollama:&lt;model&gt;</c>, <c>openai:&lt;model&gt;</c> (any OpenAI-compatible endpoint) or <c>onnx:&lt;folder&gt;</c>
/// (a sentence-transformers export). The endpoint comes from <c>ENGRAM_EMBEDDINGS_URL</c>, the key from
/// <c>ENGRAM_EMBEDDINGS_KEY</c>.
/// </summary>
public static class EmbeddingProvider
{
    /// <summary>Ollama's default address.</summary>
    public const string DefaultOllamaUrl = "http://localhost:11434";

    /// <summary>OpenAI's API; any compatible endpoint (LM Studio, vLLM, llama.cpp, Azure…) is named with the URL.</summary>
    public const string DefaultOpenAiUrl = "https://api.openai.com/v1";

    /// <summary>The name of the model shipped with Engram, and what <c>--embeddings</c> calls it.</summary>
    public const string DefaultModel = "all-MiniLM-L6-v2";

    /// <summary>
    /// What the shipped model's vectors are recorded as: the weights of its matrix multiplications are quantized at build
    /// time to 7-bit levels stored as bytes, their inputs evened out first by calibrated ranges, and its vocabulary's table
    /// to bytes with a scale per row (Model/QuantizeWeights.cs), so its vectors differ slightly from the float model's and
    /// from earlier builds' (<see cref="PreviousModelIdentities"/>), and a store embedded by one of those re-embeds.
    /// Texts are read as BERT's uncased tokenizer reads them, accents taken off ("café" as "cafe"; before
    /// <c>-unaccented</c> a word with one was read as unknown). Accepted by <c>--embeddings</c> too, as <c>engram stats</c>
    /// shows it.
    /// </summary>
    public const string DefaultModelIdentity = DefaultModel + "-int7-smoothed-vocab8-unaccented";

    /// <summary>
    /// The names earlier builds recorded for the shipped model, still accepted by <c>--embeddings</c>: <c>-int7</c> (float
    /// vocabulary table), <c>-int7-vocab8</c> (float down projections, nothing evened out), <c>-int7-smoothed-vocab8</c>
    /// (accents kept, so words with one read as unknown).
    /// </summary>
    private static readonly string[] PreviousModelIdentities = [DefaultModel + "-int7", DefaultModel + "-int7-vocab8", DefaultModel + "-int7-smoothed-vocab8"];

    /// <summary>The length of the shipped model's vectors.</summary>
    public const int DefaultModelDimensions = 384;

    /// <summary>The setting that names the shipped model.</summary>
    public const string DefaultSpec = "minilm";

    /// <summary>What <c>--embeddings</c> accepts, for messages.</summary>
    public const string Forms = "'minilm' (the default, shipped with Engram), 'builtin', 'ollama:<model>' (e.g. ollama:nomic-embed-text), 'openai:<model>' (e.g. openai:text-embedding-3-small) or 'onnx:<folder>' (a sentence-transformers export with model.onnx and vocab.txt or tokenizer.json)";

    /// <summary>Where the shipped model's files are: <c>models/&lt;name&gt;</c> beside Engram's assemblies.</summary>
    public static string DefaultModelFolder => Path.Combine(AppContext.BaseDirectory, "models", DefaultModel);

    /// <summary>
    /// The embedder for <paramref name="spec"/> (unset: the shipped model), or null for the built-in one (the service
    /// then makes its own). When the shipped model was not asked for by name and cannot run here (its files or ONNX
    /// Runtime's native library are missing), this falls back to the built-in one and tells <paramref name="warn"/> why.
    /// </summary>
    /// <exception cref="EngramArgumentException">The spec, URL or folder is malformed; the message says what to send.</exception>
    public static IEmbeddingGenerator<string, Embedding<float>>? Create(string? spec, string? url, string? key, Action<string>? warn = null)
    {
        spec = spec?.Trim();
        if (string.IsNullOrEmpty(spec) || spec.Equals(DefaultSpec, StringComparison.OrdinalIgnoreCase) || spec.Equals(DefaultModel, StringComparison.OrdinalIgnoreCase)
            || spec.Equals(DefaultModelIdentity, StringComparison.OrdinalIgnoreCase) || PreviousModelIdentities.Any(p => spec.Equals(p, StringComparison.OrdinalIgnoreCase)))
        {
            if (DefaultModelProblem() is not { } problem)
            {
                return LoadDefaultModel();
            }

            // Asked for by name, it must run; as the default, the built-in vectors stand in.
            if (!string.IsNullOrEmpty(spec))
            {
                throw new EngramArgumentException($"The embedding model '{spec}' cannot run: {problem}. Reinstall Engram, or send {Forms}.");
            }

            warn?.Invoke($"The embedding model cannot run ({problem}); using the built-in word vectors, which find memories by their words, not their meaning.");
            return null;
        }

        if (spec.Equals("builtin", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var colon = spec.IndexOf(':', StringComparison.Ordinal);
        var kind = colon < 0 ? spec : spec[..colon];
        var argument = colon < 0 ? "" : spec[(colon + 1)..].Trim();
        if (argument.Length == 0)
        {
            throw new EngramArgumentException($"The embeddings setting '{spec}' names no model. Send {Forms}.");
        }

        switch (kind.ToLowerInvariant())
        {
            case "ollama":
            {
                var client = new OllamaApiClient(new HttpClient { BaseAddress = Endpoint(url, DefaultOllamaUrl), Timeout = Timeout.InfiniteTimeSpan }, argument);
                return new NamedEmbeddingGenerator(client, "ollama", argument);
            }

            case "openai":
                return new OpenAiEmbeddingGenerator(Endpoint(url, DefaultOpenAiUrl), argument, string.IsNullOrWhiteSpace(key) ? null : key);
            case "onnx":
                return OnnxEmbeddingGenerator.Load(argument);
            default:
                throw new EngramArgumentException($"Unknown embeddings provider '{kind}'. Send {Forms}.");
        }
    }

    // Recorded with every vector (DefaultModelIdentity): a change of weights, or of what QuantizeWeights writes, needs a new name.
    private static OnnxEmbeddingGenerator LoadDefaultModel() => OnnxEmbeddingGenerator.Shipped(DefaultModelFolder, "engram", DefaultModelIdentity, DefaultModelDimensions);

    /// <summary>Why the shipped model cannot run here, or null. Cheap: checks files and loads no model.</summary>
    private static string? DefaultModelProblem()
    {
        // ONNX Runtime's native library first: a platform without a build of it cannot run any model, and its tool
        // package leaves the model out too.
        if (!NativeLibrary.TryLoad("onnxruntime", typeof(InferenceSession).Assembly, null, out _))
        {
            return $"ONNX Runtime has no native library for {RuntimeInformation.RuntimeIdentifier}";
        }

        var folder = DefaultModelFolder;
        if (!File.Exists(Path.Combine(folder, "model.onnx")) || !File.Exists(Path.Combine(folder, "vocab.txt")))
        {
            return $"no model.onnx and vocab.txt in {folder}";
        }

        return null;
    }

    private static Uri Endpoint(string? url, string fallback)
    {
        var text = string.IsNullOrWhiteSpace(url) ? fallback : url.Trim();
        if (!Uri.TryCreate(text.EndsWith('/') ? text : text + "/", UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new EngramArgumentException($"ENGRAM_EMBEDDINGS_URL '{text}' is not an http(s) URL. Send the endpoint's base, e.g. {fallback}.");
        }

        return uri;
    }
}

/// <summary>An embedder under the provider and model names Engram records as the vectors' identity.</summary>
internal sealed class NamedEmbeddingGenerator(IEmbeddingGenerator<string, Embedding<float>> inner, string provider, string model)
    : DelegatingEmbeddingGenerator<string, Embedding<float>>(inner)
{
    private readonly EmbeddingGeneratorMetadata _metadata = new(provider, defaultModelId: model);

    public override object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceType == typeof(EmbeddingGeneratorMetadata) && serviceKey is null ? _metadata : base.GetService(serviceType, serviceKey);
}
