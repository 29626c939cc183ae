using Engram.Core.Curation;
using Engram.Core.Model;

namespace Engram.Core.Tests;

/// <summary>
/// Secrets never become memories: a corpus of secret shapes (each must be caught) and of look-alikes (each must pass),
/// the refusal's message (kind and position, never the value), redaction, and that nothing of a refused memory is kept.
/// The secret values are generated here, so no real-looking token sits in the repository.
/// </summary>
public sealed class SecretTests(TempStore temp) : IClassFixture<TempStore>
{
    private static readonly Random Seeded = new(20261203);

    private static string Random(string alphabet, int length) => new([.. Enumerable.Range(0, length).Select(_ => alphabet[Seeded.Next(alphabet.Length)])]);

    private const string Upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    private const string Alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    private const string Base64 = Alnum + "+/";
    private const string Url64 = Alnum + "-_";

    /// <summary>Texts an agent might paste, each holding a secret, with the kind expected.</summary>
    public static readonly (string Kind, string Text)[] Secrets =
    [
        ("private key", "The deploy key is:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA" + Random(Base64, 64) + "\n-----END RSA PRIVATE KEY-----"),
        ("private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA" + Random(Base64, 40)),
        ("private key", "gpg export gave -----BEGIN PGP PRIVATE KEY BLOCK----- and then the armour"),
        ("AWS access key", "export AWS_ACCESS_KEY_ID=AKIA" + Random(Upper + "234567", 16)),
        ("AWS access key", "The temporary creds start ASIA" + Random(Upper + "234567", 16) + " and expire hourly."),
        ("secret value", "aws_secret_access_key = " + Random(Base64, 40)),
        ("GitHub token", "Use ghp_" + Random(Alnum, 36) + " for the release workflow."),
        ("GitHub token", "gho_" + Random(Alnum, 36) + " came back from the OAuth flow"),
        ("GitHub token", "GITHUB_TOKEN is github_pat_" + Random(Alnum + "_", 82)),
        ("GitLab token", "The runner registers with glpat-" + Random(Url64, 20)),
        ("Slack token", "bot token xoxb-" + Random("0123456789", 12) + "-" + Random("0123456789", 13) + "-" + Random(Alnum, 24)),
        ("Slack webhook", "Alerts post to https://hooks.slack.com/services/T" + Random(Upper + "0123456789", 8) + "/B" + Random(Upper + "0123456789", 8) + "/" + Random(Alnum, 24)),
        ("Stripe secret key", "Billing uses sk_live_" + Random(Alnum, 24) + " in production."),
        ("Stripe secret key", "rk_test_" + Random(Alnum, 24) + " is the restricted key for CI"),
        ("npm token", "//registry.npmjs.org/:_authToken=npm_" + Random(Alnum, 36)),
        ("OpenAI API key", "OPENAI_API_KEY=sk-proj-" + Random(Url64, 48)),
        ("OpenAI API key", "the old key sk-" + Random(Alnum, 48) + " was rotated"),
        ("Anthropic API key", "ANTHROPIC_API_KEY=sk-ant-api03-" + Random(Url64, 93) + "AA"),
        ("JSON web token", "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ." + Random(Url64, 43)),
        ("connection string with a password", "DATABASE_URL=postgres://admin:" + Random(Alnum, 14) + "@db.internal:5432/app"),
        ("connection string with a password", "mongodb+srv://svc:" + Random(Alnum, 16) + "@cluster0.mongodb.net/prod"),
        ("password", "Server=db;Database=app;User Id=sa;Password=" + Random(Alnum, 10) + "!9;"),
        ("connection string with a password", "The CI hook is https://deploy:" + Random(Alnum, 20) + "@ci.internal/hooks/build"),
        ("secret value", "API_KEY=\"" + Random(Alnum, 32) + "\""),
        ("secret value", "{\"client_secret\": \"" + Random(Url64, 40) + "\"}"),
        ("secret value", "token: " + Random("0123456789abcdef", 40)),
        ("password", "db password=Tr0ub4dor&3x is the staging one"),
        ("secret value", "The staging db_password: Tr0ub4dor&3x rotates monthly."),
        ("secret value", "SECRET_KEY_BASE=" + Random("0123456789abcdef", 64)),
        ("Google API key", "Maps loads with AIza" + Random(Url64, 35) + " in the web config."),
        ("connection string with a password", "REDIS_URL=redis://:" + Random(Alnum, 18) + "@cache.internal:6379/0"),
        ("bearer token", "curl -H 'Authorization: Bearer " + Random(Alnum, 40) + "' https://api.internal/v1/jobs"),
        ("Slack token", "The socket-mode app token is xapp-1-A" + Random(Upper + "0123456789", 10) + "-" + Random("0123456789", 13) + "-" + Random("0123456789abcdef", 64)),
        ("Stripe secret key", "Webhooks verify with whsec_" + Random(Alnum, 32)),
        ("GitLab token", "The runner authenticates with glrt-" + Random(Url64, 20)),
        ("secret value", "DB_PASS=" + Random(Alnum, 16) + " on staging"),
        ("password", "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=" + Random(Base64, 86) + "==;EndpointSuffix=core.windows.net"),
    ];

    /// <summary>Texts that look like secrets to a careless check and are not.</summary>
    public static readonly string[] LookAlikes =
    [
        "Request 3f2b8c1e-9a4d-4e7b-8c2f-1d5e6a7b8c9d failed with a 502 from the gateway.",
        "Fixed in commit 9fceb02d0ae598e95dc970b74767f19372d61af8 on main.",
        "The base64 of 'hello world' is aGVsbG8gd29ybGQ= and the tests check it.",
        "AWS access key ids start with AKIA; secret access keys do not have a prefix.",
        "The AWS docs use AKIAIOSFODNN7EXAMPLE with wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY as their example pair.",
        "The password policy requires 12 characters and one digit.",
        "In CI we export GITHUB_TOKEN=${GITHUB_TOKEN} from the repository secrets.",
        "Set API_KEY=<your-api-key> in .env before running the client.",
        "The default password: changeme must be rotated at first login.",
        "const token = process.env.API_TOKEN; // read at start",
        "The JWT header alone is eyJhbGciOiJIUzI1NiJ9, which is not a token.",
        "Connection: Host=db;Username=app;Database=main, the password from PGPASSWORD.",
        "See the auth_token field in the login response.",
        "We moved to passwordless login with magic links.",
        "The API is served at http://localhost:8080/api/v2 in development.",
        "Clone with git@github.com:acme/payments.git over SSH.",
        "We use sk-learn style pipelines for the ranking model.",
        "docker run -e POSTGRES_PASSWORD=postgres starts the dev database.",
        "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 is the empty file.",
        "The staging key is in the vault under payments-staging.",
        "Stripe publishable keys (pk_live_…) are safe to ship in the web client.",
        "token = settings.GitHub.Token; comes from appsettings.json",
        "Rotate the secret every 90 days; the token lifetime is 3600 seconds.",
        "The session id looks like 5f2c9a1e7b3d, twelve hex digits.",
        "The README connects with postgres://app:password@localhost:5432/app for local development.",
        "Stripe's docs use the example key sk_test_4eC39HqLyjWDarjtT1zdp7dc in every snippet.",
        "RabbitMQ's default amqp://guest:guest@localhost:5672 only works from localhost.",
        "Send 'Authorization: Bearer <token>' with a token from engram token add.",
        "The client sets Authorization: Bearer ${API_TOKEN} from the environment.",
        "Bypass the cache with ?nocache=1 when debugging.",
        "The model config sets tokenizer=meta-llama/Llama-3.1-8B-Instruct and max_tokens: 4096.",
        "compass_heading=NNW-312deg is logged by the drone test rig.",
    ];

    [Fact]
    public void Corpus_EverySecretShapeIsCaught_AndEveryLookAlikePasses()
    {
        var missed = Secrets.Where(s => !SecretScanner.Scan(s.Text).Any(f => f.Kind == s.Kind)).Select(s => s.Kind + ": " + s.Text[..Math.Min(40, s.Text.Length)]).ToList();
        var flagged = LookAlikes.Where(t => SecretScanner.Scan(t).Count > 0).Select(t => $"{t} ({SecretScanner.Describe(SecretScanner.Scan(t))})").ToList();
        Assert.True(missed.Count == 0, $"{Secrets.Length - missed.Count}/{Secrets.Length} secrets caught; missed: {string.Join(" | ", missed)}");
        Assert.True(flagged.Count == 0, $"{LookAlikes.Length - flagged.Count}/{LookAlikes.Length} look-alikes passed; flagged: {string.Join(" | ", flagged)}");
    }

    [Fact]
    public async Task Remember_WithASecret_IsRefusedNamingKindAndPosition_NeverTheValue_AndNothingIsKept()
    {
        var home = temp.NewHome();
        await using var service = temp.Open(home);
        var key = "ghp_" + Random(Alnum, 36);
        var e = await Assert.ThrowsAsync<EngramArgumentException>(() => service.RememberAsync(new RememberRequest($"The release token is {key}.")));
        Assert.Contains("a GitHub token at character 22", e.Message, StringComparison.Ordinal);
        Assert.Contains("vault", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(key, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(key[4..], e.Message, StringComparison.Ordinal);

        // A batch with one secret stores nothing of the batch.
        await Assert.ThrowsAsync<EngramArgumentException>(() => service.RememberManyAsync([new RememberRequest("A harmless fact."), new RememberRequest($"And {key}")]));
        Assert.Equal(0, (await service.StatsAsync()).Memories);
        Assert.Empty(await service.ListRecallsAsync());
        Assert.Empty(await service.ReadForgetAuditAsync());
    }

    [Fact]
    public async Task Redact_StoresTheMemoryWithTheValueReplaced_AndSaysSo_AndOffStoresItAsItIs()
    {
        var options = TempStore.Options(temp.NewHome());
        options.Secrets = SecretPolicy.Redact;
        await using var service = new MemoryService(options);
        var key = "sk_live_" + Random(Alnum, 24);
        var result = await service.RememberAsync(new RememberRequest($"Billing charges with {key} in production; rotate it quarterly."));
        Assert.Equal(["Stripe secret key"], result.Redacted);
        var stored = await service.GetAsync(result.Id);
        Assert.Equal("Billing charges with [REDACTED:Stripe-secret-key] in production; rotate it quarterly.", stored!.Content);
        Assert.Null((await service.RememberAsync(new RememberRequest("A fact without secrets."))).Redacted);

        var off = TempStore.Options(temp.NewHome());
        off.Secrets = SecretPolicy.Off;
        await using var unchecked_ = new MemoryService(off);
        var kept = await unchecked_.RememberAsync(new RememberRequest($"Billing charges with {key}."));
        Assert.Contains(key, (await unchecked_.GetAsync(kept.Id))!.Content, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Import_WithASecret_IsRefusedLikeRemember()
    {
        await using var service = temp.Open();
        var record = new MemoryRecord("mem_imported1", "user", "DATABASE_URL=postgres://admin:" + Random(Alnum, 14) + "@db.internal:5432/app", [],
            DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, null, null);
        var e = await Assert.ThrowsAsync<EngramArgumentException>(() => service.ImportAsync([record]));
        Assert.Contains("connection string with a password", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, (await service.StatsAsync()).Memories);
    }

    [Fact]
    public async Task Import_AnInvalidRecordInALaterBatch_IsNamedByItsPlaceInTheImport_AndTheEarlierBatchesStay()
    {
        await using var service = temp.Open();
        var now = DateTimeOffset.UtcNow;
        var records = Enumerable.Range(1, 600)
            .Select(n => new MemoryRecord($"mem_import{n}", "user", n == 537 ? new string('x', EngramOptions.MaxContentLength + 1) : $"Imported fact number {n}.", [], now, now,
                n == 3 ? "mem_import4" : null, n == 3 ? now : null)) // 3 was replaced by 4
            .ToList();
        records.Insert(520, records[10]); // one already in its batch's store: skipped, and still counted in the places

        var e = await Assert.ThrowsAsync<EngramArgumentException>(() => service.ImportAsync(records));
        Assert.StartsWith("Record 538 of the import (records 1–500 are in; importing again skips them): 'content'", e.Message, StringComparison.Ordinal);
        Assert.Equal(500, (await service.StatsAsync()).Memories);
        Assert.Equal("mem_import4", (await service.GetAsync("mem_import3"))!.SupersededBy); // linked with its batch, not after the last
    }
}
