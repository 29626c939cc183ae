using Engram.Core.Storage;

namespace Engram.Core.Search;

/// <summary>
/// The text of the memories stored just before and after one in its scope, within the same session: what the lexical
/// index adds to the memory as weak context. A statement often leaves its subject to the one before it ("Which one?"
/// "The Postgres one, because ..."), and a question then names words its neighbours hold.
/// </summary>
/// <param name="Adjacent">The memories next to it (one before, one after).</param>
/// <param name="Nearby">The memories two places away.</param>
/// <param name="Asked">The memory just before, when it asks a question: the one this memory most likely answers.</param>
internal sealed partial record SessionContext(string Adjacent, string Nearby, string Asked)
{
    /// <summary>Neighbours observed further apart than this belong to another session and are not context.</summary>
    public static readonly TimeSpan Session = TimeSpan.FromHours(1);

    /// <summary>The context of <paramref name="memory"/> from its neighbours, nearest first on each side.</summary>
    public static SessionContext Of(StoredMemory memory, IReadOnlyList<Neighbour> before, IReadOnlyList<Neighbour> after)
    {
        var window = (long)Session.TotalMilliseconds;
        var levels = new[] { new List<string>(), new List<string>() };
        var asked = "";
        foreach (var (side, isBefore) in new[] { (before, true), (after, false) })
        {
            var distance = 0;
            foreach (var (content, observedAt) in side.Take(ChangedMemory.Radius))
            {
                if (Math.Abs(observedAt - memory.ObservedAt) > window)
                {
                    break;
                }

                if (distance == 0 && isBefore && Answers(content, observedAt, memory.ObservedAt))
                {
                    asked = content;
                }

                levels[distance++].Add(content);
            }
        }

        return new SessionContext(string.Join('\n', levels[0]), string.Join('\n', levels[1]), asked);
    }

    /// <summary>Whether a memory answers the one stored just before it in its scope: that one asks a question, in the same session.</summary>
    public static bool Answers(string before, long beforeObservedAt, long observedAt) =>
        Math.Abs(observedAt - beforeObservedAt) <= (long)Session.TotalMilliseconds && AsksQuestion(before);

    /// <summary>The id of the question a memory observed at <paramref name="observedAt"/> answers when <paramref name="before"/> is stored just before it, or "" for none.</summary>
    public static string QuestionAnswered(PrecedingMemory? before, long observedAt) =>
        before is not null && Answers(before.Content, before.ObservedAt, observedAt) ? before.Id : "";

    /// <summary>
    /// Whether a text asks something: a question mark closing a word or a quote, at the end or before a space and
    /// something other than a lower-case word. Code (<c>a ?? b</c>, <c>x ? y : z</c>, <c>string? name</c>) and query
    /// strings (<c>?page=2</c>) do not count.
    /// </summary>
    public static bool AsksQuestion(string text) => Question().IsMatch(text);

    [System.Text.RegularExpressions.GeneratedRegex(@"[\p{L}\p{N}""'’)\]][?？][?!？！]*(?:\s*$|\s+(?!\p{Ll}))")]
    private static partial System.Text.RegularExpressions.Regex Question();
}
