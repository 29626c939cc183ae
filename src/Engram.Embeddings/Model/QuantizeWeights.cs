// An MSBuild task, compiled by Model.targets (RoslynCodeTaskFactory, against .NET Standard), not part of Engram.Embeddings.
#nullable enable
// No namespace: RoslynCodeTaskFactory finds the task by its bare name (tests/Engram.Eval compiles this file too).
#pragma warning disable CA1050
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

/// <summary>
/// Writes an ONNX model whose matrix multiplications by a constant weight use byte weights, as ONNX Runtime's
/// <c>quantize_dynamic</c> does for a transformer's linear layers: each <c>MatMul(A, W)</c> with a float initializer
/// <c>W</c> becomes <c>com.microsoft.DynamicQuantizeMatMul(A, Wq, scale)</c>, <c>W</c> quantized per column
/// (symmetric: <c>Wq = round(W / scale)</c>, <c>scale = max|W[:, c]| / 63</c>), <c>A</c> per run (one scale, unsigned
/// bytes).
/// <list type="bullet">
/// <item>Weights use 7-bit levels (±63, ONNX Runtime's <c>reduce_range</c>): x64 CPUs without VNNI multiply unsigned by
/// signed bytes in pairs summed into 16 bits, which saturates beyond that range, so the same text would get other vectors
/// there. Within it the integer products are exact on every CPU: servers sharing a store compute one model's vectors.</item>
/// <item>One activation scale per run must span every channel of <c>A</c>, and a few channels of LayerNorm's and GELU's
/// outputs reach 10 to 15 times the range of the rest. With the ranges of <c>A</c>'s channels on calibration texts
/// (<see cref="ActivationRanges"/>), <c>A</c> is evened out first (SmoothQuant): a <c>Mul</c> divides channel j by
/// <c>s_j = max|A_j|^0.75 / max|W[j, :]|^0.25</c> and <c>W</c>'s row j is multiplied by it before quantizing. Without
/// ranges, a weight narrowing its input (more rows than columns: the feed-forward layers' down projections, after GELU)
/// stays float.</item>
/// <item>The vocabulary's table (a <c>Gather</c> of rows by token id from a float initializer of at least
/// <see cref="MinTableRows"/> rows) is stored as bytes too, one scale per row (<c>±127</c> levels): the rows a text
/// gathers are widened back to floats (<c>Cast</c>, <c>Mul</c> by their scales), so no integer arithmetic is involved.
/// It was two thirds of the file and of the memory the model takes.</item>
/// <item>Each attention's heads run as one operation and each projection adds its own bias (<see cref="Fusion"/>); the
/// nodes and weights no output needs, such as a BERT export's pooler, are dropped (<see cref="Prune"/>). The same
/// arithmetic in fewer operations: the vectors are unchanged, bit for bit here.</item>
/// <item>Read and written at the protobuf wire level, so the build needs no ONNX tooling: every field it does not change
/// is copied byte for byte.</item>
/// </list>
/// The vectors it leads to are the shipped model's identity (<c>EmbeddingProvider.DefaultModelIdentity</c>): change them
/// and that name must change too, or stores would mix vectors of two models under one name (a test compares the shipped
/// model's vectors with those its name was given for).
/// </summary>
public sealed class QuantizeWeights : Microsoft.Build.Utilities.Task
{
    [Required]
    public string Source { get; set; } = "";

    [Required]
    public string Destination { get; set; } = "";

    /// <summary>
    /// Optional: the largest magnitude each input channel of a MatMul by a constant weight reached on calibration texts,
    /// one line per weight (<c>name v0 v1 …</c>; <c>#</c> starts a comment), as <c>tests/Engram.Eval calibrate</c> writes
    /// them. A weight listed is quantized with its input's channels evened out first (SmoothQuant).
    /// </summary>
    public string ActivationRanges { get; set; } = "";

    // ONNX field numbers (onnx.proto).
    private const int ModelOpsetImport = 8, ModelGraph = 7;
    private const int GraphNode = 1, GraphInitializer = 5, GraphInput = 11, GraphOutput = 12, GraphValueInfo = 13;
    private const int NodeInput = 1, NodeOutput = 2, NodeOpType = 4, NodeAttribute = 5, NodeDomain = 7;
    private const int AttributeName = 1, AttributeFloat = 2, AttributeInt = 3, AttributeTensor = 5, AttributeInts = 8, AttributeType = 20;
    private const int FloatAttribute = 1, IntAttribute = 2;
    private const int TensorDims = 1, TensorDataType = 2, TensorFloatData = 4, TensorInt64Data = 7, TensorName = 8, TensorRawData = 9;
    private const int FloatType = 1, Int8Type = 3, Int32Type = 6, Int64Type = 7;

    /// <summary>The largest weight level: 7 bits, so that no CPU's kernel saturates (see the summary).</summary>
    private const int WeightLevels = 63;

    /// <summary>
    /// How much of an input channel's range moves into the weight's row (SmoothQuant's alpha): 0.75 kept the vectors
    /// closest to the float model's (0.5: cosine 0.987 on average, 0.65: 0.9959, 0.75: 0.9971, 0.85: 0.9966; without
    /// evening out, with the down projections float, 0.9961; docs/benchmarks.md).
    /// </summary>
    private const double Migration = 0.75;

    /// <summary>The levels of a table's rows: nothing multiplies them as bytes, so all eight bits serve.</summary>
    private const int TableLevels = 127;

    /// <summary>A gathered table this large is a vocabulary's (position and segment tables are a few hundred rows).</summary>
    private const int MinTableRows = 4096;

    public override bool Execute()
    {
        var model = File.ReadAllBytes(Source);
        var top = Fields(model, 0, model.Length);
        var graphField = top.Single(f => f.Number == ModelGraph);
        var ranges = new Dictionary<string, float[]>();
        if (ActivationRanges.Length > 0)
        {
            foreach (var line in File.ReadAllLines(ActivationRanges).Where(l => l.Length > 0 && l[0] != '#'))
            {
                var parts = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                ranges[parts[0]] = parts.Skip(1).Select(v => float.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            }
        }

        var (graph, quantized, smoothed) = Rewrite(model, graphField, ranges);
        if (quantized == 0)
        {
            Log.LogError("No MatMul by a constant float weight and no vocabulary table in " + Source + ": nothing to quantize.");
            return false;
        }

        if (smoothed != ranges.Count)
        {
            Log.LogError($"{ActivationRanges} gives ranges for {ranges.Count} weights, of which {smoothed} are MatMul weights of {Source} with as many rows: calibrate again (tests/Engram.Eval calibrate).");
            return false;
        }

        var output = WithGraph(model, top, graph);
        var hasMicrosoftOpset = top.Where(f => f.Number == ModelOpsetImport)
            .Any(f => Fields(model, f.ValueStart, f.End).Any(g => g.Number == 1 && Encoding.UTF8.GetString(model, g.ValueStart, g.End - g.ValueStart) == "com.microsoft"));
        if (!hasMicrosoftOpset)
        {
            var opset = new MemoryStream();
            WriteBytes(opset, 1, Encoding.UTF8.GetBytes("com.microsoft"));
            WriteVarint(opset, (2 << 3) | 0);
            WriteVarint(opset, 1);
            WriteBytes(output, ModelOpsetImport, opset.ToArray());
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(Destination))!);
        File.WriteAllBytes(Destination, output.ToArray());
        Log.LogMessage(MessageImportance.Normal, $"Quantized {quantized} weight matrices and tables: {model.Length / 1e6:F1} MB -> {output.Length / 1e6:F1} MB ({Destination}).");
        return true;
    }

    /// <summary>
    /// For calibration (<c>tests/Engram.Eval calibrate</c>): <paramref name="model"/> with the input of each MatMul whose
    /// weight the quantizer takes as an output too (once per input), and for each such MatMul its input, its weight and
    /// the weight's rows.
    /// </summary>
    public static byte[] WithWeightInputsAsOutputs(byte[] model, List<(string Input, string Weight, int Channels)> probes)
    {
        var top = Fields(model, 0, model.Length);
        var graph = Graph.Read(model, top.Single(f => f.Number == ModelGraph));
        var weights = graph.MatMulWeights();
        var added = new MemoryStream();
        added.Write(model, graph.Field.ValueStart, graph.Field.End - graph.Field.ValueStart);
        foreach (var node in graph.Nodes.Values.Where(n => n.OpType == "MatMul" && n.Inputs.Count == 2 && weights.Contains(n.Inputs[1])))
        {
            if (!probes.Any(p => p.Input == node.Inputs[0]))
            {
                // ValueInfoProto { name, type: TypeProto { tensor_type { elem_type: FLOAT } } }
                var tensorType = new MemoryStream();
                WriteVarint(tensorType, (1 << 3) | 0);
                WriteVarint(tensorType, FloatType);
                var type = new MemoryStream();
                WriteBytes(type, 1, tensorType.ToArray());
                var info = new MemoryStream();
                WriteBytes(info, 1, Encoding.UTF8.GetBytes(node.Inputs[0]));
                WriteBytes(info, 2, type.ToArray());
                WriteBytes(added, GraphOutput, info.ToArray());
            }

            probes.Add((node.Inputs[0], node.Inputs[1], (int)graph.ByName[node.Inputs[1]].Dims[0]));
        }

        return WithGraph(model, top, added.ToArray()).ToArray();
    }

    /// <summary>The model's top-level fields, copied, with its graph replaced.</summary>
    private static MemoryStream WithGraph(byte[] model, List<Field> top, byte[] graph)
    {
        var output = new MemoryStream();
        foreach (var f in top)
        {
            if (f.Number == ModelGraph)
            {
                WriteBytes(output, ModelGraph, graph);
            }
            else
            {
                output.Write(model, f.Start, f.End - f.Start);
            }
        }

        return output;
    }

    private static (byte[] Graph, int Quantized, int Smoothed) Rewrite(byte[] model, Field graphField, Dictionary<string, float[]> ranges)
    {
        var graph = Graph.Read(model, graphField);
        var (fields, tensors, byName, nodes, outputs) = (graph.Fields, graph.Tensors, graph.ByName, graph.Nodes, graph.Outputs);
        var targets = graph.MatMulWeights();
        // Those with their input's ranges are evened out; of the rest, a weight narrowing its input stays float.
        var smoothed = new Dictionary<string, float[]>();
        foreach (var t in targets)
        {
            if (ranges.TryGetValue(t, out var range) && range.Length == byName[t].Dims[0])
            {
                smoothed[t] = range;
            }
        }

        targets.RemoveWhere(t => !smoothed.ContainsKey(t) && !byName[t].Quantizable);

        // A table is quantized when every node that reads it is a Gather of rows (no attribute: axis 0) reading it as its data.
        var tables = new HashSet<string>(nodes.Values.Where(n => n.OpType == "Gather" && !n.Attributed && n.Inputs.Count == 2 && byName.TryGetValue(n.Inputs[0], out var w) && w.IsTable).Select(n => n.Inputs[0]));
        tables.ExceptWith(nodes.Values.Where(n => n.OpType != "Gather" || n.Attributed).SelectMany(n => n.Inputs));
        tables.ExceptWith(nodes.Values.Where(n => n.OpType == "Gather").SelectMany(n => n.Inputs.Skip(1)));
        tables.ExceptWith(outputs);
        var names = new HashSet<string>(byName.Keys.Concat(nodes.Values.SelectMany(n => n.Outputs.Concat(n.Inputs))));
        var added = targets.Concat(tables).SelectMany(t => new[] { t + "_int8", t + "_scale", t + "_smooth" })
            .Concat(nodes.Values.Where(n => n.OpType == "MatMul" && n.Inputs.Count == 2 && smoothed.ContainsKey(n.Inputs[1])).SelectMany(n => n.Outputs).Select(o => o + "_smoothed_input"))
            .Concat(nodes.Values.Where(n => n.OpType == "Gather" && tables.Contains(n.Inputs[0])).SelectMany(n => n.Outputs).SelectMany(o => new[] { o + "_int8", o + "_scale", o + "_float" }));
        if (added.Append(MaskName).FirstOrDefault(names.Contains) is { } taken)
        {
            throw new InvalidDataException($"The model already has a value named {taken}: the quantized weights need that name.");
        }

        var fusion = Fusion.Plan(model, graph, targets);
        var output = new MemoryStream();
        var first = true;
        foreach (var f in fields)
        {
            if (f.Number == GraphNode && first)
            {
                first = false;
                foreach (var prologue in fusion.Prologue)
                {
                    WriteBytes(output, GraphNode, prologue);
                }
            }

            if (f.Number == GraphNode && fusion.Removed.Contains(f.Start))
            {
                continue;
            }

            if (f.Number == GraphNode && fusion.Replaced.TryGetValue(f.Start, out var replacement))
            {
                WriteBytes(output, GraphNode, replacement);
            }
            else if (f.Number == GraphNode && nodes[f.Start] is var node && node.OpType == "MatMul" && targets.Contains(node.Inputs[1]))
            {
                var rewritten = new MemoryStream();
                foreach (var inner in Fields(model, f.ValueStart, f.End).Where(g => g.Number is not (NodeInput or NodeOutput or NodeOpType or NodeDomain)))
                {
                    rewritten.Write(model, inner.Start, inner.End - inner.Start);
                }

                var input0 = node.Inputs[0];
                if (smoothed.ContainsKey(node.Inputs[1]))
                {
                    // Named after the MatMul's output, which is unique: a weight read by two MatMuls evens out both inputs.
                    input0 = node.Outputs[0] + "_smoothed_input";
                    WriteBytes(output, GraphNode, Node("Mul", [node.Inputs[0], node.Inputs[1] + "_smooth"], input0, []));
                }

                // The bias the export adds next, when nothing else reads the product, is added by the multiplication itself.
                var folded = fusion.Folded.TryGetValue(f.Start, out var bias);
                var inputs = folded ? new[] { input0, node.Inputs[1] + "_int8", node.Inputs[1] + "_scale", "", bias.Bias } : new[] { input0, node.Inputs[1] + "_int8", node.Inputs[1] + "_scale" };
                foreach (var input in inputs)
                {
                    WriteBytes(rewritten, NodeInput, Encoding.UTF8.GetBytes(input));
                }

                WriteBytes(rewritten, NodeOutput, Encoding.UTF8.GetBytes(folded ? bias.Output : node.Outputs[0]));

                WriteBytes(rewritten, NodeOpType, Encoding.UTF8.GetBytes("DynamicQuantizeMatMul"));
                WriteBytes(rewritten, NodeDomain, Encoding.UTF8.GetBytes("com.microsoft"));
                WriteBytes(output, GraphNode, rewritten.ToArray());
            }
            else if (f.Number == GraphNode && nodes[f.Start] is var gather && gather.OpType == "Gather" && tables.Contains(gather.Inputs[0]))
            {
                // Gather(table, ids) -> Mul(Cast(Gather(table_int8, ids)), Gather(table_scale, ids)), under the same output.
                var result = gather.Outputs.Single();
                WriteBytes(output, GraphNode, Node("Gather", [gather.Inputs[0] + "_int8", gather.Inputs[1]], result + "_int8", []));
                WriteBytes(output, GraphNode, Node("Gather", [gather.Inputs[0] + "_scale", gather.Inputs[1]], result + "_scale", []));
                WriteBytes(output, GraphNode, Node("Cast", [result + "_int8"], result + "_float", [IntAttributeOf("to", FloatType)]));
                WriteBytes(output, GraphNode, Node("Mul", [result + "_float", result + "_scale"], result, []));
            }
            else if (f.Number == GraphInitializer && tensors[f.Start] is var table && tables.Contains(table.Name))
            {
                var (rows, scales) = table.Quantize(model, TableLevels, byRow: true);
                WriteBytes(output, GraphInitializer, Tensor.Encode(table.Name + "_int8", Int8Type, table.Dims, rows));
                WriteBytes(output, GraphInitializer, Tensor.Encode(table.Name + "_scale", FloatType, [table.Dims[0], 1], scales));
            }
            else if (f.Number == GraphInitializer && tensors[f.Start] is var tensor && targets.Contains(tensor.Name))
            {
                var factors = smoothed.TryGetValue(tensor.Name, out var range) ? tensor.Smoothing(model, range) : null;
                var (weights, scales) = tensor.Quantize(model, WeightLevels, byRow: false, factors);
                if (factors is not null)
                {
                    var inverse = factors.Select(f => 1f / f).ToArray();
                    var bytes = new byte[inverse.Length * 4];
                    Buffer.BlockCopy(inverse, 0, bytes, 0, bytes.Length);
                    WriteBytes(output, GraphInitializer, Tensor.Encode(tensor.Name + "_smooth", FloatType, [tensor.Dims[0]], bytes));
                }

                WriteBytes(output, GraphInitializer, Tensor.Encode(tensor.Name + "_int8", Int8Type, tensor.Dims, weights));
                WriteBytes(output, GraphInitializer, Tensor.Encode(tensor.Name + "_scale", FloatType, [tensor.Dims[1]], scales));
            }
            else if (f.Number == GraphInput && Strings(model, f, 1).FirstOrDefault() is { } input && (targets.Contains(input) || tables.Contains(input)))
            {
                // Old exports list initializers among the inputs too: the float weight is gone.
            }
            else
            {
                output.Write(model, f.Start, f.End - f.Start);
            }
        }

        return (Prune(output.ToArray()), targets.Count + tables.Count, smoothed.Count);
    }

    /// <summary>A node of the default domain (or <paramref name="domain"/>), unnamed (names are optional), with the given attributes (encoded).</summary>
    private static byte[] Node(string opType, string[] inputs, string output, List<byte[]> attributes, string? domain = null)
    {
        var node = new MemoryStream();
        foreach (var input in inputs)
        {
            WriteBytes(node, NodeInput, Encoding.UTF8.GetBytes(input));
        }

        WriteBytes(node, NodeOutput, Encoding.UTF8.GetBytes(output));
        WriteBytes(node, NodeOpType, Encoding.UTF8.GetBytes(opType));
        foreach (var attribute in attributes)
        {
            node.Write(attribute, 0, attribute.Length);
        }

        if (domain is not null)
        {
            WriteBytes(node, NodeDomain, Encoding.UTF8.GetBytes(domain));
        }

        return node.ToArray();
    }

    /// <summary>A float attribute, encoded as a node's field.</summary>
    private static byte[] FloatAttributeOf(string name, float value)
    {
        var attribute = new MemoryStream();
        WriteBytes(attribute, AttributeName, Encoding.UTF8.GetBytes(name));
        WriteVarint(attribute, (AttributeFloat << 3) | 5);
        attribute.Write(BitConverter.GetBytes(value), 0, 4);
        WriteVarint(attribute, (AttributeType << 3) | 0);
        WriteVarint(attribute, FloatAttribute);
        var field = new MemoryStream();
        WriteBytes(field, NodeAttribute, attribute.ToArray());
        return field.ToArray();
    }

    /// <summary>The attention mask as ONNX Runtime's attention takes it (32-bit integers), cast once for every layer.</summary>
    private const string MaskName = "attention_mask_int32";

    /// <summary>
    /// What the rewrite changes beyond the weights, so that a query runs fewer, larger operations (a query is a dozen
    /// tokens: ONNX Runtime's cost per operation is a good part of the run):
    /// <list type="bullet">
    /// <item>Each self-attention of the BERT export (per head: reshape and transpose Q, K and V, multiply Q by K's
    /// transpose, scale, add the mask, softmax, multiply by V, transpose and reshape back: 12 operations and the shape
    /// arithmetic feeding the reshapes) becomes one <c>com.microsoft.MultiHeadAttention</c> with the export's head count,
    /// scale and mask (the mask's values taken as 1 to keep and 0 to leave out, as the export's arithmetic does).</item>
    /// <item>A projection's bias, added by the export after the product, is added by <c>DynamicQuantizeMatMul</c>.</item>
    /// </list>
    /// Nodes no longer needed are left for <see cref="Prune"/>. A pattern that does not match exactly is left as it is.
    /// </summary>
    private sealed class Fusion
    {
        public readonly List<byte[]> Prologue = new();
        public readonly Dictionary<int, byte[]> Replaced = new();
        public readonly HashSet<int> Removed = new();
        public readonly Dictionary<int, (string Bias, string Output)> Folded = new();
        public int Attentions;

        public static Fusion Plan(byte[] model, Graph graph, HashSet<string> targets)
        {
            var fusion = new Fusion();
            var nodes = graph.Nodes;
            var fieldAt = graph.Fields.Where(f => f.Number == GraphNode).ToDictionary(f => f.Start);
            var producer = new Dictionary<string, int>();
            var consumers = new Dictionary<string, List<int>>();
            foreach (var pair in nodes)
            {
                foreach (var o in pair.Value.Outputs)
                {
                    producer[o] = pair.Key;
                }

                foreach (var i in pair.Value.Inputs)
                {
                    if (!consumers.TryGetValue(i, out var list))
                    {
                        consumers[i] = list = new List<int>();
                    }

                    list.Add(pair.Key);
                }
            }

            int? From(string value, string opType) => producer.TryGetValue(value, out var at) && nodes[at].OpType == opType ? at : null;
            int? Only(string value) => consumers.TryGetValue(value, out var uses) && uses.Count == 1 && !graph.Outputs.Contains(value) ? uses[0] : null;
            List<long> Perm(int at) => Ints(model, fieldAt[at], "perm");

            // The Reshape that alone reads a value besides Shapes (the export computes the new shape from the old).
            // It must merge the heads back into [batch, tokens, hidden], as MultiHeadAttention's output is: a shape of three.
            int? ReshapedOnly(string value)
            {
                var uses = consumers.TryGetValue(value, out var list) ? list.Where(u => nodes[u].OpType != "Shape").ToList() : [];
                if (uses.Count != 1 || nodes[uses[0]].OpType != "Reshape" || nodes[uses[0]].Inputs[0] != value || graph.Outputs.Contains(value))
                {
                    return null;
                }

                var shape = nodes[uses[0]].Inputs[1];
                return Values(shape) is { Length: 3 } || (From(shape, "Concat") is { } concat && nodes[concat].Inputs.Count == 3) ? uses[0] : null;
            }

            // A constant's values: an initializer, or a Constant node's tensor.
            double[]? Values(string name)
            {
                if (graph.ByName.TryGetValue(name, out var tensor))
                {
                    return tensor.Numbers(model);
                }

                if (From(name, "Constant") is { } at)
                {
                    var value = Fields(model, fieldAt[at].ValueStart, fieldAt[at].End).Where(g => g.Number == NodeAttribute)
                        .Select(g => Fields(model, g.ValueStart, g.End)).FirstOrDefault(a => a.Any(h => h.Number == AttributeName && Encoding.UTF8.GetString(model, h.ValueStart, h.End - h.ValueStart) == "value"));
                    var t = value?.FirstOrDefault(h => h.Number == AttributeTensor);
                    return t is { } field && field.Number == AttributeTensor ? Tensor.Read(model, field).Numbers(model) : null;
                }

                return null;
            }

            // The graph inputs a value is computed from.
            HashSet<string> Sources(string value)
            {
                var found = new HashSet<string>();
                var seen = new HashSet<string>();
                var pending = new Stack<string>();
                pending.Push(value);
                while (pending.Count > 0)
                {
                    var v = pending.Pop();
                    if (v.Length == 0 || !seen.Add(v) || graph.ByName.ContainsKey(v))
                    {
                        continue;
                    }

                    if (producer.TryGetValue(v, out var at))
                    {
                        foreach (var i in nodes[at].Inputs)
                        {
                            pending.Push(i);
                        }
                    }
                    else
                    {
                        found.Add(v);
                    }
                }

                return found;
            }

            // 1. A projection's bias.
            foreach (var pair in nodes.Where(n => n.Value.OpType == "MatMul" && n.Value.Inputs.Count == 2 && targets.Contains(n.Value.Inputs[1])))
            {
                if (Only(pair.Value.Outputs[0]) is { } use && nodes[use] is { OpType: "Add" } add && add.Inputs.Count == 2 && !add.Attributed)
                {
                    var bias = add.Inputs[0] == pair.Value.Outputs[0] ? add.Inputs[1] : add.Inputs[0];
                    if (graph.ByName.TryGetValue(bias, out var b) && b.FloatVector(graph.ByName[pair.Value.Inputs[1]].Dims[1]))
                    {
                        fusion.Folded[pair.Key] = (bias, add.Outputs[0]);
                        fusion.Removed.Add(use);
                    }
                }
            }

            // 2. Self-attention, found from its softmax: Softmax(Q·Kᵀ scaled + mask) · V.
            // Q (and V): Transpose(Reshape(q, [batch, tokens, heads, size]), [0, 2, 1, 3]); K: the same with [0, 2, 3, 1].
            int? Heads(int transpose, long[] perm)
            {
                if (!nodes[transpose].Outputs.All(o => Only(o) is not null) || !Perm(transpose).SequenceEqual(perm)
                    || From(nodes[transpose].Inputs[0], "Reshape") is not { } reshape || Only(nodes[reshape].Outputs[0]) != transpose)
                {
                    return null;
                }

                // The shape: a constant, or the export's Concat of the batch and tokens (taken from the input) with constants.
                var shape = nodes[reshape].Inputs[1];
                var values = Values(shape) ?? (From(shape, "Concat") is { } concat && nodes[concat].Inputs.Count == 4 ? Values(nodes[concat].Inputs[2]) is { Length: 1 } h && Values(nodes[concat].Inputs[3]) is { Length: 1 } s ? new[] { 0, 0, h[0], s[0] } : null : null);
                return values is { Length: 4 } && values[2] >= 1 ? (int)values[2] : null;
            }

            foreach (var pair in nodes.Where(n => n.Value.OpType == "Softmax").ToList())
            {
                var softmax = pair.Value;
                if (From(softmax.Inputs[0], "Add") is not { } maskAdd || Only(nodes[maskAdd].Outputs[0]) != pair.Key)
                {
                    continue;
                }

                // The scores (Q·Kᵀ divided or multiplied by a constant) and the mask, in either order.
                int? scaled = null;
                var mask = "";
                var scale = 0.0;
                foreach (var (scores, other) in new[] { (nodes[maskAdd].Inputs[0], nodes[maskAdd].Inputs[1]), (nodes[maskAdd].Inputs[1], nodes[maskAdd].Inputs[0]) })
                {
                    if (producer.TryGetValue(scores, out var at) && nodes[at].OpType is "Div" or "Mul" && Only(scores) == maskAdd
                        && From(nodes[at].Inputs[0], "MatMul") is { } product && !graph.ByName.ContainsKey(nodes[product].Inputs[1])
                        && Values(nodes[at].Inputs[1]) is { Length: 1 } c && c[0] > 0)
                    {
                        (scaled, mask, scale) = (at, other, nodes[at].OpType == "Div" ? 1 / c[0] : c[0]);
                        break;
                    }
                }

                if (scaled is null || !Sources(mask).SetEquals(["attention_mask"]))
                {
                    continue;
                }

                var qk = producer[nodes[scaled.Value].Inputs[0]];
                if (Only(nodes[qk].Outputs[0]) != scaled || From(nodes[qk].Inputs[0], "Transpose") is not { } qt || From(nodes[qk].Inputs[1], "Transpose") is not { } kt
                    || Only(softmax.Outputs[0]) is not { } pv || nodes[pv].OpType != "MatMul" || nodes[pv].Inputs[0] != softmax.Outputs[0]
                    || From(nodes[pv].Inputs[1], "Transpose") is not { } vt || Only(nodes[pv].Outputs[0]) is not { } back || nodes[back].OpType != "Transpose"
                    || !Perm(back).SequenceEqual([0, 2, 1, 3]) || ReshapedOnly(nodes[back].Outputs[0]) is not { } merge)
                {
                    continue;
                }

                var heads = new[] { Heads(qt, [0, 2, 1, 3]), Heads(kt, [0, 2, 3, 1]), Heads(vt, [0, 2, 1, 3]) };
                if (heads[0] is not { } count || heads.Any(h => h != count))
                {
                    continue;
                }

                string Projected(int transpose) => nodes[producer[nodes[transpose].Inputs[0]]].Inputs[0];
                fusion.Replaced[merge] = Node("MultiHeadAttention", [Projected(qt), Projected(kt), Projected(vt), "", MaskName], nodes[merge].Outputs[0],
                    [IntAttributeOf("num_heads", count), FloatAttributeOf("scale", (float)scale)], "com.microsoft");
                fusion.Attentions++;
            }

            if (fusion.Attentions > 0)
            {
                fusion.Prologue.Add(Node("Cast", ["attention_mask"], MaskName, [IntAttributeOf("to", Int32Type)]));
            }

            return fusion;
        }
    }

    /// <summary>
    /// <paramref name="graph"/> without the nodes no output needs, the initializers no node reads and the outputs other
    /// than those Engram reads, when the model has them (<c>last_hidden_state</c>, <c>sentence_embedding</c>; a BERT
    /// export's pooler output is not what sentence-transformers pool, and ONNX Runtime computes every output's nodes on
    /// every run).
    /// </summary>
    private static byte[] Prune(byte[] graph)
    {
        var fields = Fields(graph, 0, graph.Length);
        var outputs = fields.Where(f => f.Number == GraphOutput).Select(f => Strings(graph, f, 1).FirstOrDefault() ?? "").ToList();
        // What OnnxEmbeddingGenerator reads: a pooled sentence_embedding, else the token states.
        var read = outputs.Where(o => o is "last_hidden_state" or "sentence_embedding").ToList();
        var kept = new HashSet<string>(read.Count > 0 ? read : outputs);
        var nodes = fields.Where(f => f.Number == GraphNode).Select(f => (Field: f, Inputs: Strings(graph, f, NodeInput), Outputs: Strings(graph, f, NodeOutput))).ToList();
        var live = new HashSet<string>(kept);
        var needed = new HashSet<int>();
        for (var changed = true; changed;)
        {
            changed = false;
            foreach (var node in Enumerable.Reverse(nodes))
            {
                if (!needed.Contains(node.Field.Start) && node.Outputs.Any(live.Contains))
                {
                    needed.Add(node.Field.Start);
                    live.UnionWith(node.Inputs);
                    changed = true;
                }
            }
        }

        var produced = new HashSet<string>(nodes.Where(n => needed.Contains(n.Field.Start)).SelectMany(n => n.Outputs));
        var initializers = new HashSet<string>(fields.Where(f => f.Number == GraphInitializer).Select(f => Tensor.Read(graph, f).Name));
        var output = new MemoryStream();
        foreach (var f in fields)
        {
            var keep = f.Number switch
            {
                GraphNode => needed.Contains(f.Start),
                GraphInitializer => live.Contains(Tensor.Read(graph, f).Name),
                GraphOutput => kept.Contains(Strings(graph, f, 1).FirstOrDefault() ?? ""),
                // An input that is an initializer (old exports) goes with it; the model's own inputs stay, read or not.
                GraphInput => Strings(graph, f, 1).FirstOrDefault() is not { } name || !initializers.Contains(name) || live.Contains(name),
                GraphValueInfo => Strings(graph, f, 1).FirstOrDefault() is { } info && produced.Contains(info),
                _ => true,
            };
            if (keep)
            {
                output.Write(graph, f.Start, f.End - f.Start);
            }
        }

        return output.ToArray();
    }

    /// <summary>An integer attribute, encoded as a node's field.</summary>
    private static byte[] IntAttributeOf(string name, long value)
    {
        var attribute = new MemoryStream();
        WriteBytes(attribute, AttributeName, Encoding.UTF8.GetBytes(name));
        WriteVarint(attribute, (AttributeInt << 3) | 0);
        WriteVarint(attribute, (ulong)value);
        WriteVarint(attribute, (AttributeType << 3) | 0);
        WriteVarint(attribute, IntAttribute);
        var field = new MemoryStream();
        WriteBytes(field, NodeAttribute, attribute.ToArray());
        return field.ToArray();
    }

    /// <summary>A graph's fields, initializers (by where they start and by name), nodes (by where they start) and outputs.</summary>
    private sealed class Graph
    {
        public Field Field;
        public List<Field> Fields = new();
        public Dictionary<int, Tensor> Tensors = new();
        public Dictionary<string, Tensor> ByName = new();
        public Dictionary<int, (List<string> Inputs, string OpType, List<string> Outputs, bool Attributed)> Nodes = new();
        public HashSet<string> Outputs = new();

        public static Graph Read(byte[] model, Field field)
        {
            var g = new Graph { Field = field, Fields = Fields(model, field.ValueStart, field.End) };
            g.Tensors = g.Fields.Where(f => f.Number == GraphInitializer).ToDictionary(f => f.Start, f => Tensor.Read(model, f));
            g.ByName = g.Tensors.Values.ToDictionary(t => t.Name);
            g.Nodes = g.Fields.Where(f => f.Number == GraphNode).ToDictionary(f => f.Start, f => (Inputs: Strings(model, f, NodeInput), OpType: Strings(model, f, NodeOpType).FirstOrDefault() ?? "",
                Outputs: Strings(model, f, NodeOutput), Attributed: Fields(model, f.ValueStart, f.End).Any(h => h.Number == NodeAttribute)));
            g.Outputs = new HashSet<string>(g.Fields.Where(f => f.Number == GraphOutput).Select(f => Strings(model, f, 1).FirstOrDefault() ?? ""));
            return g;
        }

        /// <summary>The float weights that only MatMuls read, each as its second input, and that are not outputs.</summary>
        public HashSet<string> MatMulWeights()
        {
            var weights = new HashSet<string>(Nodes.Values.Where(n => n.OpType == "MatMul" && n.Inputs.Count == 2 && ByName.TryGetValue(n.Inputs[1], out var w) && w.FloatMatrix).Select(n => n.Inputs[1]));
            weights.ExceptWith(Nodes.Values.Where(n => n.OpType != "MatMul").SelectMany(n => n.Inputs));
            weights.ExceptWith(Nodes.Values.Where(n => n.OpType == "MatMul").SelectMany(n => n.Inputs.Take(1)));
            weights.ExceptWith(Outputs);
            return weights;
        }
    }

    private sealed class Tensor
    {
        public string Name = "";
        public int DataType;
        public List<long> Dims = new();

        /// <summary>Where its floats are in the model (raw data or packed float data), read only when it is quantized.</summary>
        public int ValuesStart, ValuesLength;

        /// <summary>Values not stored as raw or packed floats (a small constant's).</summary>
        public List<double> Listed = new();

        public bool FloatMatrix => DataType == FloatType && Dims.Count == 2 && ValuesLength == Dims[0] * Dims[1] * 4;

        public bool FloatVector(long length) => DataType == FloatType && Dims.Count == 1 && Dims[0] == length && ValuesLength == length * 4;

        /// <summary>A small constant's values (floats or 64-bit integers), or null for another type.</summary>
        public double[]? Numbers(byte[] model) => (DataType, ValuesLength) switch
        {
            (FloatType, > 0) => Enumerable.Range(0, ValuesLength / 4).Select(i => (double)BitConverter.ToSingle(model, ValuesStart + i * 4)).ToArray(),
            (Int64Type, > 0) => Enumerable.Range(0, ValuesLength / 8).Select(i => (double)BitConverter.ToInt64(model, ValuesStart + i * 8)).ToArray(),
            (FloatType or Int64Type, 0) => Listed.ToArray(),
            _ => null,
        };

        public bool Quantizable => FloatMatrix && Dims[0] <= Dims[1];

        public bool IsTable => FloatMatrix && Dims[0] >= MinTableRows;

        public static Tensor Read(byte[] data, Field field)
        {
            var t = new Tensor();
            foreach (var f in Fields(data, field.ValueStart, field.End))
            {
                switch (f.Number)
                {
                    case TensorName:
                        t.Name = Encoding.UTF8.GetString(data, f.ValueStart, f.End - f.ValueStart);
                        break;
                    case TensorDataType:
                        t.DataType = (int)f.Varint;
                        break;
                    case TensorDims:
                        t.Dims.AddRange(Varints(data, f));
                        break;
                    case TensorRawData:
                    case TensorFloatData when f.Wire == 2:
                        (t.ValuesStart, t.ValuesLength) = (f.ValueStart, f.End - f.ValueStart);
                        break;
                    case TensorFloatData:
                        t.Listed.Add(BitConverter.ToSingle(data, f.ValueStart));
                        break;
                    case TensorInt64Data:
                        t.Listed.AddRange(Varints(data, f).Select(v => (double)v));
                        break;
                }
            }

            return t;
        }

        /// <summary>
        /// Its values as signed bytes, symmetric (<c>round(v / scale)</c> within ±<paramref name="levels"/>), one scale per
        /// column, or per row when <paramref name="byRow"/>: <c>max|v|</c> of the group over <paramref name="levels"/>.
        /// </summary>
        public (byte[] Values, byte[] Scales) Quantize(byte[] model, int levels, bool byRow, float[]? rowFactors = null)
        {
            int rows = (int)Dims[0], columns = (int)Dims[1];
            var values = Values(model);
            for (var i = 0; rowFactors is not null && i < values.Length; i++)
            {
                values[i] *= rowFactors[i / columns];
            }

            var scales = new float[byRow ? rows : columns];
            for (var i = 0; i < values.Length; i++)
            {
                var g = byRow ? i / columns : i % columns;
                scales[g] = Math.Max(scales[g], Math.Abs(values[i]));
            }

            for (var g = 0; g < scales.Length; g++)
            {
                scales[g] = scales[g] > 0 ? scales[g] / levels : 1f;
            }

            var quantized = new byte[values.Length];
            for (var i = 0; i < values.Length; i++)
            {
                var scale = scales[byRow ? i / columns : i % columns];
                quantized[i] = unchecked((byte)(sbyte)Math.Max(-levels, Math.Min(levels, Math.Round(values[i] / scale))));
            }

            var scaleBytes = new byte[scales.Length * 4];
            Buffer.BlockCopy(scales, 0, scaleBytes, 0, scaleBytes.Length);
            return (quantized, scaleBytes);
        }

        private float[] Values(byte[] model)
        {
            var values = new float[Dims[0] * Dims[1]];
            Buffer.BlockCopy(model, ValuesStart, values, 0, ValuesLength);
            return values;
        }

        /// <summary>SmoothQuant's factor for each row: <c>max|x_j|^a / max|W[j, :]|^(1 - a)</c>, a = <see cref="Migration"/>.</summary>
        public float[] Smoothing(byte[] model, float[] range)
        {
            int rows = (int)Dims[0], columns = (int)Dims[1];
            var values = Values(model);
            var factors = new float[rows];
            for (var j = 0; j < rows; j++)
            {
                var w = 0f;
                for (var c = 0; c < columns; c++)
                {
                    w = Math.Max(w, Math.Abs(values[j * columns + c]));
                }

                factors[j] = range[j] > 0 && w > 0 ? (float)Math.Max(1e-3, Math.Pow(range[j], Migration) / Math.Pow(w, 1 - Migration)) : 1f;
            }

            return factors;
        }

        public static byte[] Encode(string name, int dataType, List<long> dims, byte[] raw)
        {
            var s = new MemoryStream();
            foreach (var d in dims)
            {
                WriteVarint(s, (TensorDims << 3) | 0);
                WriteVarint(s, (ulong)d);
            }

            WriteVarint(s, (TensorDataType << 3) | 0);
            WriteVarint(s, (ulong)dataType);
            WriteBytes(s, TensorName, Encoding.UTF8.GetBytes(name));
            WriteBytes(s, TensorRawData, raw);
            return s.ToArray();
        }
    }

    /// <summary>A field of a protobuf message: its number, wire type, where it starts (its tag), its value and its end.</summary>
    private readonly struct Field
    {
        public Field(int number, int wire, int start, int valueStart, int end, ulong varint) =>
            (Number, Wire, Start, ValueStart, End, Varint) = (number, wire, start, valueStart, end, varint);

        public int Number { get; }

        public int Wire { get; }

        public int Start { get; }

        public int ValueStart { get; }

        public int End { get; }

        public ulong Varint { get; }
    }

    private static List<Field> Fields(byte[] data, int start, int end)
    {
        var fields = new List<Field>();
        var p = start;
        while (p < end)
        {
            var at = p;
            var tag = ReadVarint(data, ref p);
            int number = (int)(tag >> 3), wire = (int)(tag & 7);
            switch (wire)
            {
                case 0:
                    var value = ReadVarint(data, ref p);
                    fields.Add(new Field(number, wire, at, at, p, value));
                    break;
                case 1:
                    fields.Add(new Field(number, wire, at, p, p + 8, 0));
                    p += 8;
                    break;
                case 2:
                    var length = (int)ReadVarint(data, ref p);
                    fields.Add(new Field(number, wire, at, p, p + length, 0));
                    p += length;
                    break;
                case 5:
                    fields.Add(new Field(number, wire, at, p, p + 4, 0));
                    p += 4;
                    break;
                default:
                    throw new InvalidDataException($"Unsupported protobuf wire type {wire} at byte {at}.");
            }
        }

        return fields;
    }

    /// <summary>A node's integer list attribute (e.g. a Transpose's <c>perm</c>), empty when it has none.</summary>
    private static List<long> Ints(byte[] data, Field node, string name)
    {
        var values = new List<long>();
        foreach (var attribute in Fields(data, node.ValueStart, node.End).Where(f => f.Number == NodeAttribute).Select(f => Fields(data, f.ValueStart, f.End)))
        {
            if (!attribute.Any(h => h.Number == AttributeName && Encoding.UTF8.GetString(data, h.ValueStart, h.End - h.ValueStart) == name))
            {
                continue;
            }

            foreach (var h in attribute.Where(h => h.Number == AttributeInts))
            {
                values.AddRange(Varints(data, h));
            }
        }

        return values;
    }

    /// <summary>A repeated integer field's values: one per field as written unpacked, or all of a packed one.</summary>
    private static List<long> Varints(byte[] data, Field field)
    {
        if (field.Wire == 0)
        {
            return [(long)field.Varint];
        }

        var values = new List<long>();
        for (var p = field.ValueStart; p < field.End;)
        {
            values.Add((long)ReadVarint(data, ref p));
        }

        return values;
    }

    private static List<string> Strings(byte[] data, Field message, int number) =>
        Fields(data, message.ValueStart, message.End).Where(f => f.Number == number && f.Wire == 2)
            .Select(f => Encoding.UTF8.GetString(data, f.ValueStart, f.End - f.ValueStart)).ToList();

    private static ulong ReadVarint(byte[] data, ref int p)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = data[p++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
    }

    private static void WriteVarint(Stream s, ulong value)
    {
        while (value >= 0x80)
        {
            s.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }

        s.WriteByte((byte)value);
    }

    private static void WriteBytes(Stream s, int number, byte[] bytes)
    {
        WriteVarint(s, ((ulong)number << 3) | 2);
        WriteVarint(s, (ulong)bytes.Length);
        s.Write(bytes, 0, bytes.Length);
    }
}
