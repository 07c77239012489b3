package io.unitledger.sdk.impl;

import io.nats.client.AuthenticationException;
import io.nats.client.Connection;
import io.nats.client.ConnectionListener;
import io.nats.client.Dispatcher;
import io.nats.client.ErrorListener;
import io.nats.client.JetStreamApiException;
import io.nats.client.JetStreamStatusException;
import io.nats.client.KeyValue;
import io.nats.client.Message;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.api.KeyValueEntry;
import io.nats.client.impl.Headers;
import io.unitledger.sdk.EnforcementListener;
import io.unitledger.sdk.EnforcementState;
import io.unitledger.sdk.ExtensionDisabledException;
import io.unitledger.sdk.ExtensionRuntime;
import io.unitledger.sdk.HeartbeatStatus;
import io.unitledger.sdk.ReportOptions;
import io.unitledger.sdk.StateChange;
import io.unitledger.sdk.UnauthorizedException;
import io.unitledger.sdk.UnavailableException;
import io.unitledger.sdk.UnitledgerException;
import io.unitledger.sdk.UsageResult;
import io.unitledger.sdk.BufferFullException;
import java.io.IOException;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.logging.Logger;

/** The runtime over NATS: request/reply reports, enforcement broadcast and buckets, heartbeats. */
public final class NatsExtensionRuntime implements ExtensionRuntime {
    /** This SDK's version, sent in heartbeats as {@code java/<VERSION>}. */
    public static final String VERSION = "0.1.0";

    private static final Logger LOG = Logger.getLogger("io.unitledger.sdk");
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final long BACKOFF_FIRST_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    private static final long BACKOFF_MAX_NANOS = TimeUnit.SECONDS.toNanos(5);

    private final RuntimeSettings settings;
    private final String subject;
    private final EnforcementView view;
    private final OfflineBuffer buffer;
    private final List<EnforcementListener> listeners = new CopyOnWriteArrayList<>();
    private final ExecutorService listenerThread = Executors.newSingleThreadExecutor(daemon("listeners"));
    private final AtomicBoolean started = new AtomicBoolean();
    private final AtomicBoolean closed = new AtomicBoolean();
    private volatile Connection nc;
    private volatile Instant lastReportAt;
    private Heartbeater heartbeater;
    private Thread replayThread;

    /**
     * A runtime, not yet connected.
     *
     * @param settings what to connect to and how
     */
    public NatsExtensionRuntime(RuntimeSettings settings) {
        ReportValidator.checkExtensionId(settings.extensionId());
        if (settings.account() != null) {
            ReportValidator.checkAccount(settings.account());
        }
        if (settings.token() == null || settings.token().isBlank()) {
            throw new UnauthorizedException("unauthorized", 401, "Authentication required",
                    "no token: pass a token or set UNITLEDGER_TOKEN to an extension token",
                    null, false);
        }
        this.settings = settings;
        this.subject = Wire.REPORT_SUBJECT_PREFIX + settings.extensionId();
        this.view = new EnforcementView(settings.extensionId());
        this.buffer = new OfflineBuffer(settings.bufferSize());
    }

    static java.util.concurrent.ThreadFactory daemon(String role) {
        return r -> {
            Thread t = new Thread(r, "unitledger-" + role);
            t.setDaemon(true);
            return t;
        };
    }

    static String randomHex(int bytes) {
        byte[] b = new byte[bytes];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    @Override
    public ExtensionRuntime start() {
        if (closed.get()) {
            throw new IllegalStateException("this runtime is closed; build a new one");
        }
        if (!started.compareAndSet(false, true)) {
            return this;
        }
        Options options = new Options.Builder()
                .servers(settings.servers().toArray(String[]::new))
                .token(settings.token().toCharArray())
                .connectionName(settings.name())
                .maxReconnects(-1)
                .reconnectWait(Duration.ofMillis(250))
                .reconnectJitter(Duration.ofMillis(100))
                .connectionTimeout(Duration.ofSeconds(5))
                .reportNoResponders()
                .connectionListener(this::onConnectionEvent)
                .errorListener(new QuietErrors())
                .build();
        try {
            nc = Nats.connect(options);
            // Subscribe first, then read the bucket, so no change falls in between.
            Dispatcher dispatcher = nc.createDispatcher(this::onBroadcast);
            dispatcher.subscribe(Wire.GLOBAL_SUBJECT);
            dispatcher.subscribe(Wire.EXT_SUBJECT_PREFIX + settings.extensionId());
            nc.flush(Duration.ofSeconds(5));
            readEnforcement();
        } catch (AuthenticationException e) {
            started.set(false);
            closeQuietly();
            throw new UnauthorizedException("unauthorized", 401, "Authentication required",
                    "the server refused the token: use an extension token that exists and is not revoked"
                            + " (unitledger token create --role extension)", null, false);
        } catch (IOException | TimeoutException | JetStreamApiException e) {
            started.set(false);
            closeQuietly();
            // The same words in every SDK (sdk/conformance/scenario.md, step 0); the cause stays attached.
            UnavailableException unavailable = new UnavailableException("unavailable", 503, "Service unavailable",
                    "cannot connect to unitledger over NATS at " + String.join(",", settings.servers()), null, true);
            unavailable.initCause(e);
            throw unavailable;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            started.set(false);
            closeQuietly();
            throw new UnavailableException("unavailable", 503, "Service unavailable",
                    "interrupted while connecting", null, true);
        }
        heartbeater = new Heartbeater(this);
        heartbeater.start();
        replayThread = daemon("replay").newThread(this::replayLoop);
        replayThread.start();
        return this;
    }

    private void closeQuietly() {
        Connection c = nc;
        if (c != null) {
            try {
                c.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    RuntimeSettings settings() {
        return settings;
    }

    Connection connection() {
        return nc;
    }

    Instant lastReportAt() {
        return lastReportAt;
    }

    @Override
    public UsageResult reportUsage(Map<String, ? extends Number> dimensions) {
        return reportUsage(dimensions, ReportOptions.DEFAULT);
    }

    @Override
    public UsageResult reportUsage(Map<String, ? extends Number> dimensions, ReportOptions options) {
        Pending p = prepare(dimensions, options);
        try {
            return submit(p).join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException cause) {
                throw cause;
            }
            throw e;
        }
    }

    @Override
    public CompletableFuture<UsageResult> reportUsageAsync(Map<String, ? extends Number> dimensions) {
        return reportUsageAsync(dimensions, ReportOptions.DEFAULT);
    }

    @Override
    public CompletableFuture<UsageResult> reportUsageAsync(
            Map<String, ? extends Number> dimensions, ReportOptions options) {
        try {
            return submit(prepare(dimensions, options));
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private Pending prepare(Map<String, ? extends Number> dimensions, ReportOptions options) {
        ReportOptions o = options == null ? ReportOptions.DEFAULT : options;
        String account = o.account() != null ? o.account() : settings.account();
        if (account != null) {
            ReportValidator.checkAccount(account);
        }
        SortedMap<String, Number> sorted = ReportValidator.checkDimensions(dimensions);
        String key = o.idempotencyKey() != null ? o.idempotencyKey() : randomHex(16);
        ReportValidator.checkIdempotencyKey(key);
        if (closed.get()) {
            throw new IllegalStateException("this runtime is closed");
        }
        if (!started.get()) {
            throw new IllegalStateException("call start() before reporting usage");
        }
        return new Pending(account, sorted, key, o.occurredAt() == null ? null : Wire.stamp(o.occurredAt()));
    }

    private CompletableFuture<UsageResult> submit(Pending p) {
        // Behind reports already waiting, to keep their order.
        if (buffer.size() > 0) {
            return CompletableFuture.completedFuture(enqueue(p));
        }
        return send(p).handle((result, failure) -> {
            if (failure == null) {
                return answered(result);
            }
            Throwable cause = unwrap(failure);
            if (retryable(cause)) {
                LOG.log(Level.FINE, "report {0} buffered: {1}", new Object[] {p.idempotencyKey(), cause});
                return enqueue(p);
            }
            if (cause instanceof RuntimeException runtime) {
                throw runtime;
            }
            throw new CompletionException(cause);
        });
    }

    private UsageResult answered(UsageResult result) {
        lastReportAt = Instant.now();
        if (settings.failFast() && result.extensionState() != null && !result.extensionState().isEnabled()) {
            throw new ExtensionDisabledException(result.extensionState(), result.reason(), result);
        }
        return result;
    }

    private UsageResult enqueue(Pending p) {
        // A replayed report is dated when it was first submitted.
        Pending dated = p.datedIfUnset(Wire.stamp(Instant.now()));
        if (!buffer.push(dated)) {
            throw new BufferFullException(buffer.capacity());
        }
        EnforcementState state = view.state();
        return new UsageResult(null, 0, Map.of(), state, state, List.of(), false, null, null, true,
                p.idempotencyKey());
    }

    /** One attempt: completes with the result, the server's error, or a transport failure. */
    private CompletableFuture<UsageResult> send(Pending p) {
        Headers headers = new Headers().put("Authorization", "Bearer " + settings.token());
        byte[] body = Wire.reportRequest(settings.extensionId(), p.account(), p.dimensions(), p.idempotencyKey(),
                p.occurredAt());
        CompletableFuture<Message> reply;
        try {
            reply = nc.requestWithTimeout(subject, headers, body, settings.requestTimeout());
        } catch (IllegalStateException e) {
            return CompletableFuture.failedFuture(e);
        }
        // jnats expires timed-out requests only on its periodic clean-up; bound the wait here.
        return reply.orTimeout(settings.requestTimeout().toNanos(), TimeUnit.NANOSECONDS)
                .thenApply(m -> Wire.decodeReply(m.getData(), p.idempotencyKey()));
    }

    private static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    /** Timeouts, no responders, a lost connection, or an error reply marked retryable. */
    private boolean retryable(Throwable t) {
        if (t instanceof UnitledgerException u) {
            return u.isRetryable();
        }
        if (t instanceof IllegalStateException) {
            return !closed.get();
        }
        return t instanceof TimeoutException || t instanceof CancellationException
                || t instanceof JetStreamStatusException || t instanceof IOException;
    }

    /** Sends buffered reports oldest first, one at a time, backing off while the server is away. */
    private void replayLoop() {
        long backoff = BACKOFF_FIRST_NANOS;
        while (!closed.get()) {
            try {
                Pending p = buffer.awaitHead();
                UsageResult result = null;
                Throwable failure = null;
                try {
                    result = send(p).get();
                } catch (ExecutionException | CancellationException e) {
                    failure = unwrap(e);
                }
                if (failure != null && retryable(failure)) {
                    double jitter = 0.8 + 0.4 * ThreadLocalRandom.current().nextDouble();
                    buffer.pause((long) (backoff * jitter));
                    backoff = Math.min(2 * backoff, BACKOFF_MAX_NANOS);
                    continue;
                }
                backoff = BACKOFF_FIRST_NANOS;
                buffer.pop();
                if (failure == null) {
                    lastReportAt = Instant.now();
                    LOG.log(Level.FINE, "buffered report {0} delivered", p.idempotencyKey());
                } else {
                    LOG.log(Level.WARNING, "buffered report " + p.idempotencyKey() + " refused by the server",
                            failure);
                }
                if (result != null && result.duplicate()) {
                    LOG.log(Level.FINE, "buffered report {0} had already been recorded", p.idempotencyKey());
                }
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private void onConnectionEvent(Connection conn, ConnectionListener.Events event) {
        if (event == ConnectionListener.Events.RECONNECTED) {
            buffer.wake();
            listenerThread.execute(() -> {
                try {
                    readEnforcement();
                } catch (IOException | JetStreamApiException e) {
                    LOG.log(Level.WARNING, "enforcement state not refreshed after reconnecting", e);
                }
            });
        } else if (event == ConnectionListener.Events.DISCONNECTED) {
            LOG.log(Level.FINE, "disconnected from NATS; reports are buffered until it is back");
        }
    }

    private void onBroadcast(Message msg) {
        try {
            observe(Wire.stateChange(msg.getData()));
        } catch (IOException e) {
            LOG.log(Level.WARNING, "unreadable enforcement update", e);
        }
    }

    private void observe(StateChange change) {
        if (!view.apply(change)) {
            return;
        }
        EnforcementState state = view.state();
        if (!listenerThread.isShutdown()) {
            listenerThread.execute(() -> {
                for (EnforcementListener listener : listeners) {
                    try {
                        listener.onChange(change, state);
                    } catch (RuntimeException e) {
                        LOG.log(Level.WARNING, "enforcement listener failed", e);
                    }
                }
            });
        }
    }

    /** Reads the current state from the enforcement bucket. */
    private void readEnforcement() throws IOException, JetStreamApiException {
        KeyValue kv = nc.keyValue(Wire.ENFORCEMENT_BUCKET);
        for (String key : List.of("global", "ext." + settings.extensionId())) {
            KeyValueEntry entry = kv.get(key);
            if (entry != null && entry.getValue() != null) {
                observe(Wire.stateChange(entry.getValue()));
            }
        }
    }

    @Override
    public void addEnforcementListener(EnforcementListener listener) {
        listeners.add(listener);
    }

    @Override
    public void removeEnforcementListener(EnforcementListener listener) {
        listeners.remove(listener);
    }

    @Override
    public EnforcementState state() {
        return view.state();
    }

    @Override
    public boolean isEnabled() {
        return view.state().isEnabled();
    }

    @Override
    public void setStatus(HeartbeatStatus status) {
        if (heartbeater == null) {
            throw new IllegalStateException("call start() first");
        }
        heartbeater.setStatus(status);
    }

    @Override
    public int buffered() {
        return buffer.size();
    }

    @Override
    public boolean flush(Duration timeout) throws InterruptedException {
        buffer.wake();
        return buffer.awaitEmpty(timeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    @Override
    public String extensionId() {
        return settings.extensionId();
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try {
            if (started.get()) {
                if (buffer.size() > 0 && !flush(settings.requestTimeout())) {
                    LOG.warning(buffer.size() + " buffered report(s) not delivered before close");
                }
                heartbeater.stop();
                replayThread.interrupt();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            listenerThread.shutdown();
            closeQuietly();
        }
    }

    /** NATS reports its own troubles through logging; the runtime handles them itself. */
    private static final class QuietErrors implements ErrorListener {
        @Override
        public void errorOccurred(Connection conn, String error) {
            LOG.log(Level.WARNING, "NATS error: {0}", error);
        }

        @Override
        public void exceptionOccurred(Connection conn, Exception exp) {
            LOG.log(Level.FINE, "NATS exception", exp);
        }
    }
}
