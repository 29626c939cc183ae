using System.Text.Json;
using Engram.Core.Model;
using Microsoft.Data.Sqlite;
using static Engram.Core.Storage.Sqlite.SqliteDatabase;

namespace Engram.Core.Storage.Sqlite;

/// <summary>The <c>forget_audit</c> table, append-only (triggers refuse updates and deletes).</summary>
internal sealed class SqliteForgetAudit(SqliteDatabase database)
{
    /// <summary>Records a real forget within its transaction: when, the selector kind (its wire string, as the column always held), the scopes and the ids deleted (never content).</summary>
    public static async Task AppendAsync(SqliteConnection connection, SqliteTransaction tx, long at, ForgetSelector selector, IReadOnlyList<string> scopes, string? principal, List<string> deleted, CancellationToken cancellationToken)
    {
        await using var audit = Command(connection, tx, """
            INSERT INTO forget_audit(at, selector, scopes, ids, count, dry_run, principal) VALUES($at, $selector, $scopes, $ids, $count, 0, $principal);
            """, "$at", "$selector", "$scopes", "$ids", "$count", "$principal");
        await ExecuteAsync(audit, cancellationToken, at, WireName.Of(selector), JsonSerializer.Serialize(scopes), JsonSerializer.Serialize(deleted), deleted.Count, (object?)principal ?? DBNull.Value).ConfigureAwait(false);
    }

    /// <inheritdoc cref="IForgetAudit.ReadForgetAuditAsync"/>
    public async Task<IReadOnlyList<ForgetAuditRow>> ReadForgetAuditAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, "SELECT at, selector, scopes, ids, count, principal FROM forget_audit ORDER BY seq;");
        return await ReadAsync(command, r => new ForgetAuditRow(
            DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(0)), WireName.Parse<ForgetSelector>(r.GetString(1)), r.GetString(2), r.GetString(3), r.GetInt32(4), r.IsDBNull(5) ? null : r.GetString(5)), cancellationToken).ConfigureAwait(false);
    }
}
