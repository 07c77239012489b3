package bench;

import io.unitledger.sdk.ExtensionRuntime;
import io.unitledger.sdk.UsageResult;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The Java SDK's sustained reports/s with a fixed number of reports in flight
 * against a running server (bench/sdk_parity.sh). Prints one JSON line.
 */
public final class SdkParity {
    private SdkParity() {}

    /**
     * Runs the measurement.
     *
     * @param args in-flight, warm-up seconds, measured seconds, max reports
     * @throws InterruptedException when interrupted
     */
    public static void main(String[] args) throws InterruptedException {
        int inFlight = args.length > 0 ? Integer.parseInt(args[0]) : 100;
        double warmup = args.length > 1 ? Double.parseDouble(args[1]) : 2;
        double duration = args.length > 2 ? Double.parseDouble(args[2]) : 10;
        long maxReports = args.length > 3 ? Long.parseLong(args[3]) : 200_000;
        try (ExtensionRuntime runtime = ExtensionRuntime.builder().name("sdk parity (Java)")
                .extensionId(System.getenv("UNITLEDGER_TEST_EXTENSION_ID")).build()) {
            runtime.start();
            run(runtime, inFlight, warmup, maxReports);
            long[] measured = run(runtime, inFlight, duration, maxReports);
            double seconds = measured[1] / 1e9;
            System.out.printf("{\"sdk\": \"java\", \"reports\": %d, \"seconds\": %.3f, \"per_second\": %.1f,"
                    + " \"in_flight\": %d}%n", measured[0], seconds, measured[0] / seconds, inFlight);
        }
    }

    /** Reports with {@code inFlight} outstanding until the time or count runs out: {count, nanos}. */
    private static long[] run(ExtensionRuntime runtime, int inFlight, double seconds, long limit)
            throws InterruptedException {
        Semaphore slots = new Semaphore(inFlight);
        AtomicLong done = new AtomicLong();
        AtomicLong failed = new AtomicLong();
        long start = System.nanoTime();
        long deadline = start + (long) (seconds * 1e9);
        long issued = 0;
        Map<String, Integer> work = Map.of("tables_replicated", 1);
        while (System.nanoTime() < deadline && issued < limit) {
            slots.acquire();
            issued++;
            runtime.reportUsageAsync(work).whenComplete((UsageResult r, Throwable e) -> {
                if (e != null || r.buffered()) {
                    failed.incrementAndGet();
                } else {
                    done.incrementAndGet();
                }
                slots.release();
            });
        }
        slots.acquire(inFlight);
        long elapsed = System.nanoTime() - start;
        if (failed.get() > 0) {
            throw new IllegalStateException(failed.get()
                    + " reports failed or were buffered: the server is not keeping up or not reachable");
        }
        runtime.flush(Duration.ofSeconds(1));
        return new long[] {done.get(), elapsed};
    }
}
