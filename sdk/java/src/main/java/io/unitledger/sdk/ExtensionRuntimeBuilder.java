package io.unitledger.sdk;

import io.unitledger.sdk.impl.NatsExtensionRuntime;
import io.unitledger.sdk.impl.RuntimeSettings;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Builds an {@link ExtensionRuntime}. Only {@link #extensionId(String)} is
 * required; everything else has a default that works against
 * {@code unitledger serve} on this machine.
 */
public final class ExtensionRuntimeBuilder {
    private String name;
    private String extensionId;
    private String token;
    private final List<String> servers = new ArrayList<>();
    private String account;
    private Duration requestTimeout = Duration.ofSeconds(5);
    private int bufferSize = 10_000;
    private Duration heartbeatInterval;
    private boolean failFast;

    ExtensionRuntimeBuilder() {}

    /**
     * A human name for the connection, shown in NATS monitoring; defaults to the extension id.
     *
     * @param name the name
     * @return this builder
     */
    public ExtensionRuntimeBuilder name(String name) {
        this.name = name;
        return this;
    }

    /**
     * The stable id the extension reports as, e.g. {@code oracle-cdc}.
     *
     * @param extensionId 1-64 characters from a-z, 0-9, '-' and '_'
     * @return this builder
     */
    public ExtensionRuntimeBuilder extensionId(String extensionId) {
        this.extensionId = extensionId;
        return this;
    }

    /**
     * The extension token; defaults to the {@code UNITLEDGER_TOKEN} environment variable.
     *
     * @param token a token of role extension, {@code ul_<id>_<secret>}
     * @return this builder
     */
    public ExtensionRuntimeBuilder token(String token) {
        this.token = token;
        return this;
    }

    /**
     * NATS server URLs; default {@code UNITLEDGER_NATS_URL} (comma-separated) or
     * {@code nats://127.0.0.1:4222}.
     *
     * @param urls one or more {@code nats://host:port} URLs
     * @return this builder
     */
    public ExtensionRuntimeBuilder servers(String... urls) {
        servers.addAll(Arrays.asList(urls));
        return this;
    }

    /**
     * The default account reports are made on behalf of; the server's default is {@code unknown}.
     *
     * @param account e.g. {@code svc-etl@finance}
     * @return this builder
     */
    public ExtensionRuntimeBuilder account(String account) {
        this.account = account;
        return this;
    }

    /**
     * How long one attempt to deliver a report may take (default 5 s); a report
     * not answered in time is buffered and retried.
     *
     * @param timeout the timeout
     * @return this builder
     */
    public ExtensionRuntimeBuilder requestTimeout(Duration timeout) {
        this.requestTimeout = Objects.requireNonNull(timeout, "timeout");
        return this;
    }

    /**
     * How many reports the offline buffer holds (default 10,000).
     *
     * @param reports a positive count
     * @return this builder
     */
    public ExtensionRuntimeBuilder bufferSize(int reports) {
        if (reports < 1) {
            throw new IllegalArgumentException("bufferSize must be at least 1, got " + reports);
        }
        this.bufferSize = reports;
        return this;
    }

    /**
     * The heartbeat period; by default half the TTL of the server's heartbeat
     * bucket (30 s with its default).
     *
     * @param interval the period
     * @return this builder
     */
    public ExtensionRuntimeBuilder heartbeatInterval(Duration interval) {
        this.heartbeatInterval = interval;
        return this;
    }

    /**
     * Whether a report answered while the extension is DISABLED or UNLICENSED
     * throws {@link ExtensionDisabledException} (default false: it returns the result).
     *
     * @param failFast true to throw
     * @return this builder
     */
    public ExtensionRuntimeBuilder failFast(boolean failFast) {
        this.failFast = failFast;
        return this;
    }

    /**
     * Builds the runtime; call {@link ExtensionRuntime#start()} to connect.
     *
     * @return a runtime, not yet connected
     * @throws InvalidReportException when the extension id or account is invalid
     * @throws UnauthorizedException when no token was given and UNITLEDGER_TOKEN is unset
     */
    public ExtensionRuntime build() {
        String resolvedToken = token != null ? token : System.getenv("UNITLEDGER_TOKEN");
        List<String> urls = new ArrayList<>(servers);
        if (urls.isEmpty()) {
            String env = System.getenv("UNITLEDGER_NATS_URL");
            urls.addAll(env == null || env.isBlank()
                    ? List.of("nats://127.0.0.1:4222")
                    : Arrays.asList(env.split(",")));
        }
        return new NatsExtensionRuntime(new RuntimeSettings(
                name == null ? extensionId : name, extensionId, resolvedToken, List.copyOf(urls),
                account, requestTimeout, bufferSize, heartbeatInterval, failFast));
    }
}
