using System.Globalization;
using System.Text.RegularExpressions;
using Engram.Core.Storage;

namespace Engram.Core.Search;

/// <summary>
/// Dates a query names, as windows to hold against when memories were observed: "what did we decide on 3 March
/// 2025", "the outage in July 2024", "what did we ship in June", "what did I say yesterday", "last week". English
/// only. Days, weeks (from Monday) and months are those of the given time zone's calendar (the machine's: the person
/// asking is at it). A month without its year stands for that month in each of the last ten years. "Early", "mid" and
/// "late" (or "the start", "middle" or "end of") a month point at its first, middle or last third, which a memory
/// observed then fits best (<see cref="TimeRange.Fit"/>); the rest of the month still counts. A bare year names too
/// much to help and is ignored. Digits are ASCII only: .NET's <c>\d</c> also matches other scripts' digits, which
/// <see cref="int.Parse(string, IFormatProvider)"/> refuses, and a date written in them is not read.
/// </summary>
internal static partial class TimeExpressions
{
    private const string MonthName =
        "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?";

    [GeneratedRegex(@"\b(?<y>(?:19|20)[0-9][0-9])-(?<m>0[1-9]|1[0-2])(?:-(?<d>0[1-9]|[12][0-9]|3[01]))?\b(?!-)", RegexOptions.CultureInvariant)]
    private static partial Regex IsoDate();

    [GeneratedRegex(@"\b(?<d>[0-3]?[0-9])(?:st|nd|rd|th)?(?:\s+of)?\s+(?<m>" + MonthName + @")\.?(?:,\s*|\s+)(?<y>(?:19|20)[0-9][0-9])\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex DayMonthYear();

    [GeneratedRegex(@"\b(?<m>" + MonthName + @")\.?\s+(?<d>[0-3]?[0-9])(?:st|nd|rd|th)?(?:,\s*|\s+)(?<y>(?:19|20)[0-9][0-9])\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex MonthDayYear();

    /// <summary>Words that point at a third of a month: "early", "mid", "late", "the start/beginning/middle/end of".</summary>
    private const string Part = @"(?:(?:(?<early>early|(?:the\s+)?(?:start|beginning)\s+of)|(?<mid>mid|(?:the\s+)?middle\s+of)|(?<late>late|(?:the\s+)?end\s+of))[\s-]+)";

    [GeneratedRegex(@"\b" + Part + @"?(?<m>" + MonthName + @")\.?(?:,\s*|\s+)(?:of\s+)?(?<y>(?:19|20)[0-9][0-9])\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex MonthYear();

    // A month without its year only capitalised and after a word that makes it a time ("in May", "during March", "of
    // November"), so "this may break" and the name "April" are not read as months. Full names only.
    [GeneratedRegex(@"\b(?:" + Part + @"|(?:in|during|since|last|this|of)[\s-]+)(?-i:(?<m>January|February|March|April|May|June|July|August|September|October|November|December))\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex MonthAlone();

    /// <summary>How many years back a month named without its year is looked for.</summary>
    private const int MonthAloneYears = 10;

    /// <summary>The most windows one query yields (each is an index read); the first named win.</summary>
    private const int MaxWindows = 24;

    /// <summary>How many days, weeks or months back: up to two digits, or a word up to ten (<see cref="NumberWords"/>).</summary>
    private const string Count = @"(?<n>[0-9]{1,2}|one|two|three|four|five|six|seven|eight|nine|ten)";

    [GeneratedRegex(@"\b(?:(?<today>today)|(?<yesterday>yesterday)|" + Count + @"\s+days?\s+ago)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex RelativeDay();

    [GeneratedRegex(@"\b(?:(?<which>this|last)\s+(?<unit>week|month)|" + Count + @"\s+(?<unit>week|month)s?\s+ago)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex RelativeSpan();

    private static readonly string[] NumberWords = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"];

    /// <summary>
    /// The windows <paramref name="query"/> names, in the calendar of <paramref name="zone"/>; relative days are counted
    /// back from <paramref name="now"/>.
    /// </summary>
    public static IReadOnlyList<TimeRange> Find(string query, DateTimeOffset now, TimeZoneInfo zone)
    {
        var windows = new List<TimeRange>();
        // Spans already read as a day are not read again as a month ("3 March 2025" is not also "March 2025").
        var taken = new List<(int Start, int End)>();
        bool Free(Match m) => !taken.Any(t => m.Index < t.End && t.Start < m.Index + m.Length);
        void Take(Match m, TimeRange? window)
        {
            // One window per span: "early June … late June" reads June once, with the first part named.
            if (window is { } w && !windows.Exists(x => x.From == w.From && x.To == w.To) && windows.Count < MaxWindows)
            {
                windows.Add(w);
            }

            taken.Add((m.Index, m.Index + m.Length));
        }

        foreach (Match m in IsoDate().Matches(query))
        {
            var (y, mo) = (int.Parse(m.Groups["y"].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups["m"].Value, CultureInfo.InvariantCulture));
            Take(m, m.Groups["d"].Success ? DayWindow(zone, y, mo, int.Parse(m.Groups["d"].Value, CultureInfo.InvariantCulture)) : MonthWindow(zone, y, mo));
        }

        foreach (var pattern in new[] { DayMonthYear(), MonthDayYear() })
        {
            foreach (Match m in pattern.Matches(query))
            {
                if (Free(m))
                {
                    Take(m, DayWindow(zone, Year(m), Month(m), int.Parse(m.Groups["d"].Value, CultureInfo.InvariantCulture)));
                }
            }
        }

        foreach (Match m in MonthYear().Matches(query))
        {
            if (Free(m))
            {
                Take(m, MonthWindow(zone, Year(m), Month(m), Third(m)));
            }
        }

        var today = TimeZoneInfo.ConvertTime(now, zone).Date;
        foreach (Match m in MonthAlone().Matches(query))
        {
            if (Free(m))
            {
                // That month in each recent year: the query's words pick the one meant.
                var month = Month(m);
                for (var year = today.Year; year > today.Year - MonthAloneYears; year--)
                {
                    if (new DateTime(year, month, 1) <= today)
                    {
                        Take(m, MonthWindow(zone, year, month, Third(m)));
                    }
                }
            }
        }

        foreach (Match m in RelativeDay().Matches(query))
        {
            var back = m.Groups["today"].Success ? 0 : m.Groups["yesterday"].Success ? 1 : Back(m);
            var day = today.AddDays(-back);
            Take(m, DayWindow(zone, day.Year, day.Month, day.Day));
        }

        // Calendar weeks (from Monday) and months: "this week", "last month", "3 weeks ago".
        foreach (Match m in RelativeSpan().Matches(query))
        {
            var back = m.Groups["which"].Success ? (m.Groups["which"].Value.Equals("this", StringComparison.OrdinalIgnoreCase) ? 0 : 1) : Back(m);
            if (m.Groups["unit"].Value.Equals("week", StringComparison.OrdinalIgnoreCase))
            {
                var monday = today.AddDays(-(((int)today.DayOfWeek + 6) % 7) - (7 * back));
                Take(m, Span(zone, monday, monday.AddDays(7)));
            }
            else
            {
                var month = new DateTime(today.Year, today.Month, 1).AddMonths(-back);
                Take(m, MonthWindow(zone, month.Year, month.Month));
            }
        }

        return windows;
    }

    /// <summary>The count a <see cref="Count"/> group read: "3" or "three".</summary>
    private static int Back(Match m)
    {
        var n = m.Groups["n"].Value;
        return char.IsDigit(n[0]) ? int.Parse(n, CultureInfo.InvariantCulture) : Array.IndexOf(NumberWords, n.ToLowerInvariant());
    }

    private static int Year(Match m) => int.Parse(m.Groups["y"].Value, CultureInfo.InvariantCulture);

    private static int Month(Match m) => m.Groups["m"].Value.ToLowerInvariant()[..3] switch
    {
        "jan" => 1, "feb" => 2, "mar" => 3, "apr" => 4, "may" => 5, "jun" => 6,
        "jul" => 7, "aug" => 8, "sep" => 9, "oct" => 10, "nov" => 11, _ => 12,
    };

    private static TimeRange? DayWindow(TimeZoneInfo zone, int year, int month, int day)
    {
        if (day < 1 || day > DateTime.DaysInMonth(year, month))
        {
            return null;
        }

        var start = new DateTime(year, month, day, 0, 0, 0, DateTimeKind.Unspecified);
        return Span(zone, start, start.AddDays(1));
    }

    /// <summary>Which third of the month a <see cref="Part"/> the match read points at (0, 1, 2), or null for none.</summary>
    private static int? Third(Match m) =>
        m.Groups["early"].Success ? 0 : m.Groups["mid"].Success ? 1 : m.Groups["late"].Success ? 2 : null;

    /// <summary>A month, with the <paramref name="third"/> of it a query points at ("early", "end of", …) as its focus.</summary>
    private static TimeRange MonthWindow(TimeZoneInfo zone, int year, int month, int? third = null)
    {
        var start = new DateTime(year, month, 1, 0, 0, 0, DateTimeKind.Unspecified);
        var window = Span(zone, start, start.AddMonths(1));
        if (third is not { } t)
        {
            return window;
        }

        // Days 1–10, 11–20, 21 to the month's end.
        var from = start.AddDays(10 * t);
        var to = t == 2 ? start.AddMonths(1) : from.AddDays(10);
        return window with { FocusFrom = Instant(zone, from), FocusTo = Instant(zone, to) };
    }

    /// <summary>The instants between two wall-clock times of <paramref name="zone"/>.</summary>
    private static TimeRange Span(TimeZoneInfo zone, DateTime from, DateTime to) => new(Instant(zone, from), Instant(zone, to));

    /// <summary>
    /// A wall-clock time of <paramref name="zone"/> as an instant: a time a clock change skipped counts as the first
    /// valid time after it, and a time it repeated as its first occurrence (the larger offset).
    /// </summary>
    private static long Instant(TimeZoneInfo zone, DateTime local)
    {
        while (zone.IsInvalidTime(local))
        {
            local = local.AddMinutes(15);
        }

        var offset = zone.IsAmbiguousTime(local) ? zone.GetAmbiguousTimeOffsets(local).Max() : zone.GetUtcOffset(local);
        return new DateTimeOffset(local, offset).ToUnixTimeMilliseconds();
    }
}
