package io.unitledger.sdk.impl;

import io.nats.client.JetStreamApiException;
import io.nats.client.KeyValue;
import io.unitledger.sdk.HeartbeatStatus;
import java.io.IOException;
import java.net.InetAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Writes this instance's heartbeat on start and every TTL/2, and deletes it
 * on close (docs/protocol.md §6).
 */
final class Heartbeater {
    private static final Logger LOG = Logger.getLogger("io.unitledger.sdk");

    private final NatsExtensionRuntime runtime;
    private final String instanceId = NatsExtensionRuntime.randomHex(8);
    private final String key;
    private final String host;
    private final ScheduledExecutorService timer =
            Executors.newSingleThreadScheduledExecutor(NatsExtensionRuntime.daemon("heartbeat"));
    private volatile HeartbeatStatus status = HeartbeatStatus.OK;
    private KeyValue kv;

    Heartbeater(NatsExtensionRuntime runtime) {
        this.runtime = runtime;
        this.key = runtime.settings().extensionId() + "." + instanceId;
        String name;
        try {
            name = InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            name = "unknown";
        }
        this.host = name;
    }

    String key() {
        return key;
    }

    void setStatus(HeartbeatStatus status) {
        this.status = status;
    }

    void start() {
        Duration interval = runtime.settings().heartbeatInterval();
        beat();
        if (interval == null) {
            interval = Duration.ofSeconds(30);
            try {
                Duration ttl = runtime.connection().keyValueManagement()
                        .getStatus(Wire.HEARTBEAT_BUCKET).getTtl();
                if (ttl != null && !ttl.isZero()) {
                    interval = ttl.dividedBy(2);
                }
            } catch (IOException | JetStreamApiException e) {
                LOG.log(Level.FINE, "heartbeat bucket TTL unknown; beating every 30 s", e);
            }
        }
        long millis = Math.max(10, interval.toMillis());
        timer.scheduleAtFixedRate(this::beat, millis, millis, TimeUnit.MILLISECONDS);
    }

    private synchronized KeyValue bucket() throws IOException {
        if (kv == null) {
            kv = runtime.connection().keyValue(Wire.HEARTBEAT_BUCKET);
        }
        return kv;
    }

    private void beat() {
        HeartbeatStatus current = status;
        if (current == HeartbeatStatus.OK && runtime.buffered() > 0) {
            current = HeartbeatStatus.WARNING;
        }
        byte[] body = Wire.heartbeat(runtime.settings().extensionId(), instanceId, current.name(), host,
                ProcessHandle.current().pid(), runtime.lastReportAt(), Instant.now());
        try {
            bucket().put(key, body);
        } catch (IOException | JetStreamApiException | RuntimeException e) {
            LOG.log(Level.FINE, "heartbeat not written", e);
        }
    }

    void stop() {
        timer.shutdownNow();
        try {
            timer.awaitTermination(2, TimeUnit.SECONDS);
            KeyValue bucket = kv;
            if (bucket != null && runtime.connection().getStatus() == io.nats.client.Connection.Status.CONNECTED) {
                bucket.delete(key);
            }
        } catch (IOException | JetStreamApiException | RuntimeException e) {
            LOG.log(Level.FINE, "heartbeat key not removed", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
