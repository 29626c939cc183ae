using Engram.Embeddings;

namespace Engram.Mcp.Tests;

/// <summary>The threads a model's query embeddings run on (<see cref="InferenceThreads"/>), with work that can block.</summary>
public sealed class InferenceThreadsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task TwoJobs_RunAtOnce_AndABurst_AllCompleteInTurn()
    {
        using var threads = new InferenceThreads(2, "test");
        // Each of the first two waits for the other to start: they complete only if both threads run them at once.
        using var both = new CountdownEvent(2);
        var pair = Enumerable.Range(0, 2).Select(i => threads.RunAsync(() => { both.Signal(); return both.Wait(Patience) ? i : -1; }, CancellationToken.None)).ToList();
        var results = await Task.WhenAll(pair).WaitAsync(Patience);
        Assert.Equal(new[] { 0, 1 }, results);

        var running = 0;
        var most = 0;
        var burst = Enumerable.Range(0, 50).Select(i => threads.RunAsync(() =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref most, now);
            Thread.SpinWait(10_000);
            Interlocked.Decrement(ref running);
            return i * i;
        }, CancellationToken.None)).ToList();
        Assert.Equal(Enumerable.Range(0, 50).Select(i => i * i), await Task.WhenAll(burst).WaitAsync(Patience));
        Assert.InRange(most, 1, 2);
    }

    [Fact]
    public async Task AJobCancelledBeforeItsTurn_DoesNotRun_AndAFailureReachesItsCaller()
    {
        using var threads = new InferenceThreads(1, "test");
        using var release = new ManualResetEventSlim();
        var blocker = threads.RunAsync(() => release.Wait(Patience), CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var ran = false;
        var cancelled = threads.RunAsync(() => ran = true, cancel.Token);
        var failing = threads.RunAsync<int>(() => throw new InvalidOperationException("boom"), CancellationToken.None);
        cancel.Cancel();
        release.Set();

        Assert.True(await blocker.WaitAsync(Patience));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(Patience));
        Assert.False(ran);
        Assert.Equal("boom", (await Assert.ThrowsAsync<InvalidOperationException>(() => failing.WaitAsync(Patience))).Message);
    }

    [Fact]
    public async Task Disposed_JobsWaiting_Fail_AndNewOnesAreRefused()
    {
        var threads = new InferenceThreads(1, "test");
        using var started = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var running = threads.RunAsync(() => { started.Set(); return release.Wait(Patience); }, CancellationToken.None);
        Assert.True(started.Wait(Patience));
        var waiting = threads.RunAsync(() => 1, CancellationToken.None);

        threads.Dispose();
        release.Set();
        Assert.True(await running.WaitAsync(Patience)); // the job under way ends
        await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting.WaitAsync(Patience));
        Assert.Throws<ObjectDisposedException>(() => { _ = threads.RunAsync(() => 2, CancellationToken.None); });
    }

    [Fact]
    public async Task AJob_DoesNotRunInTheContextOfTheCallThatStartedTheThreads()
    {
        var local = new AsyncLocal<string?> { Value = "the first recall's" };
        using var threads = new InferenceThreads(1, "test");
        Assert.Null(await threads.RunAsync(() => local.Value, CancellationToken.None).WaitAsync(Patience));
    }

    [Fact]
    public async Task WhatAwaitsAJob_ContinuesOnItsThread_AndMayAwaitAnotherJob()
    {
        using var threads = new InferenceThreads(1, "Engram test threads");
        var (name, continuedOn, nextRanOn) = await Observe(threads).WaitAsync(Patience);
        Assert.Equal("Engram test threads", name);
        Assert.Equal(continuedOn, nextRanOn); // one thread: awaiting the next job gave it back to its queue

        static async Task<(string? Name, int ContinuedOn, int NextRanOn)> Observe(InferenceThreads threads)
        {
            // Long enough that the await is waiting when the job completes (a job done before it continues where it was).
            await threads.RunAsync(() => { Thread.Sleep(200); return 0; }, CancellationToken.None).ConfigureAwait(false);
            var (name, here) = (Thread.CurrentThread.Name, Environment.CurrentManagedThreadId);
            var next = await threads.RunAsync(() => Environment.CurrentManagedThreadId, CancellationToken.None).ConfigureAwait(false);
            return (name, here, next);
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        for (var seen = Volatile.Read(ref target); value > seen; seen = Volatile.Read(ref target))
        {
            if (Interlocked.CompareExchange(ref target, value, seen) == seen)
            {
                return;
            }
        }
    }
}
