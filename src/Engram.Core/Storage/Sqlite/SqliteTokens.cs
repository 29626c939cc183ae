using System.Text.Json;
using Microsoft.Data.Sqlite;
using static Engram.Core.Storage.Sqlite.SqliteDatabase;

namespace Engram.Core.Storage.Sqlite;

/// <summary>The <c>tokens</c> table: principals' bearer tokens, by the hash of their secret.</summary>
internal sealed class SqliteTokens(SqliteDatabase database)
{
    private const string Columns = "id, hash, principal, scopes, created_at, revoked_at";

    /// <inheritdoc cref="IPrincipalStore.AddTokenAsync"/>
    public async Task AddTokenAsync(StoredToken token, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var insert = Command(connection, null, $"INSERT INTO tokens({Columns}) VALUES($id, $hash, $principal, $scopes, $created, $revoked);",
            "$id", "$hash", "$principal", "$scopes", "$created", "$revoked");
        await ExecuteAsync(insert, cancellationToken,
            token.Id, token.Hash, token.Principal, JsonSerializer.Serialize(token.Scopes), token.CreatedAt, (object?)token.RevokedAt ?? DBNull.Value).ConfigureAwait(false);
    }

    /// <inheritdoc cref="IPrincipalStore.ListTokensAsync"/>
    public async Task<IReadOnlyList<StoredToken>> ListTokensAsync(CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, $"SELECT {Columns} FROM tokens ORDER BY created_at, rowid;");
        return await ReadAsync(command, Read, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc cref="IPrincipalStore.RevokeTokensAsync"/>
    public async Task<int> RevokeTokensAsync(string idOrPrincipal, long at, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var revoke = Command(connection, null, "UPDATE tokens SET revoked_at=$at WHERE revoked_at IS NULL AND (id=$name OR principal=$name);", "$at", "$name");
        return await ExecuteAsync(revoke, cancellationToken, at, idOrPrincipal).ConfigureAwait(false);
    }

    /// <inheritdoc cref="IPrincipalStore.FindTokenAsync"/>
    public async Task<StoredToken?> FindTokenAsync(string hash, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Command(connection, null, $"SELECT {Columns} FROM tokens WHERE hash=$hash AND revoked_at IS NULL;", "$hash");
        Bind(command, hash);
        var rows = await ReadAsync(command, Read, cancellationToken).ConfigureAwait(false);
        return rows.Count > 0 ? rows[0] : null;
    }

    private static StoredToken Read(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), JsonSerializer.Deserialize<List<string>>(r.GetString(3)) ?? [],
        r.GetInt64(4), r.IsDBNull(5) ? null : r.GetInt64(5));
}
