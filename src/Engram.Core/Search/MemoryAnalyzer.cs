using Lucene.Net.Analysis;
using Lucene.Net.Analysis.Core;
using Lucene.Net.Analysis.En;
using Lucene.Net.Analysis.Miscellaneous;
using Lucene.Net.Analysis.Standard;
using Lucene.Net.Util;

namespace Engram.Core.Search;

/// <summary>
/// Lucene's English analysis (standard tokenizer, possessives, lowercase, English stop words, Porter stemming) with
/// one addition for what coding assistants remember: identifiers are also split into their words, so
/// <c>InvoiceReconciler</c>, <c>retry_count</c> and <c>OrderTests.Refund_Twice</c> match "invoice reconciler",
/// "retry count" and "refund twice", while the whole identifier still matches itself.
/// </summary>
internal sealed class MemoryAnalyzer : Analyzer
{
    private const LuceneVersion Version = LuceneVersion.LUCENE_48;

    private const WordDelimiterFlags Split =
        WordDelimiterFlags.GENERATE_WORD_PARTS | WordDelimiterFlags.GENERATE_NUMBER_PARTS |
        WordDelimiterFlags.SPLIT_ON_CASE_CHANGE | WordDelimiterFlags.SPLIT_ON_NUMERICS |
        WordDelimiterFlags.STEM_ENGLISH_POSSESSIVE | WordDelimiterFlags.PRESERVE_ORIGINAL;

    protected override TokenStreamComponents CreateComponents(string fieldName, TextReader reader)
    {
        var source = new StandardTokenizer(Version, reader);
        TokenStream stream = new WordDelimiterFilter(Version, source, Split, null);
        stream = new LowerCaseFilter(Version, stream);
        stream = new StopFilter(Version, stream, EnglishAnalyzer.DefaultStopSet);
        stream = new PorterStemFilter(stream);
        return new TokenStreamComponents(source, stream);
    }
}
