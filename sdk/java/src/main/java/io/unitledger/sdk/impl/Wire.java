package io.unitledger.sdk.impl;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.unitledger.sdk.ConflictException;
import io.unitledger.sdk.EnforcementState;
import io.unitledger.sdk.ForbiddenException;
import io.unitledger.sdk.IdempotencyConflictException;
import io.unitledger.sdk.InvalidReportException;
import io.unitledger.sdk.NotFoundException;
import io.unitledger.sdk.OverloadedException;
import io.unitledger.sdk.StateChange;
import io.unitledger.sdk.UnauthorizedException;
import io.unitledger.sdk.UnavailableException;
import io.unitledger.sdk.UnitledgerException;
import io.unitledger.sdk.UsageResult;
import io.unitledger.sdk.ValidationException;
import java.io.IOException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/** JSON bodies of protocol version 1 (docs/protocol.md): encoding and decoding only. */
public final class Wire {
    /** Subject prefix of report requests. */
    public static final String REPORT_SUBJECT_PREFIX = "unitledger.v1.report.";
    /** Subject of global enforcement changes. */
    public static final String GLOBAL_SUBJECT = "unitledger.v1.enforcement.global";
    /** Subject prefix of per-extension enforcement changes. */
    public static final String EXT_SUBJECT_PREFIX = "unitledger.v1.enforcement.ext.";
    /** Bucket holding the latest enforcement change per key. */
    public static final String ENFORCEMENT_BUCKET = "unitledger_enforcement";
    /** Bucket of heartbeats. */
    public static final String HEARTBEAT_BUCKET = "unitledger_heartbeats";

    static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
    private static final DateTimeFormatter STAMP =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'").withZone(ZoneOffset.UTC);

    private Wire() {}

    /**
     * A time as the protocol writes it: RFC 3339, UTC, microseconds, {@code Z}.
     *
     * @param t the time
     * @return e.g. {@code 2025-01-31T12:00:00.000000Z}
     */
    public static String stamp(Instant t) {
        return STAMP.format(t);
    }

    /**
     * The body of a report request, fields in the protocol's order.
     *
     * @param extensionId the extension
     * @param account the account, or null to omit it
     * @param dimensions the dimensions, sorted by name
     * @param idempotencyKey the key
     * @param occurredAt when the work happened, or null to omit it
     * @return UTF-8 JSON
     */
    public static byte[] reportRequest(String extensionId, String account, SortedMap<String, Number> dimensions,
            String idempotencyKey, String occurredAt) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("extension_id", extensionId);
        if (account != null) {
            body.put("account", account);
        }
        body.put("dimensions", dimensions);
        body.put("idempotency_key", idempotencyKey);
        if (occurredAt != null) {
            body.put("occurred_at", occurredAt);
        }
        return write(body);
    }

    static byte[] write(Object body) {
        try {
            return JSON.writeValueAsBytes(body);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot encode " + body.getClass().getSimpleName(), e);
        }
    }

    /**
     * Turns a reply body into the result, or throws the error it carries.
     *
     * @param data the reply body
     * @param idempotencyKey the key the report was sent with
     * @return the result
     * @throws UnitledgerException the server's error, typed by its code
     */
    public static UsageResult decodeReply(byte[] data, String idempotencyKey) {
        JsonNode reply;
        try {
            reply = JSON.readTree(data);
        } catch (IOException e) {
            throw new UnitledgerException("error", 502, "Invalid reply",
                    "the server sent a reply that is not valid JSON: " + e.getMessage(), null, false);
        }
        if (reply != null && reply.path("ok").asBoolean(false) && reply.path("result").isObject()) {
            return result(reply.get("result"), idempotencyKey);
        }
        if (reply != null && reply.has("ok") && !reply.get("ok").asBoolean() && reply.path("error").isObject()
                && reply.get("error").path("code").isTextual()) {
            throw error(reply.get("error"));
        }
        throw new UnitledgerException("error", 502, "Invalid reply",
                "the server sent a reply with neither a result nor an error", null, false);
    }

    private static UsageResult result(JsonNode r, String idempotencyKey) {
        Map<String, Double> byDimension = new TreeMap<>();
        r.path("units_by_dimension").properties().forEach(e -> byDimension.put(e.getKey(), e.getValue().asDouble()));
        List<String> licenses = new ArrayList<>();
        r.path("license_ids").forEach(n -> licenses.add(n.asText()));
        return new UsageResult(
                r.path("record_id").isIntegralNumber() ? r.get("record_id").asLong() : null,
                r.path("units").asDouble(0),
                byDimension,
                state(r.path("state")),
                state(r.path("extension_state")),
                licenses,
                r.path("duplicate").asBoolean(false),
                r.path("quarantine_id").isIntegralNumber() ? r.get("quarantine_id").asLong() : null,
                text(r.path("reason")),
                false,
                idempotencyKey);
    }

    private static String text(JsonNode n) {
        return n.isNull() || n.isMissingNode() ? null : n.asText();
    }

    private static EnforcementState state(JsonNode n) {
        return n.isTextual() ? EnforcementState.valueOf(n.asText()) : null;
    }

    /**
     * The typed exception for an error body ({code, status, title, detail, field?, retryable}).
     *
     * @param e the error object
     * @return the exception of the class that matches its code
     */
    public static UnitledgerException error(JsonNode e) {
        String code = e.path("code").asText("error");
        int status = e.path("status").asInt(500);
        String title = e.path("title").asText("");
        String detail = e.path("detail").asText("");
        String field = text(e.path("field"));
        boolean retryable = e.path("retryable").asBoolean(false);
        return switch (code) {
            case "invalid_report" -> new InvalidReportException(code, status, title, detail, field, retryable);
            case "invalid", "invalid_license" -> new ValidationException(code, status, title, detail, field, retryable);
            case "not_found" -> new NotFoundException(code, status, title, detail, field, retryable);
            case "idempotency_conflict" ->
                    new IdempotencyConflictException(code, status, title, detail, field, retryable);
            case "conflict" -> new ConflictException(code, status, title, detail, field, retryable);
            case "unauthorized" -> new UnauthorizedException(code, status, title, detail, field, retryable);
            case "forbidden" -> new ForbiddenException(code, status, title, detail, field, retryable);
            case "overloaded" -> new OverloadedException(code, status, title, detail, field, retryable);
            case "unavailable" -> new UnavailableException(code, status, title, detail, field, retryable);
            default -> new UnitledgerException(code, status, title, detail, field, retryable);
        };
    }

    /**
     * Reads a state-change body.
     *
     * @param data the body
     * @return the change
     * @throws IOException when the body is not a state change
     */
    public static StateChange stateChange(byte[] data) throws IOException {
        JsonNode c = JSON.readTree(data);
        if (c == null || !c.path("scope").isTextual() || !c.path("state").isTextual()) {
            throw new IOException("not a state change: " + new String(data, java.nio.charset.StandardCharsets.UTF_8));
        }
        List<String> uncovered = new ArrayList<>();
        c.path("uncovered_dimensions").forEach(n -> uncovered.add(n.asText()));
        EnforcementState previous;
        try {
            previous = state(c.path("previous_state"));
        } catch (IllegalArgumentException e) {
            previous = null;
        }
        try {
            return new StateChange(c.get("scope").asText(), text(c.path("extension_id")), state(c.get("state")),
                    previous, text(c.path("reason")), uncovered, text(c.path("changed_at")),
                    c.path("seq").asLong(0));
        } catch (IllegalArgumentException e) {
            throw new IOException("unknown state in " + c, e);
        }
    }

    /**
     * A heartbeat body.
     *
     * @param extensionId the extension
     * @param instanceId this process's instance id
     * @param status OK, WARNING or ERROR
     * @param host host name
     * @param pid process id
     * @param lastReportAt time of the last answered report, or null
     * @param at now
     * @return UTF-8 JSON
     */
    public static byte[] heartbeat(String extensionId, String instanceId, String status, String host, long pid,
            Instant lastReportAt, Instant at) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("v", 1);
        body.put("extension_id", extensionId);
        body.put("instance_id", instanceId);
        body.put("status", status);
        body.put("sdk", "java/" + NatsExtensionRuntime.VERSION);
        body.put("host", host);
        body.put("pid", pid);
        body.put("last_report_at", lastReportAt == null ? null : stamp(lastReportAt));
        body.put("at", stamp(at));
        return write(body);
    }
}
