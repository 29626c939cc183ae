using Engram.Core.Model;

namespace Engram.Core.Storage;

/// <summary>The append-only record of every real forget (written by <see cref="IMemoryRecords.DeleteAsync"/>).</summary>
internal interface IForgetAudit
{
    /// <summary>The forget audit, oldest first: time, selector kind, scopes, ids, count and principal of every real forget.</summary>
    Task<IReadOnlyList<ForgetAuditRow>> ReadForgetAuditAsync(CancellationToken cancellationToken = default);
}

/// <summary>One recorded forget; <paramref name="Scopes"/> and <paramref name="Ids"/> are JSON arrays; <paramref name="Principal"/> is who asked (null: the store's own user or administrator).</summary>
internal sealed record ForgetAuditRow(DateTimeOffset At, ForgetSelector Selector, string Scopes, string Ids, int Count, string? Principal);
