using Engram.Core;
using Microsoft.Extensions.AI;
using OllamaSharp;

namespace Engram.Embeddings;

/// <summary>
/// Builds the embedder named by <c>ENGRAM_EMBEDDINGS</c> / <c>--embeddings</c>: <c>builtin</c> (the default, offline),
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

    /// <summary>What <c>--embeddings</c> accepts, for messages.</summary>
    public const string Forms = "'builtin', 'ollama:<model>' (e.g. ollama:nomic-embed-text), 'openai:<model>' (e.g. openai:text-embedding-3-small) or 'onnx:<folder>' (a sentence-transformers export with model.onnx and vocab.txt or tokenizer.json)";

    /// <summary>
    /// The embedder for <paramref name="spec"/>, or null for the built-in one (the service then makes its own).
    /// </summary>
    /// <exception cref="EngramArgumentException">The spec, URL or folder is malformed; the message says what to send.</exception>
    public static IEmbeddingGenerator<string, Embedding<float>>? Create(string? spec, string? url, string? key)
    {
        spec = string.IsNullOrWhiteSpace(spec) ? "builtin" : spec.Trim();
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
