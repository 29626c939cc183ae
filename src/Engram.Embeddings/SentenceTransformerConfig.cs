using System.Text.Json;
using Engram.Core;

namespace Engram.Embeddings;

/// <summary>How a sentence-transformers model turns token states into one vector.</summary>
internal enum Pooling
{
    /// <summary>The average of the real tokens' states (all-MiniLM, mpnet, most sentence-transformers models).</summary>
    Mean,

    /// <summary>The state of the first token, [CLS] (arctic-embed, bge, gte).</summary>
    Cls,
}

/// <summary>
/// What a sentence-transformers export says about using its model, read from the files it ships beside the weights:
/// the pooling (<c>1_Pooling/config.json</c>, or the folder <c>modules.json</c> names), the prompts put before queries
/// and documents (<c>config_sentence_transformers.json</c>), the longest input (<c>sentence_bert_config.json</c>) and
/// lower-casing (<c>tokenizer_config.json</c>). What the folder does not say takes the usual value.
/// </summary>
/// <param name="Pooling">How token states become one vector.</param>
/// <param name="QueryPrefix">Put before a query's text ("" for none).</param>
/// <param name="DocumentPrefix">Put before a memory's text ("" for none).</param>
/// <param name="MaxTokens">The longest input in tokens, specials included; longer texts are cut.</param>
/// <param name="LowerCase">Whether the tokenizer lower-cases (uncased vocabularies).</param>
/// <param name="Dimensions">The vector length, when the pooling configuration states it.</param>
/// <param name="StripAccents">Whether the tokenizer takes accents and other combining marks off letters ("café" as
/// "cafe"): BERT's tokenizer does whenever it lower-cases, unless <c>strip_accents</c> says otherwise. Its uncased
/// vocabularies hold no accented letters, so a word keeping one would be read as unknown.</param>
internal sealed record SentenceTransformerConfig(Pooling Pooling, string QueryPrefix, string DocumentPrefix, int MaxTokens, bool LowerCase, int? Dimensions, bool StripAccents)
{
    /// <summary>The longest input when the folder does not say: what most sentence-transformers models are trained on.</summary>
    public const int DefaultMaxTokens = 256;

    /// <summary>The pooling flags sentence-transformers writes for the modes Engram does not run.</summary>
    private static readonly string[] OtherPoolings = ["pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"];

    /// <summary>Reads the configuration in <paramref name="folder"/>.</summary>
    /// <exception cref="EngramArgumentException">A configuration file is not valid JSON or names a pooling Engram does not run.</exception>
    public static SentenceTransformerConfig Read(string folder)
    {
        var pooling = Pooling.Mean;
        int? dimensions = null;
        var (poolingFolder, dense) = Modules(folder);
        var poolingFile = Path.Combine(folder, poolingFolder, "config.json");
        if (Load(poolingFile) is { } poolingConfig)
        {
            using (poolingConfig)
            {
                var root = poolingConfig.RootElement;
                // sentence-transformers writes a flag per mode: one Engram does not run is refused, not read as mean.
                if (OtherPoolings.FirstOrDefault(f => Flag(root, f)) is { } other)
                {
                    throw new EngramArgumentException($"{poolingFile} asks for {other["pooling_mode_".Length..]} pooling; Engram runs 'mean' and 'cls' pooling.");
                }

                if (Flag(root, "pooling_mode_cls_token"))
                {
                    pooling = Pooling.Cls;
                }
                else if (!Flag(root, "pooling_mode_mean_tokens"))
                {
                    var named = root.TryGetProperty("pooling_mode", out var mode) ? mode.GetString() : null;
                    pooling = named switch
                    {
                        "cls" => Pooling.Cls,
                        "mean" or null => Pooling.Mean,
                        _ => throw new EngramArgumentException($"{poolingFile} asks for '{named}' pooling; Engram runs 'mean' and 'cls' pooling."),
                    };
                }

                if (root.TryGetProperty("word_embedding_dimension", out var size) && size.TryGetInt32(out var n) && n > 0)
                {
                    dimensions = n;
                }
            }
        }

        string query = "", document = "";
        if (Load(Path.Combine(folder, "config_sentence_transformers.json")) is { } prompts)
        {
            using (prompts)
            {
                if (prompts.RootElement.TryGetProperty("prompts", out var p) && p.ValueKind == JsonValueKind.Object)
                {
                    query = Text(p, "query");
                    document = Text(p, "document") is { Length: > 0 } d ? d : Text(p, "passage");
                }
            }
        }

        var maxTokens = DefaultMaxTokens;
        bool? lowerCase = null, stripAccents = null;
        if (Load(Path.Combine(folder, "sentence_bert_config.json")) is { } bert)
        {
            using (bert)
            {
                if (bert.RootElement.TryGetProperty("max_seq_length", out var max) && max.TryGetInt32(out var m) && m > 2)
                {
                    maxTokens = m;
                }
            }
        }

        if (Load(Path.Combine(folder, "tokenizer_config.json")) is { } tokenizer)
        {
            using (tokenizer)
            {
                if (tokenizer.RootElement.TryGetProperty("do_lower_case", out var lower) && lower.ValueKind is JsonValueKind.True or JsonValueKind.False)
                {
                    lowerCase = lower.GetBoolean();
                }

                if (tokenizer.RootElement.TryGetProperty("strip_accents", out var strip) && strip.ValueKind is JsonValueKind.True or JsonValueKind.False)
                {
                    stripAccents = strip.GetBoolean();
                }
            }
        }

        // A Dense module after the pooling changes the vector's length: it is then learned from a first vector.
        return new SentenceTransformerConfig(pooling, query, document, maxTokens, lowerCase ?? true, dense ? null : dimensions, stripAccents ?? lowerCase ?? true);
    }

    /// <summary>A short tag of what changes the vectors besides the weights (pooling, accents, case, the longest input, prompts), for the model's identity.</summary>
    public string Tag
    {
        get
        {
            var tag = (Pooling == Pooling.Cls ? "cls" : "mean") + (StripAccents ? "+unaccented" : "") + (LowerCase ? "" : "+cased")
                + (MaxTokens == DefaultMaxTokens ? "" : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"+t{MaxTokens}"));
            if (QueryPrefix.Length + DocumentPrefix.Length == 0)
            {
                return tag;
            }

            var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(QueryPrefix + "\u0000" + DocumentPrefix));
            return $"{tag}+p{Convert.ToHexStringLower(hash, 0, 4)}";
        }
    }

    // modules.json lists the pipeline: the pooling module's folder (usually 1_Pooling), and whether a Dense module
    // after it changes the vector's length.
    private static (string PoolingFolder, bool Dense) Modules(string folder)
    {
        using var modules = Load(Path.Combine(folder, "modules.json"));
        var list = modules is { RootElement.ValueKind: JsonValueKind.Array } ? modules.RootElement.EnumerateArray().ToList() : [];
        var pooling = list.Where(m => Text(m, "type").EndsWith(".Pooling", StringComparison.Ordinal)).Select(m => Text(m, "path")).FirstOrDefault(p => p.Length > 0);
        return (pooling ?? "1_Pooling", list.Any(m => Text(m, "type").EndsWith(".Dense", StringComparison.Ordinal)));
    }

    private static JsonDocument? Load(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new EngramArgumentException($"{path} is not valid JSON ({e.Message}). Restore the file from the model's export.");
        }
    }

    private static bool Flag(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.True;

    private static string Text(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : "";
}
