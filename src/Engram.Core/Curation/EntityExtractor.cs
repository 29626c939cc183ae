using System.Text.RegularExpressions;

namespace Engram.Core.Curation;

/// <summary>
/// Lightweight entity extraction: the names a coding conversation repeats. Code in backticks, URLs, file paths,
/// dotted identifiers (<c>OrderTests.Refund_Twice</c>), CamelCase and snake_case names, acronyms, capitalised
/// names, @handles and #tags. Entities are lowercased; a memory keeps at most <see cref="MaxEntities"/>.
/// </summary>
internal static partial class EntityExtractor
{
    public const int MaxEntities = 32;

    // Capitalised words that start sentences or questions rather than name things.
    private static readonly HashSet<string> CommonCapitalised = new(StringComparer.Ordinal)
    {
        "A", "An", "And", "Are", "As", "At", "Be", "But", "By", "Can", "Could", "Did", "Do", "Does", "For", "From", "Had",
        "Has", "Have", "He", "Her", "Here", "His", "How", "I", "If", "In", "Is", "It", "Its", "Let", "My", "No", "Not",
        "Now", "Of", "Oh", "Ok", "Okay", "On", "Or", "Our", "She", "So", "That", "The", "Their", "Then", "There", "These",
        "They", "This", "Those", "To", "Use", "Was", "We", "Well", "Were", "What", "When", "Where", "Which", "Who", "Why",
        "Will", "With", "Would", "Yes", "You", "Your", "Yeah", "Hey", "Hi", "Thanks", "Thank", "Also", "Just", "Please",
        "Always", "Never", "Maybe", "Sure", "Great", "Wow", "After", "Before", "Since", "While", "Some", "All", "Any",
        "Should", "Must", "May", "Might", "Each", "Every", "One", "Two", "First", "Last", "Next", "Today", "Yesterday",
    };

    [GeneratedRegex(@"`([^`\n]{1,80})`")]
    private static partial Regex Backticked();

    [GeneratedRegex(@"https?://[^\s<>""'`]+", RegexOptions.IgnoreCase)]
    private static partial Regex Url();

    [GeneratedRegex(@"(?<![\w@])@[A-Za-z0-9_][A-Za-z0-9_.-]*[A-Za-z0-9_]")]
    private static partial Regex Handle();

    [GeneratedRegex(@"(?<![\w#&])#[A-Za-z][\w-]*")]
    private static partial Regex HashTag();

    [GeneratedRegex(@"(?<![\w/])(?:[\w.-]+/)+[\w.-]+|\b[\w-]+\.(?:cs|csproj|sln|json|ts|tsx|js|jsx|py|md|yml|yaml|toml|xml|go|rs|java|kt|rb|php|sh|sql|html|css|txt|lock|props|config)\b")]
    private static partial Regex FilePath();

    [GeneratedRegex(@"\b[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+(?:\(\))?")]
    private static partial Regex DottedIdentifier();

    [GeneratedRegex(@"\b(?:[A-Z][a-z0-9]+){2,}\b|\b[a-z]+(?:[A-Z][a-z0-9]*)+\b")]
    private static partial Regex CamelCase();

    [GeneratedRegex(@"\b[A-Za-z0-9]+(?:_[A-Za-z0-9]+)+\b")]
    private static partial Regex SnakeCase();

    [GeneratedRegex(@"\b[A-Z]{2,}[0-9]*\b|\b[A-Z][a-z]+\b")]
    private static partial Regex Capitalised();

    public static IReadOnlyList<string> Extract(string text)
    {
        var entities = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(string value)
        {
            var e = value.Trim().TrimEnd('.', ',', ';', ':', '!', '?', ')', ']').ToLowerInvariant();
            if (e.Length >= 2 && e.Length <= 120 && entities.Count < MaxEntities && seen.Add(e))
            {
                entities.Add(e);
            }
        }

        foreach (Match m in Backticked().Matches(text)) Add(m.Groups[1].Value);
        foreach (Match m in Url().Matches(text)) Add(m.Value);
        foreach (Match m in Handle().Matches(text)) Add(m.Value);
        foreach (Match m in HashTag().Matches(text)) Add(m.Value);
        var withoutUrls = Url().Replace(text, " ");
        foreach (Match m in FilePath().Matches(withoutUrls)) Add(m.Value);
        foreach (Match m in DottedIdentifier().Matches(withoutUrls))
        {
            // "end. Next" never matches (no space allowed); "e.g" and version-like pairs are skipped by length.
            if (m.Value.Length > 4) Add(m.Value);
        }

        foreach (Match m in CamelCase().Matches(withoutUrls)) Add(m.Value);
        foreach (Match m in SnakeCase().Matches(withoutUrls)) Add(m.Value);
        foreach (Match m in Capitalised().Matches(withoutUrls))
        {
            if (!CommonCapitalised.Contains(m.Value)) Add(m.Value);
        }

        return entities;
    }
}
