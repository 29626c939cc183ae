using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Data.Sqlite;

namespace Engram.Core.Storage.Sqlite;

/// <summary>
/// The SQLite file: how connections are opened and configured, the pragmas that lend a connection a different policy
/// for a while, the WAL checkpoint, and the one way statements are built and bound. A statement declares its
/// parameters by name (<see cref="Command(SqliteConnection, SqliteTransaction?, string, string[])"/>) and is bound by
/// position (<see cref="Bind"/>), so a bulk write prepares it once and binds it per row; an <c>IN</c> clause takes its
/// values through <see cref="AddList"/>.
/// </summary>
internal sealed class SqliteDatabase
{
    /// <summary>How long a connection waits for another process's lock before giving up.</summary>
    public const int BusyTimeoutMs = 30_000;

    private static readonly ConditionalWeakTable<SQLitePCL.sqlite3, object> Configured = [];
    private static readonly object Marker = new();

    private readonly string _connectionString;

    public SqliteDatabase(string path)
    {
        Path = path;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    public string Path { get; }

    public async Task<SqliteConnection> OpenConnectionAsync(CancellationToken cancellationToken = default)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        // Once per native connection (pooled handles keep their settings): wait for other processes' locks, fsync
        // every commit, zero deleted content in place, and enforce foreign keys.
        if (connection.Handle is { } handle && !Configured.TryGetValue(handle, out _))
        {
            await ExecuteAsync(connection, $"PRAGMA busy_timeout={BusyTimeoutMs}; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON; PRAGMA foreign_keys=ON;", cancellationToken).ConfigureAwait(false);
            Configured.AddOrUpdate(handle, Marker);
        }

        return connection;
    }

    /// <summary>
    /// Runs <paramref name="work"/> with a shorter busy timeout on <paramref name="connection"/>, then gives the pooled
    /// connection back with the store's own (a pooled connection keeps its settings).
    /// </summary>
    public static async Task<T> WithBusyTimeoutAsync<T>(SqliteConnection connection, int milliseconds, Func<Task<T>> work, CancellationToken cancellationToken)
    {
        await ExecuteAsync(connection, $"PRAGMA busy_timeout={milliseconds};", cancellationToken).ConfigureAwait(false);
        try
        {
            return await work().ConfigureAwait(false);
        }
        finally
        {
            await ExecuteAsync(connection, $"PRAGMA busy_timeout={BusyTimeoutMs};", CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> with <c>synchronous=NORMAL</c> on <paramref name="connection"/> (no fsync at commit in
    /// WAL mode), then sets the store's own <c>FULL</c> again before the pooled connection goes back.
    /// </summary>
    public static async Task WithoutCommitSyncAsync(SqliteConnection connection, Func<Task> work, CancellationToken cancellationToken)
    {
        await ExecuteAsync(connection, "PRAGMA synchronous=NORMAL;", cancellationToken).ConfigureAwait(false);
        try
        {
            await work().ConfigureAwait(false);
        }
        finally
        {
            await ExecuteAsync(connection, "PRAGMA synchronous=FULL;", CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>Moves the WAL's content into the database file and truncates the WAL, so no deleted bytes linger there.</summary>
    /// <returns>Whether the WAL was emptied; false when other connections' readers kept it busy through every try.</returns>
    public async Task<bool> CheckpointAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        // A truncating checkpoint waits, through the busy handler, for every reader to leave the WAL. With the store's
        // 30 s busy timeout, readers that keep coming (another process recalling nonstop) held a forget for minutes;
        // here each attempt waits a quarter of a second, about six seconds in all, then the WAL is left for later.
        return await WithBusyTimeoutAsync(connection, 250, async () =>
        {
            for (var attempt = 0; attempt < 20; attempt++)
            {
                await using var command = Command(connection, null, "PRAGMA wal_checkpoint(TRUNCATE);");
                await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                // The row is (busy, frames in the WAL, frames checkpointed): busy = 0 means the WAL was reset.
                if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false) && reader.GetInt32(0) == 0)
                {
                    return true;
                }

                // Another process is mid-read; its snapshot usually ends within milliseconds.
                await Task.Delay(50, cancellationToken).ConfigureAwait(false);
            }

            return false;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A statement whose <paramref name="parameters"/> are declared by name, to be bound by position.</summary>
    public static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? tx, string sql, params string[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        foreach (var name in parameters)
        {
            command.Parameters.Add(new SqliteParameter { ParameterName = name });
        }

        return command;
    }

    /// <summary>
    /// A statement with lists: <paramref name="parameters"/> are declared first (bound by position), then
    /// <paramref name="sql"/> writes the text, adding each list through <see cref="AddList"/>.
    /// </summary>
    public static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? tx, Func<SqliteCommand, string> sql, params string[] parameters)
    {
        var command = Command(connection, tx, "", parameters);
        command.CommandText = sql(command);
        return command;
    }

    /// <summary>Adds one parameter per value (<c>$s0</c>, <c>$s1</c>, ...) and returns their names for an <c>IN</c> clause; <c>NULL</c> (which matches nothing) when there are none.</summary>
    public static string AddList(SqliteCommand command, string prefix, IEnumerable<string> values)
    {
        var names = new StringBuilder();
        var i = 0;
        foreach (var value in values)
        {
            var name = prefix + i.ToString(CultureInfo.InvariantCulture);
            if (i++ > 0) names.Append(',');
            names.Append(name);
            command.Parameters.AddWithValue(name, value);
        }

        return i == 0 ? "NULL" : names.ToString();
    }

    /// <summary>Binds the declared parameters, in order.</summary>
    public static void Bind(SqliteCommand command, params object[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters[i].Value = values[i];
        }
    }

    public static Task<int> ExecuteAsync(SqliteCommand command, CancellationToken cancellationToken, params object[] values)
    {
        Bind(command, values);
        return command.ExecuteNonQueryAsync(cancellationToken);
    }

    public static Task<object?> ScalarAsync(SqliteCommand command, CancellationToken cancellationToken, params object[] values)
    {
        Bind(command, values);
        return command.ExecuteScalarAsync(cancellationToken);
    }

    /// <summary>Runs a bound query and maps every row, in the order SQLite returns them.</summary>
    public static async Task<List<T>> ReadAsync<T>(SqliteCommand command, Func<SqliteDataReader, T> row, CancellationToken cancellationToken)
    {
        var rows = new List<T>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(row(reader));
        }

        return rows;
    }

    /// <summary>Runs a statement without parameters (pragmas, schema).</summary>
    public static async Task ExecuteAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken, SqliteTransaction? tx = null)
    {
        await using var command = Command(connection, tx, sql);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The first column of the first row of a statement without parameters.</summary>
    public static async Task<object?> ScalarAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken, SqliteTransaction? tx = null)
    {
        await using var command = Command(connection, tx, sql);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    public static long ToInt64(object? value) => Convert.ToInt64(value, CultureInfo.InvariantCulture);

    public static int ToInt32(object? value) => Convert.ToInt32(value, CultureInfo.InvariantCulture);
}
