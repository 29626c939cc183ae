using Lucene.Net.Analysis;
using Lucene.Net.Analysis.TokenAttributes;

namespace Engram.Core.Search;

/// <summary>Texts as the lexical index sees them: a memory's index terms, and a query's with its question words dropped.</summary>
internal sealed class TextTerms : IDisposable
{
    /// <summary>
    /// Words that shape a question rather than name what it is about: interrogatives, auxiliaries and pronouns. The
    /// analyzer's English stop set keeps them, and in a query they match nearly every memory ("did", "does", "he").
    /// Memories are indexed with them; queries drop them.
    /// </summary>
    private static readonly HashSet<string> QuestionWords = new(StringComparer.OrdinalIgnoreCase)
    {
        "what", "when", "where", "who", "whom", "whose", "why", "how", "which", "did", "does", "do", "done", "has", "have", "had",
        "would", "could", "should", "can", "may", "might", "will", "shall", "was", "were", "is", "are", "am", "be", "been",
        "i", "you", "he", "she", "we", "they", "me", "him", "her", "us", "them", "my", "your", "his", "our", "its",
    };

    private static readonly char[] QuerySeparators = [' ', '\t', '\n', '\r', '?', ',', '.', '!', ';', ':', '"', '(', ')'];

    public Analyzer Analyzer { get; } = new MemoryAnalyzer();

    /// <summary>A query's analysed terms in order, question words left out: what the lexical search looks for.</summary>
    public List<string> OfQuery(string query) => Analyze(WithoutQuestionWords(query));

    /// <summary>The index terms of a memory's own text.</summary>
    public HashSet<string> OfText(string text) => Analyze(text).ToHashSet(StringComparer.Ordinal);

    internal static string WithoutQuestionWords(string query) =>
        string.Join(' ', query.Split(QuerySeparators, StringSplitOptions.RemoveEmptyEntries).Where(w => !QuestionWords.Contains(w)));

    private List<string> Analyze(string text)
    {
        var terms = new List<string>();
        using var stream = Analyzer.GetTokenStream(LexicalDocuments.ContentField, text);
        var attribute = stream.AddAttribute<ICharTermAttribute>();
        stream.Reset();
        while (stream.IncrementToken())
        {
            terms.Add(attribute.ToString());
        }

        stream.End();
        return terms;
    }

    public void Dispose() => Analyzer.Dispose();
}
