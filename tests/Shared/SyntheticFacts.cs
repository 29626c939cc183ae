namespace Engram.Testing;

/// <summary>Deterministic synthetic facts and queries for benchmarks and the side-by-side run.</summary>
internal static class SyntheticFacts
{
    private static readonly string[] Components = ["orders", "billing", "search", "auth", "widgets", "gateway", "reports", "inventory", "mailer", "scheduler"];
    private static readonly string[] Techs = ["Postgres", "Redis", "Kafka", "Helm", "Terraform", "gRPC", "GraphQL", "Elasticsearch", "RabbitMQ", "SQLite"];
    private static readonly string[] Purposes = ["caching", "queueing", "deployment", "storage", "indexing", "messaging", "configuration", "observability"];
    private static readonly string[] People = ["Ana", "Bilal", "Chen", "Dara", "Emeka", "Farah", "Goran", "Hana"];

    /// <summary>The i-th fact of a stream seeded by <paramref name="random"/>; each names a unique ticket ENG-i.</summary>
    public static string Fact(int i, Random random) =>
        $"The {Pick(Components, random)} service uses {Pick(Techs, random)} for {Pick(Purposes, random)}; {Pick(People, random)} owns ticket ENG-{i}.";

    /// <summary>A natural question about the stream.</summary>
    public static string Question(Random random) =>
        $"What does the {Pick(Components, random)} service use for {Pick(Purposes, random)}?";

    /// <summary>A single technology keyword that many facts mention.</summary>
    public static string Keyword(Random random) => Pick(Techs, random);

    private static string Pick(string[] values, Random random) => values[random.Next(values.Length)];
}
