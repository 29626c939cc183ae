using System.Text;

namespace Engram.Mcp.Tests;

/// <summary>
/// Writes a tiny sentence-transformers-shaped ONNX model, byte by byte (protobuf by hand, so no Python is needed): one
/// <c>Gather</c> from an embedding table, <c>input_ids [batch, seq]</c> → <c>last_hidden_state [batch, seq, dim]</c>, with
/// a WordPiece <c>vocab.txt</c>. Words of one concept share a row, so the model "knows" they mean the same; the special
/// tokens have zero rows, so mean pooling is the average of the words.
/// </summary>
public static class TinyOnnxModel
{
    public const int Dimensions = 8;

    private static readonly string[][] Concepts =
    [
        ["taekwondo", "kickboxing", "karate", "martial", "arts"],
        ["postgres", "database", "sqlite"],
        ["cat", "dog", "pets", "pet"],
        ["deploy", "release", "ship"],
        ["tuesday", "monday", "weekly"],
        ["practise", "practice", "train"],
        ["service", "billing", "orders"],
        ["uses", "runs", "on"],
    ];

    public static void Write(string folder)
    {
        Directory.CreateDirectory(folder);
        var vocab = new List<string> { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };
        var rows = new List<float[]> { new float[Dimensions], new float[Dimensions], new float[Dimensions], new float[Dimensions], new float[Dimensions] };
        for (var c = 0; c < Concepts.Length; c++)
        {
            foreach (var word in Concepts[c])
            {
                vocab.Add(word);
                var row = new float[Dimensions];
                row[c] = 1;
                rows.Add(row);
            }
        }

        File.WriteAllLines(Path.Combine(folder, "vocab.txt"), vocab);
        var table = rows.SelectMany(r => r).SelectMany(BitConverter.GetBytes).ToArray();

        var tensor = Message(
            Int(1, rows.Count), Int(1, Dimensions), // dims
            Int(2, 1), // data_type FLOAT
            Text(8, "embeddings"), // name
            Bytes(9, table)); // raw_data
        var node = Message(Text(1, "embeddings"), Text(1, "input_ids"), Text(2, "last_hidden_state"), Text(3, "gather"), Text(4, "Gather"));
        var input = ValueInfo("input_ids", 7, Dim("batch"), Dim("sequence"));
        var output = ValueInfo("last_hidden_state", 1, Dim("batch"), Dim("sequence"), Dim(Dimensions));
        var graph = Message(Field(1, node), Text(2, "tiny"), Field(5, tensor), Field(11, input), Field(12, output));
        var opset = Message(Text(1, ""), Int(2, 13));
        var model = Message(Int(1, 8), Text(2, "engram-tests"), Field(7, graph), Field(8, opset));
        File.WriteAllBytes(Path.Combine(folder, "model.onnx"), model);
    }

    private static byte[] ValueInfo(string name, int elementType, params byte[][] dims)
    {
        var shape = Message(dims.Select(d => Field(1, d)).ToArray());
        var tensorType = Message(Int(1, elementType), Field(2, shape));
        return Message(Text(1, name), Field(2, Message(Field(1, tensorType))));
    }

    private static byte[] Dim(string parameter) => Message(Text(2, parameter));

    private static byte[] Dim(long value) => Message(Int(1, value));

    private static byte[] Message(params byte[][] fields) => fields.SelectMany(f => f).ToArray();

    private static byte[] Field(int number, byte[] message) => Bytes(number, message);

    private static byte[] Text(int number, string value) => Bytes(number, Encoding.UTF8.GetBytes(value));

    private static byte[] Bytes(int number, byte[] value) => [.. Varint(((ulong)number << 3) | 2), .. Varint((ulong)value.Length), .. value];

    private static byte[] Int(int number, long value) => [.. Varint((ulong)number << 3), .. Varint((ulong)value)];

    private static byte[] Varint(ulong value)
    {
        var bytes = new List<byte>();
        do
        {
            var b = (byte)(value & 0x7F);
            value >>= 7;
            bytes.Add(value == 0 ? b : (byte)(b | 0x80));
        }
        while (value != 0);
        return [.. bytes];
    }
}
