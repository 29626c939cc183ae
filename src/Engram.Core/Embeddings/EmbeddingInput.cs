using Microsoft.Extensions.AI;

namespace Engram.Core.Embeddings;

/// <summary>
/// What a text sent to the embedder is: a memory to store or a query to search with. Retrieval models are trained
/// with an instruction before one or both (arctic-embed's "Represent this sentence for searching relevant passages: ");
/// the embedder reads this from <see cref="EmbeddingGenerationOptions.AdditionalProperties"/> under
/// <see cref="OptionKey"/>. Absent means a document.
/// </summary>
public static class EmbeddingInput
{
    /// <summary>The key in <see cref="EmbeddingGenerationOptions.AdditionalProperties"/>.</summary>
    public const string OptionKey = "input_type";

    /// <summary>A search query.</summary>
    public const string Query = "query";

    /// <summary>A memory to be found.</summary>
    public const string Document = "document";

    /// <summary>Whether <paramref name="options"/> mark the texts as queries.</summary>
    public static bool IsQuery(EmbeddingGenerationOptions? options) =>
        options?.AdditionalProperties?.TryGetValue(OptionKey, out var value) == true && value is Query;
}
