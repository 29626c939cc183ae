using System.Text;
using System.Text.RegularExpressions;

namespace Engram.Core.Curation;

/// <summary>
/// Finds secrets in a text before it becomes a memory: private key blocks, tokens with documented shapes (AWS, GitHub,
/// GitLab, Slack, Stripe, npm, OpenAI, Anthropic, JWTs), connection strings and URLs carrying a password, and
/// high-entropy values assigned to names like password, secret, token or api key. Look-alikes pass: UUIDs, git hashes,
/// base64 without a name that says secret, a key prefix in prose, and vendors' documented examples (their value says
/// EXAMPLE, or is a placeholder such as <c>xxxx</c>, <c>&lt;token&gt;</c> or <c>${TOKEN}</c>). Reports kinds and
/// positions, never values.
/// </summary>
internal static partial class SecretScanner
{
    /// <summary>A secret found: what kind, and where (character offset and length) in the text.</summary>
    internal readonly record struct Finding(string Kind, int Index, int Length);

    private sealed record Rule(string Kind, Regex Pattern, int Group = 0, bool NeedsEntropy = false, int NameGroup = -1);

    private static readonly Rule[] Rules =
    [
        new("private key", PrivateKey()),
        new("AWS access key", AwsAccessKey()),
        new("GitHub token", GitHub()),
        new("GitLab token", GitLab()),
        new("Slack token", Slack()),
        new("Slack webhook", SlackWebhook()),
        new("Google API key", GoogleApiKey()),
        new("Stripe secret key", Stripe()),
        new("npm token", Npm()),
        new("Anthropic API key", Anthropic()),
        new("OpenAI API key", OpenAi()),
        new("JSON web token", Jwt()),
        new("connection string with a password", UrlPassword(), Group: 1),
        new("password", KeyValuePassword(), Group: 1),
        new("bearer token", Bearer(), Group: 1, NeedsEntropy: true),
        new("secret value", Assigned(), Group: 2, NeedsEntropy: true, NameGroup: 1),
    ];

    /// <summary>The secrets in <paramref name="text"/>, in order of position, overlapping ones reported once.</summary>
    public static List<Finding> Scan(string text)
    {
        var found = new List<Finding>();
        foreach (var rule in Rules)
        {
            foreach (Match match in rule.Pattern.Matches(text))
            {
                var value = match.Groups[rule.Group];
                if (!value.Success || IsExample(value.Value) || MarkedAsExample(text, value.Index) || (rule.NeedsEntropy && !LooksRandom(value.Value))
                    || (rule.NameGroup >= 0 && !NamesASecret(match.Groups[rule.NameGroup].Value)))
                {
                    continue;
                }

                // Overlapping findings become one, spanning both, so a redaction leaves nothing of either.
                var overlapping = found.FindIndex(f => value.Index < f.Index + f.Length && f.Index < value.Index + value.Length);
                if (overlapping < 0)
                {
                    found.Add(new Finding(rule.Kind, value.Index, value.Length));
                }
                else
                {
                    var f = found[overlapping];
                    var start = Math.Min(f.Index, value.Index);
                    found[overlapping] = f with { Index = start, Length = Math.Max(f.Index + f.Length, value.Index + value.Length) - start };
                }
            }
        }

        found.Sort((a, b) => a.Index.CompareTo(b.Index));
        return found;
    }

    /// <summary>The text with each finding's value replaced by <c>[REDACTED:kind]</c>.</summary>
    public static string Redact(string text, IReadOnlyList<Finding> findings)
    {
        var redacted = new StringBuilder(text.Length);
        var at = 0;
        foreach (var f in findings.OrderBy(f => f.Index))
        {
            redacted.Append(text, at, f.Index - at).Append("[REDACTED:").Append(f.Kind.Replace(' ', '-')).Append(']');
            at = f.Index + f.Length;
        }

        return redacted.Append(text, at, text.Length - at).ToString();
    }

    /// <summary>What a message may say of findings: their kinds and positions (1-based characters), never the values.</summary>
    public static string Describe(IReadOnlyList<Finding> findings) =>
        string.Join(", ", findings.Select(f => $"{Article(f.Kind)} {f.Kind} at character {f.Index + 1}"));

    private static string Article(string kind) => kind[0] is 'A' or 'E' or 'I' or 'O' or 'U' or 'a' or 'e' or 'i' or 'o' or 'u' ? "an" : "a";

    /// <summary>
    /// Whether the words just before a value, in its sentence, present it as an example ("the docs' example key is …",
    /// "e.g. …"): vendors' documented examples quoted as such are not secrets.
    /// </summary>
    private static bool MarkedAsExample(string text, int index)
    {
        var start = Math.Max(0, index - 60);
        var before = text[start..index];
        var sentence = before.LastIndexOfAny(['.', '\n', '!', '?']) is var end and >= 0 && end < before.Length - 1 && char.IsWhiteSpace(before[end + 1]) ? before[(end + 1)..] : before;
        return ExampleWords().IsMatch(sentence);
    }

    /// <summary>The words of a name that say it holds a secret: whole parts of it (<c>db_password</c>, <c>apiToken</c>), not <c>tokenizer</c> or <c>bypass</c>.</summary>
    private static readonly HashSet<string> SecretWords = new(StringComparer.Ordinal)
    {
        "password", "passwd", "pass", "pwd", "secret", "token", "apikey", "passphrase", "credential", "credentials",
    };

    /// <summary>Keys that are secrets when their name says which: api, access, private, auth or account key.</summary>
    private static readonly HashSet<string> KeyKinds = new(StringComparer.Ordinal) { "api", "access", "private", "auth", "account", "secret", "signing", "encryption" };

    /// <summary>Whether a name (<c>DB_PASSWORD</c>, <c>clientSecret</c>, <c>aws.access-key</c>) names a secret, by its parts.</summary>
    private static bool NamesASecret(string name)
    {
        var parts = NameParts().Matches(name).Select(m => m.Value.ToLowerInvariant()).ToList();
        for (var i = 0; i < parts.Count; i++)
        {
            if (SecretWords.Contains(parts[i]) || (parts[i] == "key" && i > 0 && KeyKinds.Contains(parts[i - 1])))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A vendor's documented example or a placeholder, not a secret.</summary>
    private static bool IsExample(string value) =>
        value.Contains("example", StringComparison.OrdinalIgnoreCase)
        || value.Contains("xxxx", StringComparison.OrdinalIgnoreCase)
        || value.Contains("****", StringComparison.Ordinal)
        || value.StartsWith('<') || value.StartsWith('$') || value.StartsWith('%') || value.StartsWith("{{", StringComparison.Ordinal)
        || Placeholder().IsMatch(value);

    /// <summary>
    /// Whether a value assigned to a secret-sounding name looks generated rather than written: long enough, of several
    /// character classes or hex, and of high Shannon entropy (3 bits a character; words and names stay below).
    /// </summary>
    private static bool LooksRandom(string value)
    {
        if (value.Length < 8)
        {
            return false;
        }

        // Code names a secret rather than holding it: process.env.API_TOKEN, settings.Secret, GITHUB_TOKEN.
        if (Identifier().IsMatch(value))
        {
            return false;
        }

        var classes = (value.Any(char.IsLower) ? 1 : 0) + (value.Any(char.IsUpper) ? 1 : 0) + (value.Any(char.IsDigit) ? 1 : 0) + (value.Any(c => !char.IsLetterOrDigit(c)) ? 1 : 0);
        // Generated values carry digits; a long one may not (base64 of random bytes almost always does anyway).
        if (classes < 2 || (!value.Any(char.IsDigit) && value.Length < 24))
        {
            return false;
        }

        var counts = new Dictionary<char, int>();
        foreach (var c in value)
        {
            counts[c] = counts.GetValueOrDefault(c) + 1;
        }

        var entropy = counts.Values.Sum(n => -(double)n / value.Length * Math.Log2((double)n / value.Length));
        return entropy >= 3.0;
    }

    [GeneratedRegex(@"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----")]
    private static partial Regex PrivateKey();

    [GeneratedRegex(@"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b")]
    private static partial Regex AwsAccessKey();

    [GeneratedRegex(@"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})\b")]
    private static partial Regex GitHub();

    [GeneratedRegex(@"\bgl(?:pat|dt|rt|ptt|cbt|oas|imt|ft)-[A-Za-z0-9_\-]{20,}")]
    private static partial Regex GitLab();

    [GeneratedRegex(@"\b(?:xox[abposre]|xapp)-[A-Za-z0-9-]{10,}")]
    private static partial Regex Slack();

    [GeneratedRegex(@"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,}")]
    private static partial Regex SlackWebhook();

    [GeneratedRegex(@"\b(?:[rs]k_(?:live|test)_[A-Za-z0-9]{20,}|whsec_[A-Za-z0-9]{24,})\b")]
    private static partial Regex Stripe();

    [GeneratedRegex(@"\bnpm_[A-Za-z0-9]{36}\b")]
    private static partial Regex Npm();

    [GeneratedRegex(@"\bsk-ant-(?:api|admin|oat|sid)\d\d-[A-Za-z0-9_\-]{40,}")]
    private static partial Regex Anthropic();

    [GeneratedRegex(@"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{32,}")]
    private static partial Regex OpenAi();

    [GeneratedRegex(@"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")]
    private static partial Regex Jwt();

    /// <summary>A URL's password: <c>scheme://user:password@host</c> (databases, brokers, and basic auth over HTTP).</summary>
    [GeneratedRegex(@"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*:([^\s@/]+)@[^\s/]")]
    private static partial Regex UrlPassword();

    /// <summary>A key=value connection string's password (<c>Password=…;</c>, <c>Pwd=…</c>).</summary>
    [GeneratedRegex(@"(?i)(?:^|[;\s""'])(?:password|pwd|accountkey|sharedaccesskey)\s*=\s*([^;\s""']{4,})")]
    private static partial Regex KeyValuePassword();

    /// <summary>A value assigned to a name (<c>API_KEY=…</c>, <c>"client_secret": "…"</c>, <c>token: …</c>); <see cref="NamesASecret"/> judges the name.</summary>
    [GeneratedRegex(@"(?<![A-Za-z0-9_.\-])([A-Za-z][A-Za-z0-9_.\-]{1,63})[""']?[ \t]{0,4}[:=][ \t]{0,4}[""']?([A-Za-z0-9+/=_\-.~!@#%^&*]{8,256})")]
    private static partial Regex Assigned();

    /// <summary>The parts of a name: split at punctuation and where lower case turns upper (<c>clientSecret</c>).</summary>
    [GeneratedRegex(@"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")]
    private static partial Regex NameParts();

    [GeneratedRegex(@"\bAIza[0-9A-Za-z_\-]{35}\b")]
    private static partial Regex GoogleApiKey();

    /// <summary>A bearer credential in an Authorization header or a curl line that is not a JWT (those are found as such).</summary>
    [GeneratedRegex(@"(?i)\bbearer\s+([A-Za-z0-9._~+/\-]{20,}=*)")]
    private static partial Regex Bearer();

    [GeneratedRegex(@"(?i)\b(?:example|examples)\b|\be\.g\.")]
    private static partial Regex ExampleWords();

    /// <summary>An identifier or a dotted path of them (a variable, a setting, an environment variable's name).</summary>
    [GeneratedRegex(@"^(?:[A-Za-z_$][A-Za-z_$]*\d*)(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*(?:\(\))?$")]
    private static partial Regex Identifier();

    /// <summary>A value of one repeated character, or of the words people put where the secret goes.</summary>
    [GeneratedRegex(@"(?i)^(?:(.)\1+|.*(?:changeme|placeholder|your[_\-]?|redacted|dummy|fake|sample|secret_here|token_here).*|password|passwd|pass|secret|guest|test|admin|root|user|username)$")]
    private static partial Regex Placeholder();
}
