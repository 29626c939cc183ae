using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Engram.Core.Access;

/// <summary>
/// Bearer secrets: <c>engram_</c> and 32 random bytes in base64url, stored only as their hex SHA-256 (a secret of 256
/// random bits needs no slow hash: there is nothing to guess). Ids are short, random and public.
/// </summary>
internal static class TokenSecret
{
    /// <summary>What every secret starts with, so one is recognised (and a pasted one found by secret scanners).</summary>
    public const string Prefix = "engram_";

    /// <summary>What every token id starts with.</summary>
    public const string IdPrefix = "tok_";

    public static string New() => Prefix + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    public static string NewId() => IdPrefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(5));

    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));
}
