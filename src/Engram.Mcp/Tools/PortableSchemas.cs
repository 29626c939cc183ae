using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol.Server;

namespace Engram.Mcp.Tools;

/// <summary>
/// Rewrites the SDK's tool schemas into the subset every client reads. The SDK writes an optional or nullable field as
/// <c>"type": ["string", "null"]</c>, which some clients (those that take OpenAPI's subset, Gemini's among them) reject.
/// Input schemas drop the null (an optional argument is simply left out; an explicit null is still accepted); output
/// schemas say <c>anyOf: [{type: X}, {type: "null"}]</c>, which keeps them exact.
/// </summary>
internal static class PortableSchemas
{
    /// <summary>Rewrites <paramref name="tool"/>'s input and output schemas in place.</summary>
    public static McpServerTool Apply(McpServerTool tool)
    {
        tool.ProtocolTool.InputSchema = Input(tool.ProtocolTool.InputSchema);
        if (tool.ProtocolTool.OutputSchema is { } output)
        {
            tool.ProtocolTool.OutputSchema = Output(output);
        }

        return tool;
    }

    internal static JsonElement Input(JsonElement schema) => Rewrite(schema, input: true);

    internal static JsonElement Output(JsonElement schema) => Rewrite(schema, input: false);

    private static JsonElement Rewrite(JsonElement schema, bool input)
    {
        var node = JsonNode.Parse(schema.GetRawText())!;
        Visit(node, input);
        return JsonSerializer.SerializeToElement(node);
    }

    private static void Visit(JsonNode? node, bool input)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var child in obj.Select(p => p.Value).ToList())
                {
                    Visit(child, input);
                }

                if (obj["type"] is JsonArray types && types.Any(t => t?.GetValue<string>() == "null"))
                {
                    var others = types.Select(t => t!.GetValue<string>()).Where(t => t != "null").ToList();
                    if (input)
                    {
                        obj["type"] = others.Count == 1 ? others[0] : new JsonArray([.. others.Select(t => JsonValue.Create(t))]);
                        if (obj["default"] is null && obj.ContainsKey("default"))
                        {
                            obj.Remove("default");
                        }
                    }
                    else
                    {
                        // Everything but the annotations moves into the non-null branch.
                        var branch = new JsonObject();
                        foreach (var key in obj.Select(p => p.Key).Where(k => k is not ("description" or "title" or "type")).ToList())
                        {
                            var value = obj[key];
                            obj.Remove(key);
                            branch[key] = value;
                        }

                        branch["type"] = others.Count == 1 ? others[0] : new JsonArray([.. others.Select(t => JsonValue.Create(t))]);
                        obj.Remove("type");
                        obj["anyOf"] = new JsonArray(branch, new JsonObject { ["type"] = "null" });
                    }
                }

                break;
            case JsonArray array:
                foreach (var child in array)
                {
                    Visit(child, input);
                }

                break;
        }
    }
}
