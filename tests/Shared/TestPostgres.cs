using Npgsql;

namespace Engram.Testing;

/// <summary>
/// The PostgreSQL server the tests may use: <c>ENGRAM_TEST_POSTGRES</c> holds a connection string (no database) to a
/// server where they may create and drop databases; <c>tests/postgres/cluster.sh start</c> starts a throwaway one and
/// prints it. Each test class gets databases of its own, dropped afterwards.
/// </summary>
internal static class TestPostgres
{
    public const string Variable = "ENGRAM_TEST_POSTGRES";

    /// <summary>What a developer without the variable reads in the test output, instead of a silent skip.</summary>
    public const string HowToRun =
        "PostgreSQL tests not run: set ENGRAM_TEST_POSTGRES to a server where tests may create databases, e.g. "
        + "ENGRAM_TEST_POSTGRES=$(tests/postgres/cluster.sh start /tmp/engram-pg) dotnet test (CI always runs them).";

    public static string? Server => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } s ? s : null;

    /// <summary>Whether the whole suite runs on PostgreSQL (<c>ENGRAM_TEST_STORE=postgres</c>): every store a test opens is a fresh database.</summary>
    public static bool IsDefaultStore => string.Equals(Environment.GetEnvironmentVariable("ENGRAM_TEST_STORE"), "postgres", StringComparison.OrdinalIgnoreCase);

    private static readonly Dictionary<string, string> Databases = new(StringComparer.Ordinal);

    /// <summary>The database of a test's store folder <paramref name="home"/>, created on first use.</summary>
    public static string DatabaseOf(string home)
    {
        lock (Databases)
        {
            if (!Databases.TryGetValue(home, out var database))
            {
                database = CreateDatabase();
                Databases[home] = database;
            }

            return database;
        }
    }

    /// <summary>Drops the databases of the store folders under <paramref name="root"/>.</summary>
    public static void DropDatabasesUnder(string root)
    {
        List<string> dropping;
        lock (Databases)
        {
            var homes = Databases.Keys.Where(h => h.StartsWith(root, StringComparison.Ordinal)).ToList();
            dropping = homes.Select(h => Databases[h]).ToList();
            homes.ForEach(h => Databases.Remove(h));
        }

        dropping.ForEach(DropDatabase);
    }

    /// <summary>Creates an empty database and returns the connection string to it.</summary>
    public static string CreateDatabase()
    {
        var server = Server ?? throw new InvalidOperationException(HowToRun);
        var name = "engram_t_" + Guid.NewGuid().ToString("N")[..16];
        using (var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(server) { Database = "postgres", Pooling = false }.ConnectionString))
        {
            connection.Open();
            using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            command.ExecuteNonQuery();
        }

        return new NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString;
    }

    /// <summary>Drops a database <see cref="CreateDatabase"/> made, closing whatever still uses it.</summary>
    public static void DropDatabase(string connectionString)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
        NpgsqlConnection.ClearAllPools();
        using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Database = "postgres", Pooling = false }.ConnectionString);
        connection.Open();
        using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", connection);
        command.ExecuteNonQuery();
    }
}

/// <summary>
/// A test that needs PostgreSQL. Without <c>ENGRAM_TEST_POSTGRES</c> it is reported as not run, with the message saying
/// how to run it; in CI (<c>CI=true</c>) it always runs, and fails without a server.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class PostgresFactAttribute : Xunit.FactAttribute
{
    public PostgresFactAttribute()
    {
        if (TestPostgres.Server is null && !string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Skip = TestPostgres.HowToRun;
        }
    }
}
