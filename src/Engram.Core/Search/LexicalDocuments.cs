using Engram.Core.Storage;
using Lucene.Net.Documents;
using Lucene.Net.Index;
using Lucene.Net.Search;
using Lucene.Net.Search.Similarities;
using Lucene.Net.Util;

namespace Engram.Core.Search;

/// <summary>How a memory is laid out in the lexical index, how it is scored (BM25) and how searches are scoped.</summary>
internal static class LexicalDocuments
{
    public const LuceneVersion Version = LuceneVersion.LUCENE_48;
    public const string IdField = "id";
    public const string ScopeField = "scope";
    public const string TagField = "tag";
    public const string ContentField = "content";
    public const string AdjacentField = "context_adjacent";
    public const string NearbyField = "context_nearby";
    public const string AskedField = "context_asked";
    public const string IdValuesField = "id_dv";

    /// <summary>
    /// BM25 with k1 = 0.9, b = 0.4, the common setting for short passages (Anserini's for MS MARCO) rather than
    /// Lucene's 1.2 / 0.75 for documents: memories are one to three sentences, so term repetition and length say little.
    /// </summary>
    public static BM25Similarity Bm25() => new(0.9f, 0.4f);

    /// <summary>A memory's document: its own text, and its session context in three weaker fields.</summary>
    public static Document ToDocument(StoredMemory memory, SessionContext context)
    {
        var doc = new Document
        {
            new StringField(IdField, memory.Id, Field.Store.NO),
            // Hits are mapped back to ids through doc values: far cheaper than loading stored fields.
            new BinaryDocValuesField(IdValuesField, new BytesRef(memory.Id)),
            new StringField(ScopeField, memory.Scope, Field.Store.NO),
            new TextField(ContentField, memory.Content, Field.Store.NO),
            new TextField(AdjacentField, context.Adjacent, Field.Store.NO),
            new TextField(NearbyField, context.Nearby, Field.Store.NO),
            new TextField(AskedField, context.Asked, Field.Store.NO),
        };
        foreach (var tag in memory.Tags)
        {
            doc.Add(new StringField(TagField, tag, Field.Store.NO));
        }

        return doc;
    }

    /// <summary>The documents of <paramref name="scopes"/> (carrying any of <paramref name="tags"/> when given).</summary>
    public static QueryWrapperFilter Filter(IReadOnlyList<string> scopes, IReadOnlyList<string>? tags)
    {
        // Lucene.Net 4.8 has no Occur.FILTER: restrict with a Filter, which also leaves the BM25 scores untouched.
        var scopeQuery = new BooleanQuery();
        foreach (var scope in scopes)
        {
            scopeQuery.Add(new TermQuery(new Term(ScopeField, scope)), Occur.SHOULD);
        }

        if (tags is not { Count: > 0 })
        {
            return new QueryWrapperFilter(scopeQuery);
        }

        var tagQuery = new BooleanQuery();
        foreach (var tag in tags)
        {
            tagQuery.Add(new TermQuery(new Term(TagField, tag)), Occur.SHOULD);
        }

        return new QueryWrapperFilter(new BooleanQuery { { scopeQuery, Occur.MUST }, { tagQuery, Occur.MUST } });
    }

    /// <summary>Searchers that score with <see cref="Bm25"/> (set on the writer and the searcher alike).</summary>
    public sealed class Bm25SearcherFactory : SearcherFactory
    {
        public override IndexSearcher NewSearcher(IndexReader reader) => new(reader) { Similarity = Bm25() };
    }
}
