using System.Collections.Frozen;
using System.Text.Json;

namespace Engram.Core.Model;

/// <summary>
/// The string one of Engram's wire enums (<see cref="RememberStatus"/>, <see cref="FilterReason"/>,
/// <see cref="ForgetSelector"/>) is in JSON, for the places that carry it as plain text: a line printed for a person,
/// a SQLite column, a result whose schema keeps a plain string.
/// </summary>
public static class WireName
{
    /// <summary>The string <paramref name="value"/> is serialized as.</summary>
    public static string Of<TEnum>(TEnum value) where TEnum : struct, Enum => Names<TEnum>.ByValue[value];

    /// <summary>The member serialized as <paramref name="name"/>.</summary>
    /// <exception cref="FormatException">No member of <typeparamref name="TEnum"/> is serialized as <paramref name="name"/>.</exception>
    internal static TEnum Parse<TEnum>(string name) where TEnum : struct, Enum =>
        Names<TEnum>.ByName.TryGetValue(name, out var value) ? value : throw new FormatException($"'{name}' is not a {typeof(TEnum).Name}.");

    private static class Names<TEnum> where TEnum : struct, Enum
    {
        // Read through the serializer, so each string is exactly the one the enum's JSON converter writes.
        public static readonly FrozenDictionary<TEnum, string> ByValue =
            Enum.GetValues<TEnum>().ToFrozenDictionary(v => v, v => JsonSerializer.SerializeToElement(v).GetString()!);

        public static readonly FrozenDictionary<string, TEnum> ByName = ByValue.ToFrozenDictionary(p => p.Value, p => p.Key, StringComparer.Ordinal);
    }
}
