package io.unitledger.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.nats.client.KeyValue;
import io.nats.client.api.KeyValueEntry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The runtime against a real nats-server and a responder playing the server's side of the protocol. */
class ExtensionRuntimeTest {
    private TestNats nats;
    private Responder responder;
    private final List<ExtensionRuntime> runtimes = new ArrayList<>();

    @BeforeEach
    void startNats() throws Exception {
        nats = new TestNats();
        responder = new Responder(nats);
    }

    @AfterEach
    void stopNats() throws Exception {
        runtimes.forEach(ExtensionRuntime::close);
        responder.close();
        nats.close();
    }

    private ExtensionRuntimeBuilder builder() {
        return ExtensionRuntime.builder().name("Oracle CDC").extensionId("oracle-cdc").token(TestNats.TOKEN)
                .servers(nats.url());
    }

    private ExtensionRuntime start(ExtensionRuntimeBuilder b) {
        ExtensionRuntime runtime = b.build();
        runtimes.add(runtime);
        return runtime.start();
    }

    static void eventually(String what, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + 15_000_000_000L;
        while (System.nanoTime() < deadline) {
            if (condition.getAsBoolean()) {
                return;
            }
            Thread.sleep(20);
        }
        throw new AssertionError("timed out waiting for " + what);
    }

    @Test
    void reportReturnsTheServersResult() {
        ExtensionRuntime runtime = start(builder());
        UsageResult r = runtime.reportUsage(Map.of("tables_replicated", 5, "bytes_transferred_gb", 1.5));
        assertEquals(6.5, r.units());
        assertNotNull(r.recordId());
        assertFalse(r.buffered());
        assertEquals(32, r.idempotencyKey().length());
        assertEquals(List.of(r.idempotencyKey()), responder.recorded());
        assertEquals(List.of("Bearer " + TestNats.TOKEN), responder.authorizations());
    }

    @Test
    void asyncReportsCompleteWithTheirResults() {
        ExtensionRuntime runtime = start(builder());
        List<CompletableFuture<UsageResult>> futures = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            futures.add(runtime.reportUsageAsync(Map.of("tables_replicated", 1)));
        }
        CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new)).join();
        assertEquals(50, responder.recorded().size());
        assertTrue(futures.stream().allMatch(f -> f.join().recordId() != null));
    }

    @Test
    void lostReplyIsRetriedWithTheSameKeyAndCountedOnce() throws Exception {
        responder.dropReplies = 1;
        ExtensionRuntime runtime = start(builder().requestTimeout(Duration.ofMillis(300)));
        UsageResult r = runtime.reportUsage(Map.of("tables_replicated", 5));
        assertTrue(r.buffered());
        assertNull(r.recordId());
        assertTrue(runtime.flush(Duration.ofSeconds(10)));
        assertEquals(List.of(r.idempotencyKey()), responder.recorded());
        assertEquals(2, responder.authorizations().size());
    }

    @Test
    void reportsDuringAnOutageAreReplayedInOrderOnce() throws Exception {
        ExtensionRuntime runtime = start(builder().requestTimeout(Duration.ofMillis(300)));
        runtime.reportUsage(Map.of("tables_replicated", 1));
        nats.stop();
        List<String> keys = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            UsageResult r = runtime.reportUsage(Map.of("tables_replicated", i + 2));
            assertTrue(r.buffered(), "report " + i + " during the outage is buffered");
            keys.add(r.idempotencyKey());
        }
        assertEquals(5, runtime.buffered());
        nats.start();
        assertTrue(runtime.flush(Duration.ofSeconds(20)));
        assertEquals(keys, responder.recorded().subList(1, 6));
    }

    @Test
    void fullBufferRefusesTheReport() throws Exception {
        ExtensionRuntime runtime = start(builder().requestTimeout(Duration.ofMillis(100)).bufferSize(2));
        nats.stop();
        runtime.reportUsage(Map.of("rows", 1));
        runtime.reportUsage(Map.of("rows", 1));
        BufferFullException e = assertThrows(BufferFullException.class, () -> runtime.reportUsage(Map.of("rows", 1)));
        assertEquals("buffer_full", e.code());
        nats.start();
    }

    @Test
    void serverErrorIsTypedWithTheServersMessage() {
        ExtensionRuntime runtime = start(builder());
        responder.failNext = Map.of("code", "idempotency_conflict", "status", 409,
                "title", "Idempotency key reused with a different report",
                "detail", "idempotency key k1 was already used for another report", "retryable", false);
        IdempotencyConflictException e = assertThrows(IdempotencyConflictException.class,
                () -> runtime.reportUsage(Map.of("rows", 1)));
        assertEquals("idempotency key k1 was already used for another report", e.getMessage());
        assertEquals(409, e.status());
    }

    @Test
    void asyncServerErrorCompletesExceptionally() {
        ExtensionRuntime runtime = start(builder());
        responder.failNext = Map.of("code", "forbidden", "status", 403, "title", "Forbidden",
                "detail", "this token belongs to extension 'x'", "retryable", false);
        CompletableFuture<UsageResult> f = runtime.reportUsageAsync(Map.of("rows", 1));
        Throwable cause = assertThrows(java.util.concurrent.CompletionException.class, f::join).getCause();
        assertTrue(cause instanceof ForbiddenException, cause.toString());
    }

    @Test
    void retryableServerErrorBuffersTheReport() throws Exception {
        ExtensionRuntime runtime = start(builder());
        responder.failNext = Map.of("code", "overloaded", "status", 429, "title", "Too many reports in flight",
                "detail", "busy", "retryable", true);
        UsageResult r = runtime.reportUsage(Map.of("rows", 1));
        assertTrue(r.buffered());
        assertTrue(runtime.flush(Duration.ofSeconds(10)));
        assertEquals(List.of(r.idempotencyKey()), responder.recorded());
    }

    @Test
    void invalidReportFailsBeforeSendingWithTheServersMessage() {
        ExtensionRuntime runtime = start(builder());
        InvalidReportException e = assertThrows(InvalidReportException.class,
                () -> runtime.reportUsage(Map.of("rows", -1)));
        assertEquals("dimensions.rows", e.field());
        assertEquals("dimensions.rows is negative (-1); values are non-negative increments", e.getMessage());
        assertTrue(responder.recorded().isEmpty());
    }

    @Test
    void wrongTokenIsRefusedAtStart() {
        ExtensionRuntime runtime = builder().token("ul_nope_nope").build();
        assertThrows(UnauthorizedException.class, runtime::start);
    }

    @Test
    void quarantinedReportIsAResultOrWithFailFastAnError() {
        UsageResult r = start(builder()).reportUsage(Map.of(Responder.UNCOVERED, 1));
        assertTrue(r.isQuarantined());
        assertEquals(EnforcementState.DISABLED, r.extensionState());
        ExtensionRuntime strict = start(builder().failFast(true));
        ExtensionDisabledException e = assertThrows(ExtensionDisabledException.class,
                () -> strict.reportUsage(Map.of(Responder.UNCOVERED, 1)));
        assertEquals(EnforcementState.DISABLED, e.state());
        assertTrue(e.result().isQuarantined());
    }

    @Test
    void enforcementStateComesFromBucketThenBroadcast() throws Exception {
        responder.announce("global", null, "WARNING", "units used at 92 %");
        ExtensionRuntime runtime = start(builder());
        List<StateChange> seen = new CopyOnWriteArrayList<>();
        runtime.addEnforcementListener((change, state) -> seen.add(change));
        assertEquals(EnforcementState.WARNING, runtime.state());
        assertTrue(runtime.isEnabled());
        responder.announce("extension", "other-ext", "DISABLED", "not ours");
        responder.announce("extension", "oracle-cdc", "DISABLED", "reports dimension(s) no valid license covers: rows");
        eventually("DISABLED", () -> runtime.state() == EnforcementState.DISABLED);
        assertFalse(runtime.isEnabled());
        eventually("the listener", () -> seen.size() == 1);
        assertEquals("reports dimension(s) no valid license covers: rows", seen.get(0).reason());
    }

    @Test
    void heartbeatIsWrittenAndRemovedOnClose() throws Exception {
        ExtensionRuntime runtime = start(builder().heartbeatInterval(Duration.ofMillis(100)));
        runtime.setStatus(HeartbeatStatus.ERROR);
        KeyValue kv = responder.bucket("unitledger_heartbeats");
        ObjectMapper json = new ObjectMapper();
        JsonNode[] beat = new JsonNode[1];
        eventually("an ERROR heartbeat", () -> {
            try {
                for (String key : kv.keys()) {
                    KeyValueEntry e = kv.get(key);
                    if (e != null && e.getValue() != null) {
                        beat[0] = json.readTree(e.getValue());
                    }
                }
            } catch (Exception e) {
                return false;
            }
            return beat[0] != null && "ERROR".equals(beat[0].path("status").asText());
        });
        assertEquals("java/0.1.0", beat[0].get("sdk").asText());
        assertEquals("oracle-cdc", beat[0].get("extension_id").asText());
        assertEquals(1, beat[0].get("v").asInt());
        runtime.close();
        assertTrue(kv.keys().isEmpty(), "heartbeat key removed on close");
    }
}
