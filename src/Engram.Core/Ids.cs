namespace Engram.Core;

/// <summary>New ids: a prefix naming the kind (<c>mem_</c>, <c>rt_</c>) and a time-ordered GUID.</summary>
internal static class Ids
{
    public static string New(string prefix) => prefix + Guid.CreateVersion7().ToString("N");
}
