namespace Engram.Core;

/// <summary>
/// A request the caller can fix: the message says what was wrong and what to send instead.
/// Hosts may pass the message on to their caller as it is; it never holds paths, SQL or memory text.
/// </summary>
public sealed class EngramArgumentException : ArgumentException
{
    /// <summary>Creates the exception with a message that says how to fix the request.</summary>
    public EngramArgumentException(string message) : base(message) { }

    /// <summary>Creates the exception with no message.</summary>
    public EngramArgumentException() { }

    /// <summary>Creates the exception with a message and the cause.</summary>
    public EngramArgumentException(string message, Exception innerException) : base(message, innerException) { }
}
