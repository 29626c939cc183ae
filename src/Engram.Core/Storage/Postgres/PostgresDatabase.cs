using System.Net.Sockets;
using Npgsql;
using NpgsqlTypes;

namespace Engram.Core.Storage.Postgres;

/// <summary>
/// The PostgreSQL database: its pooled data source, the one way statements are built (positional parameters, lists as
/// arrays), the transactions the store uses, and the lock that makes the change feed commit-ordered.
/// </summary>
/// <remarks>
/// A sequence alone is not commit-ordered: with two writers, the one that took seq 11 may commit before the one that
/// took seq 10, and a reader that has seen 11 would then never read 10. So every transaction that appends to the feed
/// first takes one transaction-scoped advisory lock (<see cref="LockFeedAsync"/>) and holds it to its commit: appends are
/// serialised, a seq is only visible once every lower one is committed or rolled back, and "after the last seq seen" is
/// a safe way to read on. Writers wait for each other for the length of one write transaction (a few milliseconds:
/// embedding happens before it), which is what SQLite's single writer costs too.
/// </remarks>
internal sealed class PostgresDatabase : IAsyncDisposable
{
    /// <summary>The advisory lock key every feed append takes ("engram" in ASCII).</summary>
    public const long FeedLockKey = 0x656E6772616DL;

    /// <summary>The advisory lock key schema creation and migration take, so servers starting together apply it once.</summary>
    public const long SchemaLockKey = FeedLockKey + 1;

    private readonly NpgsqlDataSource _source;

    public PostgresDatabase(PostgresLocation location)
    {
        Location = location;
        var builder = new NpgsqlDataSourceBuilder(location.ConnectionString);
        _source = builder.Build();
    }

    /// <summary>Where the database is, without any secret.</summary>
    public PostgresLocation Location { get; }

    /// <summary>
    /// Runs <paramref name="work"/> in a read-committed transaction that holds the feed lock from its first statement to
    /// its commit. A failure that means the database is unreachable becomes <see cref="EngramUnavailableException"/>.
    /// </summary>
    public Task<T> WriteAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken cancellationToken) =>
        LockedAsync(FeedLockKey, work, cancellationToken);

    /// <summary>Runs <paramref name="work"/> in a read-committed transaction that holds the advisory lock <paramref name="key"/> to its commit.</summary>
    public Task<T> LockedAsync<T>(long key, Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken cancellationToken) =>
        WithRetryAsync(() => TransactionAsync(System.Data.IsolationLevel.ReadCommitted, LockSql(key), work, cancellationToken));

    /// <summary>Runs <paramref name="work"/> in a read-only repeatable-read transaction: one snapshot for every statement in it.</summary>
    public Task<T> SnapshotAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken cancellationToken) =>
        WithRetryAsync(() => TransactionAsync(System.Data.IsolationLevel.RepeatableRead, "SET TRANSACTION READ ONLY", work, cancellationToken));

    /// <summary>
    /// Runs <paramref name="work"/> on a connection of its own, statement by statement (each its own snapshot). Also
    /// used for the few writes that need no feed lock and are safe to repeat.
    /// </summary>
    public Task<T> ReadAsync<T>(Func<NpgsqlConnection, Task<T>> work, CancellationToken cancellationToken) =>
        WithRetryAsync(async () =>
        {
            await using var connection = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            return await work(connection).ConfigureAwait(false);
        });

    /// <summary>
    /// Runs <paramref name="attempt"/>, and once more when the database went away under it before a commit: a pooled
    /// connection the server closed (a restart) fails at its first statement, and a transaction cut before its commit
    /// was rolled back by the server, so nothing was written; the pool is cleared and the work tried on a new
    /// connection. A failure at commit is never repeated (the commit may have happened). What still fails reaches the
    /// caller as <see cref="EngramUnavailableException"/>: retryable.
    /// </summary>
    private async Task<T> WithRetryAsync<T>(Func<Task<T>> attempt)
    {
        for (var tries = 1; ; tries++)
        {
            try
            {
                return await attempt().ConfigureAwait(false);
            }
            catch (Exception e) when (IsUnavailable(e) && tries < 2 && !e.Data.Contains(CommittingKey))
            {
                _source.Clear();
            }
            catch (Exception e) when (IsUnavailable(e) && e.Data.Contains(CommittingKey))
            {
                // The commit was sent: it may have been applied. Repeating a forget by query would then take the next match.
                throw new EngramUnavailableException(
                    $"The store at {Location.Display} cannot be reached right now ({Reason(e)}; it went away while committing, so the change may have been applied). Retry in a few seconds: remember is safe to repeat (a fact stored twice is one memory); before repeating a forget, recall to see whether it is done.", e);
            }
            catch (Exception e) when (IsUnavailable(e))
            {
                throw new EngramUnavailableException(
                    $"The store at {Location.Display} cannot be reached right now ({Reason(e)}). Retry in a few seconds: remember, forget and recall are safe to repeat (a fact stored twice is one memory).", e);
            }
        }
    }

    /// <summary>One transaction: <paramref name="first"/> (its lock or its mode), the work, the commit.</summary>
    private async Task<T> TransactionAsync<T>(System.Data.IsolationLevel isolation, string first, Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        await using var connection = await _source.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(isolation, cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(connection, tx, first, cancellationToken).ConfigureAwait(false);
        var result = await work(connection, tx).ConfigureAwait(false);
        try
        {
            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (IsUnavailable(e))
        {
            e.Data[CommittingKey] = true;
            throw;
        }

        return result;
    }

    private const string CommittingKey = "engram.committing";

    /// <summary>Takes the feed lock for the rest of <paramref name="tx"/> (see the remarks on this class).</summary>
    public static Task LockFeedAsync(NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken cancellationToken) =>
        ExecuteAsync(connection, tx, LockSql(FeedLockKey), cancellationToken);

    private static string LockSql(long key) => $"SELECT pg_advisory_xact_lock({key})";

    /// <summary>A statement with positional parameters (<c>$1</c>, <c>$2</c>, ...) bound to <paramref name="values"/>; a list is sent as an array.</summary>
    public static NpgsqlCommand Command(NpgsqlConnection connection, NpgsqlTransaction? tx, string sql, params object?[] values)
    {
        var command = new NpgsqlCommand(sql, connection, tx);
        // A lone string[] (or byte[][]) argument arrives as the params array itself (array covariance): it is one parameter, a list.
        if (values.GetType() != typeof(object[]))
        {
            command.Parameters.Add(Parameter(values));
            return command;
        }

        foreach (var value in values)
        {
            command.Parameters.Add(Parameter(value));
        }

        return command;
    }

    private static NpgsqlParameter Parameter(object? value) => value switch
    {
        null => new NpgsqlParameter { Value = DBNull.Value },
        string[] texts => new NpgsqlParameter { Value = texts, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text },
        long[] numbers => new NpgsqlParameter { Value = numbers, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint },
        byte[] bytes => new NpgsqlParameter { Value = bytes, NpgsqlDbType = NpgsqlDbType.Bytea },
        byte[][] blobs => new NpgsqlParameter { Value = blobs, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bytea },
        _ => new NpgsqlParameter { Value = value },
    };

    public static async Task<int> ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string sql, CancellationToken cancellationToken, params object?[] values)
    {
        await using var command = Command(connection, tx, sql, values);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs several statements in one round trip, with named parameters (<c>@id</c>): PostgreSQL takes positional ones
    /// only in a single statement.
    /// </summary>
    public static async Task<int> ExecuteNamedAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string sql, CancellationToken cancellationToken, params (string Name, object Value)[] values)
    {
        await using var command = new NpgsqlCommand(sql, connection, tx);
        foreach (var (name, value) in values)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public static async Task<object?> ScalarAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string sql, CancellationToken cancellationToken, params object?[] values)
    {
        await using var command = Command(connection, tx, sql, values);
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is DBNull ? null : value;
    }

    /// <summary>Runs a query and maps every row, in the order PostgreSQL returns them.</summary>
    public static async Task<List<T>> QueryAsync<T>(NpgsqlConnection connection, NpgsqlTransaction? tx, string sql, Func<NpgsqlDataReader, T> row, CancellationToken cancellationToken, params object?[] values)
    {
        await using var command = Command(connection, tx, sql, values);
        var rows = new List<T>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(row(reader));
        }

        return rows;
    }

    /// <summary>The change feed's newest sequence number visible to <paramref name="tx"/> (0 for an empty store).</summary>
    public static async Task<long> MaxSeqAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, CancellationToken cancellationToken) =>
        Convert.ToInt64(await ScalarAsync(connection, tx, "SELECT COALESCE(MAX(seq), 0) FROM changes", cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Whether a failure means the database cannot be reached or went away mid-call (a restart, a cut connection, a
    /// server shutting down), rather than a mistake in the call: the call may be retried.
    /// </summary>
    public static bool IsUnavailable(Exception e) => e switch
    {
        EngramUnavailableException => false,
        // Besides restarts and cut connections: a session closed for idling (57P05), a write on a primary demoted by a
        // failover (25006), and a transaction rolled back for a deadlock or a serialisation conflict (40P01, 40001).
        PostgresException pg => pg.SqlState is "57P01" or "57P02" or "57P03" or "57P05" or "08000" or "08003" or "08006" or "08001" or "08004" or "53300"
            or "25006" or "40P01" or "40001",
        NpgsqlException npgsql => npgsql.IsTransient || npgsql.InnerException is SocketException or IOException or TimeoutException,
        SocketException or TimeoutException => true,
        _ => false,
    };

    private static string Reason(Exception e) => e switch
    {
        PostgresException { SqlState: "57P01" or "57P02" } => "the PostgreSQL server is shutting down or restarting",
        PostgresException { SqlState: "57P03" } => "the PostgreSQL server is starting up",
        PostgresException { SqlState: "53300" } => "the PostgreSQL server has no free connections",
        PostgresException { SqlState: "57P05" } => "the PostgreSQL server closed an idle connection",
        PostgresException { SqlState: "25006" } => "the PostgreSQL server is read-only (a failover?)",
        PostgresException { SqlState: "40P01" or "40001" } => "another server's work conflicted with this one",
        _ when e.InnerException is SocketException or IOException || e is SocketException => "the connection was refused or cut",
        _ => "the connection failed",
    };

    public ValueTask DisposeAsync() => _source.DisposeAsync();
}
