package example;

import io.unitledger.sdk.BufferFullException;
import io.unitledger.sdk.ExtensionRuntime;
import io.unitledger.sdk.UsageResult;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * An example extension: it "replicates" a few tables every second, reports the
 * work to unitledger and stops working while the license disables it.
 *
 * <pre>
 * export UNITLEDGER_TOKEN=$(unitledger token create --role extension --extension oracle-cdc | tail -1)
 * mvn -q compile exec:java -Dexec.args="10"
 * </pre>
 */
public final class OracleCdcExtension {
    private OracleCdcExtension() {}

    /**
     * Runs the example.
     *
     * @param args optional: how many reports to send (default 10)
     * @throws InterruptedException when interrupted between reports
     */
    public static void main(String[] args) throws InterruptedException {
        int reports = args.length > 0 ? Integer.parseInt(args[0]) : 10;
        String extensionId = System.getenv().getOrDefault("EXTENSION_ID", "oracle-cdc");
        // Token from UNITLEDGER_TOKEN, server from UNITLEDGER_NATS_URL (default nats://127.0.0.1:4222).
        try (ExtensionRuntime runtime = ExtensionRuntime.builder()
                .name("example " + extensionId + " (Java)")
                .extensionId(extensionId)
                .account("svc-etl@finance")
                .build()) {
            runtime.addEnforcementListener((change, state) -> System.out.printf(
                    "enforcement: %s is now %s (%s)%n", change.scope(), change.state(), change.reason()));
            runtime.start();
            System.out.printf("connected as %s, state %s%n", runtime.extensionId(), runtime.state());
            ThreadLocalRandom random = ThreadLocalRandom.current();
            for (int i = 0; i < reports; i++) {
                if (!runtime.isEnabled()) {
                    System.out.printf("disabled (%s): no work this round%n", runtime.state());
                } else {
                    Map<String, Number> work = Map.of(
                            "tables_replicated", 1 + random.nextInt(5),
                            "bytes_transferred_gb", random.nextInt(400) / 100.0);
                    try {
                        UsageResult r = runtime.reportUsage(work);
                        if (r.buffered()) {
                            System.out.printf("server unreachable: report %s buffered (%d waiting)%n",
                                    r.idempotencyKey(), runtime.buffered());
                        } else {
                            System.out.printf("reported %s -> %.2f units (record %d, state %s)%n",
                                    work, r.units(), r.recordId(), r.extensionState());
                        }
                    } catch (BufferFullException e) {
                        System.out.println("server unreachable and buffer full; pausing");
                    }
                }
                Thread.sleep(1000);
            }
            runtime.flush(Duration.ofSeconds(10));
        }
    }
}
