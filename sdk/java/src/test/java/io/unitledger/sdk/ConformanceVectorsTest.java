package io.unitledger.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.unitledger.sdk.impl.EnforcementView;
import io.unitledger.sdk.impl.ReportValidator;
import io.unitledger.sdk.impl.Wire;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/** The shared vectors in sdk/conformance/vectors, replayed by every SDK. */
class ConformanceVectorsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, Class<? extends UnitledgerException>> CLASS_BY_CODE = Map.of(
            "invalid", ValidationException.class,
            "invalid_report", InvalidReportException.class,
            "not_found", NotFoundException.class,
            "conflict", ConflictException.class,
            "idempotency_conflict", IdempotencyConflictException.class,
            "unauthorized", UnauthorizedException.class,
            "forbidden", ForbiddenException.class,
            "unavailable", UnavailableException.class,
            "overloaded", OverloadedException.class);

    private static JsonNode vectors(String name) throws IOException {
        return JSON.readTree(Path.of("..", "conformance", "vectors", name).toFile());
    }

    private static Stream<JsonNode> cases(JsonNode doc) {
        return StreamSupport.stream(doc.get("cases").spliterator(), false);
    }

    private static String textOrNull(JsonNode n) {
        return n == null || n.isNull() ? null : n.asText();
    }

    /** Validates and encodes a report as the runtime does before sending it. */
    private static byte[] encode(JsonNode request) {
        ReportValidator.checkExtensionId(textOrNull(request.get("extension_id")));
        String account = textOrNull(request.get("account"));
        if (account != null) {
            ReportValidator.checkAccount(account);
        }
        Map<String, Number> dims = new LinkedHashMap<>();
        request.get("dimensions").properties().forEach(e -> dims.put(e.getKey(), e.getValue().numberValue()));
        SortedMap<String, Number> sorted = ReportValidator.checkDimensions(dims);
        String key = request.get("idempotency_key").asText();
        ReportValidator.checkIdempotencyKey(key);
        String at = textOrNull(request.get("occurred_at"));
        return Wire.reportRequest(request.get("extension_id").asText(), account, sorted, key,
                at == null ? null : Wire.stamp(Instant.parse(at)));
    }

    @TestFactory
    Stream<DynamicTest> requestVectors() throws IOException {
        List<JsonNode> local = cases(vectors("report-requests.json")).filter(c -> c.get("local").asBoolean()).toList();
        assertTrue(local.size() >= 20, "local request vectors");
        return local.stream().map(c -> DynamicTest.dynamicTest(c.get("name").asText(), () -> {
            JsonNode request = c.get("request");
            if (c.get("valid").asBoolean()) {
                JsonNode got = JSON.readTree(encode(request));
                assertSameRequest(request, got);
                return;
            }
            InvalidReportException e = assertThrows(InvalidReportException.class, () -> encode(request));
            JsonNode want = c.get("error");
            assertEquals(want.get("code").asText(), e.code());
            assertEquals(textOrNull(want.get("field")), e.field());
            assertEquals(want.get("detail").asText(), e.getMessage());
            assertFalse(e.isRetryable());
        }));
    }

    private static void assertSameRequest(JsonNode want, JsonNode got) {
        assertEquals(fieldNames(want), fieldNames(got));
        want.properties().forEach(e -> {
            JsonNode g = got.get(e.getKey());
            switch (e.getKey()) {
                case "occurred_at" -> assertEquals(Instant.parse(e.getValue().asText()), Instant.parse(g.asText()));
                case "dimensions" -> {
                    assertEquals(fieldNames(e.getValue()), fieldNames(g));
                    e.getValue().properties().forEach(d ->
                            assertEquals(d.getValue().asDouble(), g.get(d.getKey()).asDouble(), 0.0, d.getKey()));
                }
                default -> assertEquals(e.getValue(), g, e.getKey());
            }
        });
    }

    private static List<String> fieldNames(JsonNode n) {
        List<String> names = new ArrayList<>();
        n.fieldNames().forEachRemaining(names::add);
        names.sort(null);
        return names;
    }

    @TestFactory
    Stream<DynamicTest> replyVectors() throws IOException {
        return cases(vectors("report-replies.json")).map(c -> DynamicTest.dynamicTest(c.get("name").asText(), () -> {
            byte[] reply = JSON.writeValueAsBytes(c.get("reply"));
            if (c.has("result")) {
                UsageResult r = Wire.decodeReply(reply, "k");
                JsonNode want = c.get("result");
                assertEquals(want.get("record_id").isNull() ? null : want.get("record_id").asLong(), r.recordId());
                assertEquals(want.get("units").asDouble(), r.units(), 1e-12);
                Map<String, Double> byDim = new LinkedHashMap<>();
                want.get("units_by_dimension").properties().forEach(e -> byDim.put(e.getKey(), e.getValue().asDouble()));
                assertEquals(byDim, r.unitsByDimension());
                assertEquals(want.get("state").asText(), r.state().name());
                assertEquals(want.get("extension_state").asText(), r.extensionState().name());
                List<String> licenses = new ArrayList<>();
                want.get("license_ids").forEach(n -> licenses.add(n.asText()));
                assertEquals(licenses, r.licenseIds());
                assertEquals(want.get("duplicate").asBoolean(), r.duplicate());
                assertEquals(want.get("quarantine_id").isNull() ? null : want.get("quarantine_id").asLong(),
                        r.quarantineId());
                assertEquals(textOrNull(want.get("reason")), r.reason());
                assertEquals(!want.get("quarantine_id").isNull(), r.isQuarantined());
                assertFalse(r.buffered());
                return;
            }
            JsonNode want = c.get("error");
            UnitledgerException e = assertThrows(UnitledgerException.class, () -> Wire.decodeReply(reply, "k"));
            assertEquals(want.get("code").asText(), e.code());
            assertEquals(want.get("retryable").asBoolean(), e.isRetryable());
            assertEquals(textOrNull(want.get("field")), e.field());
            assertEquals(want.get("status").asInt(), e.status());
            if (!want.get("detail").isNull()) {
                assertEquals(want.get("detail").asText(), e.getMessage());
            }
            List<String> is = new ArrayList<>();
            want.get("is").forEach(n -> is.add(n.asText()));
            CLASS_BY_CODE.forEach((code, type) ->
                    assertEquals(is.contains(code), type.isInstance(e), "instanceof " + type.getSimpleName()));
        }));
    }

    @TestFactory
    Stream<DynamicTest> stateChangeVectors() throws IOException {
        JsonNode doc = vectors("state-changes.json");
        String extensionId = doc.get("extension_id").asText();
        return cases(doc).map(c -> DynamicTest.dynamicTest(c.get("name").asText(), () -> {
            EnforcementView view = new EnforcementView(extensionId);
            for (JsonNode change : c.get("changes")) {
                view.apply(Wire.stateChange(JSON.writeValueAsBytes(change)));
            }
            assertEquals(c.get("state").asText(), view.state().name());
            assertEquals(c.get("enabled").asBoolean(), view.state().isEnabled());
        }));
    }

    @TestFactory
    Stream<DynamicTest> heartbeatVectors() throws IOException {
        return cases(vectors("heartbeats.json")).filter(c -> c.get("valid").asBoolean())
                .map(c -> DynamicTest.dynamicTest(c.get("name").asText(), () -> {
                    JsonNode want = c.get("heartbeat");
                    Instant last = want.get("last_report_at").isNull() ? null
                            : Instant.parse(want.get("last_report_at").asText());
                    JsonNode got = JSON.readTree(Wire.heartbeat(want.get("extension_id").asText(),
                            want.get("instance_id").asText(), want.get("status").asText(), want.get("host").asText(),
                            want.get("pid").asLong(), last, Instant.parse(want.get("at").asText())));
                    assertEquals(fieldNames(want), fieldNames(got));
                    for (String field : List.of("v", "extension_id", "instance_id", "status", "host", "pid")) {
                        assertEquals(want.get(field), got.get(field), field);
                    }
                    assertEquals("java/0.1.0", got.get("sdk").asText());
                    if (last == null) {
                        assertNull(textOrNull(got.get("last_report_at")));
                    } else {
                        assertEquals(last, Instant.parse(got.get("last_report_at").asText()));
                    }
                    assertEquals(c.get("key").asText(),
                            want.get("extension_id").asText() + "." + want.get("instance_id").asText());
                }));
    }

    @TestFactory
    Stream<DynamicTest> numbersAreSpelledAsTheServerDoes() {
        Map<Number, String> cases = new LinkedHashMap<>();
        cases.put(-1, "-1");
        cases.put(-1L, "-1");
        cases.put(-1.0, "-1.0");
        cases.put(-0.5, "-0.5");
        cases.put(-1e-5, "-1e-05");
        cases.put(-0.0001, "-0.0001");
        cases.put(-1.5e16, "-1.5e+16");
        cases.put(-1e15, "-1000000000000000.0");
        cases.put(-0.1f, "-0.1");
        return cases.entrySet().stream().map(e -> DynamicTest.dynamicTest(e.getKey() + " (" + e.getKey().getClass()
                .getSimpleName() + ")", () -> {
            try {
                ReportValidator.checkDimensions(Map.of("rows", e.getKey()));
                fail("negative value accepted");
            } catch (InvalidReportException x) {
                assertEquals("dimensions.rows is negative (" + e.getValue() + "); values are non-negative increments",
                        x.getMessage());
            }
        }));
    }
}
