// Uses Engram.Core directly, without MCP: remember a few facts in a throwaway store, recall, explain, forget.
using Engram.Core;
using Engram.Core.Model;

var home = Path.Combine(Path.GetTempPath(), "engram-sample-" + Guid.NewGuid().ToString("N"));
await using (var memory = new MemoryService(new EngramOptions { HomeDirectory = home, DefaultScope = "project:example/sample" }))
{
    var old = await memory.RememberAsync(new RememberRequest("The orders service runs on Postgres 14.", ObservedAt: DateTimeOffset.Parse("2024-02-01", System.Globalization.CultureInfo.InvariantCulture)));
    var updated = await memory.RememberAsync(new RememberRequest("The orders service runs on Postgres 16.", Supersedes: [old.Id]));
    await memory.RememberAsync(new RememberRequest("I prefer short commit messages in the imperative mood.", Scope: "user"));

    var recall = await memory.RecallAsync(new RecallRequest("Which Postgres version does the orders service use?"));
    Console.WriteLine($"Recall over {string.Join(" + ", recall.Scopes)}:");
    foreach (var m in recall.Memories)
    {
        Console.WriteLine($"  {m.Score:F4}  {m.Content}");
    }

    var explain = await memory.ExplainAsync(new ExplainRequest(recall.RetrievalId));
    foreach (var f in explain.FilteredOut)
    {
        Console.WriteLine($"  filtered out {f.Id}: {WireName.Of(f.Reason)}");
    }

    var forgotten = await memory.ForgetAsync(new ForgetRequest([updated.Id]));
    Console.WriteLine($"Forgot {forgotten.Count}; residue empty: {forgotten.Residue.IsEmpty}");
}

Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
Directory.Delete(home, recursive: true);
