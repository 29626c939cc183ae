using System.Globalization;
using Engram.Core.Model;
using Engram.Core.Search;
using Engram.Core.Storage;

namespace Engram.Core.Tests;

/// <summary>
/// The time signal: a query that names a date ("on 9 March 2026", "in July 2024", "yesterday") lifts what was observed
/// then, and explain says so. A query without a date is ranked as before.
/// </summary>
public sealed class TimeSignalTests(TempStore temp) : IClassFixture<TempStore>
{
    private static readonly DateTimeOffset Now = new(2026, 3, 20, 8, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("What did we decide on 3 March 2025?", "2025-03-03")]
    [InlineData("what did we decide on March 3rd, 2025", "2025-03-03")]
    [InlineData("notes from the 3rd of march 2025 standup", "2025-03-03")]
    [InlineData("the incident on 2025-03-03", "2025-03-03")]
    [InlineData("Sept. 14, 2024 release", "2024-09-14")]
    [InlineData("the outage in July 2024", "2024-07")]
    [InlineData("the outage in July, 2024", "2024-07")]
    [InlineData("changes merged in 2024-07", "2024-07")]
    [InlineData("what broke yesterday", "2026-03-19")]
    [InlineData("what did I say today", "2026-03-20")]
    [InlineData("the fix from three days ago", "2026-03-17")]
    [InlineData("2 days ago we rolled back", "2026-03-18")]
    [InlineData("What did we decide on 3 March 2025 and on 10 March 2025?", "2025-03-03", "2025-03-10")]
    [InlineData("what did we decide this month", "2026-03")]
    [InlineData("the bug from last month", "2026-02")]
    [InlineData("2 months ago", "2026-01")]
    [InlineData("what changed this week", "2026-03-16/7")]
    [InlineData("the decision from last week", "2026-03-09/7")]
    [InlineData("three weeks ago", "2026-02-23/7")]
    [InlineData("31 February 2025 was not a day")]
    [InlineData("the 2024 roadmap")]
    [InlineData("it may be the cache")]
    [InlineData("which postgres version, 14 or 16?")]
    [InlineData("the build id 2025-03-03-beta")]
    [InlineData("Where was the picture shared on December 1,2023 taken?", "2023-12-01")]
    [InlineData("April said the tests were green")]
    [InlineData("it May be the cache")]
    [InlineData("I think this may be the cache")]
    [InlineData("since may be wrong, check it")]
    [InlineData("what broke \uFF13 days ago")] // digits of other scripts are not read as numbers (nor do they throw)
    [InlineData("\u0663 days ago")]
    [InlineData("the incident on 20\u0662\u0665-03-14")]
    [InlineData("What did we decide on 3 March \uFF12\uFF10\uFF12\uFF15?")]
    public void Find_ReadsDayAndMonthDates_AndNothingElse(string query, params string[] expected)
    {
        var windows = TimeExpressions.Find(query, Now, TimeZoneInfo.Utc);
        Assert.Equal(expected.Select(Window), windows);
    }

    private static TimeRange Window(string date)
    {
        if (date.Split('/') is [var first, var days])
        {
            var monday = DateTimeOffset.ParseExact(first, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
            return new TimeRange(monday.ToUnixTimeMilliseconds(), monday.AddDays(int.Parse(days, CultureInfo.InvariantCulture)).ToUnixTimeMilliseconds());
        }

        var monthly = date.Length == 7;
        var start = DateTimeOffset.ParseExact(date, monthly ? "yyyy-MM" : "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
        return new TimeRange(start.ToUnixTimeMilliseconds(), (monthly ? start.AddMonths(1) : start.AddDays(1)).ToUnixTimeMilliseconds());
    }

    [Fact]
    public void Find_AMonthWithoutItsYear_IsThatMonthInEachOfTheLastTenYears()
    {
        // On 20 March 2026 the last June was in 2025; the one before it in 2024, and so on.
        var junes = Enumerable.Range(0, 9).Select(i => Window($"{2025 - i}-06")).ToList();
        Assert.Equal(junes, TimeExpressions.Find("When did Melanie go camping in June?", Now, TimeZoneInfo.Utc));
        var marches = Enumerable.Range(0, 10).Select(i => Window($"{2026 - i}-03")).ToList();
        Assert.Equal(marches, TimeExpressions.Find("what we shipped during March", Now, TimeZoneInfo.Utc));
        Assert.Equal([Window("2024-06")], TimeExpressions.Find("camping in June 2024", Now, TimeZoneInfo.Utc));
    }

    [Fact]
    public void Find_ReadsTheDayInTheGivenTimeZone()
    {
        var tokyo = TimeZoneInfo.CreateCustomTimeZone("UTC+9", TimeSpan.FromHours(9), "UTC+9", "UTC+9");
        var day = Assert.Single(TimeExpressions.Find("on 3 March 2025", Now, tokyo));
        Assert.Equal(new DateTimeOffset(2025, 3, 2, 15, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds(), day.From);
        Assert.Equal(new DateTimeOffset(2025, 3, 3, 15, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds(), day.To);

        // 20 March 08:00 UTC is 17:00 in Tokyo; at 20:00 UTC it is already the 21st there, so "yesterday" is the 20th.
        var yesterday = Assert.Single(TimeExpressions.Find("yesterday", Now.AddHours(12), tokyo));
        Assert.Equal(new DateTimeOffset(2026, 3, 19, 15, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds(), yesterday.From);
    }

    [Theory]
    [InlineData("what went wrong at the end of March 2024?", "2024-03", 21, 32)]
    [InlineData("how far along were we in early October 2025", "2025-10", 1, 11)]
    [InlineData("the incident in late November 2024", "2024-11", 21, 31)]
    [InlineData("the plan from the beginning of Feb 2025", "2025-02", 1, 11)]
    [InlineData("what shipped mid-June 2025", "2025-06", 11, 21)]
    public void Find_EarlyMidOrLateInAMonth_PointsAtThatThird_OfTheWholeMonth(string query, string month, int fromDay, int toDay)
    {
        var window = Assert.Single(TimeExpressions.Find(query, Now, TimeZoneInfo.Utc));
        var whole = Window(month);
        Assert.Equal((whole.From, whole.To), (window.From, window.To));
        var first = DateTimeOffset.FromUnixTimeMilliseconds(whole.From);
        Assert.Equal(first.AddDays(fromDay - 1).ToUnixTimeMilliseconds(), window.FocusFrom);
        Assert.Equal(toDay > 31 ? whole.To : first.AddDays(toDay - 1).ToUnixTimeMilliseconds(), window.FocusTo);
    }

    [Fact]
    public void Find_OneMonthNamedTwice_IsOneWindow_WithTheFirstPartNamed()
    {
        var window = Assert.Single(TimeExpressions.Find("between early June 2025 and late June 2025", Now, TimeZoneInfo.Utc));
        Assert.Equal(Window("2025-06").From, window.FocusFrom);
        Assert.Equal(9, TimeExpressions.Find("early June or late June", Now, TimeZoneInfo.Utc).Count); // June 2017–2025: not 18
    }

    [Fact]
    public void Find_AMonthAloneWithAPart_PointsAtThatThirdInEachYear()
    {
        var windows = TimeExpressions.Find("what did we ship in mid-February", Now, TimeZoneInfo.Utc);
        Assert.Equal(10, windows.Count);
        Assert.All(windows, w => Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(w.From).AddDays(10).ToUnixTimeMilliseconds(), w.FocusFrom));
    }

    [Fact]
    public void Fit_IsOneAcrossAWholeMonth_AndLessOutsideThePartNamed()
    {
        var july = Window("2024-07");
        long Day(int day) => new DateTimeOffset(2024, 7, day, 12, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds();
        Assert.Equal([1.0, 1.0, 1.0], new[] { 1, 15, 31 }.Select(d => july.Fit(Day(d))));

        // Early July: the first ten days fit; the last day, about two focus lengths past them, a third as well.
        var early = Assert.Single(TimeExpressions.Find("early July 2024", Now, TimeZoneInfo.Utc));
        Assert.Equal(1.0, early.Fit(Day(3)));
        Assert.InRange(early.Fit(Day(31)), 0.32, 0.35);
        Assert.True(early.Fit(Day(12)) > early.Fit(Day(20)));
    }

    [Fact]
    public async Task Recall_AMonthInTheQuery_WeighsEveryDayOfThatMonthAlike()
    {
        await using var service = OpenUtc();
        var july = new DateTimeOffset(2024, 7, 2, 10, 0, 0, TimeSpan.Zero);
        var start = (await service.RememberAsync(new RememberRequest("We moved hosting to Fly.io.", ObservedAt: july))).Id;
        var middle = (await service.RememberAsync(new RememberRequest("The staging database was resized.", ObservedAt: july.AddDays(13)))).Id;
        var explain = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest("what happened in July 2024")));
        Assert.Equal(1, explain.Hits.Single(h => h.Id == start).Time?.Score);
        Assert.Equal(1, explain.Hits.Single(h => h.Id == middle).Time?.Score);
    }

    [Fact]
    public async Task Recall_ADateInTheQuery_PutsWhatWasSaidThatDayFirst_AndExplainSaysWhy()
    {
        await using var service = OpenUtc();
        var march = new DateTimeOffset(2026, 3, 2, 10, 0, 0, TimeSpan.Zero);
        var ids = new List<string>();
        foreach (var (days, text) in new[]
        {
            (0, "The deploy froze: the cache was cold."),
            (7, "The deploy froze because the container registry in the eu-west region was down for an hour."),
            (14, "The deploy froze: a migration held a lock."),
            (7, "Ana took over the on-call rota."),
            (0, "Ben moved the nightly builds to 02:00 UTC."),
        })
        {
            ids.Add((await service.RememberAsync(new RememberRequest(text, ObservedAt: march.AddDays(days)))).Id);
        }

        // Without the date a shorter statement leads (BM25 favours short matches).
        var undated = await service.RecallAsync(new RecallRequest("Why the deploy froze"));
        Assert.NotEqual(ids[1], undated.Memories[0].Id);
        Assert.DoesNotContain(ids[3], undated.Memories.Select(m => m.Id));

        // With it, the one said that day leads, and the rest of that day comes in below the query's own matches.
        const string Dated = "Why the deploy froze on 9 March 2026";
        var dated = await service.RecallAsync(new RecallRequest(Dated));
        Assert.Equal(ids[1], dated.Memories[0].Id);
        Assert.Contains(ids[3], dated.Memories.Select(m => m.Id));
        Assert.DoesNotContain(ids[4], dated.Memories.Select(m => m.Id));

        var explain = await service.ExplainAsync(new ExplainRequest(Recall: new RecallRequest(Dated), MemoryId: ids[3]));
        Assert.Equal(1, explain.Hits[0].Time?.Rank);
        Assert.Null(explain.Hits.Single(h => h.Id == ids[0]).Time);
        var account = explain.Memory!;
        Assert.True(account.Surfaced);
        Assert.Null(account.Lexical);
        Assert.NotNull(account.Time);
        Assert.Contains("time (rank", account.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Recall_Yesterday_IsReadAgainstTheTimeOfTheRecall()
    {
        await using var service = OpenUtc();
        // Noon of each calendar day (UTC, the service's zone here), so the test holds at any hour it runs.
        var today = new DateTimeOffset(DateTimeOffset.UtcNow.UtcDateTime.Date, TimeSpan.Zero).AddHours(12);
        var older = await service.RememberAsync(new RememberRequest("A flaky test: Refund_Twice, when the payment mock answers after the time-out of the order saga.", ObservedAt: today.AddDays(-8)));
        var recent = await service.RememberAsync(new RememberRequest("A flaky test: Checkout_Empty, when the basket cache still holds the items of the previous session.", ObservedAt: today.AddDays(-1)));
        var newest = await service.RememberAsync(new RememberRequest("A flaky test: Login_Locked.", ObservedAt: today.AddMinutes(-1)));

        Assert.Equal(newest.Id, (await service.RecallAsync(new RecallRequest("which test is flaky"))).Memories[0].Id);
        if (DateTimeOffset.UtcNow.UtcDateTime.Date != today.UtcDateTime.Date)
        {
            return; // Midnight passed while the test ran: "yesterday" now means another day than the one stored.
        }

        Assert.Equal(recent.Id, (await service.RecallAsync(new RecallRequest("which test was flaky yesterday"))).Memories[0].Id);
        Assert.Equal(older.Id, (await service.RecallAsync(new RecallRequest("which test was flaky 8 days ago"))).Memories[0].Id);
    }

    private MemoryService OpenUtc()
    {
        var options = TempStore.Options(temp.NewHome());
        options.TimeZone = TimeZoneInfo.Utc;
        return new(options);
    }
}
