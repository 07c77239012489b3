package io.unitledger.sdk;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * An extension's connection to unitledger: reports usage and follows the
 * license enforcement state. Build one with {@link #builder()}, call
 * {@link #start()}, and close it when the extension stops. Safe for use from
 * many threads.
 */
public interface ExtensionRuntime extends AutoCloseable {

    /**
     * A builder for a runtime.
     *
     * @return a new builder with the defaults
     */
    static ExtensionRuntimeBuilder builder() {
        return new ExtensionRuntimeBuilder();
    }

    /**
     * Connects to NATS with the extension token, reads the current
     * enforcement state, subscribes to its updates and starts the heartbeat.
     * Once started, the runtime reconnects by itself and buffers reports
     * while the server is away.
     *
     * @return this runtime
     * @throws UnauthorizedException when the server refuses the token
     * @throws UnitledgerException when the server cannot be reached at all
     */
    ExtensionRuntime start();

    /**
     * Reports dimension increments, e.g. {@code Map.of("tables_replicated", 5)},
     * and waits for the server's answer.
     *
     * @param dimensions non-negative increments by dimension name
     * @return the server's answer, or a result with {@code buffered()} set when the
     *     server is unreachable and the report waits in the offline buffer
     * @throws InvalidReportException for input the server would refuse, before sending
     * @throws BufferFullException when the report cannot be buffered either
     * @throws ExtensionDisabledException with {@code failFast(true)}, when the extension is disabled
     * @throws UnitledgerException with the server's code and message for any other refusal
     */
    UsageResult reportUsage(Map<String, ? extends Number> dimensions);

    /**
     * Reports dimension increments with per-report options.
     *
     * @param dimensions non-negative increments by dimension name
     * @param options account, idempotency key or time of the work
     * @return as {@link #reportUsage(Map)}
     * @throws UnitledgerException as {@link #reportUsage(Map)}
     */
    UsageResult reportUsage(Map<String, ? extends Number> dimensions, ReportOptions options);

    /**
     * Reports dimension increments without blocking.
     *
     * @param dimensions non-negative increments by dimension name
     * @return completes as {@link #reportUsage(Map)} returns, or exceptionally with what it throws
     */
    CompletableFuture<UsageResult> reportUsageAsync(Map<String, ? extends Number> dimensions);

    /**
     * Reports dimension increments with per-report options, without blocking.
     *
     * @param dimensions non-negative increments by dimension name
     * @param options account, idempotency key or time of the work
     * @return completes as {@link #reportUsage(Map, ReportOptions)} returns, or exceptionally
     */
    CompletableFuture<UsageResult> reportUsageAsync(
            Map<String, ? extends Number> dimensions, ReportOptions options);

    /**
     * Registers a listener for enforcement updates.
     *
     * @param listener called with each update, in order, on the runtime's thread
     */
    void addEnforcementListener(EnforcementListener listener);

    /**
     * Removes a listener added before.
     *
     * @param listener the listener
     */
    void removeEnforcementListener(EnforcementListener listener);

    /**
     * The extension's effective state: its own DISABLED or UNLICENSED state,
     * else the global state.
     *
     * @return the current state
     */
    EnforcementState state();

    /**
     * Whether the extension may keep working.
     *
     * @return false exactly when {@link #state()} is DISABLED or UNLICENSED
     */
    boolean isEnabled();

    /**
     * Sets the status the heartbeat reports ({@link HeartbeatStatus#OK} by default).
     *
     * @param status the extension's own view of its health
     */
    void setStatus(HeartbeatStatus status);

    /**
     * The number of reports waiting in the offline buffer.
     *
     * @return the count
     */
    int buffered();

    /**
     * Waits until the offline buffer is empty.
     *
     * @param timeout how long to wait at most
     * @return true when the buffer is empty
     * @throws InterruptedException when interrupted while waiting
     */
    boolean flush(Duration timeout) throws InterruptedException;

    /**
     * The id this runtime reports as.
     *
     * @return the extension id
     */
    String extensionId();

    /**
     * Stops the heartbeat (removing this instance's key, so the server sees it
     * leave at once), waits up to the request timeout for buffered reports to be
     * delivered, and closes the connection.
     */
    @Override
    void close();
}
