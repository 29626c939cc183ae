using System.Globalization;
using System.Text.Json;
using Engram.Core;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Engram.Mcp.Tools;

/// <summary>
/// Turns every mistake a caller can fix into a tool error result whose text says what to send instead: arguments
/// checked against the tool's own input schema before binding (unknown names, wrong JSON types, missing required
/// ones; an optional one sent as null is dropped, so its default applies), the library's <see cref="EngramArgumentException"/>, and <see cref="EngramUnavailableException"/> (the store cannot be reached right now: retry). Anything else keeps the SDK's generic message,
/// so no path, SQL or stack trace reaches the client.
/// </summary>
internal static class ToolErrors
{
    public static IMcpServerBuilder WithToolErrors(this IMcpServerBuilder builder) =>
        builder.WithRequestFilters(f => f.AddCallToolFilter(next => async (context, cancellationToken) =>
        {
            if (context.MatchedPrimitive is McpServerTool tool && context.Params is { } call)
            {
                if (CheckArguments(tool.ProtocolTool, call.Arguments) is { } problem)
                {
                    return Error(problem);
                }

                // An optional argument sent as null (the MCP Inspector sends them) is left out, so its default applies.
                call.Arguments = WithoutNulls(call.Arguments);
            }

            try
            {
                return await next(context, cancellationToken).ConfigureAwait(false);
            }
            catch (EngramArgumentException e)
            {
                return Error(e.Message);
            }
            catch (EngramUnavailableException e)
            {
                // The store is away for a moment (a database restart): the message says so and that a retry is safe.
                return Error(e.Message);
            }
            catch (McpException e) when (e is not McpProtocolException)
            {
                return Error(e.Message);
            }
        }));

    /// <summary>The arguments without those sent as null; every one left is then bound as sent.</summary>
    internal static Dictionary<string, JsonElement>? WithoutNulls(IDictionary<string, JsonElement>? arguments) =>
        arguments?.Where(a => a.Value.ValueKind != JsonValueKind.Null).ToDictionary(a => a.Key, a => a.Value, StringComparer.Ordinal);

    private static CallToolResult Error(string message) => new()
    {
        IsError = true,
        Content = [new TextContentBlock { Text = message }],
    };

    /// <summary>Checks arguments against a tool's input schema; returns a message for the first problem, or null.</summary>
    internal static string? CheckArguments(Tool tool, IDictionary<string, JsonElement>? arguments)
    {
        var schema = tool.InputSchema;
        var properties = schema.TryGetProperty("properties", out var p) && p.ValueKind == JsonValueKind.Object ? p : default;
        var known = properties.ValueKind == JsonValueKind.Object ? properties.EnumerateObject().Select(x => x.Name).ToList() : [];
        arguments ??= new Dictionary<string, JsonElement>();
        var required = schema.TryGetProperty("required", out var r0) && r0.ValueKind == JsonValueKind.Array
            ? r0.EnumerateArray().Select(r => r.GetString()!).ToList()
            : [];

        foreach (var (name, value) in arguments)
        {
            if (!known.Contains(name))
            {
                return $"'{tool.Name}' has no argument '{Shorten(name)}'. Its arguments are: {string.Join(", ", known)}.";
            }

            // An optional argument sent as null counts as left out.
            var optional = !required.Contains(name);
            if (optional && value.ValueKind == JsonValueKind.Null)
            {
                continue;
            }

            var expected = ExpectedTypes(properties.GetProperty(name));
            if (!Matches(value, expected, properties.GetProperty(name)))
            {
                return $"'{name}' must be {Describe(expected, properties.GetProperty(name))}{(optional ? " (or omitted)" : "")}; got {Describe(value)}.";
            }
        }

        foreach (var r in required)
        {
            if (!arguments.TryGetValue(r, out var value) || value.ValueKind == JsonValueKind.Null)
            {
                return $"'{tool.Name}' needs '{r}'.";
            }
        }

        return null;
    }

    private static List<string> ExpectedTypes(JsonElement property) =>
        !property.TryGetProperty("type", out var type) ? []
        : type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => t.GetString()!).ToList()
        : [type.GetString()!];

    private static bool Matches(JsonElement value, List<string> expected, JsonElement property)
    {
        if (expected.Count == 0)
        {
            return true;
        }

        return value.ValueKind switch
        {
            JsonValueKind.Null => expected.Contains("null"),
            JsonValueKind.String => expected.Contains("string"),
            JsonValueKind.True or JsonValueKind.False => expected.Contains("boolean"),
            JsonValueKind.Number => expected.Contains("number") || (expected.Contains("integer") && value.TryGetInt32(out _)),
            JsonValueKind.Array => expected.Contains("array") && (!property.TryGetProperty("items", out var items) ||
                value.EnumerateArray().All(v => v.ValueKind != JsonValueKind.Null && Matches(v, ExpectedTypes(items), items))),
            _ => expected.Contains("object"),
        };
    }

    private static string Describe(List<string> expected, JsonElement property)
    {
        var types = expected.Where(t => t != "null").ToList();
        var text = types.Count == 1 ? types[0] switch
        {
            "integer" => "a whole number",
            "string" => "a string",
            "boolean" => "true or false",
            "array" => property.TryGetProperty("items", out var items) && ExpectedTypes(items).Contains("string") ? "an array of strings" : "an array",
            var t => "of type " + t,
        } : "one of " + string.Join(", ", types);
        return text;
    }

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "the number " + Shorten(value.GetRawText()),
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array" + (value.GetArrayLength() > 0 ? " with " + value.GetArrayLength().ToString(CultureInfo.InvariantCulture) + " items of other types" : ""),
        JsonValueKind.Object => "an object",
        _ => "null",
    };

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "…";
}
