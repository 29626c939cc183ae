using System.Text.RegularExpressions;

namespace Engram.Core.Search;

/// <summary>
/// A memory's sentences, each embedded on its own beside the whole text (<see cref="VectorMatrix"/>): a sentence-embedding
/// model averages a text's tokens, so a memory that says several things ("I went to the support group yesterday. It was
/// so powerful. …") resembles each of them less than a question about one does. Measured on LoCoMo's turns by the cosine
/// alone, ranking by the best of a memory's rows found a question's evidence in the top 10 for 0.602 of them, against
/// 0.496 by whole texts (docs/benchmarks.md, 2026-12-07). A leading label (<c>Caroline:</c>, <c>Decision:</c>) says
/// whose or what the text is, so each sentence carries it: without it, a sentence answers questions about anyone (0.447,
/// every sentence on its own); a sentence of a few words says little alone, so it joins its neighbour (0.589 without).
/// </summary>
/// <remarks>
/// The rows a store holds were split by these rules: a change to them (the boundaries, the label, <see cref="MinWords"/>,
/// <see cref="MaxRows"/>) must rename the vectors (<c>EmbeddingRuntime.RowsSuffix</c>), so stores re-embed.
/// </remarks>
internal static partial class Sentences
{
    /// <summary>Sentences beyond this many are embedded in groups, so a long memory costs a bounded number of rows.</summary>
    public const int MaxRows = 8;

    /// <summary>The fewest words a row's sentence has: shorter ones join their neighbour.</summary>
    public const int MinWords = 8;

    private static int Words(string text) => text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;

    /// <summary>
    /// The texts to embed for <paramref name="text"/>'s sentences, each with the text's label; empty when it has one
    /// sentence (its whole text says it).
    /// </summary>
    public static List<string> Of(string text)
    {
        var label = Label().Match(text);
        var body = label.Success ? text[label.Length..] : text;
        var pieces = new List<string>();
        var carried = "";
        foreach (var sentence in Boundary().Split(body).Select(p => p.Trim()).Where(p => p.Length > 0))
        {
            // A short sentence ("Wow!", "Thanks.") says little alone: it joins the next (the last joins the one before).
            carried = carried.Length > 0 ? carried + " " + sentence : sentence;
            if (Words(carried) >= MinWords)
            {
                pieces.Add(carried);
                carried = "";
            }
        }

        if (carried.Length > 0)
        {
            if (pieces.Count > 0)
            {
                pieces[^1] += " " + carried;
            }
            else
            {
                pieces.Add(carried);
            }
        }

        if (pieces.Count < 2)
        {
            return [];
        }

        if (pieces.Count > MaxRows)
        {
            // Consecutive sentences together, as evenly as they go.
            pieces = Enumerable.Range(0, MaxRows)
                .Select(g => string.Join(' ', pieces.Skip(g * pieces.Count / MaxRows).Take(((g + 1) * pieces.Count / MaxRows) - (g * pieces.Count / MaxRows))))
                .ToList();
        }

        var prefix = label.Success ? label.Groups[1].Value + ": " : "";
        return pieces.Select(p => prefix + p).ToList();
    }

    /// <summary>
    /// A label: one or two words, the first capitalised, before a colon at the very start (<c>Caroline:</c>, <c>Team
    /// lead:</c>; not "The fix is simple:", not a time such as 9:30, not a URL).
    /// </summary>
    [GeneratedRegex(@"^\s*(\p{Lu}[\p{L}\p{N}'’._-]*(?: [\p{L}\p{N}'’._-]+)?):\s+", RegexOptions.CultureInvariant)]
    private static partial Regex Label();

    /// <summary>
    /// Where one sentence ends and the next begins: after . ! ? (and any closing quote or bracket) before a capital, a
    /// digit or an opening quote, unless the dot ends a common abbreviation; and at line breaks.
    /// </summary>
    [GeneratedRegex(@"(?<=[.!?][""'’”)\]]*)(?<!\b(?:Mr|Mrs|Ms|Dr|Prof|St|Sr|Jr|vs|etc|e\.g|i\.e|approx)\.)\s+(?=[\p{Lu}\p{N}""'“‘(\[])|\s*\n\s*", RegexOptions.CultureInvariant)]
    private static partial Regex Boundary();
}
