package io.unitledger.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * The live conformance scenario (sdk/conformance/scenario.md) against a real server started by
 * sdk/conformance/harness.py: {@code harness.py run --extension-id conformance-java -- mvn -q test -Plive}.
 */
@Tag("live")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class LiveConformanceTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http = HttpClient.newHttpClient();
    private final List<StateChange> updates = new CopyOnWriteArrayList<>();
    private String extensionId;
    private String httpUrl;
    private String adminToken;
    private String controlUrl;
    private ExtensionRuntime runtime;

    private static String env(String name) {
        String value = System.getenv(name);
        if (value == null || value.isEmpty()) {
            throw new IllegalStateException(name + " is not set: run the live tests through sdk/conformance/harness.py");
        }
        return value;
    }

    @BeforeAll
    void connect() {
        extensionId = env("UNITLEDGER_TEST_EXTENSION_ID");
        httpUrl = env("UNITLEDGER_TEST_HTTP_URL");
        adminToken = env("UNITLEDGER_TEST_ADMIN_TOKEN");
        controlUrl = env("UNITLEDGER_TEST_CONTROL_URL");
        // Step 1: token and NATS URL come from UNITLEDGER_TOKEN and UNITLEDGER_NATS_URL.
        runtime = ExtensionRuntime.builder().name("conformance (Java)").extensionId(extensionId)
                .requestTimeout(Duration.ofSeconds(2)).build();
        runtime.addEnforcementListener((change, state) -> updates.add(change));
        runtime.start();
    }

    @AfterAll
    void close() {
        runtime.close();
    }

    private JsonNode api(String method, String path, Object body, int expectStatus) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(httpUrl + path))
                .header("Authorization", "Bearer " + adminToken).header("Content-Type", "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(body)));
        HttpResponse<byte[]> response = http.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
        assertEquals(expectStatus, response.statusCode(), () -> method + " " + path + ": "
                + new String(response.body(), StandardCharsets.UTF_8));
        return JSON.readTree(response.body());
    }

    private void control(String action, Object body) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create(controlUrl + "/" + action))
                .timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(body == null ? Map.of() : body)))
                .build();
        HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), () -> "control " + action + ": " + response.body());
    }

    private List<JsonNode> records() throws Exception {
        List<JsonNode> items = new ArrayList<>();
        api("GET", "/usage/records?limit=1000&extension_id=" + URLEncoder.encode(extensionId, StandardCharsets.UTF_8),
                null, 200).get("items").forEach(items::add);
        return items;
    }

    private boolean sawExtensionUpdate(boolean disabled) {
        return updates.stream().anyMatch(u -> !u.isGlobal() && (u.state() == EnforcementState.DISABLED) == disabled);
    }

    @Test
    @Order(0)
    void refusedTokenAndUnreachableServerAreTypedErrorsInTheSharedWords() {
        ExtensionRuntime refused = ExtensionRuntime.builder().name("conformance (Java)").extensionId(extensionId)
                .token("ul_000000000000_refused").build();
        UnauthorizedException unauthorized = assertThrows(UnauthorizedException.class, refused::start);
        assertEquals("unauthorized", unauthorized.code());
        assertEquals("the server refused the token: use an extension token that exists and is not revoked"
                + " (unitledger token create --role extension)", unauthorized.getMessage());
        UnauthorizedException missing = assertThrows(UnauthorizedException.class, () -> ExtensionRuntime.builder()
                .name("conformance (Java)").extensionId(extensionId).token("").build());
        assertEquals("no token: pass a token or set UNITLEDGER_TOKEN to an extension token", missing.getMessage());
        ExtensionRuntime unreachable = ExtensionRuntime.builder().name("conformance (Java)").extensionId(extensionId)
                .servers("nats://127.0.0.1:1").build();
        long started = System.nanoTime();
        UnavailableException unavailable = assertThrows(UnavailableException.class, unreachable::start);
        assertTrue(System.nanoTime() - started < 5_000_000_000L, "unreachable server reported within 5 s");
        assertEquals("unavailable", unavailable.code());
        assertEquals("cannot connect to unitledger over NATS at nats://127.0.0.1:1", unavailable.getMessage());
    }

    @Test
    @Order(1)
    void connectsEnabled() {
        assertEquals(EnforcementState.OK, runtime.state());
        assertTrue(runtime.isEnabled());
    }

    @Test
    @Order(2)
    void reportReturnsUnitsTheServerRecorded() throws Exception {
        UsageResult r = runtime.reportUsage(Map.of("tables_replicated", 5, "bytes_transferred_gb", 1.5));
        assertEquals(5.75, r.units(), 1e-9);
        assertEquals(Map.of("tables_replicated", 5.0, "bytes_transferred_gb", 0.75), r.unitsByDimension());
        assertNotNull(r.recordId());
        assertEquals(EnforcementState.OK, r.state());
        assertEquals(EnforcementState.OK, r.extensionState());
        assertEquals(1, r.licenseIds().size());
        assertFalse(r.duplicate());
        assertFalse(r.buffered());
        JsonNode record = api("GET", "/usage/records/" + r.recordId(), null, 200);
        assertEquals(5.75, record.get("units").asDouble(), 1e-9);
        assertEquals(extensionId, record.get("extension_id").asText());
    }

    @Test
    @Order(3)
    void retriedReportIsCountedOnce() throws Exception {
        ReportOptions sameKey = ReportOptions.DEFAULT.withIdempotencyKey("conformance-java-" + UUID.randomUUID());
        UsageResult first = runtime.reportUsage(Map.of("tables_replicated", 2), sameKey);
        UsageResult again = runtime.reportUsage(Map.of("tables_replicated", 2), sameKey);
        assertTrue(again.duplicate());
        assertEquals(first.recordId(), again.recordId());
        assertEquals(2.0, again.units(), 1e-9);
        List<JsonNode> records = records();
        assertEquals(2, records.size());
        assertEquals(7.75, records.stream().mapToDouble(n -> n.get("units").asDouble()).sum(), 1e-9);
    }

    @Test
    @Order(4)
    void invalidInputIsATypedErrorWithTheServersMessage() throws Exception {
        InvalidReportException negative = assertThrows(InvalidReportException.class,
                () -> runtime.reportUsage(Map.of("rows", -1)));
        assertEquals("dimensions.rows", negative.field());
        JsonNode server = api("POST", "/usage", Map.of("extension_id", extensionId, "dimensions", Map.of("rows", -1)),
                400);
        assertEquals(server.get("detail").asText(), negative.getMessage());
        assertEquals(server.get("code").asText(), negative.code());

        Instant old = Instant.now().minus(Duration.ofDays(30));
        InvalidReportException stale = assertThrows(InvalidReportException.class,
                () -> runtime.reportUsage(Map.of("tables_replicated", 1), ReportOptions.DEFAULT.withOccurredAt(old)));
        assertEquals("occurred_at", stale.field());
        server = api("POST", "/usage", Map.of("extension_id", extensionId, "dimensions", Map.of("tables_replicated", 1),
                "occurred_at", io.unitledger.sdk.impl.Wire.stamp(old)), 400);
        assertEquals(server.get("detail").asText(), stale.getMessage());
        assertEquals(2, records().size());
    }

    @Test
    @Order(5)
    void uncoveredDimensionDisablesTheExtensionAndIsQuarantined() throws Exception {
        UsageResult r = runtime.reportUsage(Map.of("rows_scanned", 10));
        assertNull(r.recordId());
        assertEquals(0.0, r.units());
        assertEquals(EnforcementState.DISABLED, r.extensionState());
        assertTrue(r.isQuarantined());
        assertTrue(r.reason().contains("rows_scanned"), r.reason());
        ExtensionRuntimeTest.eventually("DISABLED", () -> runtime.state() == EnforcementState.DISABLED);
        assertFalse(runtime.isEnabled());
        ExtensionRuntimeTest.eventually("a DISABLED update", () -> sawExtensionUpdate(true));
        JsonNode held = api("GET", "/quarantine?extension_id=" + URLEncoder.encode(extensionId, StandardCharsets.UTF_8),
                null, 200);
        assertEquals(1, held.size());
        assertEquals(r.quarantineId().longValue(), held.get(0).get("quarantine_id").asLong());
    }

    @Test
    @Order(6)
    void licenseChangeArrivesAsAnEnforcementUpdate() throws Exception {
        updates.clear();
        control("license", Map.of("rates", Map.of("*", Map.of("rows_scanned", 0.01))));
        ExtensionRuntimeTest.eventually("an enabling update", () -> sawExtensionUpdate(false));
        ExtensionRuntimeTest.eventually("enabled", runtime::isEnabled);
        UsageResult r = runtime.reportUsage(Map.of("rows_scanned", 100));
        assertEquals(1.0, r.units(), 1e-9);
        assertNotNull(r.recordId());
    }

    @Test
    @Order(7)
    void reportsDuringAnOutageAreReplayedExactlyOnce() throws Exception {
        int before = records().size();
        control("stop", null);
        Set<String> keys = new HashSet<>();
        for (int i = 0; i < 5; i++) {
            long started = System.nanoTime();
            UsageResult r = runtime.reportUsage(Map.of("tables_replicated", 1));
            assertTrue(r.buffered(), "report " + i + " during the outage is buffered");
            assertTrue(System.nanoTime() - started < 3_000_000_000L, "report " + i + " returned within 3 s");
            keys.add(r.idempotencyKey());
        }
        control("start", null);
        assertTrue(runtime.flush(Duration.ofSeconds(30)), "buffer flushed");
        List<JsonNode> records = records();
        assertEquals(before + 5, records.size());
        assertEquals(5, records.stream().filter(n -> keys.contains(n.get("idempotency_key").asText())).count());
    }
}
