using System.Security.Cryptography;
using System.Text;

namespace Engram.Core.Curation;

/// <summary>
/// The exact-duplicate rule: two texts are the same memory when they are equal after Unicode normalisation (NFKC),
/// lowercasing, collapsing runs of white space, and dropping leading and trailing white space and punctuation.
/// </summary>
internal static class ContentHash
{
    public static string Normalize(string content)
    {
        var text = content.Normalize(NormalizationForm.FormKC).ToLowerInvariant();
        var builder = new StringBuilder(text.Length);
        var space = false;
        foreach (var c in text)
        {
            if (char.IsWhiteSpace(c))
            {
                space = builder.Length > 0;
                continue;
            }

            if (space)
            {
                builder.Append(' ');
                space = false;
            }

            builder.Append(c);
        }

        return builder.ToString().Trim().Trim(".,;:!?…'\"`".ToCharArray()).Trim();
    }

    public static string Compute(string content) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Normalize(content))));
}
