using System.Text.Json;
using Engram.Core;
using Engram.Core.Model;

namespace Engram.Mcp;

/// <summary>
/// Reads an import file: JSON Lines, either an Engram export (one memory per line, then one saved recall check per line
/// (with <c>expect</c>), as <c>engram export</c> writes) or
/// the reference MCP memory server's <c>memory.jsonl</c> (<c>{"type":"entity","name","entityType","observations"}</c>
/// and <c>{"type":"relation","from","to","relationType"}</c> lines). Each observation becomes a memory
/// "<c>name: observation</c>" and each relation "<c>from relation to</c>", in the default scope, tagged
/// <c>server-memory</c> and the entity type.
/// </summary>
internal static class JsonlImport
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    /// <summary>A line as <typeparamref name="T"/>; a value of the wrong type is an error naming the line and the field.</summary>
    private static T Deserialize<T>(JsonElement line, int number, string path)
    {
        try
        {
            return line.Deserialize<T>(Web) ?? throw new EngramArgumentException($"Line {number} of {path} is empty.");
        }
        catch (JsonException e)
        {
            throw new EngramArgumentException($"Line {number} of {path} has a value of the wrong type at {e.Path ?? "$"}: send {(typeof(T) == typeof(RecallCheck) ? "a check as engram export writes it (id, scope, query, scopes, expect: a list of ids, within: a number, createdAt)" : "a memory as engram export writes it (id, scope, content, tags: a list, observedAt and createdAt: ISO-8601 times)")}.", e);
        }
    }

    public static ImportFile Read(string path, string defaultScope)
    {
        var records = new List<MemoryRecord>();
        var checks = new List<RecallCheck>();
        var formats = new HashSet<string>(StringComparer.Ordinal);
        var now = DateTimeOffset.UtcNow;
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            JsonElement root;
            try
            {
                using var doc = JsonDocument.Parse(line);
                root = doc.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new EngramArgumentException($"Line {number} of {path} is not JSON ({e.Message}). Send JSON Lines: one object per line.");
            }

            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new EngramArgumentException($"Line {number} of {path} is not a JSON object.");
            }

            if (root.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String)
            {
                formats.Add("server-memory");
                records.AddRange(FromServerMemory(root, type.GetString()!, number, defaultScope, now));
            }
            else if (root.TryGetProperty("expect", out _))
            {
                formats.Add("engram export");
                try
                {
                    // Refused here, before any memory is imported, rather than after.
                    checks.Add(MemoryService.ValidCheck(Deserialize<RecallCheck>(root, number, path)));
                }
                catch (EngramArgumentException e) when (!e.Message.StartsWith("Line ", StringComparison.Ordinal))
                {
                    throw new EngramArgumentException($"Line {number} of {path} is a saved check that cannot be imported: {e.Message}", e);
                }
            }
            else if (root.TryGetProperty("content", out _))
            {
                formats.Add("engram export");
                var record = Deserialize<MemoryRecord>(root, number, path);
                if (string.IsNullOrWhiteSpace(record.Id) || string.IsNullOrWhiteSpace(record.Scope))
                {
                    throw new EngramArgumentException($"Line {number} of {path} lacks 'id' or 'scope': an Engram export line has id, scope, content, tags, observedAt, createdAt.");
                }

                var created = record.CreatedAt == default ? now : record.CreatedAt;
                records.Add(record with
                {
                    Tags = record.Tags ?? [],
                    CreatedAt = created,
                    ObservedAt = record.ObservedAt == default ? created : record.ObservedAt,
                });
            }
            else
            {
                throw new EngramArgumentException($"Line {number} of {path} is neither an Engram export line (a memory with 'content', or a saved check with 'expect') nor a server-memory line (with 'type').");
            }
        }

        return new ImportFile(records, checks, formats.Count == 0 ? "empty file" : string.Join(" + ", formats.Order(StringComparer.Ordinal)));
    }

    /// <summary>What an import file holds: memories, saved checks, and the formats read ("engram export", "server-memory").</summary>
    public sealed record ImportFile(List<MemoryRecord> Records, List<RecallCheck> Checks, string Format);

    private static IEnumerable<MemoryRecord> FromServerMemory(JsonElement line, string type, int number, string scope, DateTimeOffset now)
    {
        string Text(string name) => line.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(v.GetString())
            ? v.GetString()!.Trim()
            : throw new EngramArgumentException($"Line {number}: a server-memory {type} needs a non-empty '{name}'.");

        switch (type)
        {
            case "entity":
                var name = Text("name");
                var kind = line.TryGetProperty("entityType", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "entity";
                var tags = new[] { "server-memory", Tag(kind) }.Distinct().ToList();
                if (!line.TryGetProperty("observations", out var observations) || observations.ValueKind != JsonValueKind.Array)
                {
                    yield break;
                }

                foreach (var observation in observations.EnumerateArray().Where(o => o.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(o.GetString())))
                {
                    yield return new MemoryRecord(NewId(), scope, $"{name}: {observation.GetString()!.Trim()}", tags, now, now);
                }

                break;
            case "relation":
                yield return new MemoryRecord(NewId(), scope, $"{Text("from")} {Text("relationType").Replace('_', ' ')} {Text("to")}", ["server-memory", "relation"], now, now);
                break;
            default:
                throw new EngramArgumentException($"Line {number}: unknown server-memory type '{type}' (expected entity or relation).");
        }
    }

    /// <summary>A fresh id per imported observation (server-memory has none); importing the same file twice stores duplicates once.</summary>
    private static string NewId() => $"mem_{Guid.CreateVersion7():N}";

    private static string Tag(string kind)
    {
        var tag = new string(kind.Trim().ToLowerInvariant().Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-').ToArray());
        return tag.Length is 0 or > 64 ? "entity" : tag;
    }
}
