using System.CommandLine;
using System.Globalization;
using Engram.Core;
using Engram.Mcp.Output;
using Spectre.Console;

namespace Engram.Mcp.Commands;

/// <summary>
/// <c>engram token add|list|revoke</c>: the bearer tokens of a shared server's principals, in the store the global
/// options select, so every server on it accepts them. A token's secret is printed once; the store keeps its hash.
/// </summary>
internal static class TokenCommand
{
    public static Command Create(Shell shell) =>
        new("token", "Bearer tokens of a shared server's principals: add (printed once), list, revoke") { Add(shell), List(shell), Revoke(shell) };

    private static Command Add(Shell shell)
    {
        var name = new Argument<string>("name") { Description = "The principal: a person or a bot (a-z, 0-9, '.', '-', '_'; for example 'alice')" };
        var scopes = new Option<string>("--scopes")
        {
            Description = "Comma-separated scope patterns it may use: 'user' (its own user scope), 'project:<key>', or a prefix such as 'project:github.com/acme/*'",
            Required = true,
        };
        var command = new Command("add", "Issue a token; it is printed once (stdout), only its hash is stored") { name, scopes, CommonOptions.Json() };
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var patterns = cli.Get(scopes)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var token = await service.AddTokenAsync(cli.Get(name)!, patterns, cancellationToken).ConfigureAwait(false);
            if (cli.Json)
            {
                return cli.Print(token, () => { });
            }

            // The secret alone on stdout, so it can be captured; what to do with it on stderr.
            await cli.Terminal.Out.WriteLineAsync(token.Token).ConfigureAwait(false);
            await cli.Terminal.Error.WriteLineAsync(
                $"Token {token.Id} of {token.Principal} for {string.Join(", ", token.Scopes)}. It is shown this once: give it to {token.Principal} now "
                + $"(clients send 'Authorization: Bearer <token>'). Revoke it with 'engram token revoke {token.Id}'.").ConfigureAwait(false);
            return ExitCodes.Ok;
        }, new FlagNames(("at least one scope pattern", "at least one scope pattern in --scopes")));
        return command;
    }

    private static Command List(Shell shell)
    {
        var command = new Command("list", "List tokens (never their secrets): id, principal, scopes, created, revoked") { CommonOptions.Json() };
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var tokens = await service.ListTokensAsync(cancellationToken).ConfigureAwait(false);
            return cli.Print(tokens, () =>
            {
                var table = Tables.Create("id", "principal", "scopes", "created", "revoked");
                foreach (var t in tokens)
                {
                    table.AddRow(t.Id, Markup.Escape(t.Principal), Markup.Escape(string.Join(", ", t.Scopes)), Tables.Time(t.CreatedAt), t.RevokedAt is { } at ? Tables.Time(at) : "-");
                }

                cli.Console.Write(table);
            });
        });
        return command;
    }

    private static Command Revoke(Shell shell)
    {
        var target = new Argument<string>("id-or-name") { Description = "A token id (from 'engram token list'), or a principal's name to revoke all of its tokens" };
        var command = new Command("revoke", "Revoke a token by id, or every token of a principal; servers refuse it within seconds") { target, CommonOptions.Json() };
        command.SetAction(shell, async (cli, service, cancellationToken) =>
        {
            var revoked = await service.RevokeTokensAsync(cli.Get(target)!, cancellationToken).ConfigureAwait(false);
            if (revoked == 0)
            {
                throw new EngramArgumentException($"no live token has the id or principal '{cli.Get(target)}'. 'engram token list' shows them.");
            }

            return cli.Print(new Revoked(revoked), () => cli.Console.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                $"revoked {Tables.Count(revoked, "token", "tokens")}; the servers of this store refuse {(revoked == 1 ? "it" : "them")} within {service.Options.TokenCacheDuration.TotalSeconds:0} seconds"));
        });
        return command;
    }

    /// <summary>What <c>revoke --json</c> prints.</summary>
    private sealed record Revoked(int Count);
}
