// An MSBuild task, compiled by Model.targets (RoslynCodeTaskFactory, against .NET Standard), not part of Engram.Embeddings.
#nullable enable
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
/// <item>A weight narrowing its input (more rows than columns: the feed-forward layers' down projections, whose inputs
/// after GELU carry outliers one scale per run would crush) stays float.</item>
/// <item>The vocabulary's table (a <c>Gather</c> of rows by token id from a float initializer of at least
/// <see cref="MinTableRows"/> rows) is stored as bytes too, one scale per row (<c>±127</c> levels): the rows a text
/// gathers are widened back to floats (<c>Cast</c>, <c>Mul</c> by their scales), so no integer arithmetic is involved.
/// It was two thirds of the file and of the memory the model takes.</item>
/// <item>Read and written at the protobuf wire level, so the build needs no ONNX tooling: every field it does not change
/// is copied byte for byte.</item>
/// </list>
/// What it writes is part of the shipped model's identity (<c>EmbeddingProvider.DefaultModelIdentity</c>): change it
/// and that name must change too, or stores would mix vectors of two models under one name.
/// </summary>
public sealed class QuantizeWeights : Task
{
    [Required]
    public string Source { get; set; } = "";

    [Required]
    public string Destination { get; set; } = "";

    // ONNX field numbers (onnx.proto).
    private const int ModelOpsetImport = 8, ModelGraph = 7;
    private const int GraphNode = 1, GraphInitializer = 5, GraphInput = 11, GraphOutput = 12;
    private const int NodeInput = 1, NodeOutput = 2, NodeOpType = 4, NodeAttribute = 5, NodeDomain = 7;
    private const int AttributeName = 1, AttributeInt = 3, AttributeType = 20, IntAttribute = 2;
    private const int TensorDims = 1, TensorDataType = 2, TensorFloatData = 4, TensorName = 8, TensorRawData = 9;
    private const int FloatType = 1, Int8Type = 3;

    /// <summary>The largest weight level: 7 bits, so that no CPU's kernel saturates (see the summary).</summary>
    private const int WeightLevels = 63;

    /// <summary>The levels of a table's rows: nothing multiplies them as bytes, so all eight bits serve.</summary>
    private const int TableLevels = 127;

    /// <summary>A gathered table this large is a vocabulary's (position and segment tables are a few hundred rows).</summary>
    private const int MinTableRows = 4096;

    public override bool Execute()
    {
        var model = File.ReadAllBytes(Source);
        var top = Fields(model, 0, model.Length);
        var graphField = top.Single(f => f.Number == ModelGraph);
        var (graph, quantized) = Rewrite(model, graphField);
        if (quantized == 0)
        {
            Log.LogError("No MatMul by a constant float weight and no vocabulary table in " + Source + ": nothing to quantize.");
            return false;
        }

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

    private static (byte[] Graph, int Quantized) Rewrite(byte[] model, Field graph)
    {
        var fields = Fields(model, graph.ValueStart, graph.End);
        // Initializers and nodes by where they start in the graph.
        var tensors = fields.Where(f => f.Number == GraphInitializer).ToDictionary(f => f.Start, f => Tensor.Read(model, f));
        var byName = tensors.Values.ToDictionary(t => t.Name);
        var nodes = fields.Where(f => f.Number == GraphNode).ToDictionary(f => f.Start, f => (Inputs: Strings(model, f, NodeInput), OpType: Strings(model, f, NodeOpType).FirstOrDefault(),
            Outputs: Strings(model, f, NodeOutput), Attributed: Fields(model, f.ValueStart, f.End).Any(g => g.Number == NodeAttribute)));

        // A weight is quantized when every node that reads it is a MatMul reading it as its second input.
        var outputs = new HashSet<string>(fields.Where(f => f.Number == GraphOutput).Select(f => Strings(model, f, 1).FirstOrDefault() ?? ""));
        var targets = new HashSet<string>(nodes.Values.Where(n => n.OpType == "MatMul" && n.Inputs.Count == 2 && byName.TryGetValue(n.Inputs[1], out var w) && w.Quantizable).Select(n => n.Inputs[1]));
        targets.ExceptWith(nodes.Values.Where(n => n.OpType != "MatMul").SelectMany(n => n.Inputs));
        targets.ExceptWith(nodes.Values.Where(n => n.OpType == "MatMul").SelectMany(n => n.Inputs.Take(1)));
        targets.ExceptWith(outputs);

        // A table is quantized when every node that reads it is a Gather of rows (no attribute: axis 0) reading it as its data.
        var tables = new HashSet<string>(nodes.Values.Where(n => n.OpType == "Gather" && !n.Attributed && n.Inputs.Count == 2 && byName.TryGetValue(n.Inputs[0], out var w) && w.IsTable).Select(n => n.Inputs[0]));
        tables.ExceptWith(nodes.Values.Where(n => n.OpType != "Gather" || n.Attributed).SelectMany(n => n.Inputs));
        tables.ExceptWith(nodes.Values.Where(n => n.OpType == "Gather").SelectMany(n => n.Inputs.Skip(1)));
        tables.ExceptWith(outputs);
        var names = new HashSet<string>(byName.Keys.Concat(nodes.Values.SelectMany(n => n.Outputs.Concat(n.Inputs))));
        var added = targets.Concat(tables).SelectMany(t => new[] { t + "_int8", t + "_scale" })
            .Concat(nodes.Values.Where(n => n.OpType == "Gather" && tables.Contains(n.Inputs[0])).SelectMany(n => n.Outputs).SelectMany(o => new[] { o + "_int8", o + "_scale", o + "_float" }));
        if (added.FirstOrDefault(names.Contains) is { } taken)
        {
            throw new InvalidDataException($"The model already has a value named {taken}: the quantized weights need that name.");
        }

        var output = new MemoryStream();
        foreach (var f in fields)
        {
            if (f.Number == GraphNode && nodes[f.Start] is var node && node.OpType == "MatMul" && targets.Contains(node.Inputs[1]))
            {
                var rewritten = new MemoryStream();
                foreach (var inner in Fields(model, f.ValueStart, f.End).Where(g => g.Number is not (NodeInput or NodeOpType or NodeDomain)))
                {
                    rewritten.Write(model, inner.Start, inner.End - inner.Start);
                }

                foreach (var input in new[] { node.Inputs[0], node.Inputs[1] + "_int8", node.Inputs[1] + "_scale" })
                {
                    WriteBytes(rewritten, NodeInput, Encoding.UTF8.GetBytes(input));
                }

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
                var (weights, scales) = tensor.Quantize(model, WeightLevels, byRow: false);
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

        return (output.ToArray(), targets.Count + tables.Count);
    }

    /// <summary>A node of the default domain, unnamed (names are optional), with the given attributes (encoded).</summary>
    private static byte[] Node(string opType, string[] inputs, string output, List<byte[]> attributes)
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

        return node.ToArray();
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

    private sealed class Tensor
    {
        public string Name = "";
        public int DataType;
        public List<long> Dims = new();

        /// <summary>Where its floats are in the model (raw data or packed float data), read only when it is quantized.</summary>
        public int ValuesStart, ValuesLength;

        private bool FloatMatrix => DataType == FloatType && Dims.Count == 2 && ValuesLength == Dims[0] * Dims[1] * 4;

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
                    case TensorDims when f.Wire == 0:
                        t.Dims.Add((long)f.Varint);
                        break;
                    case TensorDims:
                        for (var p = f.ValueStart; p < f.End;)
                        {
                            t.Dims.Add((long)ReadVarint(data, ref p));
                        }

                        break;
                    case TensorRawData:
                    case TensorFloatData when f.Wire == 2:
                        (t.ValuesStart, t.ValuesLength) = (f.ValueStart, f.End - f.ValueStart);
                        break;
                }
            }

            return t;
        }

        /// <summary>
        /// Its values as signed bytes, symmetric (<c>round(v / scale)</c> within ±<paramref name="levels"/>), one scale per
        /// column, or per row when <paramref name="byRow"/>: <c>max|v|</c> of the group over <paramref name="levels"/>.
        /// </summary>
        public (byte[] Values, byte[] Scales) Quantize(byte[] model, int levels, bool byRow)
        {
            int rows = (int)Dims[0], columns = (int)Dims[1];
            var values = new float[rows * columns];
            Buffer.BlockCopy(model, ValuesStart, values, 0, ValuesLength);
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
