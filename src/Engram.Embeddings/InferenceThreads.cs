namespace Engram.Embeddings;

/// <summary>
/// Threads of their own for a local model's query embeddings, started on first use and waiting for work: a recall's
/// query embedding is its critical path while the rest of the recall runs beside it on the thread pool, where the
/// embedding, queued as a work item, could wait for a free thread (and does, on two cores). What awaits a job continues
/// on the thread that ran it, until it awaits something unfinished, as work run on the pool does: a recall's last part
/// (the vector signal, fusion, rows) runs on at once, without waiting for a pool thread to wake, and the other thread
/// takes the next query meanwhile. So nothing that awaits a job may block on another job. A document's embedding stays
/// on the pool: its caller runs nothing beside it.
/// </summary>
internal sealed class InferenceThreads : IDisposable
{
    private readonly object _gate = new();
    private readonly Queue<Job> _jobs = new();
    private readonly int _count;
    private readonly string _name;
    private int _threads;
    private int _idle;
    private bool _disposed;

    /// <param name="count">How many inferences may run at once.</param>
    /// <param name="name">The threads' name (seen in a debugger or a trace).</param>
    public InferenceThreads(int count, string name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        _count = count;
        _name = name;
    }

    /// <summary>
    /// Runs <paramref name="work"/> on one of the threads, in turn; a job whose <paramref name="cancellationToken"/> is
    /// cancelled before its turn does not run.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The threads were stopped.</exception>
    public Task<T> RunAsync<T>(Func<T> work, CancellationToken cancellationToken)
    {
        var job = new Job<T>(work, cancellationToken);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _jobs.Enqueue(job);
            if (_idle > 0)
            {
                Monitor.Pulse(_gate);
            }

            // A thread pulsed counts as idle until it wakes: more jobs than that start another thread, up to the count.
            if (_jobs.Count > _idle && _threads < _count)
            {
                _threads++;
                // Without the starting caller's execution context: a job is work of its own, not of the recall that came first.
                new Thread(Serve) { IsBackground = true, Name = _name }.UnsafeStart();
            }
        }

        return job.Task;
    }

    private void Serve()
    {
        while (true)
        {
            Job job;
            lock (_gate)
            {
                while (!_disposed && _jobs.Count == 0)
                {
                    _idle++;
                    Monitor.Wait(_gate);
                    _idle--;
                }

                if (_disposed)
                {
                    return;
                }

                job = _jobs.Dequeue();
            }

            job.Run();
        }
    }

    /// <summary>Stops the threads once their current jobs end; jobs still waiting fail with <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        List<Job> waiting;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            waiting = [.. _jobs];
            _jobs.Clear();
            Monitor.PulseAll(_gate);
        }

        waiting.ForEach(job => job.Abandon());
    }

    private abstract class Job
    {
        public abstract void Run();

        public abstract void Abandon();
    }

    private sealed class Job<T>(Func<T> work, CancellationToken cancellationToken) : Job
    {
        // Completed on the job's thread, which runs what awaits it (see the class).
        private readonly TaskCompletionSource<T> _done = new();

        public Task<T> Task => _done.Task;

        public override void Run()
        {
            if (cancellationToken.IsCancellationRequested)
            {
                _done.TrySetCanceled(cancellationToken);
                return;
            }

            try
            {
                _done.TrySetResult(work());
            }
            catch (Exception e)
            {
                _done.TrySetException(e);
            }
        }

        public override void Abandon() => _done.TrySetException(new ObjectDisposedException(nameof(InferenceThreads)));
    }
}
