package io.unitledger.sdk;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nats.client.Connection;
import io.nats.client.Dispatcher;
import io.nats.client.ErrorListener;
import io.nats.client.KeyValue;
import io.nats.client.Message;
import io.nats.client.Nats;
import io.nats.client.Options;
import io.nats.client.api.KeyValueConfiguration;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Plays the unitledger server's side of docs/protocol.md on a test NATS server:
 * creates the buckets, answers reports once per idempotency key and announces
 * enforcement changes.
 */
final class Responder {
    static final String UNCOVERED = "rows_scanned";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Connection nc;
    private final Map<String, Map<String, Object>> seen = new HashMap<>();
    private final List<String> order = new ArrayList<>();
    private final Map<String, Long> seq = new HashMap<>();
    private final List<String> authorizations = new ArrayList<>();
    private long nextId;
    private long nextQuarantine;
    int dropReplies;
    Map<String, Object> failNext;

    Responder(TestNats server) throws Exception {
        nc = Nats.connect(new Options.Builder().server(server.url()).token(TestNats.TOKEN.toCharArray())
                .maxReconnects(-1).reconnectWait(Duration.ofMillis(50)).errorListener(new ErrorListener() {})
                .build());
        var kvm = nc.keyValueManagement();
        kvm.create(KeyValueConfiguration.builder().name("unitledger_enforcement").maxHistoryPerKey(1).build());
        kvm.create(KeyValueConfiguration.builder().name("unitledger_heartbeats").maxHistoryPerKey(1)
                .ttl(Duration.ofSeconds(4)).build());
        Dispatcher d = nc.createDispatcher(this::handle);
        d.subscribe("unitledger.v1.report.*", "unitledger-ingest");
        nc.flush(Duration.ofSeconds(5));
    }

    KeyValue bucket(String name) throws Exception {
        return nc.keyValue(name);
    }

    private void handle(Message msg) {
        try {
            JsonNode req = JSON.readTree(msg.getData());
            String key = req.get("idempotency_key").asText();
            Object body;
            boolean drop;
            synchronized (this) {
                authorizations.add(msg.getHeaders().getFirst("Authorization"));
                if (failNext != null) {
                    body = Map.of("ok", false, "error", failNext);
                    failNext = null;
                } else if (req.get("dimensions").has(UNCOVERED)) {
                    Map<String, Object> r = new LinkedHashMap<>();
                    r.put("record_id", null);
                    r.put("units", 0);
                    r.put("units_by_dimension", Map.of());
                    r.put("state", "OK");
                    r.put("extension_state", "DISABLED");
                    r.put("license_ids", List.of());
                    r.put("duplicate", false);
                    r.put("quarantine_id", ++nextQuarantine);
                    r.put("reason", "reports dimension(s) no valid license covers: " + UNCOVERED);
                    body = Map.of("ok", true, "result", r);
                } else if (seen.containsKey(key)) {
                    Map<String, Object> r = new LinkedHashMap<>(seen.get(key));
                    r.put("duplicate", true);
                    body = Map.of("ok", true, "result", r);
                } else {
                    double units = 0;
                    Map<String, Double> byDim = new LinkedHashMap<>();
                    for (var e : req.get("dimensions").properties()) {
                        units += e.getValue().asDouble();
                        byDim.put(e.getKey(), e.getValue().asDouble());
                    }
                    Map<String, Object> r = new LinkedHashMap<>();
                    r.put("record_id", ++nextId);
                    r.put("units", units);
                    r.put("units_by_dimension", byDim);
                    r.put("state", "OK");
                    r.put("extension_state", "OK");
                    r.put("license_ids", List.of("LIC-1"));
                    r.put("duplicate", false);
                    seen.put(key, r);
                    order.add(key);
                    body = Map.of("ok", true, "result", r);
                }
                drop = dropReplies > 0;
                if (drop) {
                    dropReplies--;
                }
            }
            if (!drop) {
                nc.publish(msg.getReplyTo(), JSON.writeValueAsBytes(body));
            }
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    synchronized List<String> recorded() {
        return List.copyOf(order);
    }

    synchronized List<String> authorizations() {
        return List.copyOf(authorizations);
    }

    /** Publishes a change the way the server does: bucket first, then broadcast. */
    void announce(String scope, String extensionId, String state, String reason) throws Exception {
        String key = "global".equals(scope) ? "global" : "ext." + extensionId;
        String subject = "global".equals(scope) ? "unitledger.v1.enforcement.global"
                : "unitledger.v1.enforcement.ext." + extensionId;
        long s;
        synchronized (this) {
            s = seq.merge(key, 1L, Long::sum);
        }
        Map<String, Object> change = new LinkedHashMap<>();
        change.put("v", 1);
        change.put("scope", scope);
        change.put("extension_id", "global".equals(scope) ? null : extensionId);
        change.put("state", state);
        change.put("previous_state", null);
        change.put("reason", reason);
        change.put("uncovered_dimensions", List.of());
        change.put("changed_at", Instant.now().toString());
        change.put("seq", s);
        byte[] data = JSON.writeValueAsBytes(change);
        nc.keyValue("unitledger_enforcement").put(key, data);
        nc.publish(subject, data);
        nc.flush(Duration.ofSeconds(5));
    }

    void close() throws InterruptedException {
        nc.close();
    }
}
