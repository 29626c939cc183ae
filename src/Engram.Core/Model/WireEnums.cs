using System.Text.Json.Serialization;

namespace Engram.Core.Model;

/// <summary>What <c>remember</c> did with a fact. On the wire: <c>created</c> or <c>duplicate</c>.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<RememberStatus>))]
public enum RememberStatus
{
    /// <summary>A new memory was stored.</summary>
    [JsonStringEnumMemberName("created")]
    Created,

    /// <summary>The scope already holds this fact: nothing was stored, and the existing memory is returned.</summary>
    [JsonStringEnumMemberName("duplicate")]
    Duplicate,
}

/// <summary>Why <c>explain</c> reports a candidate as filtered out of a recall.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<FilterReason>))]
public enum FilterReason
{
    /// <summary>A newer memory replaced it, and the recall did not ask for superseded ones.</summary>
    [JsonStringEnumMemberName("superseded")]
    Superseded,

    /// <summary>A memory observed by the recall's <c>asOf</c> had already replaced it.</summary>
    [JsonStringEnumMemberName("superseded (as of asOf)")]
    SupersededAsOf,

    /// <summary>It was observed after the recall's <c>asOf</c>.</summary>
    [JsonStringEnumMemberName("outside asOf: observed after it")]
    ObservedAfterAsOf,

    /// <summary>It carries none of the recall's tags.</summary>
    [JsonStringEnumMemberName("tag filter")]
    TagFilter,

    /// <summary>It passed every filter but ranked below the recall's limit.</summary>
    [JsonStringEnumMemberName("below cut-off")]
    BelowCutOff,
}

/// <summary>How a forget selected its memories, as the forget audit records it.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ForgetSelector>))]
public enum ForgetSelector
{
    /// <summary>By memory ids.</summary>
    [JsonStringEnumMemberName("ids")]
    Ids,

    /// <summary>Every memory carrying a tag.</summary>
    [JsonStringEnumMemberName("tag")]
    Tag,

    /// <summary>The top matches of a recall.</summary>
    [JsonStringEnumMemberName("query")]
    Query,

    /// <summary>Every memory of one scope.</summary>
    [JsonStringEnumMemberName("all")]
    All,
}
