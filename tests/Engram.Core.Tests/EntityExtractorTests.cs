using Engram.Core.Curation;

namespace Engram.Core.Tests;

public class EntityExtractorTests
{
    [Theory]
    [InlineData("The flaky test is OrderTests.Refund_Twice.", "ordertests.refund_twice")]
    [InlineData("Config lives in src/Engram.Mcp/appsettings.json now.", "src/engram.mcp/appsettings.json")]
    [InlineData("Edit Program.cs first.", "program.cs")]
    [InlineData("We call `dotnet format` in CI.", "dotnet format")]
    [InlineData("Docs are at https://example.org/docs/setup.", "https://example.org/docs/setup")]
    [InlineData("Ask @ana-k about it.", "@ana-k")]
    [InlineData("Tracked under #infra-2024.", "#infra-2024")]
    [InlineData("The MemoryService owns the store.", "memoryservice")]
    [InlineData("Use retry_count from the config.", "retry_count")]
    [InlineData("Call getUserById instead.", "getuserbyid")]
    [InlineData("The API is behind the LGBTQ page.", "lgbtq")]
    [InlineData("Caroline moved to Lisbon.", "lisbon")]
    public void Extract_FindsTheNamedThing(string text, string entity)
    {
        Assert.Contains(entity, EntityExtractor.Extract(text));
    }

    [Fact]
    public void Extract_SkipsSentenceWordsAndDeduplicates()
    {
        var entities = EntityExtractor.Extract("The build broke. When it breaks, Ana fixes it. Ana is on call.");
        Assert.DoesNotContain("the", entities);
        Assert.DoesNotContain("when", entities);
        Assert.Single(entities, e => e == "ana");
    }

    [Fact]
    public void Extract_CapsTheNumberOfEntities()
    {
        var text = string.Join(" ", Enumerable.Range(0, 100).Select(i => $"Name{(char)('a' + i % 26)}x{i}Thing"));
        Assert.Equal(EntityExtractor.MaxEntities, EntityExtractor.Extract(text).Count);
    }
}
