using Engram.Core.Model;
using Engram.Core.Search;
using Engram.Core.Storage;

namespace Engram.Core.Tests;

/// <summary>The ranking pieces that are pure functions: candidate filtering, the recency tie-break and the vector snapshots. No I/O.</summary>
public sealed class RankingTests
{
    private static readonly DateTimeOffset Day = new(2025, 3, 3, 12, 0, 0, TimeSpan.Zero);

    private static CandidateMeta Candidate(string id, int daysAfter, long order = 0, string? supersededBy = null, int? supersederDaysAfter = null) =>
        new(new StoredMemory(id, "user", id, [], Day.AddDays(daysAfter).ToUnixTimeMilliseconds(), Day.ToUnixTimeMilliseconds(), supersededBy, null),
            order, supersederDaysAfter is { } d ? Day.AddDays(d).ToUnixTimeMilliseconds() : null);

    private static RecallQuery Query(bool includeSuperseded = false, DateTimeOffset? asOf = null) =>
        new("q", ["user"], "test", 10, [], includeSuperseded, asOf);

    private static SignalRanking Lexical(params (string Id, float Score)[] hits) =>
        new(SignalKind.Lexical, hits.Select(h => new Scored(h.Id, h.Score)).ToList(), 1);

    [Fact]
    public void Filter_SupersededMemory_IsFilteredUnlessAskedFor()
    {
        var old = Candidate("old", 0, supersededBy: "new", supersederDaysAfter: 5);
        Assert.Equal(FilterReason.Superseded, CandidateFilter.Reason(Query(), old));
        Assert.Null(CandidateFilter.Reason(Query(includeSuperseded: true), old));
        Assert.Null(CandidateFilter.Reason(Query(), Candidate("current", 0)));
    }

    [Fact]
    public void Filter_AsOf_KeepsWhatWasCurrentThen_AndDropsWhatCameLater()
    {
        var old = Candidate("old", 0, supersededBy: "new", supersederDaysAfter: 5);
        Assert.Null(CandidateFilter.Reason(Query(asOf: Day.AddDays(2)), old));
        Assert.Equal(FilterReason.SupersededAsOf, CandidateFilter.Reason(Query(asOf: Day.AddDays(6)), old));
        Assert.Equal(FilterReason.ObservedAfterAsOf, CandidateFilter.Reason(Query(asOf: Day.AddDays(-1)), old));
    }

    [Fact]
    public void TieBreak_NearEqualRelevance_PutsTheNewerFirst()
    {
        var older = Candidate("older", 0, order: 1);
        var newer = Candidate("newer", 10, order: 2);
        var result = RecencyTieBreak.Apply([new(older, 0.02), new(newer, 0.019)], [Lexical(("older", 5f), ("newer", 4.9f))]);
        Assert.Equal(["newer", "older"], result.Order.Select(c => c.Meta.Id));
        Assert.Equal(1, result.Recency["newer"].Rank);
        Assert.Equal(1, result.Recency["newer"].Score);
        Assert.Equal(0, result.Recency["older"].Score);
    }

    [Fact]
    public void TieBreak_ClearlyMoreRelevantOlderMemory_KeepsItsPlace()
    {
        var older = Candidate("older", 0);
        var newer = Candidate("newer", 10);
        var result = RecencyTieBreak.Apply([new(older, 0.02), new(newer, 0.019)], [Lexical(("older", 5f), ("newer", 2f))]);
        Assert.Equal(["older", "newer"], result.Order.Select(c => c.Meta.Id));
    }

    [Fact]
    public void TieBreak_MovesACandidateAtMostTheMargin()
    {
        var candidates = Enumerable.Range(0, RecencyTieBreak.Margin + 5).Select(i => new RecencyTieBreak.Candidate(Candidate("m" + i, i), 1.0 / (i + 1))).ToList();
        var result = RecencyTieBreak.Apply(candidates, []);
        var newest = candidates[^1].Meta.Id;
        Assert.Equal(candidates.Count - 1 - RecencyTieBreak.Margin, result.Order.ToList().FindIndex(c => c.Meta.Id == newest));
    }

    [Fact]
    public void VectorSnapshot_StaysAsPublished_WhileTheMatrixChanges()
    {
        var matrix = new VectorMatrix(2);
        matrix.Upsert("a", [1, 0]);
        matrix.Upsert("b", [0, 1]);
        matrix.Publish();
        var before = matrix.Current;

        matrix.Remove("a");
        matrix.Upsert("c", [1, 0]);
        matrix.Upsert("b", [0.6f, 0.8f]);
        matrix.Publish();

        Assert.Equal(["a", "b"], Scan(before, [1, 0]).Order(StringComparer.Ordinal));
        Assert.Equal(["b", "c"], Scan(matrix.Current, [1, 0]).Order(StringComparer.Ordinal));
        Assert.Equal(2, matrix.Count);
    }

    [Fact]
    public void VectorMatrix_ManyRemovals_CompactsAndKeepsTheRest()
    {
        var matrix = new VectorMatrix(2);
        for (var i = 0; i < 200; i++)
        {
            matrix.Upsert("m" + i, [1, 0]);
        }

        for (var i = 0; i < 150; i++)
        {
            matrix.Remove("m" + i);
        }

        matrix.Publish();
        Assert.Equal(50, matrix.Count);
        Assert.Equal(Enumerable.Range(150, 50).Select(i => "m" + i).Order(StringComparer.Ordinal), Scan(matrix.Current, [1, 0]).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void VectorMatrix_Locate_ReadsOneRow_AfterCompaction_NothingForAnUnknownId_AndKeepsWhatItFound()
    {
        var matrix = new VectorMatrix(2);
        for (var i = 0; i < 100; i++)
        {
            matrix.Upsert("m" + i, i % 2 == 0 ? [1, 0] : [0.6f, 0.8f]);
        }

        for (var i = 0; i < 70; i++)
        {
            matrix.Remove("m" + i);
        }

        var found = matrix.Locate("m70")!.Value;
        Assert.Equal(1f, found.Cosine([1, 0]));
        Assert.Equal(0.6f, matrix.Locate("m71")!.Value.Cosine([1, 0]));
        Assert.Null(matrix.Locate("m3"));

        // Rows found are read after the lock is left: a new vector for the memory is written after them, and a compaction
        // into new arrays.
        matrix.Upsert("m70", [0, 1]);
        Assert.Same(found.Data, matrix.Locate("m70")!.Value.Data);
        for (var i = 0; i < 100; i++)
        {
            matrix.Upsert("n" + i, [1, 0]);
        }

        for (var i = 0; i < 100; i++)
        {
            matrix.Remove("n" + i);
        }

        Assert.NotSame(found.Data, matrix.Locate("m70")!.Value.Data);
        Assert.Equal(1f, found.Cosine([1, 0]));
        Assert.Equal(0f, matrix.Locate("m70")!.Value.Cosine([1, 0]));
    }

    [Fact]
    public void VectorMatrix_AMemoryWithSentences_IsScoredByItsBestRow_AndComparedByItsWholeText()
    {
        // "a": a whole text's row, then two sentences' rows; "b" and "c": one row each.
        var matrix = new VectorMatrix(2);
        matrix.Upsert("a", [0.6f, 0.8f, 1, 0, 0, 1]);
        matrix.Upsert("b", [0.8f, 0.6f]);
        matrix.Upsert("c", [0, 1]);
        matrix.Publish();

        var top = new TopK<string>(10);
        var (sum, scanned) = matrix.Current.Scan([1, 0], top, null);
        Assert.Equal([("a", 1f), ("b", 0.8f), ("c", 0f)], top.ToList());
        // The mean cosine is over memories, by whole texts: 0.6, 0.8, 0.
        Assert.Equal((1.4, 3), (Math.Round(sum, 4), scanned));

        var wholeOnly = new TopK<string>(10);
        matrix.Current.Scan([1, 0], wholeOnly, null, sentences: false);
        Assert.Equal([("b", 0.8f), ("a", 0.6f), ("c", 0f)], wholeOnly.ToList());

        Assert.Equal(1f, matrix.Locate("a")!.Value.Cosine([1, 0]));
        Assert.Equal([0.6f, 0.8f], matrix.VectorOf("a")!);
        Assert.Equal(0.96f, matrix.Cosine("a", "b")!.Value, 5);
        Assert.Equal(3, matrix.Count);
    }

    [Fact]
    public void VectorMatrix_ReplacingAndRemovingMemoriesWithSentences_KeepsEachRunWhole()
    {
        var matrix = new VectorMatrix(2);
        for (var i = 0; i < 120; i++)
        {
            // Every third memory has two sentences; its best row points at [1, 0].
            matrix.Upsert("m" + i, i % 3 == 0 ? [0, 1, 0, 1, 1, 0] : [0, 1]);
        }

        matrix.Publish();
        var before = matrix.Current;
        for (var i = 0; i < 90; i++)
        {
            matrix.Remove("m" + i);
        }

        // Replaced: a run of three rows becomes one, and one row becomes three.
        matrix.Upsert("m90", [0, 1]);
        matrix.Upsert("m91", [0, 1, 0, 1, 1, 0]);
        matrix.Publish();

        var expected = Enumerable.Range(90, 30).Where(i => i == 91 || (i % 3 == 0 && i != 90)).Select(i => "m" + i).Order(StringComparer.Ordinal);
        var top = new TopK<string>(100);
        matrix.Current.Scan([1, 0], top, null, floor: 0.5f);
        Assert.Equal(expected, top.ToList().Select(x => x.Item).Order(StringComparer.Ordinal));
        Assert.Equal(30, matrix.Count);
        // The snapshot published before still scans as it was.
        var earlier = new TopK<string>(200);
        before.Scan([1, 0], earlier, null, floor: 0.5f);
        Assert.Equal(Enumerable.Range(0, 40).Select(i => "m" + (i * 3)).Order(StringComparer.Ordinal), earlier.ToList().Select(x => x.Item).Order(StringComparer.Ordinal));
    }

    [Avx2Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void VectorMatrix_ALargeScanByBytes_FindsWhatTheFloatScanFinds(int seed)
    {
        // Beyond BytesFrom rows the scan reads bytes first and scores the best again from the floats: the same memories,
        // scores and order as reading every float (an allowed set of every memory takes the float path), and the same mean.
        const int Dimensions = 384;
        var random = new Random(seed);
        float[] Unit()
        {
            var v = new float[Dimensions];
            for (var i = 0; i < v.Length; i++)
            {
                v[i] = (float)(random.NextDouble() - 0.5);
            }

            System.Numerics.Tensors.TensorPrimitives.Divide(v, System.Numerics.Tensors.TensorPrimitives.Norm(v), v);
            return v;
        }

        var matrix = new VectorMatrix(Dimensions);
        var query = Unit();
        for (var i = 0; i < 5000; i++)
        {
            // Every fourth memory has two sentences' rows; a few lean towards the query, so the top is not all noise.
            var rows = Enumerable.Range(0, i % 4 == 0 ? 3 : 1).Select(_ => Unit()).ToList();
            if (i % 50 == 0)
            {
                System.Numerics.Tensors.TensorPrimitives.Add(rows[^1], query, rows[^1]);
                System.Numerics.Tensors.TensorPrimitives.Divide(rows[^1], System.Numerics.Tensors.TensorPrimitives.Norm(rows[^1]), rows[^1]);
            }

            matrix.Upsert("m" + i, rows.SelectMany(r => r).ToArray());
        }

        void Same(int memories = 5000)
        {
            matrix.Publish();
            var every = Enumerable.Range(0, memories).Select(i => "m" + i).ToHashSet();
            foreach (var sentences in new[] { true, false })
            {
                var (bytes, floats) = (new TopK<string>(200), new TopK<string>(200));
                var (sumBytes, memoriesBytes) = matrix.Current.Scan(query, bytes, null, 0.01f, sentences);
                var (sumFloats, memoriesFloats) = matrix.Current.Scan(query, floats, every, 0.01f, sentences);
                Assert.Equal(floats.ToList(), bytes.ToList());
                Assert.Equal(memoriesFloats, memoriesBytes);
                Assert.Equal(sumFloats / memoriesFloats, sumBytes / memoriesBytes, 5);
            }
        }

        Assert.True(5000 >= VectorMatrix.Snapshot.BytesFrom);
        Same();
        var published = matrix.Current;
        var before = new TopK<string>(200);
        published.Scan(query, before, null, 0.01f);

        // Near duplicates crowd the top's boundary: 600 memories within a few thousandths of each other.
        for (var i = 5000; i < 5600; i++)
        {
            var near = query.Select(x => x + (float)((random.NextDouble() - 0.5) * 0.02)).ToArray();
            System.Numerics.Tensors.TensorPrimitives.Divide(near, System.Numerics.Tensors.TensorPrimitives.Norm(near), near);
            matrix.Upsert("m" + i, near);
        }

        Same(5600);
        // Removed (a third: the matrix compacts) and replaced memories leave the sum of whole texts and the bytes as the floats.
        for (var i = 0; i < 5600; i += 3)
        {
            matrix.Remove("m" + i);
        }

        for (var i = 1; i < 5600; i += 11)
        {
            matrix.Upsert("m" + i, Unit());
        }

        Same(5600);
        // What was published before all that still scans as it did.
        var again = new TopK<string>(200);
        published.Scan(query, again, null, 0.01f);
        Assert.Equal(before.ToList(), again.ToList());
    }

    [Fact]
    public void Sentences_OfAMemory_CarryItsLabel_JoinShortOnes_AndAreLeftOutWhenThereIsOne()
    {
        Assert.Empty(Sentences.Of("Deploys go through ArgoCD and the staging cluster syncs every five minutes."));
        Assert.Empty(Sentences.Of("The standup is at 9:30. "));
        // A short sentence joins the next: two short ones make one row's worth, so there is nothing to add.
        Assert.Empty(Sentences.Of("Caroline: I went to the group yesterday. It was so powerful!"));
        Assert.Equal(
            ["Caroline: Wow! I went to the LGBTQ support group yesterday and it was so powerful.", "Caroline: The stories people shared made me think about how far I have come."],
            Sentences.Of("Caroline: Wow! I went to the LGBTQ support group yesterday and it was so powerful. The stories people shared made me think about how far I have come."));
        // An abbreviation's dot ends no sentence; a time's colon is no label.
        Assert.Equal(["Dr. Smith moved the design review from Thursday to Friday afternoon.", "The slides for it are in the team wiki under reviews."],
            Sentences.Of("Dr. Smith moved the design review from Thursday to Friday afternoon. The slides for it are in the team wiki under reviews."));
        Assert.Equal(["9:30 is when the daily standup of the platform team starts.", "Everyone joins the call from the team room or from home."],
            Sentences.Of("9:30 is when the daily standup of the platform team starts. Everyone joins the call from the team room or from home."));
        // Lines are sentences too; the last short one joins the one before.
        Assert.Equal(["Steps: run the database migrations on the staging cluster first", "Steps: restart every API pod in the namespace afterwards then check"],
            Sentences.Of("Steps:\nrun the database migrations on the staging cluster first\nrestart every API pod in the namespace afterwards\nthen check"));
        var many = Sentences.Of(string.Join(" ", Enumerable.Range(1, 20).Select(i => $"Fact number {i} holds for every service we run.")));
        Assert.Equal(Sentences.MaxRows, many.Count);
        Assert.Equal("Fact number 1 holds for every service we run. Fact number 2 holds for every service we run.", many[0]);
        Assert.StartsWith("Fact number 18 holds", many[^1], StringComparison.Ordinal);
    }

    [Fact]
    public void EvidenceFusion_RanksAgreementFirst_ByRelevanceBetweenZeroAndOne()
    {
        SignalRanking[] rankings =
        [
            new(SignalKind.Lexical, [new("words", 9.0f), new("both", 8.0f), new("weak", 1.0f)], 1),
            new(SignalKind.Vector, [new("meaning", 0.66f), new("both", 0.64f), new("weak", 0.30f)], 1),
        ];
        var result = EvidenceFusion.Fuse(rankings, semantic: true);
        var fused = result.Fused;
        Assert.True(result.ByEvidence);
        Assert.Equal("both", fused[0].Id);
        Assert.Equal(fused.Select(f => f.Score).OrderDescending(), fused.Select(f => f.Score));
        Assert.All(fused, f => Assert.Equal(result.Relevance(f.Id), f.Score));
        Assert.All(fused, f => Assert.InRange(result.Relevance(f.Id), 0, 1));

        // More likeness, all else equal, is more relevance.
        SignalRanking[] closer = [rankings[0], new(SignalKind.Vector, [new("meaning", 0.66f), new("both", 0.64f), new("weak", 0.50f)], 1)];
        Assert.True(EvidenceFusion.Fuse(closer, semantic: true).Relevance("weak") > result.Relevance("weak"));

        // With hashed vectors the order is reciprocal rank fusion's, and relevance comes from the words alone.
        // (both: 2/62, weak: 2/63, words and meaning: 1/61 each, tied, in order of first appearance).
        var words = EvidenceFusion.Fuse(rankings, semantic: false);
        Assert.False(words.ByEvidence);
        Assert.Equal(["both", "weak", "words", "meaning"], words.Fused.Select(f => f.Id));
        Assert.Equal(0, words.Relevance("meaning"), 2);
        Assert.True(words.Relevance("words") > words.Relevance("weak"));
    }

    [Fact]
    public void VectorMatrix_Scan_SumsTheCosinesOfEveryRowItScans_AboveTheFloorOrNot()
    {
        var matrix = new VectorMatrix(2);
        matrix.Upsert("east", [1, 0]);
        matrix.Upsert("north", [0, 1]);
        matrix.Upsert("between", [0.6f, 0.8f]);
        matrix.Upsert("gone", [1, 0]);
        matrix.Remove("gone");
        matrix.Publish();

        var top = new TopK<string>(10);
        var (sum, rows) = matrix.Current.Scan([1, 0], top, null, floor: 0.5f);
        Assert.Equal((1.6, 3), (Math.Round(sum, 5), rows));
        Assert.Equal(["east", "between"], top.ToList().Select(x => x.Item));

        // A tag filter narrows what is scanned, and so the mean.
        (sum, rows) = matrix.Current.Scan([1, 0], new TopK<string>(10), new HashSet<string> { "north", "between" });
        Assert.Equal((0.6, 2), (Math.Round(sum, 5), rows));
    }

    [Fact]
    public void EvidenceFusion_AHighMeanCosine_WeighsAWordMatchAboveAStandingOutCosine_WithinTheFittedRange()
    {
        // The same candidates for two queries: one alike to the searched memories at large (a conversation's turns), one
        // alike to few (short distinct facts).
        FusedCandidates Fused(float meanCosine) => EvidenceFusion.Fuse(
        [
            new(SignalKind.Lexical, [new("words", 9.0f), new("other", 4.0f)], 1),
            new(SignalKind.Vector, [new("meaning", 0.62f), new("other", 0.45f), new("words", 0.40f)], 1) { MeanCosine = meanCosine },
        ], semantic: true);

        static double Odds(double p) => p / (1 - p);
        Assert.All([Fused(0.05f), Fused(0.35f)], f => Assert.All(f.Fused, x => Assert.Equal(f.Relevance(x.Id), x.Score)));
        var distinct = Fused(0.05f);
        var alike = Fused(0.35f);
        Assert.True(Odds(alike.Relevance("words")) / Odds(alike.Relevance("meaning")) > Odds(distinct.Relevance("words")) / Odds(distinct.Relevance("meaning")));

        // Beyond the range the weights were fitted on, a mean cosine counts as the range's end.
        Assert.Equal(Fused(0.5f).Relevance("meaning"), Fused(0.9f).Relevance("meaning"));
        Assert.NotEqual(Fused(0.3f).Relevance("meaning"), Fused(0.9f).Relevance("meaning"));
    }

    private static List<string> Scan(VectorMatrix.Snapshot snapshot, float[] query)
    {
        var top = new TopK<string>(100);
        snapshot.Scan(query, top, null);
        return top.ToList().Select(x => x.Item).ToList();
    }
}

/// <summary>
/// A test of the scan by bytes, which needs AVX2: on a CPU without it, reported as not run (the float scan alone is
/// used there); in CI (<c>CI=true</c>) it always runs.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class Avx2TheoryAttribute : TheoryAttribute
{
    public Avx2TheoryAttribute()
    {
        if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = "The scan by bytes needs AVX2, which this CPU lacks: the float scan is used.";
        }
    }
}
