using System.Globalization;
using Npgsql;

namespace Engram.Core.Storage.Postgres;

/// <summary>
/// A PostgreSQL store named by a connection string: a URI (<c>postgres://user@host:5432/engram</c>) or Npgsql's
/// key=value form (<c>Host=db;Username=engram;Database=engram</c>). The password never comes from here: Npgsql takes it
/// from <c>PGPASSWORD</c> or the password file (<c>~/.pgpass</c>, or <c>PGPASSFILE</c>), so it shows in no process list,
/// log or error.
/// </summary>
internal sealed record PostgresLocation(string ConnectionString, string Display)
{
    /// <summary>Whether <paramref name="store"/> names a PostgreSQL database rather than a folder.</summary>
    public static bool IsConnectionString(string store) =>
        store.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase)
        || store.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase)
        || (store.Contains('=', StringComparison.Ordinal) && store.Split(';')[0].Split('=')[0].Trim() is { Length: > 0 } key
            && key.All(c => char.IsLetter(c) || c == ' '));

    /// <summary>Parses a connection string; the message of a bad one says what to send, and never repeats a password.</summary>
    /// <exception cref="EngramArgumentException">Malformed, or carries a password.</exception>
    public static PostgresLocation Parse(string store)
    {
        var builder = store.Contains("://", StringComparison.Ordinal) ? FromUri(store) : FromKeyValues(store);
        if (!string.IsNullOrEmpty(builder.Password))
        {
            throw new EngramArgumentException(PasswordHelp);
        }

        builder.ApplicationName ??= "engram";
        var display = string.Create(CultureInfo.InvariantCulture,
            $"postgres://{(string.IsNullOrEmpty(builder.Username) ? "" : builder.Username + "@")}{builder.Host}{(builder.Port == NpgsqlConnection.DefaultPort ? "" : ":" + builder.Port)}/{builder.Database}");
        return new PostgresLocation(builder.ConnectionString, display);
    }

    private const string PasswordHelp =
        "The PostgreSQL connection string carries a password: leave it out and set PGPASSWORD in the server's environment, or put it in ~/.pgpass (host:port:database:user:password, mode 0600).";

    private static NpgsqlConnectionStringBuilder FromUri(string store)
    {
        if (!Uri.TryCreate(store, UriKind.Absolute, out var uri) || uri.Scheme is not ("postgres" or "postgresql") || string.IsNullOrEmpty(uri.Host))
        {
            throw new EngramArgumentException("The store is not a valid PostgreSQL URI: send postgres://user@host:5432/database (no password: use PGPASSWORD or ~/.pgpass).");
        }

        var builder = new NpgsqlConnectionStringBuilder { Host = uri.Host.Trim('[', ']') };
        if (!uri.IsDefaultPort && uri.Port > 0)
        {
            builder.Port = uri.Port;
        }

        if (uri.UserInfo.Length > 0)
        {
            if (uri.UserInfo.Contains(':', StringComparison.Ordinal))
            {
                throw new EngramArgumentException(PasswordHelp);
            }

            builder.Username = Uri.UnescapeDataString(uri.UserInfo);
        }

        var database = Uri.UnescapeDataString(uri.AbsolutePath.Trim('/'));
        builder.Database = database.Length > 0 ? database : "engram";
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = pair.Split('=', 2);
            var key = Uri.UnescapeDataString(parts[0]);
            var value = parts.Length > 1 ? Uri.UnescapeDataString(parts[1]) : "";
            if (key.Equals("password", StringComparison.OrdinalIgnoreCase))
            {
                throw new EngramArgumentException(PasswordHelp);
            }

            // libpq's names for what Npgsql spells its own way.
            key = key.ToLowerInvariant() switch
            {
                "sslmode" => "SSL Mode",
                "application_name" => "Application Name",
                "connect_timeout" => "Timeout",
                "host" => "Host",
                _ => key,
            };
            try
            {
                builder[key] = value;
            }
            catch (ArgumentException)
            {
                throw new EngramArgumentException($"The PostgreSQL URI's option '{key}' is not one Npgsql knows: send libpq's sslmode, connect_timeout or application_name, or Npgsql's own names.");
            }
        }

        return builder;
    }

    private static NpgsqlConnectionStringBuilder FromKeyValues(string store)
    {
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(store);
            if (string.IsNullOrEmpty(builder.Host))
            {
                throw new EngramArgumentException("The PostgreSQL connection string names no Host: send Host=...;Database=...;Username=... (no password: use PGPASSWORD or ~/.pgpass).");
            }

            builder.Database ??= "engram";
            return builder;
        }
        catch (ArgumentException e) when (e is not EngramArgumentException)
        {
            // The message of a malformed string may quote it, password and all: say only what to send.
            throw new EngramArgumentException("The store is not a valid PostgreSQL connection string: send postgres://user@host:5432/database or Host=...;Database=...;Username=... (no password: use PGPASSWORD or ~/.pgpass).");
        }
    }
}
