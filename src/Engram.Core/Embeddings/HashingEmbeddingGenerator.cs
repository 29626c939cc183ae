using System.Numerics.Tensors;
using Microsoft.Extensions.AI;

namespace Engram.Core.Embeddings;

/// <summary>
/// The built-in offline embedder: deterministic feature hashing of words, adjacent word pairs and character
/// trigrams into a fixed number of dimensions, L2-normalised. No model, no download, same vector on every machine.
/// It captures shared vocabulary and morphology (trigrams match "deploy", "deployed", "deployment"), not meaning.
/// </summary>
public sealed class HashingEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    /// <summary>The model id recorded with every vector this generator makes; changing the features changes it.</summary>
    public const string ModelId = "engram-hashing-v2";

    /// <summary>The default number of dimensions.</summary>
    public const int DefaultDimensions = 512;

    // Weights: a whole word counts most; a word pair adds phrase evidence; trigrams share the rest of a word's mass.
    private const float WordWeight = 1.0f;
    private const float PairWeight = 0.6f;
    private const float TrigramWeight = 0.5f;

    private static readonly HashSet<string> StopWords = new(StringComparer.Ordinal)
    {
        "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "did", "do", "does", "for", "from", "had", "has",
        "have", "he", "her", "his", "i", "if", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or", "our", "she",
        "so", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to", "was", "we", "were", "what",
        "when", "where", "which", "who", "whom", "why", "how", "will", "with", "you", "your", "would", "should", "could",
        "can", "about", "any", "some", "than", "too", "very", "just", "also", "not", "no", "yes", "up", "out",
    };

    /// <summary>The provider name its metadata gives: what the store records and what tells its vectors carry words, not meaning.</summary>
    public const string ProviderName = "engram-builtin";

    private readonly EmbeddingGeneratorMetadata _metadata;

    /// <summary>Creates the generator.</summary>
    /// <param name="dimensions">Vector length; at least 16.</param>
    public HashingEmbeddingGenerator(int dimensions = DefaultDimensions)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimensions, 16);
        Dimensions = dimensions;
        _metadata = new EmbeddingGeneratorMetadata(ProviderName, defaultModelId: ModelId, defaultModelDimensions: dimensions);
    }

    /// <summary>The vector length.</summary>
    public int Dimensions { get; }

    /// <inheritdoc />
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        var result = new GeneratedEmbeddings<Embedding<float>>();
        foreach (var value in values)
        {
            cancellationToken.ThrowIfCancellationRequested();
            result.Add(new Embedding<float>(Embed(value)) { ModelId = ModelId });
        }

        return Task.FromResult(result);
    }

    /// <summary>Embeds one text synchronously.</summary>
    public float[] Embed(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var vector = new float[Dimensions];
        var words = Tokenize(text).Where(w => !StopWords.Contains(w)).ToList();
        for (var i = 0; i < words.Count; i++)
        {
            var word = words[i];
            Add(vector, Fnv1a("w:", word), WordWeight);
            if (i > 0)
            {
                Add(vector, Fnv1a("p:", words[i - 1] + " " + word), PairWeight);
            }

            if (word.Length >= 4)
            {
                var padded = "^" + word + "$";
                var count = padded.Length - 2;
                var weight = TrigramWeight / MathF.Sqrt(count);
                for (var j = 0; j < count; j++)
                {
                    Add(vector, Fnv1a("t:", padded.Substring(j, 3)), weight);
                }
            }
        }

        var norm = TensorPrimitives.Norm(vector);
        if (norm > 0)
        {
            TensorPrimitives.Divide(vector, norm, vector);
        }

        return vector;
    }

    /// <summary>Lowercase runs of letters and digits.</summary>
    internal static IEnumerable<string> Tokenize(string text)
    {
        var start = -1;
        for (var i = 0; i <= text.Length; i++)
        {
            var inWord = i < text.Length && char.IsLetterOrDigit(text[i]);
            if (inWord && start < 0)
            {
                start = i;
            }
            else if (!inWord && start >= 0)
            {
                yield return text[start..i].ToLowerInvariant();
                start = -1;
            }
        }
    }

    private void Add(float[] vector, ulong hash, float weight)
    {
        // Signed hashing: a bit of the hash picks the sign so that collisions cancel out on average instead of
        // piling up. Each feature goes to two slots (from the two halves of the hash) at 1/sqrt(2) weight each:
        // the same expected noise, but one unlucky collision no longer flips a whole word's contribution.
        weight *= 0.70710678f;
        var low = (uint)hash;
        var high = (uint)(hash >> 32);
        vector[(int)((low >> 1) % (uint)Dimensions)] += (low & 1) == 0 ? weight : -weight;
        vector[(int)((high >> 1) % (uint)Dimensions)] += (high & 1) == 0 ? weight : -weight;
    }

    private static ulong Fnv1a(string prefix, string value)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in prefix)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        foreach (var c in value)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        // A final avalanche (from SplitMix64) so the low bits used for the index depend on every character.
        hash ^= hash >> 30;
        hash *= 0xbf58476d1ce4e5b9UL;
        hash ^= hash >> 27;
        hash *= 0x94d049bb133111ebUL;
        hash ^= hash >> 31;
        return hash;
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is not null ? null
            : serviceType == typeof(EmbeddingGeneratorMetadata) ? _metadata
            : serviceType.IsInstanceOfType(this) ? this
            : null;
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
