package io.lockstep.coordinator.cli;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;

import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The {@code --json} output: maps, collections, strings, numbers and booleans, with protobuf
 * messages embedded as their canonical JSON. Small on purpose; no JSON library is on the classpath.
 */
final class Json {
    private static final JsonFormat.Printer MESSAGES = JsonFormat.printer().omittingInsignificantWhitespace();

    private Json() {
    }

    /** An object with fields in insertion order. */
    static Map<String, Object> object() {
        return new LinkedHashMap<>();
    }

    static String print(Object value) {
        StringBuilder out = new StringBuilder();
        write(value, out);
        return out.toString();
    }

    private static void write(Object value, StringBuilder out) {
        if (value == null) {
            out.append("null");
        } else if (value instanceof String text) {
            quote(text, out);
        } else if (value instanceof Number || value instanceof Boolean) {
            out.append(value);
        } else if (value instanceof MessageOrBuilder message) {
            out.append(message(message));
        } else if (value instanceof Map<?, ?> map) {
            out.append('{');
            Iterator<? extends Map.Entry<?, ?>> fields = map.entrySet().iterator();
            while (fields.hasNext()) {
                Map.Entry<?, ?> field = fields.next();
                quote(String.valueOf(field.getKey()), out);
                out.append(':');
                write(field.getValue(), out);
                out.append(fields.hasNext() ? "," : "");
            }
            out.append('}');
        } else if (value instanceof Collection<?> items) {
            out.append('[');
            Iterator<?> each = items.iterator();
            while (each.hasNext()) {
                write(each.next(), out);
                out.append(each.hasNext() ? "," : "");
            }
            out.append(']');
        } else {
            throw new IllegalArgumentException("no JSON form for " + value.getClass().getName());
        }
    }

    private static String message(MessageOrBuilder message) {
        try {
            return MESSAGES.print(message);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException("cannot print " + message.getDescriptorForType().getName() + " as JSON", e);
        }
    }

    private static void quote(String text, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }
}
