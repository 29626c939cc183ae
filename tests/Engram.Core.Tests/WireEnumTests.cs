using System.Text.Json;
using Engram.Core.Model;

namespace Engram.Core.Tests;

/// <summary>The wire enums serialize to exactly the strings they replaced, both ways, in every JSON Engram writes. No I/O.</summary>
public sealed class WireEnumTests
{
    // The command line's --json and export serialize with the web defaults (camelCase).
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    public static TheoryData<RememberStatus, string> RememberStatuses => new()
    {
        { RememberStatus.Created, "created" },
        { RememberStatus.Duplicate, "duplicate" },
    };

    public static TheoryData<FilterReason, string> FilterReasons => new()
    {
        { FilterReason.Superseded, "superseded" },
        { FilterReason.SupersededAsOf, "superseded (as of asOf)" },
        { FilterReason.ObservedAfterAsOf, "outside asOf: observed after it" },
        { FilterReason.TagFilter, "tag filter" },
        { FilterReason.BelowCutOff, "below cut-off" },
    };

    public static TheoryData<ForgetSelector, string> ForgetSelectors => new()
    {
        { ForgetSelector.Ids, "ids" },
        { ForgetSelector.Tag, "tag" },
        { ForgetSelector.Query, "query" },
        { ForgetSelector.All, "all" },
    };

    [Theory]
    [MemberData(nameof(RememberStatuses))]
    public void RememberStatus_IsItsOldString(RememberStatus value, string wire) => AssertRoundTrip(value, wire);

    [Theory]
    [MemberData(nameof(FilterReasons))]
    public void FilterReason_IsItsOldString(FilterReason value, string wire) => AssertRoundTrip(value, wire);

    [Theory]
    [MemberData(nameof(ForgetSelectors))]
    public void ForgetSelector_IsItsOldString(ForgetSelector value, string wire) => AssertRoundTrip(value, wire);

    [Fact]
    public void Records_CarryTheStrings_InTheCommandLinesJson()
    {
        var remembered = new RememberResult("m_1", "user", RememberStatus.Duplicate, "m_1", [], []);
        Assert.Equal("""{"id":"m_1","scope":"user","status":"duplicate","duplicateOf":"m_1","supersedes":[],"similar":[]}""", JsonSerializer.Serialize(remembered, Web));
        Assert.Equal("""{"id":"m_2","reason":"tag filter"}""", JsonSerializer.Serialize(new FilteredMemory("m_2", FilterReason.TagFilter), Web));
        var audit = new ForgetAuditEntry(DateTimeOffset.UnixEpoch, ForgetSelector.Query, [], ["m_3"], 1);
        Assert.Equal("""{"at":"1970-01-01T00:00:00+00:00","selector":"query","scopes":[],"ids":["m_3"],"count":1,"principal":null}""", JsonSerializer.Serialize(audit, Web));
        Assert.Equal(ForgetSelector.Query, JsonSerializer.Deserialize<ForgetAuditEntry>(JsonSerializer.Serialize(audit, Web), Web)!.Selector);
    }

    [Fact]
    public void EachTable_NamesEveryMember()
    {
        AssertComplete(RememberStatuses);
        AssertComplete(FilterReasons);
        AssertComplete(ForgetSelectors);
    }

    [Fact]
    public void AnUnknownString_IsNoMember()
    {
        Assert.Throws<FormatException>(() => WireName.Parse<ForgetSelector>("Ids"));
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<ForgetSelector>("\"Ids\""));
    }

    private static void AssertRoundTrip<TEnum>(TEnum value, string wire) where TEnum : struct, Enum
    {
        var json = JsonSerializer.Serialize(wire);
        Assert.Equal(json, JsonSerializer.Serialize(value));
        Assert.Equal(json, JsonSerializer.Serialize(value, Web));
        Assert.Equal(value, JsonSerializer.Deserialize<TEnum>(json));
        Assert.Equal(value, JsonSerializer.Deserialize<TEnum>(json, Web));
        Assert.Equal(wire, WireName.Of(value));
        Assert.Equal(value, WireName.Parse<TEnum>(wire));
    }

    /// <summary>A member added to an enum but not to its table above fails here.</summary>
    private static void AssertComplete<TEnum>(TheoryData<TEnum, string> table) where TEnum : struct, Enum =>
        Assert.Equal(Enum.GetValues<TEnum>().Order(), table.Select(row => (TEnum)row[0]).Order());
}
