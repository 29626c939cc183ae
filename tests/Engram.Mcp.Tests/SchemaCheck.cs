using System.Text.Json;

namespace Engram.Mcp.Tests;

/// <summary>
/// A small JSON Schema check (type, anyOf, required, properties, items) of structured content against a tool's output
/// schema, as clients that validate results (the TypeScript SDK) do.
/// </summary>
internal static class SchemaCheck
{
    public static void AssertValid(JsonElement schema, JsonElement value, string path = "$")
    {
        if (schema.TryGetProperty("anyOf", out var anyOf))
        {
            var failures = new List<string>();
            foreach (var branch in anyOf.EnumerateArray())
            {
                try
                {
                    AssertValid(branch, value, path);
                    return;
                }
                catch (Xunit.Sdk.XunitException e)
                {
                    failures.Add(e.Message);
                }
            }

            Assert.Fail($"{path}: matches no branch of anyOf: {string.Join(" / ", failures)}");
        }

        if (schema.TryGetProperty("type", out var type))
        {
            var types = type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => t.GetString()!).ToList() : [type.GetString()!];
            Assert.True(types.Any(t => Matches(t, value)), $"{path}: {value.ValueKind} is not {string.Join("|", types)}");
        }

        if (value.ValueKind == JsonValueKind.Object)
        {
            if (schema.TryGetProperty("required", out var required))
            {
                foreach (var name in required.EnumerateArray().Select(r => r.GetString()!))
                {
                    Assert.True(value.TryGetProperty(name, out _), $"{path}: required property '{name}' is missing");
                }
            }

            if (schema.TryGetProperty("properties", out var properties))
            {
                foreach (var property in properties.EnumerateObject())
                {
                    if (value.TryGetProperty(property.Name, out var child))
                    {
                        AssertValid(property.Value, child, $"{path}.{property.Name}");
                    }
                }
            }
        }
        else if (value.ValueKind == JsonValueKind.Array && schema.TryGetProperty("items", out var items))
        {
            var i = 0;
            foreach (var item in value.EnumerateArray())
            {
                AssertValid(items, item, $"{path}[{i++}]");
            }
        }
    }

    private static bool Matches(string type, JsonElement value) => type switch
    {
        "object" => value.ValueKind == JsonValueKind.Object,
        "array" => value.ValueKind == JsonValueKind.Array,
        "string" => value.ValueKind == JsonValueKind.String,
        "number" => value.ValueKind == JsonValueKind.Number,
        "integer" => value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out _),
        "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "null" => value.ValueKind == JsonValueKind.Null,
        _ => true,
    };
}
