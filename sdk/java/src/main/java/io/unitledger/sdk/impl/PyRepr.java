package io.unitledger.sdk.impl;

import java.math.BigDecimal;
import java.math.BigInteger;

/**
 * Spells strings and numbers the way the server's messages do, so a report
 * refused before sending gets the very message the server would have sent.
 */
final class PyRepr {
    private PyRepr() {}

    /** A string quoted as the server quotes it. */
    static String string(String s) {
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        StringBuilder b = new StringBuilder(s.length() + 2).append(quote);
        s.codePoints().forEach(cp -> {
            if (cp == '\\') {
                b.append("\\\\");
            } else if (cp == quote) {
                b.append('\\').append(quote);
            } else if (cp == '\n') {
                b.append("\\n");
            } else if (cp == '\r') {
                b.append("\\r");
            } else if (cp == '\t') {
                b.append("\\t");
            } else if (cp < 0x20 || cp == 0x7f || (cp > 0x7f && cp <= 0xa0)) {
                b.append(String.format("\\x%02x", cp));
            } else {
                b.appendCodePoint(cp);
            }
        });
        return b.append(quote).toString();
    }

    /**
     * A number as the server spells it after reading the JSON this SDK sends:
     * integer types travel as JSON integers, floating-point ones as floats.
     */
    static String number(Number n) {
        if (n instanceof Integer || n instanceof Long || n instanceof Short || n instanceof Byte
                || n instanceof BigInteger) {
            return n.toString();
        }
        double v = n.doubleValue();
        if (Double.isNaN(v)) {
            return "nan";
        }
        if (Double.isInfinite(v)) {
            return v > 0 ? "inf" : "-inf";
        }
        BigDecimal d = n instanceof Float f ? new BigDecimal(Float.toString(f))
                : n instanceof BigDecimal big ? big : new BigDecimal(Double.toString(v));
        if (d.signum() == 0) {
            return d.toString().startsWith("-") || 1 / v < 0 ? "-0.0" : "0.0";
        }
        d = d.stripTrailingZeros();
        String digits = d.unscaledValue().abs().toString();
        int exponent = digits.length() - d.scale() - 1;
        String sign = d.signum() < 0 ? "-" : "";
        if (exponent < -4 || exponent >= 16) {
            String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
            return sign + mantissa + "e" + (exponent < 0 ? "-" : "+")
                    + String.format("%02d", Math.abs(exponent));
        }
        String plain = d.abs().toPlainString();
        return sign + (plain.contains(".") ? plain : plain + ".0");
    }
}
