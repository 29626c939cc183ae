namespace Engram.Core;

/// <summary>
/// The store cannot be reached right now (a PostgreSQL server restarting, a network cut): nothing was written, and the
/// same call may be retried. The message says so in words a caller can act on; it never holds a password, SQL or
/// memory text.
/// </summary>
public sealed class EngramUnavailableException : Exception
{
    /// <summary>Creates the exception with a message that says what is unreachable and that a retry is safe.</summary>
    public EngramUnavailableException(string message) : base(message) { }

    /// <summary>Creates the exception with no message.</summary>
    public EngramUnavailableException() { }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public EngramUnavailableException(string message, Exception innerException) : base(message, innerException) { }
}
