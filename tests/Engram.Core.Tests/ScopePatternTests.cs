using Engram.Core.Scopes;

namespace Engram.Core.Tests;

/// <summary>Scope patterns and principals' names: what a token may be granted, and what each pattern reaches.</summary>
public class ScopePatternTests
{
    [Theory]
    [InlineData("project:github.com/acme/*", "project:github.com/acme/widgets", true)]
    [InlineData("project:github.com/acme/*", "project:github.com/acmecorp/widgets", false)]
    [InlineData("project:github.com/acme/widgets", "project:github.com/acme/widgets", true)]
    [InlineData("project:github.com/acme/widgets", "project:github.com/acme/widgets-2", false)]
    [InlineData("project:*", "project:anything", true)]
    [InlineData("project:*", "user:bob", false)]
    [InlineData("user", "user:bob", false)]
    [InlineData(" Project:GitHub.com/Acme/* ", "project:github.com/acme/x", true)]
    public void Pattern_MatchesTheProjectsItNames_AndNoUserScope(string pattern, string scope, bool matches)
    {
        Assert.Equal(matches, ScopePattern.Parse(pattern).Matches(scope));
    }

    [Theory]
    [InlineData("team:*", "is not a valid scope pattern")]
    [InlineData("project:", "is not a valid scope pattern")]
    [InlineData("project:a//*", "is not a valid scope pattern")]
    [InlineData("project:acme*/x", "is not a valid scope pattern")]
    [InlineData("user:bob", "cannot be granted")]
    [InlineData("user:*", "cannot be granted")]
    [InlineData("*", "cannot be granted")]
    public void Pattern_OutsideTheSyntax_IsRefused_WithTheSyntaxInTheMessage(string pattern, string expected)
    {
        var e = Assert.Throws<EngramArgumentException>(() => ScopePattern.Parse(pattern));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.Contains("'project:github.com/acme/*'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Patterns_AreNormalisedAndDistinct_AndAtLeastOneIsNeeded()
    {
        Assert.Equal(["user", "project:a"], ScopePattern.ParseAll(["User", " project:a ", "user", ""]).Select(p => p.Text));
        Assert.Contains("at least one scope pattern", Assert.Throws<EngramArgumentException>(() => ScopePattern.ParseAll([" "])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PrincipalUserScope_IsAScopeName_ThatAnUnrestrictedCallerMayName()
    {
        Assert.Equal("user:alice", ScopeName.Normalize(" User:Alice "));
        Assert.True(ScopeName.IsUser("user:alice"));
        Assert.Throws<EngramArgumentException>(() => ScopeName.Normalize("user:"));
        Assert.Throws<EngramArgumentException>(() => ScopeName.Normalize("user:a b"));
        Assert.Contains("not a valid principal", Assert.Throws<EngramArgumentException>(() => ScopeName.PrincipalName("Ana María")).Message, StringComparison.Ordinal);
    }
}
