using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Engram.Mcp.Tests;

/// <summary>
/// A real HTTP server on loopback that answers like Ollama (<c>POST /api/embed</c>) and like an OpenAI-compatible
/// endpoint (<c>POST /v1/embeddings</c>). Its vectors know a few synonyms (taekwondo and martial arts, Postgres and
/// database…), so a test can tell vector recall from word matching. It can be stopped, restarted, slowed down, or told
/// to die after a number of requests.
/// </summary>
public sealed class FakeEmbeddingServer : IDisposable
{
    public const int Dimensions = 256;

    private static readonly Dictionary<string, string> Concepts = new(StringComparer.OrdinalIgnoreCase)
    {
        ["taekwondo"] = "martial", ["kickboxing"] = "martial", ["karate"] = "martial", ["martial"] = "martial", ["arts"] = "martial",
        ["postgres"] = "database", ["postgresql"] = "database", ["database"] = "database", ["sqlite"] = "database",
        ["cat"] = "pet", ["dog"] = "pet", ["pets"] = "pet", ["pet"] = "pet", ["hamster"] = "pet",
    };

    private static readonly List<string> ConceptSlots = Concepts.Values.Distinct().Order(StringComparer.Ordinal).ToList();

    private int _port;
    private HttpListener? _listener;
    private Task? _loop;

    public FakeEmbeddingServer()
    {
        // A free port can be taken by someone else between the probe and the listener: try another.
        for (var attempt = 0; ; attempt++)
        {
            _port = FreePort();
            try
            {
                Start();
                return;
            }
            catch (HttpListenerException) when (attempt < 20)
            {
                _listener = null;
            }
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    public string OllamaUrl => $"http://127.0.0.1:{_port}";

    public string OpenAiUrl => $"http://127.0.0.1:{_port}/v1";

    /// <summary>Every request seen: path, model, number of texts, Authorization header.</summary>
    public ConcurrentQueue<(string Path, string? Model, int Texts, string? Authorization)> Requests { get; } = new();

    /// <summary>Delay before each answer.</summary>
    public TimeSpan Delay { get; set; }

    /// <summary>While set and not completed, a request for more than one text (a background batch, a reembed) waits
    /// for it; a single query's text is answered at once.</summary>
    public Task? HoldBatches { get; set; }

    /// <summary>A request holding a text with this marker fails with 400, as a provider refuses a text too long for it.</summary>
    public string? Refuse { get; set; }

    /// <summary>While set, a request with a text containing this is answered 429 Too Many Requests (a busy provider).</summary>
    public string? Busy { get; set; }

    /// <summary>When set, requests after this many fail with 500 (the provider "dies").</summary>
    public int? FailAfter { get; set; }

    public int EmbeddedTexts => Requests.Sum(r => r.Texts);

    public void Start()
    {
        for (var attempt = 0; ; attempt++)
        {
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{_port}/");
            try
            {
                listener.Start();
                _listener = listener;
                _loop = Task.Run(() => ServeAsync(listener));
                return;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                // The port may still be held for a moment after a stop.
                Thread.Sleep(200);
            }
        }
    }

    public void Stop()
    {
        try
        {
            _listener?.Stop();
            _listener?.Close();
        }
        catch (HttpListenerException)
        {
            // Closing races with the port's reuse elsewhere; the listener is gone either way.
        }

        _listener = null;
        try
        {
            _loop?.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The loop ends with the listener.
        }
    }

    /// <summary>The fake's vector: each word (mapped to its concept) hashed into a signed slot, normalised.</summary>
    public static float[] Embed(string text)
    {
        var vector = new float[Dimensions];
        foreach (var raw in text.Split([' ', ',', '.', '?', '!', ':', ';', '\'', '"'], StringSplitOptions.RemoveEmptyEntries))
        {
            // Concepts have slots of their own; other words are hashed into the rest, so no word collides with a concept.
            if (Concepts.TryGetValue(raw, out var concept))
            {
                vector[ConceptSlots.IndexOf(concept)] += 1;
                continue;
            }

            var hash = Fnv(raw.ToLowerInvariant());
            vector[ConceptSlots.Count + (hash % (uint)(Dimensions - ConceptSlots.Count))] += (hash & 0x80000000) == 0 ? 1 : -1;
        }

        var norm = MathF.Sqrt(vector.Sum(x => x * x));
        return norm == 0 ? vector : vector.Select(x => x / norm).ToArray();
    }

    private static uint Fnv(string s)
    {
        var hash = 2166136261u;
        foreach (var c in s)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return hash;
    }

    private async Task ServeAsync(HttpListener listener)
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = Task.Run(() => AnswerAsync(context));
        }
    }

    private async Task AnswerAsync(HttpListenerContext context)
    {
        try
        {
            using var reader = new StreamReader(context.Request.InputStream);
            var body = JsonNode.Parse(await reader.ReadToEndAsync())!;
            var model = body["model"]?.GetValue<string>();
            var input = body["input"] is JsonArray array ? array.Select(x => x!.GetValue<string>()).ToList() : [body["input"]!.GetValue<string>()];
            var path = context.Request.Url!.AbsolutePath;
            Requests.Enqueue((path, model, input.Count, context.Request.Headers["Authorization"]));
            if (Delay > TimeSpan.Zero)
            {
                await Task.Delay(Delay);
            }

            if (input.Count > 1 && HoldBatches is { } hold)
            {
                await hold;
            }

            if (Refuse is { } marker && input.Any(t => t.Contains(marker, StringComparison.Ordinal)))
            {
                // As a validating server (FastAPI, vLLM) answers: the input quoted back in the error.
                context.Response.StatusCode = 400;
                context.Response.ContentType = "application/json";
                var refusal = JsonSerializer.SerializeToUtf8Bytes(new { detail = new[] { new { loc = new[] { "body", "input" }, msg = "refused", input } } });
                await context.Response.OutputStream.WriteAsync(refusal);
                context.Response.Close();
                return;
            }

            if (Busy is { } busy && input.Any(t => t.Contains(busy, StringComparison.Ordinal)))
            {
                context.Response.StatusCode = 429;
                context.Response.Close();
                return;
            }

            if (FailAfter is { } limit && Requests.Count > limit)
            {
                context.Response.StatusCode = 500;
                context.Response.Close();
                return;
            }

            object answer = path switch
            {
                "/api/embed" => new { model, embeddings = input.Select(Embed).ToList() },
                "/v1/embeddings" => new { model, @object = "list", data = input.Select((t, i) => new { @object = "embedding", index = i, embedding = Embed(t) }).ToList() },
                _ => new { error = "not found" },
            };
            context.Response.StatusCode = path is "/api/embed" or "/v1/embeddings" ? 200 : 404;
            context.Response.ContentType = "application/json";
            var bytes = JsonSerializer.SerializeToUtf8Bytes(answer);
            await context.Response.OutputStream.WriteAsync(bytes);
            context.Response.Close();
        }
        catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or IOException)
        {
            // The listener was stopped mid-answer.
        }
    }

    public void Dispose() => Stop();
}
