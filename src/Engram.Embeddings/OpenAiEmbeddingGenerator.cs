using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.AI;

namespace Engram.Embeddings;

/// <summary>
/// Embeddings from an OpenAI-compatible endpoint: <c>POST {base}/embeddings</c> with <c>{"model", "input": [...]}</c>,
/// answered with <c>{"data": [{"index", "embedding"}]}</c>. OpenAI, Azure OpenAI's v1 route, LM Studio, vLLM, llama.cpp's
/// server and Ollama's <c>/v1</c> all speak it.
/// </summary>
internal sealed class OpenAiEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly HttpClient _http;
    private readonly string _model;
    private readonly EmbeddingGeneratorMetadata _metadata;

    public OpenAiEmbeddingGenerator(Uri baseAddress, string model, string? key)
    {
        _model = model;
        _http = new HttpClient { BaseAddress = baseAddress, Timeout = Timeout.InfiniteTimeSpan };
        if (key is not null)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        _metadata = new EmbeddingGeneratorMetadata("openai", baseAddress, model);
    }

    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var input = values.ToList();
        using var response = await _http.PostAsJsonAsync("embeddings", new Request(_model, input), cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            // The body may say why (an unknown model, a bad key). Some servers quote the input in it (a validation error):
            // the message goes to logs and to explain, where memory text must not, so such a body is left out.
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            var said = Quotes(body, input) ? "(the answer quoted the text sent; left out)" : body.Length > 300 ? body[..300] : body;
            throw new HttpRequestException($"{(int)response.StatusCode} {response.ReasonPhrase}: {said}", null, response.StatusCode);
        }

        var answer = await response.Content.ReadFromJsonAsync<Response>(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidDataException("the endpoint answered with an empty body");
        var data = answer.Data ?? throw new InvalidDataException("the endpoint's answer has no 'data'");
        var ordered = data.OrderBy(d => d.Index).ToList();
        if (ordered.Count != input.Count || ordered.Any(d => d.Embedding is null))
        {
            throw new InvalidDataException($"the endpoint returned {ordered.Count} embeddings for {input.Count} texts");
        }

        return new GeneratedEmbeddings<Embedding<float>>(ordered.Select(d => new Embedding<float>(d.Embedding!) { ModelId = answer.Model ?? _model }));
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType == typeof(EmbeddingGeneratorMetadata) ? _metadata
        : serviceKey is null && serviceType.IsInstanceOfType(this) ? this
        : null;

    public void Dispose() => _http.Dispose();

    /// <summary>
    /// Whether <paramref name="body"/> holds the start of any of <paramref name="input"/> (its first 24 characters, or all of
    /// a text of 8 or more): in the body as sent, or, when the body is JSON, in any of its strings once unescaped (however
    /// the server escaped quotes and other characters).
    /// </summary>
    internal static bool Quotes(string body, IReadOnlyList<string> input)
    {
        var starts = input.Select(t => t.Trim()).Where(t => t.Length >= 8).Select(t => t[..Math.Min(t.Length, 24)]).ToList();
        if (starts.Count == 0)
        {
            return false;
        }

        var texts = new List<string> { body };
        try
        {
            using var json = JsonDocument.Parse(body);
            Strings(json.RootElement, texts);
        }
        catch (JsonException)
        {
            // Not JSON: the body as sent is all there is.
        }

        return starts.Any(start => texts.Any(text => text.Contains(start, StringComparison.Ordinal)));
    }

    /// <summary>Adds every string and property name in <paramref name="element"/> to <paramref name="texts"/>.</summary>
    private static void Strings(JsonElement element, List<string> texts)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                texts.Add(element.GetString()!);
                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    Strings(item, texts);
                }

                break;
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    texts.Add(property.Name);
                    Strings(property.Value, texts);
                }

                break;
        }
    }

    private sealed record Request([property: JsonPropertyName("model")] string Model, [property: JsonPropertyName("input")] IReadOnlyList<string> Input);

    private sealed record Response([property: JsonPropertyName("data")] List<Item>? Data, [property: JsonPropertyName("model")] string? Model);

    private sealed record Item([property: JsonPropertyName("index")] int Index, [property: JsonPropertyName("embedding")] float[]? Embedding);
}
