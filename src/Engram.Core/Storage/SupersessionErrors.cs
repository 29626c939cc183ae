namespace Engram.Core.Storage;

/// <summary>What either store says when an insert's <c>supersedes</c> cannot be applied; nothing is written then.</summary>
internal static class SupersessionErrors
{
    /// <summary><paramref name="old"/> is not a memory of the new memory's scope (unknown, or another scope's).</summary>
    public static EngramArgumentException NotInScope(string old, string scope) => new(
        $"supersedes names '{old}', which is not a memory of scope '{scope}'. Send ids returned by recall or remember (in 'similar') for the same scope.");

    /// <summary><paramref name="old"/> is the fact itself, or a memory that replaced it: the link would close a cycle.</summary>
    public static EngramArgumentException Cycle(string old, bool itself) => new(
        $"supersedes names '{old}', which this fact {(itself ? "already is" : "was itself replaced by")}: a memory cannot replace itself or the memory that replaced it. Send the ids of older statements only.");
}
