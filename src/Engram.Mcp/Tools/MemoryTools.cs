using System.ComponentModel;
using Engram.Core;
using Engram.Core.Model;
using ModelContextProtocol;
using ModelContextProtocol.Server;

namespace Engram.Mcp.Tools;

/// <summary>The four MCP tools. Each validates, calls <see cref="MemoryService"/>, and shapes a small result with a summary.</summary>
[McpServerToolType]
public sealed class MemoryTools(MemoryService memory)
{
    /// <summary>Stores a fact.</summary>
    [McpServerTool(Name = "remember", Title = "Remember a fact", ReadOnly = false, Destructive = false, Idempotent = true, OpenWorld = false, UseStructuredContent = true)]
    [Description("""
        Use when the user states a preference, a decision, a convention, or a fact about this project or themselves
        that should still be known in a later session ("we use pnpm", "Ana prefers trains", "the flaky test is X").
        Store one self-contained fact per call, in plain words (a few sentences at most; not documents or code dumps).
        Saying the same fact twice is safe: it returns the existing memory as a duplicate. When 'similar' lists a memory
        that this fact replaces (a changed version, a reversed decision), call remember again with 'supersedes' set to its id.
        """)]
    public async Task<RememberToolResult> Remember(
        [Description("The fact, self-contained (names, not pronouns), at most 4000 characters.")] string content,
        [Description("Scope to store in: 'user' for the person's own cross-project memory, or 'project:<key>'. Default: the current project, else 'user'.")] string? scope = null,
        [Description("Optional short labels such as 'decision' or 'build', for filtering recall and forget.")] string[]? tags = null,
        [Description("ISO-8601 time when the fact was said or became true, e.g. '2025-03-14' or '2025-03-14T09:30:00Z'. Default: now.")] string? observedAt = null,
        [Description("Ids of memories this fact replaces (from recall, or from 'similar' of an earlier remember). They stay as history.")] string[]? supersedes = null,
        CancellationToken cancellationToken = default)
    {
        var request = new RememberRequest(content, scope, tags, ParseTimestamp(observedAt, nameof(observedAt)), supersedes);
        var r = await memory.RememberAsync(request, cancellationToken).ConfigureAwait(false);
        var summary = r.Status == RememberStatus.Duplicate
            ? $"Already remembered as {r.Id} in {r.Scope}; nothing new stored."
            : $"Remembered {r.Id} in {r.Scope}" + (r.Supersedes.Count > 0 ? $", superseding {r.Supersedes.Count}." : ".");
        if (r.Similar.Count > 0)
        {
            summary += $" {r.Similar.Count} similar {(r.Similar.Count == 1 ? "memory" : "memories")} listed: if this replaces one, remember again with 'supersedes'.";
        }

        return new RememberToolResult(r.Id, r.Scope, WireName.Of(r.Status), r.DuplicateOf, r.Supersedes, r.Similar, summary);
    }

    /// <summary>Finds relevant memories.</summary>
    [McpServerTool(Name = "recall", Title = "Recall memories", ReadOnly = true, Destructive = false, Idempotent = true, OpenWorld = false, UseStructuredContent = true)]
    [Description("""
        Use before answering or acting whenever earlier sessions may have settled the matter: the user's preferences,
        this project's decisions, conventions, known problems, names. Ask in natural language or keywords; results come
        best first from the current project and the user's memory. Pass the returned retrievalId to 'explain' if
        something expected is missing.
        """)]
    public async Task<RecallToolResult> Recall(
        [Description("What to look for: a question or keywords, at most 2000 characters.")] string query,
        [Description("The project to search ('project:<key>', searched with 'user'), or 'user' alone. Default: the current project plus 'user'.")] string? scope = null,
        [Description("How many memories to return, 1 to 100. Default 10.")] int limit = 10,
        [Description("Only memories carrying at least one of these tags.")] string[]? tags = null,
        [Description("Also return memories that newer ones replaced (each shows supersededBy). Default false.")] bool includeSuperseded = false,
        [Description("ISO-8601 time: return what was current then (observed by then, not yet superseded).")] string? asOf = null,
        CancellationToken cancellationToken = default)
    {
        var request = new RecallRequest(query, scope, limit, tags, includeSuperseded, ParseTimestamp(asOf, nameof(asOf)));
        var r = await memory.RecallAsync(request, cancellationToken).ConfigureAwait(false);
        var summary = r.Memories.Count == 0
            ? $"No memories matched in {string.Join(" + ", r.Scopes)}."
            : $"{r.Memories.Count} {(r.Memories.Count == 1 ? "memory" : "memories")} from {string.Join(" + ", r.Scopes)}, best first.";
        return new RecallToolResult(r.RetrievalId, r.Scopes, r.Memories, summary);
    }

    /// <summary>Forgets memories everywhere.</summary>
    [McpServerTool(Name = "forget", Title = "Forget memories", ReadOnly = false, Destructive = true, Idempotent = true, OpenWorld = false, UseStructuredContent = true)]
    [Description("""
        Use when the user asks to forget something, or a memory is wrong and should not be kept even as history
        (to record a change instead, use remember with 'supersedes'). Select by 'id' or 'ids' (from recall), 'tag',
        'query' (forgets the top match, or 'limit' of them), or 'all: true' with an explicit 'scope'. Set 'dryRun: true'
        first to see exactly what would go. Forgotten memories are removed from every index and from the files on disk.
        """)]
    public async Task<ForgetToolResult> Forget(
        [Description("One memory id to forget.")] string? id = null,
        [Description("Several memory ids to forget.")] string[]? ids = null,
        [Description("Forget every memory with this tag (in 'scope', or the default scopes).")] string? tag = null,
        [Description("Forget the memories a recall for this query returns first ('limit' of them, default 1).")] string? query = null,
        [Description("Forget every memory of 'scope' (which must then be given). Default false.")] bool all = false,
        [Description("The scope for 'tag', 'query' or 'all'.")] string? scope = null,
        [Description("With 'query': how many top matches to forget, 1 to 100. Default 1.")] int? limit = null,
        [Description("Report what would be forgotten without changing anything. Default false.")] bool dryRun = false,
        CancellationToken cancellationToken = default)
    {
        var selectedIds = id is null && ids is null ? null : (ids ?? []).Concat(id is null ? [] : [id]).ToList();
        var request = new ForgetRequest(selectedIds, tag, query, all, scope, limit, dryRun);
        var r = await memory.ForgetAsync(request, cancellationToken).ConfigureAwait(false);
        var noun = r.Count == 1 ? "memory" : "memories";
        var summary = r.Count == 0 ? (r.Checks == 0 ? "No memory matched; nothing was forgotten." : "No memory matched.")
            : r.DryRun ? $"Dry run: {r.Count} {noun} would be forgotten; nothing changed."
            : r.Residue.IsEmpty ? $"Forgot {r.Count} {noun}; nothing of them is left in any store."
            : $"Forgot {r.Count} {noun}, but some residue remains (see residue).";
        if (r.Checks > 0)
        {
            summary += $" {r.Checks} saved recall {(r.Checks == 1 ? "check" : "checks")} {(r.DryRun ? "would be" : r.Checks == 1 ? "was" : "were")} removed too: each expected a forgotten memory or lived in the forgotten scope.";
        }

        return new ForgetToolResult(r.DryRun, r.Count, r.Forgotten, r.Truncated, r.Residue, summary) { Checks = r.Checks };
    }

    /// <summary>Explains a recall.</summary>
    [McpServerTool(Name = "explain", Title = "Explain a recall", ReadOnly = true, Destructive = false, Idempotent = true, OpenWorld = false, UseStructuredContent = true)]
    [Description("""
        Use when a recall missed something you expected, or returned something surprising. Pass the recall's
        'retrievalId' to replay it, or a 'query' (with recall's arguments) to explain a new one; add 'memoryId' to learn
        why that memory did or did not surface. Shows each hit's rank and score in each signal (lexical, vector,
        entities, and time when the query names a date), what was filtered out and why, and which scopes were searched.
        """)]
    public async Task<ExplainToolResult> Explain(
        [Description("The retrievalId a recall returned.")] string? retrievalId = null,
        [Description("A query to explain instead of a past recall.")] string? query = null,
        [Description("With 'query': the project to search ('project:<key>', searched with 'user'), or 'user' alone. Default: the current project plus 'user'.")] string? scope = null,
        [Description("With 'query': how many memories the recall returns, 1 to 100. Default 10.")] int limit = 10,
        [Description("With 'query': only memories with at least one of these tags.")] string[]? tags = null,
        [Description("With 'query': include superseded memories.")] bool includeSuperseded = false,
        [Description("With 'query': ISO-8601 time to recall as of.")] string? asOf = null,
        [Description("A memory id to account for: why it did or did not surface.")] string? memoryId = null,
        CancellationToken cancellationToken = default)
    {
        var recall = query is null ? null : new RecallRequest(query, scope, limit, tags, includeSuperseded, ParseTimestamp(asOf, nameof(asOf)));
        var request = new ExplainRequest(retrievalId, recall, string.IsNullOrWhiteSpace(memoryId) ? null : memoryId.Trim());
        var r = await memory.ExplainAsync(request, cancellationToken).ConfigureAwait(false);
        var summary = $"{r.Hits.Count} hits and {r.FilteredOut.Count} filtered out over {string.Join(" + ", r.Scopes)}"
            + (r.StoreChangedSince ? "; the store has changed since this recall ran, so the replay reflects today's memories." : ".")
            + (r.Memory is { } m ? $" {m.Id}: {m.Reason}" : "");
        var filteredOut = r.FilteredOut.Select(f => new FilteredCandidate(f.Id, WireName.Of(f.Reason))).ToList();
        return new ExplainToolResult(r.RetrievalId, r.Query, r.Scopes, r.ScopeResolution, r.RanAt, r.StoreChangedSince, r.Hits, filteredOut, r.Memory, r.Vectors, summary) { MeanCosine = r.MeanCosine };
    }

    private static DateTimeOffset? ParseTimestamp(string? value, string name) =>
        value is null ? null
        : Timestamps.TryParse(value, out var parsed) ? parsed
        : throw new McpException($"'{name}' is not an ISO-8601 time: {Timestamps.Hint}.");
}
