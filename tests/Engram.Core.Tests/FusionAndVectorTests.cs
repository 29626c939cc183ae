using Engram.Core.Embeddings;
using Engram.Core.Search;
using Engram.Core.Storage;

namespace Engram.Core.Tests;

public class ReciprocalRankFusionTests
{
    [Fact]
    public void Fuse_ItemInBothLists_RanksAboveItemsInOne()
    {
        var fused = ByRank(["a", "b", "c"], ["c", "d", "a"]);
        Assert.Equal(["a", "c", "b", "d"], fused.Select(f => f.Id));
    }

    [Fact]
    public void Fuse_ScoreIsSumOfReciprocalRanks()
    {
        var fused = ByRank(["x"], ["y", "x"]);
        var x = fused.Single(f => f.Id == "x");
        Assert.Equal(1.0 / (EvidenceFusion.RankConstant + 1) + 1.0 / (EvidenceFusion.RankConstant + 2), x.Score, 12);
    }

    [Fact]
    public void Fuse_ExactTies_KeepTheOrderOfFirstAppearance()
    {
        Assert.Equal(["p", "q", "r", "s"], ByRank(["p", "r"], ["q", "s"]).Select(f => f.Id));
    }

    [Fact]
    public void Fuse_EmptyLists_GiveNothing()
    {
        Assert.Empty(ByRank([], []));
    }

    [Fact]
    public void TopK_KeepsTheHighestScores_BestFirst()
    {
        var top = new TopK<int>(3);
        foreach (var (item, score) in new[] { (1, 0.1f), (2, 0.9f), (3, 0.5f), (4, 0.7f), (5, 0.2f) })
        {
            top.Add(item, score);
        }

        Assert.Equal([2, 4, 3], top.ToList().Select(x => x.Item));
    }

    /// <summary>Reciprocal rank fusion of lists with equal weights (signals without a model's vectors fuse by rank).</summary>
    private static IReadOnlyList<(string Id, double Score)> ByRank(params string[][] lists) =>
        EvidenceFusion.Fuse(lists.Select(l => new SignalRanking(SignalKind.Entities, l.Select(id => new Scored(id, 1)).ToList(), 1)).ToList(), semantic: false).Fused;
}

public class HashingEmbeddingGeneratorTests
{
    [Fact]
    public void Embed_SameText_GivesIdenticalVectors_AcrossInstances()
    {
        var a = new HashingEmbeddingGenerator().Embed("We deploy with Helm on Fridays.");
        var b = new HashingEmbeddingGenerator().Embed("We deploy with Helm on Fridays.");
        Assert.Equal(a, b);
    }

    [Fact]
    public void Embed_IsUnitLength()
    {
        var v = new HashingEmbeddingGenerator().Embed("Postgres 16 is the database for the orders service.");
        Assert.Equal(1.0, Math.Sqrt(v.Sum(x => (double)x * x)), 5);
    }

    [Fact]
    public void Embed_RelatedTextIsCloserThanUnrelatedText()
    {
        var g = new HashingEmbeddingGenerator();
        var fact = g.Embed("The deployment pipeline uses Helm charts.");
        var related = g.Embed("How are services deployed with helm?");
        var unrelated = g.Embed("Ana prefers trains under six hours.");
        Assert.True(Dot(fact, related) > Dot(fact, unrelated) + 0.1);
    }

    [Fact]
    public void Embed_EmptyText_IsAZeroVector()
    {
        Assert.All(new HashingEmbeddingGenerator().Embed("  "), x => Assert.Equal(0f, x));
    }

    [Fact]
    public async Task GenerateAsync_ReportsModelAndDimensions()
    {
        using var g = new HashingEmbeddingGenerator(64);
        var result = await g.GenerateAsync(["one", "two"]);
        Assert.Equal(2, result.Count);
        Assert.All(result, e => Assert.Equal(64, e.Vector.Length));
        Assert.Equal(HashingEmbeddingGenerator.ModelId, result[0].ModelId);
    }

    private static double Dot(float[] a, float[] b) => a.Zip(b, (x, y) => (double)x * y).Sum();
}

public class VectorCodecTests
{
    [Fact]
    public void EncodeDecode_RoundTripsExactly()
    {
        float[] v = [0f, -1.5f, float.Epsilon, 3.25e10f, -0f, 1f / 3];
        var bytes = VectorCodec.Encode(v);
        Assert.Equal(v.Length * 4, bytes.Length);
        Assert.Equal(v, VectorCodec.Decode(bytes));
    }

    [Fact]
    public void Encode_IsLittleEndianFloat32()
    {
        Assert.Equal([0x00, 0x00, 0x80, 0x3f], VectorCodec.Encode([1f]));
    }

    [Fact]
    public void Decode_RejectsATruncatedBlob()
    {
        Assert.Throws<InvalidDataException>(() => VectorCodec.Decode(new byte[7]));
    }
}

/// <summary>
/// A recall starts its query's embedding first; the signals that do not need it (entities, time) rank while it computes,
/// and the vector's ranking takes its place afterwards: a late embedding changes nothing in the answer.
/// </summary>
public sealed class LateQueryVectorTests(TempStore temp) : IClassFixture<TempStore>
{
    /// <summary>The built-in vectors, each query's 30 ms late (documents on time).</summary>
    private sealed class LateQueries() : Microsoft.Extensions.AI.DelegatingEmbeddingGenerator<string, Microsoft.Extensions.AI.Embedding<float>>(new HashingEmbeddingGenerator())
    {
        public int Late { get; private set; }

        public override async Task<Microsoft.Extensions.AI.GeneratedEmbeddings<Microsoft.Extensions.AI.Embedding<float>>> GenerateAsync(IEnumerable<string> values, Microsoft.Extensions.AI.EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
        {
            if (EmbeddingInput.IsQuery(options))
            {
                Late++;
                await Task.Delay(30, cancellationToken);
            }

            return await base.GenerateAsync(values, options, cancellationToken);
        }
    }

    [Fact]
    public async Task Recall_WithALateQueryEmbedding_AnswersAndExplainsAsWithAnImmediateOne()
    {
        var home = temp.NewHome();
        await using var onTime = temp.Open(home);
        using var late = new LateQueries();
        await using var waiting = new MemoryService(TempStore.Options(home), late);
        var monday = new DateTimeOffset(2026, 3, 2, 9, 0, 0, TimeSpan.Zero);
        for (var i = 0; i < Seed.Facts.Length; i++)
        {
            await onTime.RememberAsync(new Model.RememberRequest(Seed.Facts[i], ObservedAt: monday.AddDays(i)));
        }

        // Words, an identifier (entities), a date (time), a name.
        foreach (var query in new[] { "Which service runs on Postgres?", "OrderTests.Refund_Twice", "what did we decide on 4 March 2026", "Ana and her trips" })
        {
            var expected = await onTime.ExplainAsync(new Model.ExplainRequest(Recall: new Model.RecallRequest(query)));
            var actual = await waiting.ExplainAsync(new Model.ExplainRequest(Recall: new Model.RecallRequest(query)));
            Assert.NotEmpty(expected.Hits);
            Assert.Equal(expected.Hits, actual.Hits);
            Assert.Equal(expected.FilteredOut, actual.FilteredOut);
            Assert.Equal(expected.MeanCosine, actual.MeanCosine);
            var recalled = await waiting.RecallAsync(new Model.RecallRequest(query + "?"));
            Assert.Equal((await onTime.RecallAsync(new Model.RecallRequest(query + "?"))).Memories.Select(m => (m.Id, m.Score, m.Relevance)), recalled.Memories.Select(m => (m.Id, m.Score, m.Relevance)));
        }

        Assert.Equal(8, late.Late);
    }

    [Fact]
    public async Task Explain_ReportsTheQuerysMeanCosine_OverEveryMemorySearched_WhenAModelsVectorsAreFused()
    {
        var home = temp.NewHome();
        // Every query along the first axis; a memory by the words it holds.
        using var model = new FixedVectorModel([1, 0, 0], text =>
            text.Contains("Postgres", StringComparison.Ordinal) ? [1, 0, 0]
            : text.Contains("Fridays", StringComparison.Ordinal) ? [0.6f, 0.8f, 0]
            : [0, 1, 0]);
        await using var service = new MemoryService(TempStore.Options(home), model);
        const string scope = "project:mean/cosine";
        await service.RememberAsync(new Model.RememberRequest("The billing service runs on Postgres.", scope));
        await service.RememberAsync(new Model.RememberRequest("The billing service deploys on Fridays.", scope));
        await service.RememberAsync(new Model.RememberRequest("Lunch is at noon.", scope));

        // Cosines 1, 0.6 and 0: the last is below the vector signal's floor, and still in the mean.
        var explain = await service.ExplainAsync(new Model.ExplainRequest(Recall: new Model.RecallRequest("billing service", scope)));
        Assert.Equal(2, explain.Hits.Count(h => h.Vector is not null));
        Assert.Equal(1.6 / 3, explain.MeanCosine!.Value, 5);

        // Hashed vectors are fused by rank: the mean plays no part, and explain does not report it.
        await using var builtin = temp.Open(home);
        Assert.Null((await builtin.ExplainAsync(new Model.ExplainRequest(Recall: new Model.RecallRequest("billing service", scope)))).MeanCosine);
    }

    [Fact]
    public async Task AMemorysSentences_ScoreIt_WithAModelRunInProcess_AndExplainNamesTheSentence()
    {
        // Queries along the first axis; the sentence about the cat on it, the whole turn between, the rest off it.
        static float[] Vector(string text) =>
            text.StartsWith("Caroline: Also my cat", StringComparison.Ordinal) ? [1, 0, 0]
            : text.Contains("cat", StringComparison.Ordinal) ? [0.6f, 0.8f, 0]
            : [0, 1, 0];
        const string turn = "Caroline: I went to the support group yesterday and it was so powerful for me. Also my cat Oliver got sick last week and we spent the night at the vet.";
        const string scope = "project:sentence/rows";
        var question = new Model.RecallRequest("what happened to the cat?", scope);

        using var local = new FixedVectorModel([1, 0, 0], Vector, local: true);
        await using (var service = new MemoryService(TempStore.Options(temp.NewHome()), local))
        {
            var id = (await service.RememberAsync(new Model.RememberRequest(turn, scope))).Id;
            await service.RememberAsync(new Model.RememberRequest("The billing service deploys on Fridays after the standup.", scope));
            var explain = await service.ExplainAsync(new Model.ExplainRequest(Recall: question, MemoryId: id));
            Assert.Equal(1.0, explain.Memory!.Vector!.Score, 5);
            Assert.Equal("closest in its sentence \"Caroline: Also my cat Oliver got sick last week and we spent the night at the vet.\"", explain.Memory.Vector.Note);
            Assert.Equal("ready (fixed/fixed-model+sentences+replies/3)", explain.Vectors);
            // The mean is over whole texts: 0.6 and 0.
            Assert.Equal(0.3, explain.MeanCosine!.Value, 5);
        }

        // The same vectors from a provider reached over HTTP: whole texts only, under the model's own name.
        using var remote = new FixedVectorModel([1, 0, 0], Vector);
        await using (var service = new MemoryService(TempStore.Options(temp.NewHome()), remote))
        {
            var id = (await service.RememberAsync(new Model.RememberRequest(turn, scope))).Id;
            var explain = await service.ExplainAsync(new Model.ExplainRequest(Recall: question, MemoryId: id));
            Assert.Equal(0.6, explain.Memory!.Vector!.Score, 5);
            Assert.Null(explain.Memory.Vector.Note);
            Assert.Equal("ready (fixed/fixed-model/3)", explain.Vectors);
        }
    }

    [Fact]
    public async Task AWordMatchBelowTheScansTop_IsStillScoredByMeaning_FromRowsLocatedBeforeTheQueryVector()
    {
        // 420 notes close to the query by meaning (cosine 0.9) fill the scan's top 400; the one that shares the query's
        // word is further off (0.3), above the floor: its cosine comes from rows located while the query was embedded.
        const string scope = "project:located/rows";
        using var model = new FixedVectorModel([1, 0, 0], text =>
        {
            if (text.Contains("zebra", StringComparison.OrdinalIgnoreCase))
            {
                return [0.3f, MathF.Sqrt(1 - 0.09f), 0];
            }

            var angle = text.Length % 97 / 97f * MathF.PI;
            var rest = MathF.Sqrt(1 - 0.81f);
            return [0.9f, rest * MathF.Cos(angle), rest * MathF.Sin(angle)];
        });
        await using var service = new MemoryService(TempStore.Options(temp.NewHome()), model);
        var stored = await service.RememberManyAsync(Enumerable.Range(0, 420)
            .Select(i => new Model.RememberRequest($"Gardening note {i}: {new string('x', i % 13)} tomatoes want sun.", scope))
            .Append(new Model.RememberRequest("The zebra crossing outside the office is repainted each spring.", scope))
            .ToList());

        var zebra = (await service.ExplainAsync(new Model.ExplainRequest(Recall: new Model.RecallRequest("when is the zebra crossing repainted", scope), MemoryId: stored[^1].Id))).Memory!;
        Assert.NotNull(zebra.Lexical);
        Assert.Equal(0.3, zebra.Vector!.Score, 5);
    }

    /// <summary>
    /// Queries along the first axis, as a question about dance styles is; a reply about them and the rest off it. A
    /// reply's row with its question is their sum, as a unit vector: cosine 1/√2 with the query.
    /// </summary>
    private static FixedVectorModel DanceModel() => new([1, 0, 0], text =>
        text.Contains("dance styles", StringComparison.Ordinal) ? [1, 0, 0]
        : text.Contains("Contemporary", StringComparison.Ordinal) ? [0, 1, 0]
        : [0, 0, 1], local: true);

    private static readonly DateTimeOffset At = new(2026, 3, 2, 9, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task InABatch_AReplyTakesTheQuestionBeforeIt_AndAVectorMadeToFollowADuplicate_IsMadeAgain()
    {
        const string scope = "project:reply/batch";
        var at = At;
        var question = new Model.RecallRequest("which dance styles does Melanie like", scope);
        using var local = DanceModel();
        await using var service = new MemoryService(TempStore.Options(temp.NewHome()), local);

        // The question and its reply in one call: the reply's row takes the question embedded beside it.
        var first = await service.RememberManyAsync(
        [
            new Model.RememberRequest("Caroline: Got any favourite dance styles?", scope, ObservedAt: at),
            new Model.RememberRequest("Melanie: Contemporary, it is so expressive.", scope, ObservedAt: at.AddMinutes(1)),
        ]);
        var reply = (await service.ExplainAsync(new Model.ExplainRequest(Recall: question, MemoryId: first[1].Id))).Memory!.Vector;
        Assert.Equal(1 / Math.Sqrt(2), reply!.Score, 5);
        Assert.Equal(Model.SignalScore.WithItsQuestion, reply.Note);

        // The question again (a duplicate: not stored) and a reply in one call, after a statement: the reply was embedded
        // to follow the duplicate, but follows the statement, so its vector is not kept and is made again without a row.
        await service.RememberAsync(new Model.RememberRequest("Melanie: The billing service deploys on Fridays.", scope, ObservedAt: at.AddMinutes(2)));
        var second = await service.RememberManyAsync(
        [
            new Model.RememberRequest("Caroline: Got any favourite dance styles?", scope, ObservedAt: at.AddMinutes(3)),
            new Model.RememberRequest("Melanie: Contemporary again, with a new teacher.", scope, ObservedAt: at.AddMinutes(4)),
        ]);
        Assert.Equal(first[0].Id, second[0].Id);
        await service.ReembedAsync();
        Assert.Equal(4, (await service.StatsAsync()).VectorsByModel["fixed/fixed-model+sentences+replies/3"]);
        Assert.Null((await service.ExplainAsync(new Model.ExplainRequest(Recall: question, MemoryId: second[1].Id))).Memory!.Vector);
    }

    [Fact]
    public async Task AReplyWhoseQuestionHasNoVectorYet_IsOfferedItsRestatements_AndEmbeddedAfterTheQuestion()
    {
        const string scope = "project:reply/later";
        // The question's text fails until the reply is stored (the provider refused it meanwhile); every other text embeds.
        var down = true;
        using var flaky = new FixedVectorModel([1, 0, 0], text =>
            text.Contains("dance styles", StringComparison.Ordinal) ? (Volatile.Read(ref down) ? throw new HttpRequestException("down") : [1, 0, 0])
            : text.Contains("Contemporary", StringComparison.Ordinal) ? [0, 1, 0]
            : [0, 0, 1], local: true);
        var options = TempStore.Options(temp.NewHome());
        options.EmbeddingRetryDelay = TimeSpan.Zero;
        await using var service = new MemoryService(options, flaky);

        var taught = await service.RememberAsync(new Model.RememberRequest("Melanie: Contemporary is what I teach on Mondays.", scope, ObservedAt: At));
        await service.RememberAsync(new Model.RememberRequest("Caroline: Got any favourite dance styles?", scope, ObservedAt: At.AddMinutes(1)));
        var reply = await service.RememberAsync(new Model.RememberRequest("Melanie: Contemporary, it is so expressive.", scope, ObservedAt: At.AddMinutes(2)));
        Volatile.Write(ref down, false);

        // Its vector, made without the question's row, still finds what it restates, and is not stored: the background
        // embedder makes it once the question has one. (The background embedder may also have tried the question while
        // it was refused, and stored the reply without a row: a refused question gets none. Either way the offer stands.)
        Assert.Contains(reply.Similar!, s => s.Id == taught.Id);
        await service.ReembedAsync();
        Assert.Equal(3, (await service.StatsAsync()).VectorsByModel["fixed/fixed-model+sentences+replies/3"]);
    }

    [Fact]
    public async Task AReply_IsScoredTogetherWithTheQuestionBeforeIt_UntilTheQuestionIsForgotten()
    {
        const string scope = "project:reply/rows";
        var at = At;
        var question = new Model.RecallRequest("which dance styles does Melanie like", scope);
        using var local = DanceModel();

        async Task<string[]> RememberAsync(MemoryService service) =>
        [
            (await service.RememberAsync(new Model.RememberRequest("Caroline: The billing service deploys on Fridays.", scope, ObservedAt: at))).Id,
            (await service.RememberAsync(new Model.RememberRequest("Caroline: Got any favourite dance styles?", scope, ObservedAt: at.AddMinutes(1)))).Id,
            (await service.RememberAsync(new Model.RememberRequest("Melanie: Contemporary, it is so expressive.", scope, ObservedAt: at.AddMinutes(2)))).Id,
            // Asked a day later: another session, so not a reply.
            (await service.RememberAsync(new Model.RememberRequest("Caroline: Any plans for the weekend?", scope, ObservedAt: at.AddDays(1)))).Id,
            (await service.RememberAsync(new Model.RememberRequest("Melanie: Contemporary dance class again on Saturday.", scope, ObservedAt: at.AddDays(2)))).Id,
        ];

        async Task<Model.SignalScore?> VectorOfAsync(MemoryService service, string id) =>
            (await service.ExplainAsync(new Model.ExplainRequest(Recall: question, MemoryId: id))).Memory!.Vector;

        // Remembered with the model: the reply's row takes the question's stored vector.
        var home = temp.NewHome();
        await using (var service = new MemoryService(TempStore.Options(home), local))
        {
            var ids = await RememberAsync(service);
            var reply = await VectorOfAsync(service, ids[2]);
            Assert.Equal(1 / Math.Sqrt(2), reply!.Score, 5);
            Assert.Equal(Model.SignalScore.WithItsQuestion, reply.Note);
            Assert.Null(await VectorOfAsync(service, ids[4]));

            // Forgotten, the question takes the reply's row with it, in the forget's own transaction: the reply keeps its
            // own rows (no model runs), and follows a statement now.
            await service.ForgetAsync(new Model.ForgetRequest(Ids: [ids[1]]));
            Assert.Equal(4, (await service.StatsAsync()).VectorsByModel["fixed/fixed-model+sentences+replies/3"]);
            Assert.Null(await VectorOfAsync(service, ids[2]));

            // And the other way: a statement forgotten between a question and its reply makes the reply answer it.
            const string other = "project:reply/refollow";
            await service.RememberAsync(new Model.RememberRequest("Caroline: Got any favourite dance styles?", other, ObservedAt: at));
            var aside = await service.RememberAsync(new Model.RememberRequest("Caroline: Sorry, wrong chat.", other, ObservedAt: at.AddMinutes(1)));
            var answer = await service.RememberAsync(new Model.RememberRequest("Melanie: Contemporary, it is so expressive.", other, ObservedAt: at.AddMinutes(2)));
            var there = new Model.RecallRequest("which dance styles does Melanie like", other);
            Assert.Null((await service.ExplainAsync(new Model.ExplainRequest(Recall: there, MemoryId: answer.Id))).Memory!.Vector);
            await service.ForgetAsync(new Model.ForgetRequest(Ids: [aside.Id]));
            var now = (await service.ExplainAsync(new Model.ExplainRequest(Recall: there, MemoryId: answer.Id))).Memory!.Vector;
            Assert.Equal(1 / Math.Sqrt(2), now!.Score, 5);
            Assert.Equal(Model.SignalScore.WithItsQuestion, now.Note);
        }

        // Remembered with hashed vectors, then embedded by the model in the background: the question is embedded in the
        // same batch, and the reply's row takes its new vector.
        home = temp.NewHome();
        string[] stored;
        await using (var builtin = temp.Open(home))
        {
            stored = await RememberAsync(builtin);
        }

        await using (var service = new MemoryService(TempStore.Options(home), local))
        {
            // (The service's background embedder may have done it before ReembedAsync starts.)
            await service.ReembedAsync();
            Assert.Equal(5, (await service.StatsAsync()).VectorsByModel["fixed/fixed-model+sentences+replies/3"]);
            var reply = await VectorOfAsync(service, stored[2]);
            Assert.Equal(1 / Math.Sqrt(2), reply!.Score, 5);
            Assert.Equal(Model.SignalScore.WithItsQuestion, reply.Note);
            Assert.Null(await VectorOfAsync(service, stored[4]));
        }
    }
}

/// <summary>The order signals rank in and the order of their rankings, with fake signals and a query vector held back.</summary>
public sealed class SignalOrderTests
{
    private sealed class Recording(SignalKind kind, List<SignalKind> ran, bool waits = false) : IRecallSignal
    {
        public bool WaitsForQueryVector => waits;

        public async Task<SignalRanking> RankAsync(RecallContext context, CancellationToken cancellationToken)
        {
            if (waits)
            {
                await context.QueryVector;
            }

            lock (ran)
            {
                ran.Add(kind);
            }

            return new SignalRanking(kind, [new Scored("m" + (int)kind, 1f)], 1);
        }
    }

    private static RecallContext Context(Task<float[]?> vector) =>
        new(new RecallQuery("q", ["user"], "given", 10, [], false, null), DateTimeOffset.UnixEpoch, 200, null, vector);

    [Fact]
    public async Task ASignalWaitingForTheQueryVector_RanksAfterTheOthers_AndItsRankingKeepsItsPlace()
    {
        var ran = new List<SignalKind>();
        var vector = new TaskCompletionSource<float[]?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var signals = new IRecallSignal[] { new Recording(SignalKind.Lexical, ran), new Recording(SignalKind.Vector, ran, waits: true), new Recording(SignalKind.Entities, ran), new Recording(SignalKind.Time, ran) };
        var ranking = RecallPipeline.RankAsync(signals, Context(vector.Task), CancellationToken.None);

        // The others have ranked while the vector is still computing; the recall waits for it.
        await Task.Delay(50);
        Assert.False(ranking.IsCompleted);
        lock (ran)
        {
            Assert.Equal([SignalKind.Lexical, SignalKind.Entities, SignalKind.Time], ran);
        }

        vector.SetResult([1f]);
        var context = await ranking.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal([SignalKind.Lexical, SignalKind.Entities, SignalKind.Time, SignalKind.Vector], ran);
        Assert.Equal([SignalKind.Lexical, SignalKind.Vector, SignalKind.Entities, SignalKind.Time], context.Rankings.Select(r => r.Kind));
    }

    [Fact]
    public async Task WithTheQueryVectorReady_TheSignalsRankInTheirOrder()
    {
        var ran = new List<SignalKind>();
        var signals = new IRecallSignal[] { new Recording(SignalKind.Lexical, ran), new Recording(SignalKind.Vector, ran, waits: true), new Recording(SignalKind.Entities, ran) };
        var context = await RecallPipeline.RankAsync(signals, Context(Task.FromResult<float[]?>([1f])), CancellationToken.None);
        Assert.Equal([SignalKind.Lexical, SignalKind.Vector, SignalKind.Entities], ran);
        Assert.Equal(ran, context.Rankings.Select(r => r.Kind));
    }
}
