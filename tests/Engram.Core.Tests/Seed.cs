using Engram.Core.Model;

namespace Engram.Core.Tests;

/// <summary>A small store of project and user facts that the behaviour tests recall from.</summary>
internal static class Seed
{
    public static readonly string[] Facts =
    [
        "The orders service runs on Postgres 16.",
        "We deploy the widgets service with Helm on Fridays.",
        "Ana prefers trains for trips under six hours.",
        "The flaky test is OrderTests.Refund_Twice; it fails when the clock crosses midnight.",
        "Code review needs two approvals before merging to main.",
        "Use pnpm, not npm, in the web front end.",
    ];

    public static async Task FactsAsync(MemoryService service, string? scope = null)
    {
        foreach (var fact in Facts)
        {
            await service.RememberAsync(new RememberRequest(fact, scope));
        }
    }
}
